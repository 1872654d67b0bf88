/**
 * Pieces shared by the HTML replay pages (`envs/smax/replay.ts`, `envs/mamujoco/replay.ts`).
 *
 * @module
 */

/** Escapes text for HTML. */
export function esc(s: string): string {
  return s.replace(
    /[&<>"]/g,
    (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;" })[c]!,
  );
}

/**
 * The player: a page defines `D.frames`, `cur` and `show(f)`, and has elements `#slider` and
 * `#play`; this starts at `#frame=N` (paused) or plays from step 0.
 * @param intervalMs milliseconds per step while playing
 * @returns script text
 */
export function playerScript(intervalMs: number): string {
  return `const m = /frame=(\\d+)/.exec(location.hash);
let playing = !m;
show(m ? Math.min(+m[1], D.frames.length - 1) : 0);
document.getElementById("slider").oninput = (e) => { playing = false; show(+e.target.value); };
document.getElementById("play").onclick = () => { playing = !playing; document.getElementById("play").textContent = playing ? "pause" : "play"; };
if (!playing) document.getElementById("play").textContent = "play";
setInterval(() => { if (playing) show((cur + 1) % D.frames.length); }, ${intervalMs});`;
}
