/**
 * A picture of one environment at one step, for replays of any env, plugin envs included: a
 * bounding box in the env's own units and a list of circles, rectangles, lines and text. An env
 * offers one through the optional {@link VecEnv.render} hook (a scalar env through
 * `ScalarEnv.render`); `deno task replay` records a greedy episode's scenes and writes a
 * self-contained HTML page that plays them. Scenes from plugins are data from untrusted code:
 * every scene is validated with {@link sceneSchema} (sizes bounded, colours a plain name or a hex
 * code, text escaped when drawn).
 *
 * @module
 */
import { z } from "./deps.ts";

const num = z.number().finite();
const pos = z.number().finite().positive();
const color = z.string().regex(/^(#[0-9a-fA-F]{3,8}|[a-z]{3,20})$/, "a colour name or #hex code");

/** One shape of a scene (y grows upwards, as in the env's own coordinates; colours by name or #hex). */
export type Shape =
  | { kind: "circle"; x: number; y: number; r: number; fill?: string; label?: string }
  | { kind: "rect"; x: number; y: number; w: number; h: number; fill?: string }
  | {
    kind: "line";
    x1: number;
    y1: number;
    x2: number;
    y2: number;
    stroke?: string;
    width?: number;
  }
  | { kind: "text"; x: number; y: number; text: string; fill?: string };

/** A scene: the view box `[x0, y0, x1, y1]`, shapes drawn in order, and a caption. */
export interface Scene {
  /** `[x0, y0, x1, y1]` in the env's own units, x1 > x0 and y1 > y0. */
  bounds: [number, number, number, number];
  /** Drawn in order (at most 5,000). */
  shapes: Shape[];
  /** Shown under the controls. */
  caption?: string;
}

/** Validates one {@link Shape}. */
export const shapeSchema: z.ZodType<Shape> = z.discriminatedUnion("kind", [
  z.object({
    kind: z.literal("circle"),
    x: num,
    y: num,
    r: pos,
    fill: color.optional(),
    label: z.string().max(40).optional(),
  }),
  z.object({ kind: z.literal("rect"), x: num, y: num, w: pos, h: pos, fill: color.optional() }),
  z.object({
    kind: z.literal("line"),
    x1: num,
    y1: num,
    x2: num,
    y2: num,
    stroke: color.optional(),
    width: pos.optional(),
  }),
  z.object({
    kind: z.literal("text"),
    x: num,
    y: num,
    text: z.string().max(200),
    fill: color.optional(),
  }),
]);

/** Validates a {@link Scene} (sizes bounded; see the module doc). */
export const sceneSchema: z.ZodType<Scene> = z.object({
  bounds: z.tuple([num, num, num, num]).refine(([x0, y0, x1, y1]) => x1 > x0 && y1 > y0, {
    message: "bounds must be [x0, y0, x1, y1] with x1 > x0 and y1 > y0",
  }),
  shapes: z.array(shapeSchema).max(5000),
  caption: z.string().max(300).optional(),
});

/**
 * A self-contained HTML page that plays scenes (play, pause, step slider).
 * @param frames the scenes, one per step
 * @param title the page title (escaped)
 * @returns the page
 */
export function sceneReplayHtml(frames: readonly Scene[], title: string): string {
  const esc = (s: string) =>
    s.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;").replace(/"/g, "&quot;");
  const data = JSON.stringify(frames).replace(/</g, "\\u003c"); // no "</script>" inside the JSON
  return `<!doctype html>
<html><head><meta charset="utf-8"><title>${esc(title)}</title>
<style>body{font-family:sans-serif;margin:16px}svg{border:1px solid #ccc;background:#fff}
#bar{margin:8px 0}#cap{margin:6px 0;color:#333}</style></head>
<body><h3>${esc(title)}</h3>
<div id="bar"><button id="play">pause</button> step <input id="t" type="range" min="0" value="0">
<span id="n"></span></div><div id="cap"></div><div id="view"></div>
<script>
const frames = ${data};
const esc = (s) => String(s).replace(/&/g,"&amp;").replace(/</g,"&lt;").replace(/>/g,"&gt;");
const W = 640;
function draw(k) {
  const f = frames[k], [x0, y0, x1, y1] = f.bounds, H = Math.round(W * (y1 - y0) / (x1 - x0));
  const sx = (x) => (x - x0) / (x1 - x0) * W, sy = (y) => H - (y - y0) / (y1 - y0) * H, s = W / (x1 - x0);
  const parts = f.shapes.map((p) => {
    if (p.kind === "circle") return '<circle cx="' + sx(p.x) + '" cy="' + sy(p.y) + '" r="' + p.r * s +
      '" fill="' + (p.fill || "steelblue") + '"/>' + (p.label ? '<text x="' + sx(p.x) + '" y="' +
      (sy(p.y) + 4) + '" text-anchor="middle" font-size="11" fill="white">' + esc(p.label) + "</text>" : "");
    if (p.kind === "rect") return '<rect x="' + sx(p.x) + '" y="' + sy(p.y + p.h) + '" width="' + p.w * s +
      '" height="' + p.h * s + '" fill="' + (p.fill || "#ddd") + '"/>';
    if (p.kind === "line") return '<line x1="' + sx(p.x1) + '" y1="' + sy(p.y1) + '" x2="' + sx(p.x2) +
      '" y2="' + sy(p.y2) + '" stroke="' + (p.stroke || "black") + '" stroke-width="' + (p.width || 1) + '"/>';
    return '<text x="' + sx(p.x) + '" y="' + sy(p.y) + '" font-size="12" fill="' + (p.fill || "black") + '">' +
      esc(p.text) + "</text>";
  });
  document.getElementById("view").innerHTML = '<svg id="scene" width="' + W + '" height="' + H + '">' +
    parts.join("") + "</svg>";
  document.getElementById("cap").textContent = f.caption || "";
  document.getElementById("n").textContent = k + " / " + (frames.length - 1);
  document.getElementById("t").value = k;
}
const slider = document.getElementById("t");
slider.max = frames.length - 1;
const at = /frame=(\\d+)/.exec(location.hash); // #frame=N opens paused at step N
let k = at ? Math.min(Number(at[1]), frames.length - 1) : 0, playing = !at;
slider.oninput = () => { k = Number(slider.value); draw(k); };
document.getElementById("play").onclick = (e) => {
  playing = !playing; e.target.textContent = playing ? "pause" : "play";
};
setInterval(() => { if (playing && frames.length > 1) { k = (k + 1) % frames.length; draw(k); } }, 200);
document.getElementById("play").textContent = playing ? "pause" : "play";
draw(k);
</script></body></html>
`;
}
