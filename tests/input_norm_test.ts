// Input normalisation (inputNorm): running mean/std keeps what a per-sample LayerNorm erases.
// The one-step game of the first-hour report: each agent observes [x, 1] and is paid -(a - x)^2.
// A LayerNorm over two features maps every [x, 1] with x < 1 to [-1, 1], so the policy cannot see
// x (negative control); running statistics per feature keep it.
import assert from "node:assert/strict";
import { box, type EnvEntry, type EnvSpec, fromScalarEnv, type Rng, train, z } from "../mod.ts";
import { RunningNorm } from "../core/running_norm.ts";
import { inputNormNote, resolveInputNorm } from "../algos/ppo/agents.ts";
import { entries, smallConfig, timelessRows } from "./_helpers.ts";

const spec: EnvSpec = {
  numAgents: 2,
  obsDim: 2,
  stateDim: 4,
  actionSpace: box(1),
  episodeLimit: 1,
};

/** Each agent sees [x_i, 1]; reward -sum_i (a_i - x_i)^2; x_i uniform in [-0.8, 0.8]. */
const matchX: EnvEntry = {
  id: "test/match-x",
  description: "observe [x, 1], act x",
  options: z.strictObject({}),
  create: (_o, ctx) =>
    fromScalarEnv(spec, ctx.numEnvs, () => {
      const x = [0, 0];
      return {
        reset(rng: Rng) {
          x[0] = 1.6 * rng.uniform() - 0.8;
          x[1] = 1.6 * rng.uniform() - 0.8;
        },
        step(a: Int32Array | Float32Array) {
          return { reward: -((a[0]! - x[0]!) ** 2) - (a[1]! - x[1]!) ** 2, terminated: true };
        },
        obs(out: Float32Array) {
          out.set([x[0]!, 1, x[1]!, 1]);
        },
        state(out: Float32Array) {
          out.set([x[0]!, 1, x[1]!, 1]);
        },
      };
    }),
};

async function run(inputNorm: string): Promise<number> {
  const cfg = await smallConfig({
    env: "test/match-x",
    algo: "mappo",
    totalSteps: 24_000,
    numEnvs: 100,
    rolloutLength: 10,
    evalEpisodes: 100,
    threads: 1,
    algoOptions: { inputNorm, entropyCoef: 0, epochs: 10 },
  });
  try {
    const s = await train(cfg, { ...entries({ env: "chain/relay", algo: "mappo" }), env: matchX });
    return s.final_eval_return!;
  } finally {
    await Deno.remove(cfg.out!, { recursive: true });
  }
}

Deno.test("inputNorm: running mean/std learns the [x, 1] game, a LayerNorm cannot see x", async () => {
  const running = await run("running");
  const layer = await run("layer");
  console.log(`greedy return: running ${running.toFixed(3)}, layer ${layer.toFixed(3)}`);
  // doing nothing (a = 0) earns -2 E[x^2] = -0.43; the optimum is 0
  assert.ok(running > -0.1, `running: greedy return ${running}`);
  assert.ok(layer < -0.3, `layer (negative control): greedy return ${layer}`);
});

Deno.test("inputNorm auto: LayerNorm from 3 features, running below, none without featureNorm", () => {
  assert.equal(resolveInputNorm({ inputNorm: "auto", featureNorm: true }, 2, 4), "running");
  assert.equal(resolveInputNorm({ inputNorm: "auto", featureNorm: true }, 4, 1), "running");
  assert.equal(resolveInputNorm({ inputNorm: "auto", featureNorm: true }, 3, 3), "layer");
  assert.equal(resolveInputNorm({ inputNorm: "auto", featureNorm: false }, 2, 2), "none");
  assert.equal(resolveInputNorm({ inputNorm: "layer", featureNorm: true }, 2, 2), "layer");
  // what the run is told
  assert.match(
    inputNormNote({ inputNorm: "auto", featureNorm: true }, 2, 4)!,
    /^Note: inputNorm auto: the observations have 2 features/,
  );
  assert.match(
    inputNormNote({ inputNorm: "layer", featureNorm: true }, 4, 1)!,
    /^Warning: inputNorm=layer: the critic inputs have 1 feature; .* keeps nothing/,
  );
  assert.equal(inputNormNote({ inputNorm: "auto", featureNorm: true }, 3, 3), null);
  assert.equal(inputNormNote({ inputNorm: "running", featureNorm: true }, 2, 2), null);
});

Deno.test("RunningNorm: batch merges equal the statistics of all samples; clipping", () => {
  const rows = 257, w = 3, data = new Float32Array(rows * w);
  for (let k = 0; k < data.length; k++) data[k] = Math.sin(k * 1.7) * (1 + (k % w)) + (k % w);
  const a = new RunningNorm(w);
  a.update(data.subarray(0, 100 * w), 100);
  a.update(data.subarray(100 * w), rows - 100);
  for (let j = 0; j < w; j++) {
    let m = 0, v = 0;
    for (let r = 0; r < rows; r++) m += data[r * w + j]! / rows;
    for (let r = 0; r < rows; r++) v += (data[r * w + j]! - m) ** 2 / rows;
    // the prior (count 1e-4, mean 0, var 1) weighs 1e-4 / 257 of the result
    assert.ok(Math.abs(a.mean[j]! - m) < 1e-5, `mean ${j}: ${a.mean[j]} vs ${m}`);
    assert.ok(Math.abs(a.var[j]! - v) < 1e-5, `var ${j}: ${a.var[j]} vs ${v}`);
  }
  const x = Float32Array.from([a.mean[0]!, 1e9, a.mean[2]! - 1e9]);
  a.apply(x, 1);
  assert.ok(Math.abs(x[0]!) < 1e-3 && x[1] === 10 && x[2] === -10, `normalised ${x}`);
  const b = new RunningNorm(w);
  b.setState(a.getState());
  assert.deepEqual(b.getState(), a.getState());
  assert.throws(() => b.setState({ count: 1, mean: [0], var: [1] }), /width 1, expected 3/);
});

Deno.test("inputNorm running: statistics are checkpointed, a resumed run equals an uninterrupted one", async () => {
  const { loadCheckpoint } = await import("../core/checkpoint.ts");
  // (matrix/climbing: its resets draw no random numbers, so a resumed run sees the same episodes)
  const base = {
    env: "matrix/climbing",
    algo: "bppo",
    seed: 3,
    numEnvs: 8,
    rolloutLength: 25,
    totalSteps: 800,
    checkpointEvery: 1,
    threads: 1,
    algoOptions: { epochs: 2, inputNorm: "running" },
  };
  const deps = entries({ env: "matrix/climbing", algo: "bppo" });
  const rows = timelessRows;
  const full = await smallConfig(base), part = await smallConfig({ ...base, totalSteps: 400 });
  try {
    await train(full, deps);
    await train(part, deps);
    const ck = await loadCheckpoint(part.out!);
    const stats = ck.algo.extra.inputStats as { obs: { count: number }[] };
    assert.equal(stats.obs.length, 2);
    assert.ok(stats.obs[0]!.count > 399, `statistics merged: count ${stats.obs[0]!.count}`);
    await train({ ...part, totalSteps: 800 }, { ...deps, resume: ck });
    assert.deepEqual(await rows(part.out!), await rows(full.out!));
  } finally {
    await Deno.remove(full.out!, { recursive: true });
    await Deno.remove(part.out!, { recursive: true });
  }
});
