/**
 * Self-contained HTML replays of recorded MA-MuJoCo episodes: the robot's capsules as thick
 * SVG lines in a side view (x, z) for the planar robots and the Ant, a top view (x, y) for the
 * Swimmer; the camera follows the robot. `#frame=N` opens step N.
 *
 * @module
 */
import { esc, playerScript } from "../_replay_page.ts";
import type { MujocoRecording } from "./mamujoco.ts";

/**
 * One line on a MuJoCo episode: its return split into the forward term, the control cost and the
 * rest (healthy reward, contact cost), and how much of what the policy emitted the env clipped.
 * @param rec the recorded episode
 * @returns e.g. `HalfCheetah, return -591.2 in 1000 steps (forward 8.8, control cost -600.0, other
 *   0.0); 100% of action components outside the actuator range (mean |action| 4.70)`
 */
export function mujocoEpisodeLine(rec: MujocoRecording): string {
  const sum = (xs: number[]) => xs.reduce((a, b) => a + b, 0);
  const ret = sum(rec.rewards), fwd = sum(rec.forward), ctl = sum(rec.control);
  const a = rec.actions, n = Math.max(1, a.count);
  const other = ret - fwd + ctl, f1 = (x: number) => (Math.abs(x) < 0.05 ? 0 : x).toFixed(1);
  return `${rec.robot}, return ${ret.toFixed(1)} in ${rec.frames.length - 1} steps (forward ${
    fwd.toFixed(1)
  }, control cost ${(-ctl).toFixed(1)}, other ${f1(other)}); ${
    Math.round((100 * a.outOfRange) / n)
  }% of action components outside the actuator range (mean |action| ${(a.absSum / n).toFixed(2)})`;
}

/**
 * Renders a recording as an HTML page.
 * @param rec the recorded episode
 * @param title page title (for example the run directory)
 * @returns the HTML text
 */
export function mujocoReplayHtml(rec: MujocoRecording, title: string): string {
  const data = JSON.stringify(rec);
  const ret = rec.rewards.reduce((a, b) => a + b, 0);
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>${esc(title)}</title>
<style>
body{font:14px system-ui,sans-serif;margin:16px;background:#fafafa;color:#222}
svg{background:#eef2f6;border:1px solid #999}
.geom{stroke:#b5651d;stroke-linecap:round}.ground{stroke:#556;stroke-width:2}.tick{stroke:#99a}
</style></head><body>
<h1>${esc(rec.robot)}: return ${ret.toFixed(1)} over ${rec.frames.length - 1} steps</h1>
<p id="terms">${esc(mujocoEpisodeLine(rec))}</p>
<p>${esc(title)}. ${
    rec.view === "side" ? "Side view (x right, z up)" : "Top view (x right, y up)"
  }, camera follows the robot.
<button id="play">pause</button> step <input id="slider" type="range" min="0" max="${
    rec.frames.length - 1
  }" value="0"> <span id="step">0</span> / ${rec.frames.length - 1},
x <span id="x">0</span></p>
<svg id="stage" width="800" height="400" viewBox="0 0 800 400" xmlns="http://www.w3.org/2000/svg"></svg>
<script id="replay-data" type="application/json">${data.replaceAll("<", "\\u003c")}</script>
<script>
const D = JSON.parse(document.getElementById("replay-data").textContent);
const S = 150, NS = "http://www.w3.org/2000/svg", svg = document.getElementById("stage");
const el = (tag, attrs) => { const e = document.createElementNS(NS, tag); for (const k in attrs) e.setAttribute(k, attrs[k]); return e; };
const world = el("g", { id: "world" }); svg.appendChild(world);
const ticks = el("g", { id: "ticks" }); world.appendChild(ticks);
if (D.view === "side") world.appendChild(el("line", { class: "ground", x1: -1e5, y1: 0, x2: 1e5, y2: 0 }));
const L = D.radii.map((r) => { const l = el("line", { class: "geom", "stroke-width": Math.max(2 * r * S, 2) }); world.appendChild(l); return l; });
let cur = 0;
function show(f) {
  cur = f; const F = D.frames[f];
  let cx = 0; for (let g = 0; g < L.length; g++) cx += (F[4 * g] + F[4 * g + 2]) / 2; cx /= L.length;
  world.setAttribute("transform", "translate(" + (400 - cx * S) + "," + (D.view === "side" ? 330 : 200) + ") scale(1,-1)");
  L.forEach((l, g) => { l.setAttribute("x1", F[4 * g] * S); l.setAttribute("y1", F[4 * g + 1] * S); l.setAttribute("x2", F[4 * g + 2] * S); l.setAttribute("y2", F[4 * g + 3] * S); });
  ticks.replaceChildren();
  for (let x = Math.floor(cx) - 3; x <= Math.ceil(cx) + 3; x++) ticks.appendChild(el("line", { class: "tick", x1: x * S, y1: -8, x2: x * S, y2: 8 }));
  document.getElementById("step").textContent = f;
  document.getElementById("x").textContent = cx.toFixed(2);
  document.getElementById("slider").value = f;
}
${playerScript(50)}
</script></body></html>
`;
}
