/**
 * The one training loop for every algorithm and env: rollout → GAE → update → metrics,
 * evaluation and checkpoints. It never looks at an algorithm's or env's name.
 *
 * @module
 */
import { join } from "node:path";
import { type AlgoEntry, MemoryCarry, type Metrics, type Rollout } from "./algorithm.ts";
import type { VecEnv } from "./vec_env.ts";
import { type EnvEntry, makeEnv, parseOptions } from "./registry.ts";
import { Rng } from "./rng.ts";
import { gae } from "./gae.ts";
import { actionVecDim } from "./spaces.ts";
import { defaultOut, derived, evalSeed, learnerThreads, type TrainConfig } from "./config.ts";
import { type Checkpoint, saveCheckpoint } from "./checkpoint.ts";
import {
  CheckpointHook,
  FileSink,
  finiteGuard,
  type Hook,
  ProgressLine,
  type Record_,
  truncateMetrics,
} from "./sinks.ts";
import { type EvalPair, type EvalResult, evaluateBoth } from "./evaluate.ts";
import { appendEvaluation, writeMarlEval } from "./marl_eval.ts";
import { checkStep } from "./testing.ts";
import { VERSION } from "./version.ts";
import { tf } from "./deps.ts";
import { type BackendInfo, initBackend } from "./backend.ts";
import { TensorBoardSink } from "./tensorboard.ts";

/** Where a run came from: versions, commit, backend and command line (config.json, summary.json). */
export interface RunMetadata {
  /** Baton's version. */
  readonly baton: string;
  /** The git commit of the Baton checkout, when it is one and git can be run. */
  readonly commit: string | null;
  /** Deno's version. */
  readonly deno: string;
  /** tfjs's version. */
  readonly tfjs: string;
  /** The backend used. */
  readonly backend: string;
  /** The main module and its arguments. */
  readonly command: string[];
}

/**
 * Collects a run's metadata (the commit only where git runs and permissions allow).
 * @param backend the backend in use
 * @returns the metadata
 */
export async function runMetadata(backend: string): Promise<RunMetadata> {
  let commit: string | null = null;
  try {
    const here = new URL("..", import.meta.url);
    if (here.protocol === "file:") {
      const out = await new Deno.Command("git", {
        args: ["rev-parse", "HEAD"],
        cwd: here.pathname,
        stdout: "piped",
        stderr: "null",
      }).output();
      if (out.code === 0) commit = new TextDecoder().decode(out.stdout).trim() || null;
    }
  } catch { /* no git or no run permission */ }
  return {
    baton: VERSION,
    commit,
    deno: Deno.version.deno,
    tfjs: tf.version.tfjs,
    backend,
    command: [Deno.mainModule, ...Deno.args],
  };
}

/** One evaluation mode's summary in `summary.json`. */
export interface EvalSummary {
  /** Episodes evaluated. */
  episodes: number;
  /** Mean return. */
  return: number;
  /** Sample standard deviation over episodes. */
  return_std: number;
  /** Half-width of the normal 95% confidence interval of the mean. */
  return_ci95: number;
  /** Win rate and its 95% CI half-width, where the env reports wins. */
  win_rate?: number;
  /** See win_rate. */
  win_rate_ci95?: number;
}

function evalSummary(r: EvalResult): EvalSummary {
  return {
    episodes: r.returns.length,
    return: r.meanReturn,
    return_std: r.std,
    return_ci95: r.ci95,
    ...(r.winRate !== null ? { win_rate: r.winRate, win_rate_ci95: r.winRateCi95! } : {}),
  };
}

/** What a finished run reports (also written to `summary.json`). */
export interface Summary {
  /** Env id. */
  env: string;
  /** Algorithm name. */
  algo: string;
  /** Run seed. */
  seed: number;
  /** tfjs backend used. */
  backend: string;
  /** Learner threads the algorithm was allowed (`--threads`, 0 resolved to the core count). */
  threads: number;
  /** Env steps trained. */
  env_steps: number;
  /** Iterations done. */
  iterations: number;
  /** Wall seconds, resumed segments included. */
  wall_s: number;
  /** Mean return of the last iteration's finished training episodes. */
  final_train_return: number | null;
  /** Mean greedy evaluation return at the end. */
  final_eval_return: number | null;
  /** Greedy evaluation win rate, where the env reports wins. */
  eval_win_rate?: number | null;
  /** The last evaluation, greedy and stochastic, with its spread over episodes. */
  eval: { greedy: EvalSummary; stochastic: EvalSummary };
  /** The game's optimum, where known. */
  optimal_return?: number;
  /** Greedy joint action of env 0 at the first step (games with a known optimum). */
  greedy_joint_action?: number[];
  /** Where the run came from. */
  meta?: RunMetadata;
  /** The run directory. */
  out: string;
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
  noise: Float32Array | null = null;
  readonly memory: Float32Array | null;
  readonly starts: Uint8Array | null;

  constructor(readonly T: number, readonly E: number, env: VecEnv, memorySize: number) {
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
    this.memory = memorySize ? new Float32Array(TE * memorySize) : null;
    this.starts = memorySize ? new Uint8Array(TE) : null;
  }
  readonly n: number;
}

/** What the trainer needs besides the config. */
export interface TrainDeps {
  /** The env to train on (`registry.get(cfg.env)`, or an entry of your own). */
  readonly env: EnvEntry;
  /** The algorithm (`registry.get(cfg.algo)`, or an entry of your own). */
  readonly algo: AlgoEntry;
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
  const created = !(await exists(out));
  await Deno.mkdir(out, { recursive: true });
  try {
    return await trainIn(out, cfg, deps, backend);
  } catch (err) {
    // a run that failed before its first iteration leaves no directory behind
    if (created && !(await exists(join(out, "metrics.jsonl")))) {
      await Deno.remove(out, { recursive: true }).catch(() => {});
    }
    throw err;
  }
}

async function trainIn(
  out: string,
  cfg: TrainConfig,
  deps: TrainDeps,
  backend: BackendInfo,
): Promise<Summary> {
  const algoEntry = deps.algo;
  const algoOptions = parseOptions(algoEntry.options, cfg.algoOptions, `algorithm ${cfg.algo}`);
  const env = await makeEnv(deps.env, { options: cfg.envOptions, numEnvs: cfg.numEnvs });
  let evalEnv: VecEnv;
  try {
    evalEnv = await makeEnv(deps.env, {
      options: cfg.envOptions,
      numEnvs: Math.min(cfg.evalEpisodes, 100),
    });
  } catch (err) {
    await env.close();
    throw err;
  }
  try {
    return await trainWith(out, cfg, deps, backend, { env, evalEnv, algoOptions });
  } finally {
    // every failure path (reset, algorithm creation, setState, the loop) closes both envs
    await env.close();
    await evalEnv.close();
  }
}

async function trainWith(
  out: string,
  cfg: TrainConfig,
  deps: TrainDeps,
  backend: BackendInfo,
  x: { env: VecEnv; evalEnv: VecEnv; algoOptions: unknown },
): Promise<Summary> {
  const { env, evalEnv, algoOptions } = x;
  const algoEntry = deps.algo;
  const rng = new Rng(cfg.seed);
  const threads = learnerThreads(cfg);
  const algo = algoEntry.create(env.spec, {
    options: algoOptions,
    rng: rng.fork(),
    threads,
    rolloutLength: cfg.rolloutLength,
  });
  const { stepsPerIter, iterations } = derived(cfg);
  let iteration = 0, envSteps = 0, wallBefore = 0;
  if (deps.resume) {
    await truncateMetrics(out, deps.resume.iteration);
    await algo.setState(deps.resume.algo).catch((err) => {
      algo.dispose();
      throw err;
    });
    rng.setState(deps.resume.rng);
    iteration = deps.resume.iteration;
    envSteps = deps.resume.envSteps;
    wallBefore = deps.resume.wallSeconds;
  }
  const meta = await runMetadata(backend.name);
  await Deno.writeTextFile(
    join(out, "config.json"),
    JSON.stringify({ ...cfg, out, algoOptions, backendUsed: backend.name, meta }, null, 2) + "\n",
  );
  const hooks: Hook[] = [
    finiteGuard,
    new FileSink(out),
    ...(cfg.log === "tensorboard" ? [new TensorBoardSink(out)] : []),
    ...(cfg.quiet ? [] : [new ProgressLine(stepsPerIter * iterations)]),
    ...(deps.hooks ?? []),
    new CheckpointHook(cfg.checkpointEvery),
  ];
  const buf = new RolloutBuffers(cfg.rolloutLength, cfg.numEnvs, env, algo.memorySize ?? 0);
  const { numAgents: n, obsDim, stateDim, actionSpace } = env.spec;
  const A = actionVecDim(actionSpace);
  const E = cfg.numEnvs;
  // Each iteration's env seed derives from (seed, iteration): a resumed run restarts its
  // episodes from that seed, so it continues exactly like an uninterrupted one where episodes end
  // with iterations and env resets draw no random numbers (else it differs only in which
  // episodes it sees).
  let step = await env.reset(cfg.seed * 100_003 + iteration);
  checkStep(env, step, `Env ${cfg.env} at reset`); // env data is checked at the boundary
  // a recurrent policy's per-env memory, from zero at the reset: a resumed run restarts its
  // episodes (the envs are reset), so its memory starts at zero too, as in the uninterrupted run
  // whenever episodes do not straddle iterations
  const carry = new MemoryCarry(algo, E);
  const t0 = performance.now();
  let lastEval: EvalPair | null = null;
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
      let batchValues = false;
      for (let t = 0; t < cfg.rolloutLength; t++) {
        const x = carry.input({ obs: step.obs, state: step.state, avail: step.availActions, E });
        const a = await algo.act(x, { rng, greedy: false });
        const k = t * E;
        if (buf.memory) {
          buf.memory.set(carry.memory, k * carry.M);
          buf.starts!.set(carry.starts, k);
        }
        buf.obs.set(step.obs, k * n * obsDim);
        buf.state.set(step.state, k * stateDim);
        if (buf.avail && step.availActions) buf.avail.set(step.availActions, k * n * A);
        buf.actions.set(a.actions as any, k * n * (a.actions instanceof Int32Array ? 1 : A));
        buf.actionVecs.set(a.actionVecs, k * n * A);
        buf.logp.set(a.logp, k * n);
        if (a.values) buf.values.set(a.values, k * n);
        else batchValues = true;
        if (a.noise) {
          (buf.noise ??= new Float32Array(buf.actionVecs.length)).set(a.noise, k * n * A);
        }
        step = await env.step(a.actions);
        checkStep(env, step, `Env ${cfg.env} at iteration ${iteration + 1}, step ${t + 1}`);
        carry.advance(a, step.done, step.truncated);
        buf.rewards.set(step.reward, k);
        for (let e = 0; e < E; e++) buf.dones[k + e] = step.done[e]! | step.truncated[e]!;
        episodeReturns.push(...step.episodes.returns);
        wins.push(...step.episodes.wins);
      }
      if (batchValues) { // one pass over the rollout's T x E states (critics are fixed meanwhile)
        buf.values.set(
          await algo.values({
            obs: buf.obs,
            state: buf.state,
            avail: buf.avail,
            E: E * cfg.rolloutLength,
          }),
        );
      }
      const lastValues = await algo.values(
        carry.input({ obs: step.obs, state: step.state, avail: step.availActions, E }),
      );
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
      for (const h of hooks) h.onUpdate?.(m, { iteration: iteration + 1, out });
      iteration++;
      envSteps += stepsPerIter;
      lastTrainReturn = mean(episodeReturns) ?? lastTrainReturn;
      const doEval = (cfg.evalEvery > 0 && iteration % cfg.evalEvery === 0) ||
        iteration === iterations;
      if (doEval) {
        lastEval = await evaluateBoth(algo, evalEnv, {
          episodes: cfg.evalEpisodes,
          seed: evalSeed(cfg.seed),
        });
        await appendEvaluation(out, iteration, envSteps, lastEval);
      }
      const ge = doEval ? lastEval!.greedy : null, se = doEval ? lastEval!.stochastic : null;
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
        eval_return: ge ? ge.meanReturn : null,
        eval_return_std: ge ? ge.std : null,
        eval_return_ci95: ge ? ge.ci95 : null,
        eval_win_rate: ge ? ge.winRate : null,
        eval_stochastic_return: se ? se.meanReturn : null,
        eval_stochastic_return_ci95: se ? se.ci95 : null,
        eval_stochastic_win_rate: se ? se.winRate : null,
        ...m,
      };
      for (const h of hooks) await h.onIteration?.(rec, { iteration, iterations, save });
    }
    if (deps.signal?.aborted) await save();
    if (!lastEval) {
      lastEval = await evaluateBoth(algo, evalEnv, {
        episodes: cfg.evalEpisodes,
        seed: evalSeed(cfg.seed),
      });
    }
  } catch (err) {
    await algo.close?.().catch(() => {});
    algo.dispose();
    throw err;
  } finally {
    for (const h of hooks) await h.close?.();
  }
  const summary: Summary = {
    env: cfg.env,
    algo: cfg.algo,
    seed: cfg.seed,
    backend: backend.name,
    threads,
    env_steps: envSteps,
    iterations: iteration,
    wall_s: Math.round((wallBefore + (performance.now() - t0) / 1000) * 100) / 100,
    final_train_return: lastTrainReturn,
    final_eval_return: lastEval.greedy.meanReturn,
    ...(lastEval.greedy.winRate !== null ? { eval_win_rate: lastEval.greedy.winRate } : {}),
    eval: {
      greedy: evalSummary(lastEval.greedy),
      stochastic: evalSummary(lastEval.stochastic),
    },
    ...(env.spec.optimalReturn !== undefined
      ? {
        optimal_return: env.spec.optimalReturn,
        ...(lastEval.greedy.firstJointAction
          ? { greedy_joint_action: lastEval.greedy.firstJointAction }
          : {}),
      }
      : {}),
    out,
    meta,
  };
  await Deno.writeTextFile(join(out, "summary.json"), JSON.stringify(summary, null, 2) + "\n");
  // the algorithm's name carries the options given on the command line, so variants stay apart
  const given = Object.entries(cfg.algoOptions).sort(([a], [b]) => a.localeCompare(b))
    .map(([k, v]) => `${k}=${typeof v === "string" ? v : JSON.stringify(v)}`).join(";");
  await writeMarlEval(out, {
    env: cfg.env,
    algo: given ? `${cfg.algo}:${given}` : cfg.algo,
    seed: cfg.seed,
  });
  await algo.close?.(); // worker threads end before the caller's process may exit
  algo.dispose();
  return summary;
}
