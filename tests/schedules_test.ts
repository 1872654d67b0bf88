// Learning-rate schedules (lrSchedule): the factor per update, applied to every optimiser (the
// critics on their Workers too: 2 threads equal 1 bit for bit), and a resumed run continues it.
import assert from "node:assert/strict";
import { initBackend, train } from "../mod.ts";
import { lrScaleAt } from "../algos/ppo/options.ts";
import { loadCheckpoint } from "../core/checkpoint.ts";
import { entries, smallConfig } from "./_helpers.ts";

Deno.test("lrScaleAt: constant 1, linear 1 - p (MAPPO's schedule), cosine (1 + cos(pi p)) / 2", () => {
  for (const p of [0, 0.25, 0.5, 0.9]) {
    assert.equal(lrScaleAt("constant", p), 1);
    assert.equal(lrScaleAt("linear", p), 1 - p);
    assert.ok(Math.abs(lrScaleAt("cosine", p) - (1 + Math.cos(Math.PI * p)) / 2) < 1e-12);
  }
  assert.equal(lrScaleAt("cosine", 0.5).toFixed(12), (0.5).toFixed(12));
  assert.equal(lrScaleAt("linear", 2), 0); // clamped
});

async function lrRows(over: Record<string, unknown>) {
  const cfg = await smallConfig({
    env: "matrix/climbing",
    algo: "bppo",
    numEnvs: 8,
    rolloutLength: 25,
    totalSteps: 800,
    checkpointEvery: 1,
    ...over,
    algoOptions: { epochs: 2, lrSchedule: "linear", ...(over.algoOptions as object) },
  });
  await train(cfg, entries(cfg));
  const rows = (await Deno.readTextFile(`${cfg.out}/metrics.jsonl`)).trim().split("\n").map((l) =>
    JSON.parse(l)
  );
  return { cfg, rows };
}

const strip = (rows: Record<string, unknown>[]) =>
  rows.map((r) =>
    Object.fromEntries(
      Object.entries(r).filter(([k]) => !/^(wall_s|sps|rollout_s|update_s)$|^time\//.test(k)),
    )
  );

Deno.test("a linear schedule scales every update; critics on Workers follow it (2 threads = 1)", async () => {
  await initBackend("wasm");
  const one = await lrRows({ threads: 1 }), two = await lrRows({ threads: 2 });
  assert.deepEqual(one.rows.map((r) => r.lr_scale), [1, 0.75, 0.5, 0.25]);
  assert.deepEqual(strip(two.rows), strip(one.rows));
  // the schedule changes the run: a constant one differs from the second update on
  const flat = await lrRows({ threads: 1, algoOptions: { lrSchedule: "constant" } });
  assert.deepEqual(flat.rows.map((r) => r.lr_scale), [1, 1, 1, 1]);
  assert.notDeepEqual(strip(flat.rows)[1], strip(one.rows)[1]);
  for (const r of [one, two, flat]) await Deno.remove(r.cfg.out!, { recursive: true });
});

Deno.test("a resumed run continues the schedule where it stopped", async () => {
  await initBackend("wasm");
  const full = await lrRows({ threads: 1, seed: 2 });
  const part = await lrRows({ threads: 1, seed: 2, totalSteps: 400 });
  // 2 of 4 iterations: the checkpoint's run resumes at progress 0.5 of the 800-step budget
  const ck = await loadCheckpoint(part.cfg.out!);
  await train({ ...part.cfg, totalSteps: 800 }, { ...entries(part.cfg), resume: ck });
  const rows = (await Deno.readTextFile(`${part.cfg.out}/metrics.jsonl`)).trim().split("\n").map((
    l,
  ) => JSON.parse(l));
  assert.deepEqual(rows.map((r) => r.lr_scale), [1, 0.5, 0.5, 0.25]);
  assert.deepEqual(
    strip(rows).slice(2).map((r) => r.lr_scale),
    strip(full.rows).slice(2).map((r) => r.lr_scale),
  );
  for (const r of [full, part]) await Deno.remove(r.cfg.out!, { recursive: true });
});
