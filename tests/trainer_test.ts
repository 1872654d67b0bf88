import assert from "node:assert/strict";
import { join } from "node:path";
import {
  defaultAlgoRegistry,
  defaultEnvRegistry,
  initBackend,
  loadCheckpoint,
  Rng,
  tf,
  train,
  type TrainConfig,
} from "../mod.ts";
import { entries, smallConfig } from "./_helpers.ts";
import { kernels } from "../core/fused/kernels.ts";

const envs = defaultEnvRegistry();
const algos = defaultAlgoRegistry();
const TIMING = new Set(["wall_s", "sps", "rollout_s", "update_s"]);

async function metrics(dir: string): Promise<Record<string, number | null>[]> {
  const text = await Deno.readTextFile(join(dir, "metrics.jsonl"));
  return text.trim().split("\n").map((l) => {
    const r = JSON.parse(l);
    for (const k of Object.keys(r)) if (TIMING.has(k) || k.startsWith("time/")) delete r[k];
    return r;
  });
}

const tiny = { numEnvs: 8, rolloutLength: 25, totalSteps: 800, algoOptions: { epochs: 3 } };

for (const backend of ["cpu", "wasm"] as const) {
  for (const algo of ["mappo", "ippo", "armappo"]) {
    Deno.test(`${algo} on ${backend}: same seed gives identical metrics`, async () => {
      await initBackend(backend);
      const run = async () => {
        const cfg = await smallConfig({ ...tiny, algo, backend, env: "matrix/climbing", seed: 3 });
        await train(cfg, entries(cfg, envs, algos));
        return metrics(cfg.out!);
      };
      const a = await run(), b = await run();
      assert.equal(a.length, 4);
      assert.deepEqual(a, b);
      assert.ok(Number.isFinite(a[3]!["losses/policy"]));
    });
  }
}

Deno.test("tensor count stays flat across iterations (no leak)", async () => {
  await initBackend("wasm");
  const counts: number[] = [];
  const cfg = await smallConfig({ ...tiny, totalSteps: 1200, env: "matrix/permutation" });
  await train(cfg, {
    ...entries(cfg, envs, algos),
    hooks: [{ onIteration: () => void counts.push(tf.memory().numTensors) }],
  });
  assert.equal(counts.length, 6);
  assert.equal(new Set(counts.slice(1)).size, 1, `tensor counts ${counts}`);
});

Deno.test("every algorithm, made and disposed, leaves no tensor behind (nor a whole run)", async () => {
  await initBackend("cpu");
  const spec = (actionSpace: unknown) =>
    ({ numAgents: 3, obsDim: 5, stateDim: 7, actionSpace, episodeLimit: 10 }) as never;
  const cases: [string, Record<string, unknown>, unknown][] = [
    ["bppo", {}, { kind: "discrete", n: 4 }],
    ["bppo", { estimator: "pathwise" }, { kind: "box", dim: 2, low: -1, high: 1 }],
    ["bppo", { recurrent: "gru" }, { kind: "discrete", n: 4 }],
    ["mappo", { share: true }, { kind: "discrete", n: 4 }],
    ["happo", {}, { kind: "box", dim: 2, low: -1, high: 1 }],
    ["armappo", { layers: 2 }, { kind: "discrete", n: 4 }],
    ["ippo", {}, { kind: "discrete", n: 4 }],
    ["mat", {}, { kind: "discrete", n: 4 }],
    ["mat", {}, { kind: "box", dim: 2, low: -1, high: 1 }],
  ];
  const arena = kernels(); // this thread's fused kernels: the fused copies' parameters live there
  const top = arena.used;
  for (const [name, opts, actionSpace] of cases) {
    const before = tf.memory().numTensors;
    const entry = algos.get(name);
    for (const kernels of ["tfjs", "auto"] as const) {
      const algo = entry.create(spec(actionSpace), {
        options: entry.options.parse(opts),
        rng: new Rng(1),
        threads: 1,
        kernels,
      });
      assert.ok(tf.memory().numTensors > before, `${name} made its networks`);
      await algo.close?.();
      algo.dispose();
      // tf.variable(init) keeps init alive: each variable used to leave its initial tensor behind
      assert.equal(tf.memory().numTensors, before, `${name} ${JSON.stringify(opts)} (${kernels})`);
      assert.equal(arena.used, top, `${name} ${JSON.stringify(opts)} (${kernels}): fused arena`);
    }
  }
  // a whole run: what a process running several runs (tests, a notebook) keeps after each
  const before = tf.memory().numTensors;
  const cfg = await smallConfig({ ...tiny, env: "matrix/climbing" });
  await train(cfg, entries(cfg, envs, algos));
  assert.equal(tf.memory().numTensors, before, "a finished run leaves no tensor behind");
  assert.equal(arena.used, top, "nor fused parameters (actors, critics) in the arena");
});

Deno.test("a run whose summary cannot be written fails with that error and still releases its algorithm", async () => {
  await initBackend("cpu");
  const arena = kernels(), top = arena.used, before = tf.memory().numTensors;
  const cfg = await smallConfig({ ...tiny, env: "matrix/climbing", threads: 2 });
  await assert.rejects(
    () =>
      train(cfg, {
        ...entries(cfg, envs, algos),
        // a directory where summary.json goes: the write fails once training has ended
        hooks: [{
          onIteration: async (_r, x) => {
            if (x.iteration === x.iterations) await Deno.mkdir(join(cfg.out!, "summary.json"));
          },
        }],
      }),
    /summary\.json/,
  );
  assert.equal(tf.memory().numTensors, before, "the algorithm's tensors are released");
  assert.equal(arena.used, top, "and its fused parameters");
});

Deno.test("a run writes config, metrics (jsonl + csv), summary and an atomic checkpoint", async () => {
  await initBackend("wasm");
  const cfg = await smallConfig({ ...tiny, env: "matrix/penalty", envOptions: { k: 50 } });
  const s = await train(cfg, entries(cfg, envs, algos));
  const files = [...Deno.readDirSync(cfg.out!)].map((e) => e.name).sort();
  assert.deepEqual(files, [
    "checkpoint.json",
    "config.json",
    "evaluations.jsonl",
    "marl_eval.json",
    "metrics.csv",
    "metrics.jsonl",
    "summary.json",
  ]);
  const summary = JSON.parse(await Deno.readTextFile(join(cfg.out!, "summary.json")));
  assert.deepEqual(summary, s);
  for (
    const k of [
      "env",
      "algo",
      "seed",
      "env_steps",
      "wall_s",
      "final_train_return",
      "final_eval_return",
    ]
  ) {
    assert.ok(k in summary, k);
  }
  assert.equal(summary.optimal_return, 10);
  assert.equal(summary.greedy_joint_action!.length, 2);
  assert.equal(summary.env_steps, 800);
  const config = JSON.parse(await Deno.readTextFile(join(cfg.out!, "config.json")));
  assert.equal(config.envOptions.k, 50);
  assert.equal(config.algoOptions.clip, 0.2); // resolved defaults are written
  const csv = (await Deno.readTextFile(join(cfg.out!, "metrics.csv"))).trim().split("\n");
  assert.equal(csv.length, 5);
  for (
    const col of [
      "env_steps",
      "sps",
      "train_return",
      "eval_return",
      "losses/approx_kl",
      "losses/clip_frac",
    ]
  ) {
    assert.ok(csv[0]!.split(",").includes(col), col);
  }
  const ck = await loadCheckpoint(cfg.out!);
  assert.equal(ck.iteration, 4);
  assert.ok(Object.keys(ck.algo.tensors).length > 10);
});

Deno.test("--resume continues exactly where an uninterrupted run would be", async () => {
  await initBackend("wasm");
  const base = { ...tiny, env: "matrix/climbing", seed: 5, checkpointEvery: 1 };
  const full = await smallConfig(base);
  await train(full, entries(full, envs, algos));
  const part = await smallConfig({ ...base, totalSteps: 400 });
  await train(part, entries(part, envs, algos));
  const ck = await loadCheckpoint(part.out!);
  assert.equal(ck.iteration, 2);
  const resumed: TrainConfig = { ...part, totalSteps: 800 };
  await train(resumed, { ...entries(resumed, envs, algos), resume: ck });
  const a = await metrics(full.out!), b = await metrics(part.out!);
  assert.equal(b.length, 4);
  assert.deepEqual(b, a);
});

Deno.test("a diverging loss stops the run and keeps the last good checkpoint", async () => {
  await initBackend("wasm");
  const cfg = await smallConfig({ ...tiny, env: "matrix/climbing", checkpointEvery: 1 });
  let calls = 0;
  const bad = {
    ...algos.get("mappo"),
    name: "mappo",
    create: (spec: any, o: any) => {
      const a = algos.get("mappo").create(spec, o);
      const update = a.update.bind(a);
      a.update = async (r, c) => ({
        ...(await update(r, c)),
        "losses/policy": ++calls >= 3 ? NaN : 0,
      });
      return a;
    },
  };
  await assert.rejects(
    () => train(cfg, { env: envs.get(cfg.env), algo: bad }),
    /diverged at iteration 3: metric losses\/policy is NaN/,
  );
  assert.equal((await loadCheckpoint(cfg.out!)).iteration, 2);
});

Deno.test("a new run never appends to an existing run directory", async () => {
  await initBackend("wasm");
  const cfg = await smallConfig({ ...tiny, totalSteps: 200 });
  await train(cfg, entries(cfg, envs, algos));
  await assert.rejects(
    () => train(cfg, entries(cfg, envs, algos)),
    /already holds a run: pass --resume/,
  );
  assert.equal((await metrics(cfg.out!)).length, 1);
});
