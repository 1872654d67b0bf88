// scripts/verdict_chain.ts: the chunk CSVs are joined (a seed's longest run wins), the gap's
// stratified-bootstrap CI brackets a known difference, and the decision rules read the table.
import assert from "node:assert/strict";
import { chainReport, gapCi, latest, parseChainCsv } from "../scripts/verdict_chain.ts";

const HEAD =
  "env,condition,seed,finished,env_steps,metric,final,auc,reached_at,wall_s,peer_over_own,also";

function csv(rows: [string, string, number, boolean, number, number, number | null][]): string {
  return [
    HEAD,
    ...rows.map(([e, c, s, f, st, fin, at]) =>
      `${e},${c},${s},${f},${st},eval_return,${fin},0.5,${at ?? ""},1,,`
    ),
  ]
    .join("\n");
}

Deno.test("verdict:chain: a seed's longest run wins; unreached runs parse as null", () => {
  const a = parseChainCsv(csv([["relay-n2", "bppo", 0, false, 20000, 0.5, null]]));
  const b = parseChainCsv(csv([["relay-n2", "bppo", 0, true, 48000, 1, 12000]]));
  assert.equal(a[0]!.reachedAt, null);
  const l = latest([...b, ...a]);
  assert.equal(l.length, 1);
  assert.equal(l[0]!.envSteps, 48000);
  assert.equal(l[0]!.reachedAt, 12000);
});

Deno.test("verdict:chain: the gap CI brackets a known difference and excludes 0 when it should", () => {
  const base = [30, 31, 29, 30, 32, 28, 30, 31, 29, 30].map((x) => x * 1000);
  const far = base.map((x) => x - 10000), same = base.slice().reverse();
  const g = gapCi(base, far);
  assert.ok(Math.abs(g.gap - 10000) < 1e-6, `${g.gap}`);
  assert.ok(g.lo > 0 && g.lo <= 10000 && g.hi >= 10000, `${g.lo} ${g.hi}`);
  const h = gapCi(base, same);
  assert.ok(h.lo <= 0 && h.hi >= 0, `${h.lo} ${h.hi}`);
});

Deno.test("verdict:chain: the decision rules: a faster pathwise at 2 sizes holds H1; a better paper breaks H2", () => {
  const rows: [string, string, number, boolean, number, number, number | null][] = [];
  for (const n of [2, 4]) {
    for (let s = 0; s < 10; s++) {
      rows.push([`relay-n${n}`, "bppo:peerWeight=0", s, true, 48000, 1, 30000 + 100 * s]);
      rows.push([`relay-n${n}`, "bppo:estimator=pathwise", s, true, 48000, 1, 10000 + 100 * s]);
      rows.push([
        `relay-n${n}`,
        "bppo",
        s,
        true,
        48000,
        1,
        n === 2 ? 20000 + 100 * s : 30000 + 100 * s,
      ]);
    }
  }
  const { md, svgs } = chainReport(latest(parseChainCsv(csv(rows))), (g) => `x_${g}.svg`);
  assert.match(md, /\*\*H1\*\*[^\n]*: holds\./);
  assert.match(md, /\*\*H2\*\*[^\n]*does not hold[^\n]*n = 2/);
  assert.match(md, /\*\*H3\*\*[^\n]*pending \(n = 16 not run/);
  assert.ok(svgs["x_relay.svg"]!.startsWith("<svg"));
});
