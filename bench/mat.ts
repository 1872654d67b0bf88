/**
 * The Multi-Agent Transformer priced against MAPPO (issue 31): time per env step of `mat` and
 * `mappo` on smax/protoss_5_vs_5 (discrete, 5 agents) and mamujoco/HalfCheetah-6x1 (continuous,
 * 6 agents): MAT on the fused kernels against MAT on tfjs, and against MAPPO on the fused kernels,
 * both sides of each pair in alternating runs (bench/_compare.ts), 16 envs x 200 steps (HalfCheetah:
 * 40 x 100, the authors' batch), the trainer's default threads. MAT acts with one decoder position
 * per agent (fused: from a key-value cache; tfjs: a whole pass each) and trains with one
 * teacher-forced pass per minibatch; MAPPO with per-agent MLPs.
 *
 * @module
 */
import { defaultAlgoRegistry, discrete, initBackend, Rng, type Rollout, tf } from "../mod.ts";
import type { EnvSpec } from "../core/vec_env.ts";
import type { BenchOptions } from "./_opts.ts";
import { compare, rate, type Side } from "./_compare.ts";

/**
 * The share of MAT's kernel time (one update and one rollout's acting on random data of the
 * protoss_5_vs_5 shape, `tf.profile` on wasm) spent in attention's own kernels: the batched
 * matmuls `q k^T` and `a v` (and their gradients, also batched) and the softmax. The rest is the
 * dense layers, LayerNorms, GELU, heads and the loss.
 */
export async function attentionShare(): Promise<
  { update: number; act: number; updateMs: number; actMs: number }
> {
  await initBackend("wasm");
  const spec: EnvSpec = {
    numAgents: 5,
    obsDim: 92,
    stateDim: 130,
    actionSpace: discrete(11),
    episodeLimit: 200,
  } as EnvSpec;
  const entry = defaultAlgoRegistry().get("mat");
  const algo = entry.create(spec, { options: entry.options.parse({}), rng: new Rng(0) });
  const rng = new Rng(1), T = 200, E = 16, n = 5, A = 11, N = T * E;
  const f = (len: number) => Float32Array.from({ length: len }, () => rng.normal());
  const actions = Int32Array.from({ length: N * n }, () => rng.int(A));
  const actionVecs = new Float32Array(N * n * A);
  actions.forEach((a, q) => (actionVecs[q * A + a] = 1));
  const r: Rollout = {
    T,
    E,
    n,
    obs: f(N * n * 92),
    state: f(N * 130),
    avail: null,
    actions,
    actionVecs,
    logp: new Float32Array(N * n).fill(-Math.log(A)),
    values: f(N * n),
    rewards: f(N),
    dones: new Uint8Array(N),
    advantages: f(N * n),
    returns: f(N * n),
  };
  const share = (
    info: { kernels: { name: string; kernelTimeMs: number | { error: string } }[] },
  ) => {
    let all = 0, att = 0;
    for (const k of info.kernels) {
      // tf.profile also lists op scopes around kernels ("unnamed scope", "fusedMatMul__op"):
      // counting them would count their kernels twice
      if (/scope|__op$/.test(k.name)) continue;
      const ms = typeof k.kernelTimeMs === "number" ? k.kernelTimeMs : 0;
      all += ms;
      if (k.name === "BatchMatMul" || k.name === "Softmax" || k.name === "_FusedBatchMatMul") {
        att += ms;
      }
    }
    return { share: att / Math.max(all, 1e-9), ms: all };
  };
  await algo.update(r, { rng, progress: 0 }); // warm-up
  const up = share(await tf.profile(() => algo.update(r, { rng, progress: 0 }) as never) as never);
  const obs = f(E * n * 92), state = f(E * 130);
  const acting = async () => {
    for (let t = 0; t < 20; t++) {
      await algo.act({ obs, state, avail: null, E }, { rng, greedy: false });
    }
  };
  await acting();
  const ac = share(await tf.profile(acting as never) as never);
  algo.dispose();
  return { update: up.share, act: ac.share, updateMs: up.ms, actMs: ac.ms };
}

/**
 * Runs this benchmark and prints its table.
 * @param o shared bench flags
 */
export async function run(o: BenchOptions): Promise<void> {
  await initBackend("wasm");
  const rounds = o.quick ? 1 : 2, iters = o.quick ? 1 : 2;
  console.log(
    `\n## MAT vs MAPPO (${rounds} alternating runs each of ${iters} timed iterations)`,
  );
  console.log(
    "| env | batch | MAT (fused) env-steps/s | MAT (tfjs) env-steps/s | fused speed-up | MAPPO (fused) env-steps/s | MAT / MAPPO time (both fused) |",
  );
  console.log("|---|---|---:|---:|---:|---:|---:|");
  for (
    const [env, numEnvs, rolloutLength] of [
      ["smax/protoss_5_vs_5", 16, 200],
      ["mamujoco/HalfCheetah-6x1", 40, 100],
    ] as const
  ) {
    const side = (algo: string, kernels: "tfjs" | "fused"): Side => ({
      env,
      algo,
      numEnvs,
      rolloutLength,
      algoOptions: {},
      kernels,
    });
    const r = await compare(side("mat", "fused"), side("mat", "tfjs"), rounds, iters);
    const q = await compare(side("mat", "fused"), side("mappo", "fused"), rounds, iters);
    console.log(
      `| ${env} | ${numEnvs} x ${rolloutLength} | ${rate((r.a + q.a) / 2)} | ${rate(r.b)} | ${
        (1 / r.timeRatio).toFixed(2)
      }x | ${rate(q.b)} | ${q.timeRatio.toFixed(2)} |`,
    );
  }
  const a = await attentionShare();
  console.log(
    `\nMAT's attention (batched matmuls q k^T, a v and their gradients; softmax) on the protoss_5_vs_5 shape, share of kernel time (tf.profile, wasm): ${
      (100 * a.update).toFixed(0)
    }% of an update (${a.updateMs.toFixed(0)} ms of kernels), ${
      (100 * a.act).toFixed(0)
    }% of 20 acting steps (${a.actMs.toFixed(0)} ms; MAT on tfjs, \`--kernels tfjs\`).`,
  );
}
