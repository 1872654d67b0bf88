// "It learns" tests with thresholds (style guide practice 22), kept small enough for CI.
import assert from "node:assert/strict";
import { initBackend, train } from "../../mod.ts";
import { entries, smallConfig } from "../_helpers.ts";

Deno.test("MAPPO reaches the optimum of matrix/penalty (k=0) on at least 4 of 5 seeds", async () => {
  await initBackend("wasm");
  const results: number[] = [];
  for (let seed = 0; seed < 5; seed++) {
    const cfg = await smallConfig({
      env: "matrix/penalty",
      envOptions: { k: 0 },
      algo: "mappo",
      seed,
      numEnvs: 20,
      rolloutLength: 50,
      totalSteps: 30_000,
      evalEvery: 0,
    });
    const s = await train(cfg, entries(cfg));
    results.push(s.final_eval_return!);
  }
  const hits = results.filter((r) => r === 10).length;
  assert.ok(hits >= 4, `greedy returns per seed: ${results}`);
});
