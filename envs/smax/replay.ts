/**
 * Self-contained HTML replays of recorded `smax/*` episodes: one file, inline SVG and a few
 * lines of script, no network. Units are circles (allies blue, enemies red) labelled by
 * type, with health (green) and shield (cyan) bars; a line marks each attack (red/blue) or
 * heal (green) of the step. Open `#frame=N` to start at step N.
 *
 * @module
 */
import { esc, playerScript } from "../_replay_page.ts";
import type { Recording } from "./smax.ts";
import { UNIT_ID, UNITS } from "./units.ts";

const SCALE = 20;

/**
 * Renders a recording as an HTML page.
 * @param rec the recorded episode
 * @param title page title (for example the run directory)
 * @returns the HTML text
 */
export function replayHtml(rec: Recording, title: string): string {
  const units = rec.types.map((t, u) => ({
    type: t,
    ally: u < rec.nAllies,
    r: UNITS[UNIT_ID[t]!]!.radius,
    hp: UNITS[UNIT_ID[t]!]!.health,
    sh: UNITS[UNIT_ID[t]!]!.shield,
    heals: UNITS[UNIT_ID[t]!]!.heal > 0,
  }));
  const data = JSON.stringify({ map: rec.map, units, frames: rec.frames, won: rec.won });
  const side = rec.map * SCALE;
  const outcome = rec.won === null ? "unfinished" : rec.won ? "won" : "lost";
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>${esc(title)}</title>
<style>
body{font:14px system-ui,sans-serif;margin:16px;background:#fafafa;color:#222}
svg{background:#f0ede4;border:1px solid #999}
.ally{fill:#3b6fd4}.enemy{fill:#d44b3b}.dead{display:none}
.label{font-size:9px;fill:#fff;text-anchor:middle;dominant-baseline:central;pointer-events:none}
.hpbar{fill:#2a2}.shbar{fill:#2bc}.barbg{fill:#555}
.attack{stroke-width:1.5}.attack.from-ally{stroke:#3b6fd4}.attack.from-enemy{stroke:#d44b3b}.attack.heal{stroke:#2a2}
</style></head><body>
<h1>${esc(rec.scenario)}: ${outcome} in ${rec.frames.length - 1} steps</h1>
<p>${esc(title)}. Allies (agents) blue, enemies (scripted AI) red.
<button id="play">pause</button> step <input id="slider" type="range" min="0" max="${
    rec.frames.length - 1
  }" value="0"> <span id="step">0</span> / ${
    rec.frames.length - 1
  }, return <span id="ret">0</span></p>
<svg id="arena" width="${side}" height="${side}" viewBox="0 0 ${side} ${side}" xmlns="http://www.w3.org/2000/svg"></svg>
<script id="replay-data" type="application/json">${data.replaceAll("<", "\\u003c")}</script>
<script>
const D = JSON.parse(document.getElementById("replay-data").textContent);
const S = ${SCALE}, NS = "http://www.w3.org/2000/svg", svg = document.getElementById("arena");
const el = (tag, attrs) => { const e = document.createElementNS(NS, tag); for (const k in attrs) e.setAttribute(k, attrs[k]); return e; };
const shots = el("g", { id: "attacks" }); svg.appendChild(shots);
const G = D.units.map((u, i) => {
  const g = el("g", { class: "unit-group", "data-unit": i });
  g.appendChild(el("circle", { class: "unit " + (u.ally ? "ally" : "enemy"), r: Math.max(u.r * S, 5), "data-type": u.type }));
  const t = el("text", { class: "label" }); t.textContent = u.type[0].toUpperCase(); g.appendChild(t);
  g.appendChild(el("rect", { class: "barbg", height: 3 }));
  g.appendChild(el("rect", { class: "hpbar health-bar", height: 3 }));
  if (u.sh > 0) g.appendChild(el("rect", { class: "shbar shield-bar", height: 3 }));
  svg.appendChild(g); return g;
});
let cur = 0, ret = 0;
function show(f) {
  cur = f; const F = D.frames[f];
  ret = D.frames.slice(1, f + 1).reduce((a, x) => a + x.reward, 0);
  shots.replaceChildren();
  D.units.forEach((u, i) => {
    const g = G[i], x = F.x[i] * S, y = (D.map - F.y[i]) * S, w = Math.max(u.r * S, 5) * 2;
    const alive = F.hp[i] > 0;
    g.setAttribute("class", "unit-group" + (alive ? "" : " dead"));
    g.setAttribute("transform", "translate(" + x + "," + y + ")");
    const [c, , bg, hp, sh] = g.children;
    for (const b of [bg, hp, sh]) if (b) { b.setAttribute("x", -w / 2); }
    bg.setAttribute("y", -w / 2 - 8); bg.setAttribute("width", w);
    hp.setAttribute("y", -w / 2 - 8); hp.setAttribute("width", w * F.hp[i] / u.hp);
    if (sh) { sh.setAttribute("y", -w / 2 - 12); sh.setAttribute("width", w * F.sh[i] / u.sh); }
    const t = F.fired[i];
    if (t >= 0) {
      const tx = F.x[t] * S, ty = (D.map - F.y[t]) * S;
      const cls = "attack " + (u.heals ? "heal" : u.ally ? "from-ally" : "from-enemy");
      shots.appendChild(el("line", { class: cls, x1: x, y1: y, x2: tx, y2: ty }));
    }
  });
  document.getElementById("step").textContent = f;
  document.getElementById("ret").textContent = ret.toFixed(2);
  document.getElementById("slider").value = f;
}
${playerScript(250)}
</script></body></html>
`;
}
