/**
 * The one training loop for every algorithm and env: rollout → GAE → update → metrics,
 * evaluation and checkpoints. It never looks at an algorithm's or env's name.
 *
 * @module
 */
import { join } from "node:path";
import type { ActInput, Algorithm, Metrics, Rollout } from "./algorithm.ts";
import type { VecEnv } from "./vec_env.ts";
import type { EnvRegistry } from "./registry.ts";
import { parseOptions } from "./registry.ts";
import type { AlgoRegistry } from "../algos/mod.ts";
import { Rng } from "./rng.ts";
import { gae } from "./gae.ts";
import { actionVecDim } from "./spaces.ts";
import { defaultOut, derived, type TrainConfig } from "./config.ts";
import { type Checkpoint, saveCheckpoint } from "./checkpoint.ts";
import { FileSink, type Hook, ProgressLine, type Record_ } from "./sinks.ts";
import { type BackendInfo, initBackend } from "./backend.ts";

/** What a finished run reports (also written to `summary.json`). */
export interface Summary {
  env: string;
  algo: string;
  seed: number;
  backend: string;
  env_steps: number;
  iterations: number;
  wall_s: number;
  final_train_return: number | null;
  final_eval_return: number | null;
  eval_win_rate?: number | null;
  optimal_return?: number;
  greedy_joint_action?: number[];
  out: string;
}

/** Result of a greedy evaluation. */
export interface EvalResult {
  meanReturn: number;
  winRate: number | null;
  /** The greedy joint action of env 0 at the first step (discrete envs). */
  firstJointAction: number[] | null;
}

/**
 * Runs `episodes` greedy episodes.
 * @param algo the policy
 * @param env an env used only for evaluation
 * @param opts number of episodes and seed
 * @returns mean return, win rate and the first greedy joint action
 */
export async function evaluate(
  algo: Algorithm,
  env: VecEnv,
  opts: { episodes: number; seed: number },
): Promise<EvalResult> {
  const rng = new Rng(opts.seed);
  let step = await env.reset(opts.seed);
  const returns: number[] = [], wins: number[] = [];
  let first: number[] | null = null;
  const n = env.spec.numAgents;
  const maxSteps = env.spec.episodeLimit * (Math.ceil(opts.episodes / env.numEnvs) + 1);
  for (let t = 0; returns.length < opts.episodes && t < maxSteps; t++) {
    const out = await algo.act(
      { obs: step.obs, state: step.state, avail: step.availActions, E: env.numEnvs },
      { rng, greedy: true },
    );
    if (first === null && out.actions instanceof Int32Array) {
      first = Array.from(out.actions.subarray(0, n));
    }
    step = await env.step(out.actions);
    returns.push(...step.episodes.returns);
    wins.push(...step.episodes.wins);
  }
  const rs = returns.slice(0, opts.episodes);
  return {
    meanReturn: rs.reduce((a, b) => a + b, 0) / Math.max(rs.length, 1),
    winRate: wins.length ? wins.reduce((a, b) => a + b, 0) / wins.length : null,
    firstJointAction: first,
  };
}

/** Buffers of one rollout, allocated once per run. */
class RolloutBuffers implements Rollout {
  readonly obs: Float32Array;
  readonly state: Float32Array;
  readonly avail: Uint8Array | null;
  readonly actions: Int32Array | Float32Array;
  readonly actionVecs: Float32Array;
  readonly logp: Float32Array;
  readonly values: Float32Array;
  readonly rewards: Float32Array;
  readonly dones: Uint8Array;
  advantages: Float32Array;
  returns: Float32Array;

  constructor(readonly T: number, readonly E: number, env: VecEnv) {
    const { numAgents: n, obsDim, stateDim, actionSpace } = env.spec;
    this.n = n;
    const A = actionVecDim(actionSpace);
    const TE = T * E;
    this.obs = new Float32Array(TE * n * obsDim);
    this.state = new Float32Array(TE * stateDim);
    this.avail = actionSpace.kind === "discrete" ? new Uint8Array(TE * n * A) : null;
    this.actions = actionSpace.kind === "discrete"
      ? new Int32Array(TE * n)
      : new Float32Array(TE * n * A);
    this.actionVecs = new Float32Array(TE * n * A);
    this.logp = new Float32Array(TE * n);
    this.values = new Float32Array(TE * n);
    this.rewards = new Float32Array(TE);
    this.dones = new Uint8Array(TE);
    this.advantages = new Float32Array(TE * n);
    this.returns = new Float32Array(TE * n);
  }
  readonly n: number;
}

/** What the trainer needs besides the config. */
export interface TrainDeps {
  readonly envs: EnvRegistry;
  readonly algos: AlgoRegistry;
  /** Continue from this checkpoint (its iteration, rng and algorithm state). */
  readonly resume?: Checkpoint;
  /** Extra hooks, called after the built-in sinks. */
  readonly hooks?: Hook[];
  /** Stop cleanly (after the current iteration, with a checkpoint) when aborted. */
  readonly signal?: AbortSignal;
  /** Backend already initialised by the caller (skips initBackend). */
  readonly backend?: BackendInfo;
}

async function exists(path: string): Promise<boolean> {
  try {
    await Deno.stat(path);
    return true;
  } catch {
    return false;
  }
}

/**
 * The directory of a new run: never one that already holds a run. An explicit `out` that has
 * one is refused; the default name gets a numeric suffix.
 */
async function freshRunDir(cfg: TrainConfig): Promise<string> {
  const holdsRun = (d: string) => exists(join(d, "metrics.jsonl"));
  if (cfg.out) {
    if (await holdsRun(cfg.out)) {
      throw new Error(
        `Run directory ${cfg.out} already holds a run: pass --resume ${cfg.out} to continue it, or choose another --out`,
      );
    }
    return cfg.out;
  }
  const base = defaultOut(cfg);
  let out = base;
  for (let k = 2; await holdsRun(out); k++) out = `${base}-${k}`;
  return out;
}

function mean(xs: number[]): number | null {
  return xs.length ? xs.reduce((a, b) => a + b, 0) / xs.length : null;
}

/**
 * Trains `cfg.algo` on `cfg.env` for `cfg.totalSteps` env steps, writing the run directory.
 * @param cfg the resolved config
 * @param deps registries, optional checkpoint to resume, hooks and abort signal
 * @returns the run summary
 */
export async function train(cfg: TrainConfig, deps: TrainDeps): Promise<Summary> {
  const backend = deps.backend ?? (await initBackend(cfg.backend));
  const out = deps.resume ? (cfg.out ?? defaultOut(cfg)) : await freshRunDir(cfg);
  await Deno.mkdir(out, { recursive: true });
  const algoEntry = deps.algos.get(cfg.algo);
  const algoOptions = parseOptions(algoEntry.options, cfg.algoOptions, `algorithm ${cfg.algo}`);
  const bridge = { python: cfg.python, bridgeWorkers: cfg.bridgeWorkers };
  const env = await deps.envs.make(cfg.env, {
    options: cfg.envOptions,
    numEnvs: cfg.numEnvs,
    ...bridge,
  });
  let evalEnv: VecEnv;
  try {
    evalEnv = await deps.envs.make(cfg.env, {
      options: cfg.envOptions,
      numEnvs: Math.min(cfg.evalEpisodes, 100),
      ...bridge,
    });
  } catch (err) {
    await env.close();
    throw err;
  }
  const rng = new Rng(cfg.seed);
  const algo = algoEntry.create(env.spec, { options: algoOptions, rng: rng.fork() });
  const { stepsPerIter, iterations } = derived(cfg);
  let iteration = 0, envSteps = 0, wallBefore = 0;
  if (deps.resume) {
    await algo.setState(deps.resume.algo);
    rng.setState(deps.resume.rng);
    iteration = deps.resume.iteration;
    envSteps = deps.resume.envSteps;
    wallBefore = deps.resume.wallSeconds;
  }
  await Deno.writeTextFile(
    join(out, "config.json"),
    JSON.stringify({ ...cfg, out, algoOptions, backendUsed: backend.name }, null, 2) + "\n",
  );
  const hooks: Hook[] = [
    new FileSink(out),
    ...(cfg.quiet ? [] : [new ProgressLine(cfg.totalSteps)]),
    ...(deps.hooks ?? []),
  ];
  const buf = new RolloutBuffers(cfg.rolloutLength, cfg.numEnvs, env);
  const { numAgents: n, obsDim, stateDim, actionSpace } = env.spec;
  const A = actionVecDim(actionSpace);
  const E = cfg.numEnvs;
  // Each iteration's env seed derives from (seed, iteration), so a resumed run continues
  // exactly like an uninterrupted one whenever episodes do not straddle iterations.
  let step = await env.reset(cfg.seed * 100_003 + iteration);
  const t0 = performance.now();
  let lastEval: EvalResult | null = null;
  let lastTrainReturn: number | null = null;
  const save = async () => {
    const ck: Checkpoint = {
      format: "baton-checkpoint/1",
      config: { ...cfg, out },
      iteration,
      envSteps,
      wallSeconds: wallBefore + (performance.now() - t0) / 1000,
      rng: rng.getState(),
      algo: await algo.getState(),
    };
    await saveCheckpoint(join(out, "checkpoint.json"), ck);
  };
  try {
    while (iteration < iterations && !deps.signal?.aborted) {
      const itStart = performance.now();
      algo.beginIteration?.(rng);
      const episodeReturns: number[] = [], wins: number[] = [];
      for (let t = 0; t < cfg.rolloutLength; t++) {
        const x: ActInput = { obs: step.obs, state: step.state, avail: step.availActions, E };
        const a = await algo.act(x, { rng, greedy: false });
        const k = t * E;
        buf.obs.set(step.obs, k * n * obsDim);
        buf.state.set(step.state, k * stateDim);
        if (buf.avail && step.availActions) buf.avail.set(step.availActions, k * n * A);
        buf.actions.set(a.actions as any, k * n * (a.actions instanceof Int32Array ? 1 : A));
        buf.actionVecs.set(a.actionVecs, k * n * A);
        buf.logp.set(a.logp, k * n);
        buf.values.set(a.values, k * n);
        step = await env.step(a.actions);
        buf.rewards.set(step.reward, k);
        for (let e = 0; e < E; e++) buf.dones[k + e] = step.done[e]! | step.truncated[e]!;
        episodeReturns.push(...step.episodes.returns);
        wins.push(...step.episodes.wins);
      }
      const lastValues = await algo.values({
        obs: step.obs,
        state: step.state,
        avail: step.availActions,
        E,
      });
      const g = gae({
        rewards: buf.rewards,
        values: buf.values,
        lastValues,
        dones: buf.dones,
        T: cfg.rolloutLength,
        E,
        n,
      }, { gamma: cfg.gamma, lambda: cfg.gaeLambda });
      buf.advantages = g.advantages;
      buf.returns = g.returns;
      const rollSec = (performance.now() - itStart) / 1000;
      const upStart = performance.now();
      const m: Metrics = await algo.update(buf, { rng, progress: iteration / iterations });
      const updSec = (performance.now() - upStart) / 1000;
      for (const [key, v] of Object.entries(m)) {
        if (!Number.isFinite(v)) {
          throw new Error(
            `Training diverged at iteration ${
              iteration + 1
            }: metric ${key} is ${v}; the last good checkpoint in ${out} is intact`,
          );
        }
      }
      iteration++;
      envSteps += stepsPerIter;
      lastTrainReturn = mean(episodeReturns) ?? lastTrainReturn;
      const doEval = (cfg.evalEvery > 0 && iteration % cfg.evalEvery === 0) ||
        iteration === iterations;
      if (doEval) {
        lastEval = await evaluate(algo, evalEnv, {
          episodes: cfg.evalEpisodes,
          seed: cfg.seed + 1_000_003,
        });
      }
      const wall = wallBefore + (performance.now() - t0) / 1000;
      const rec: Record_ = {
        iteration,
        env_steps: envSteps,
        wall_s: wall,
        sps: stepsPerIter / (rollSec + updSec),
        rollout_s: rollSec,
        update_s: updSec,
        train_return: mean(episodeReturns),
        train_win_rate: mean(wins),
        eval_return: doEval ? lastEval!.meanReturn : null,
        eval_win_rate: doEval ? lastEval!.winRate : null,
        ...m,
      };
      for (const h of hooks) await h.onIteration?.(rec);
      if (iteration % cfg.checkpointEvery === 0 || iteration === iterations) await save();
    }
    if (deps.signal?.aborted) await save();
    if (!lastEval) {
      lastEval = await evaluate(algo, evalEnv, {
        episodes: cfg.evalEpisodes,
        seed: cfg.seed + 1_000_003,
      });
    }
  } catch (err) {
    algo.dispose();
    throw err;
  } finally {
    for (const h of hooks) await h.close?.();
    await env.close();
    await evalEnv.close();
  }
  const summary: Summary = {
    env: cfg.env,
    algo: cfg.algo,
    seed: cfg.seed,
    backend: backend.name,
    env_steps: envSteps,
    iterations: iteration,
    wall_s: Math.round((wallBefore + (performance.now() - t0) / 1000) * 100) / 100,
    final_train_return: lastTrainReturn,
    final_eval_return: lastEval.meanReturn,
    ...(lastEval.winRate !== null ? { eval_win_rate: lastEval.winRate } : {}),
    ...(env.spec.optimalReturn !== undefined
      ? {
        optimal_return: env.spec.optimalReturn,
        ...(lastEval.firstJointAction ? { greedy_joint_action: lastEval.firstJointAction } : {}),
      }
      : {}),
    out,
  };
  await Deno.writeTextFile(join(out, "summary.json"), JSON.stringify(summary, null, 2) + "\n");
  algo.dispose();
  return summary;
}
