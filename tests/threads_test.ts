// Learner threads (algos/ppo/critic_pool.ts): the critics' epochs on Workers beside the actors
// give the same parameters, optimiser slots and metrics as one thread, bit for bit, for a fixed
// seed, whether the critics go to one worker or are split over two.
import assert from "node:assert/strict";
import { join } from "node:path";
import { initBackend, loadCheckpoint, train } from "../mod.ts";
import { entries, smallConfig } from "./_helpers.ts";

async function runWith(
  algo: string,
  threads: number,
  backend: "wasm" | "cpu",
  extra: Record<string, unknown> = {},
) {
  const cfg = await smallConfig({
    env: "matrix/permutation",
    envOptions: { n: 3 },
    algo,
    backend,
    threads,
    seed: 5,
    numEnvs: 8,
    rolloutLength: 25,
    totalSteps: 600,
    checkpointEvery: 3,
    algoOptions: { epochs: 2, minibatches: 2, ...extra },
  });
  const summary = await train(cfg, entries(cfg));
  const rows = (await Deno.readTextFile(join(cfg.out!, "metrics.jsonl"))).trim().split("\n")
    .map((l) => {
      const r = JSON.parse(l);
      for (const k of Object.keys(r)) {
        if (["wall_s", "sps", "rollout_s", "update_s"].includes(k) || k.startsWith("time/")) {
          delete r[k];
        }
      }
      return r;
    });
  const ck = await loadCheckpoint(cfg.out!);
  await Deno.remove(cfg.out!, { recursive: true });
  return { summary, rows, tensors: ck.algo.tensors };
}

for (const backend of ["wasm", "cpu"] as const) {
  for (const algo of ["bppo", "mappo", "happo"]) {
    Deno.test(`${algo} on ${backend}: 2 and 3 learner threads equal 1 thread bit for bit`, async () => {
      await initBackend(backend);
      const one = await runWith(algo, 1, backend);
      assert.equal(one.summary.threads, 1);
      assert.equal(one.rows.length, 3);
      for (const threads of [2, 3]) {
        const many = await runWith(algo, threads, backend);
        assert.equal(many.summary.threads, threads);
        assert.deepEqual(many.rows, one.rows, `metrics with ${threads} threads`);
        const names = Object.keys(one.tensors).sort();
        assert.deepEqual(Object.keys(many.tensors).sort(), names);
        assert.ok(names.some((k) => k.startsWith("critic2/")), "the third agent's critic is saved");
        for (const k of names) {
          assert.deepEqual(many.tensors[k]!.data, one.tensors[k]!.data, `${k}, ${threads} threads`);
        }
      }
    });
  }
}

Deno.test("a shared critic (share=true) on a worker equals one thread bit for bit", async () => {
  await initBackend("wasm");
  const one = await runWith("armappo", 1, "wasm", { share: true });
  const two = await runWith("armappo", 2, "wasm", { share: true });
  assert.deepEqual(two.rows, one.rows);
  assert.deepEqual(Object.keys(two.tensors).sort(), Object.keys(one.tensors).sort());
  for (const k of Object.keys(one.tensors)) {
    assert.deepEqual(two.tensors[k]!.data, one.tensors[k]!.data, k);
  }
});

Deno.test("the critics do move: one update changes every critic and its Adam slots", async () => {
  await initBackend("wasm");
  const a = await runWith("mappo", 2, "wasm");
  for (const i of [0, 1, 2]) {
    // critic optimisers follow the 3 actor ones; the head's slots move even on a constant state
    const moved = Object.entries(a.tensors).filter(([k, t]) =>
      k.startsWith(`adam${3 + i}/m`) && t.data.some((x) => x !== 0)
    );
    assert.ok(moved.length > 0, `critic ${i}'s Adam moments are non-zero`);
  }
});
