// The long learning tests (minutes on 2 cores): \`deno task test:learning\`, run by CI beside the
// quick suite (\`deno task test\`). Each learns a task a known answer exists for, with a negative
// control where one exists (MAPPO on the climbing game, an MLP on the memory task, MAPPO on the
// relay).
import assert from "node:assert/strict";
import {
  defaultAlgoRegistry,
  defaultEnvRegistry,
  initBackend,
  loadPlugin,
  train,
} from "../../mod.ts";
import { entries, smallConfig } from "../_helpers.ts";
import { rememberRun } from "../_remember.ts";

const algos = defaultAlgoRegistry();

Deno.test("BPPO finds the climbing optimum (11) on at least 4 of 5 seeds", async () => {
  await initBackend("wasm");
  const results: number[] = [];
  for (let seed = 0; seed < 5; seed++) {
    const cfg = await smallConfig({
      env: "matrix/climbing",
      algo: "bppo",
      seed,
      numEnvs: 20,
      rolloutLength: 50,
      totalSteps: 30_000,
      evalEvery: 0,
    });
    results.push((await train(cfg, entries(cfg, defaultEnvRegistry(), algos))).final_eval_return!);
  }
  assert.ok(results.filter((r) => r === 11).length >= 4, `greedy returns per seed: ${results}`);
});

Deno.test("continuous actions: BPPO (paper and pathwise estimators) and MAPPO train Gaussian policies and improve on coin/target", async () => {
  await initBackend("wasm");
  const envs = defaultEnvRegistry();
  await loadPlugin(envs, "./tests/fixtures/coin_plugin.ts");
  for (const variant of ["bppo", "bppo:pathwise", "mappo"]) {
    const algo = variant.split(":")[0]!;
    const recs: number[] = [];
    const cfg = await smallConfig({
      env: "coin/target",
      algo,
      numEnvs: 20,
      rolloutLength: 50,
      totalSteps: 15_000,
      evalEvery: 0,
      algoOptions: {
        lr: 3e-3,
        entropyCoef: 0,
        ...(variant === "bppo" ? { peerScale: "sum" } : {}),
        ...(variant === "bppo:pathwise" ? { estimator: "pathwise" } : {}),
      },
    });
    await train(cfg, {
      ...entries(cfg, envs, algos),
      hooks: [{ onIteration: (r) => void recs.push(r.train_return!) }],
    });
    const first = recs[0]!, last = recs.at(-1)!;
    assert.ok(last > first + 0.2, `${variant}: train return ${first} -> ${last}`);
  }
});

Deno.test("memory task: mappo and bppo with a GRU learn to remember the cue; the same MLP cannot", async () => {
  for (const algo of ["mappo", "bppo"]) {
    const gru = await rememberRun({ recurrent: "gru", chunk: 6 }, algo);
    assert.ok(gru.s.final_eval_return! >= 0.95, `${algo} gru: ${gru.s.final_eval_return}`);
    await Deno.remove(gru.out, { recursive: true });
  }
  const mlp = await rememberRun({});
  assert.ok(mlp.s.final_eval_return! <= 0.6, `mlp: ${mlp.s.final_eval_return}`);
  await Deno.remove(mlp.out, { recursive: true });
});

Deno.test("chain/relay is the control it was built for: AR-MAPPO solves it, MAPPO (no conditioning) stays at chance", async () => {
  const algos = defaultAlgoRegistry(), envs = defaultEnvRegistry();
  const result: Record<string, number> = {};
  for (const algo of ["armappo", "mappo"]) {
    const cfg = await smallConfig({
      env: "chain/relay",
      envOptions: { agents: 3, symbols: 3 },
      algo,
      numEnvs: 50,
      rolloutLength: 20,
      totalSteps: 15_000,
      evalEvery: 0,
      evalEpisodes: 100,
      backend: "wasm",
    });
    const s = await train(cfg, { env: envs.get(cfg.env), algo: algos.get(algo) });
    result[algo] = s.eval!.greedy.return;
  }
  assert.ok(result.armappo! >= 0.9, `armappo: ${result.armappo}`);
  assert.ok(result.mappo! <= 0.5, `mappo: ${result.mappo} (chance is 1/3)`);
});

Deno.test("MAT finds the climbing optimum (11) where MAPPO, with the same budget and batch, does not", async () => {
  await initBackend("wasm");
  const run = async (algo: string, seed: number) => {
    const cfg = await smallConfig({
      env: "matrix/climbing",
      algo,
      seed,
      numEnvs: 20,
      rolloutLength: 50,
      totalSteps: 30_000,
      evalEvery: 0,
      threads: 1,
      algoOptions: { epochs: 5 },
    });
    const s = await train(cfg, entries(cfg, defaultEnvRegistry(), algos));
    await Deno.remove(cfg.out!, { recursive: true });
    return s.final_eval_return!;
  };
  const mat = [], mappo = [];
  for (const seed of [0, 1, 2]) {
    mat.push(await run("mat", seed));
    mappo.push(await run("mappo", seed));
  }
  assert.ok(mat.filter((r) => r === 11).length >= 2, `MAT greedy returns per seed: ${mat}`);
  assert.equal(mappo.filter((r) => r === 11).length, 0, `MAPPO greedy returns per seed: ${mappo}`);
});
