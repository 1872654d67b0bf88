/**
 * The one training loop for every algorithm and env: rollout → GAE → update → metrics,
 * evaluation and checkpoints. It never looks at an algorithm's or env's name.
 *
 * @module
 */
import { join } from "node:path";
import type { AlgoEntry, Algorithm, Metrics } from "./algorithm.ts";
import { LocalRollouts, RolloutBuffers, type RolloutSource } from "./rollout.ts";
import type { VecEnv } from "./vec_env.ts";
import { type EnvEntry, makeEnv, parseOptions } from "./registry.ts";
import { Rng } from "./rng.ts";
import { gae } from "./gae.ts";
import {
  checkRunSize,
  defaultOut,
  derived,
  evalSchedule,
  evalSeed,
  learnerThreads,
  redactDeep,
  redactSecrets,
  redactUrl,
  type TrainConfig,
} from "./config.ts";
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
    command: [Deno.mainModule, ...Deno.args].map((a) => redactSecrets(a)),
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
  /** Where acting and updates ran: tfjs, or the fused kernels (`--kernels`). */
  kernels: "tfjs" | "fused";
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
  /** Set when the run was stopped (a signal) before its last iteration; resume it to go on. */
  stopped?: boolean;
  /** The iterations the config asks for (so a stopped run says how far it got). */
  planned_iterations?: number;
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
  /**
   * Where rollouts come from (default: the trainer's own envs, or rollout workers through
   * Redis when `cfg.rollout` is set).
   */
  readonly rollouts?: RolloutFactory;
}

/** Makes a run's {@link RolloutSource} once its env and algorithm exist. */
export type RolloutFactory = (x: {
  cfg: TrainConfig;
  env: VecEnv;
  algo: Algorithm;
  out: string;
}) => Promise<RolloutSource>;

async function rolloutSource(
  cfg: TrainConfig,
  deps: TrainDeps,
  x: { env: VecEnv; algo: Algorithm; out: string },
): Promise<RolloutSource> {
  if (deps.rollouts) return deps.rollouts({ cfg, ...x });
  if (cfg.rollout) { // loaded only when asked for: the Redis client stays out of local runs
    const { redisRollouts } = await import("../distributed/learner.ts");
    return redisRollouts({ cfg, ...x });
  }
  return new LocalRollouts(x.env, x.algo, cfg.env);
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

/** The config as a run writes it to disk: no credentials. */
function onDisk(cfg: TrainConfig): TrainConfig {
  return cfg.rollout ? { ...cfg, rollout: redactUrl(cfg.rollout) } : cfg;
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
  checkRunSize(cfg); // before anything is allocated
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
  // with rollout workers the learner's own env only tells the spec: one env is enough; with
  // --rollout-env workers even that env and the evaluation envs live on workers
  const remote = cfg.rollout && !deps.rollouts;
  const entry = remote && cfg.rolloutEnv === "workers"
    ? (await import("../distributed/remote_env.ts")).remoteEnvEntry(cfg, deps.env)
    : deps.env;
  const env = await makeEnv(entry, { options: cfg.envOptions, numEnvs: remote ? 1 : cfg.numEnvs });
  // `auto` evaluation settings become numbers here (they depend on the episode limit), and the
  // run's config.json and checkpoint record those numbers
  const schedule = evalSchedule(cfg, env.spec.episodeLimit);
  const scheduled: ScheduledConfig = {
    ...cfg,
    evalEvery: schedule.every,
    evalEpisodes: schedule.episodes,
  };
  let evalEnv: VecEnv;
  try {
    evalEnv = await makeEnv(entry, {
      options: cfg.envOptions,
      numEnvs: Math.min(schedule.episodes, 100),
    });
  } catch (err) {
    await env.close();
    throw err;
  }
  try {
    return await trainWith(out, scheduled, deps, backend, { env, evalEnv, algoOptions });
  } finally {
    // every failure path (reset, algorithm creation, setState, the loop) closes both envs
    await env.close();
    await evalEnv.close();
  }
}

/** A config whose evaluation schedule is resolved to numbers (`evalSchedule`). */
type ScheduledConfig = TrainConfig & { evalEvery: number; evalEpisodes: number };

async function trainWith(
  out: string,
  cfg: ScheduledConfig,
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
    kernels: cfg.kernels,
  });
  if (!cfg.quiet) { for (const line of algo.notes ?? []) console.error(line); }
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
    // redactDeep: the last guard, no password from a URL or the environment reaches disk
    JSON.stringify(
      redactDeep({ ...onDisk(cfg), out, algoOptions, backendUsed: backend.name, meta }),
      null,
      2,
    ) + "\n",
  );
  const hooks: Hook[] = [
    finiteGuard,
    new FileSink(out),
    ...(cfg.log === "tensorboard" ? [new TensorBoardSink(out)] : []),
    ...(cfg.quiet ? [] : [new ProgressLine(stepsPerIter * iterations, envSteps)]),
    ...(deps.hooks ?? []),
    new CheckpointHook(cfg.checkpointEvery),
  ];
  const buf = new RolloutBuffers(cfg.rolloutLength, cfg.numEnvs, env.spec, algo.memorySize ?? 0);
  const n = env.spec.numAgents;
  let source: RolloutSource;
  try {
    source = await rolloutSource(cfg, deps, { env, algo, out });
  } catch (err) {
    for (const h of hooks) await h.close?.();
    return await releaseAndThrow(algo, err);
  }
  const t0 = performance.now();
  let lastEval: EvalPair | null = null;
  let lastTrainReturn: number | null = null;
  const save = async () => {
    const ck: Checkpoint = {
      format: "baton-checkpoint/2",
      config: { ...onDisk(cfg), out },
      iteration,
      envSteps,
      wallSeconds: wallBefore + (performance.now() - t0) / 1000,
      rng: rng.getState(),
      algo: await algo.getState(),
    };
    await saveCheckpoint(join(out, "checkpoint.json"), ck);
  };
  try {
    // Each iteration's env seed derives from (seed, iteration): a resumed run restarts its
    // episodes from that seed, so it continues exactly like an uninterrupted one where episodes
    // end with iterations and env resets draw no random numbers (else it differs only in which
    // episodes it sees). A recurrent policy's memory starts at zero with the reset, as in the
    // uninterrupted run whenever episodes do not straddle iterations.
    await source.start(cfg.seed * 100_003 + iteration);
    while (iteration < iterations && !deps.signal?.aborted) {
      const itStart = performance.now();
      const order = source.orderStream?.(iteration + 1) ?? rng;
      const before = order.getStreamState(); // no side effect: a worker's stream starts here
      algo.beginIteration?.(order);
      const got = await source.collect({ algo, buf, rng, iteration: iteration + 1, before });
      const { lastValues, episodeReturns, wins, buf: batch } = got;
      const g = gae({
        rewards: batch.rewards,
        values: batch.values,
        lastValues,
        dones: batch.dones,
        T: cfg.rolloutLength,
        E: batch.E,
        n,
      }, { gamma: cfg.gamma, lambda: cfg.gaeLambda });
      batch.advantages = g.advantages;
      batch.returns = g.returns;
      const rollSec = (performance.now() - itStart) / 1000;
      const upStart = performance.now();
      const m: Metrics = {
        ...(await algo.update(batch, { rng, progress: iteration / iterations })),
        ...got.metrics,
      };
      const updSec = (performance.now() - upStart) / 1000;
      for (const h of hooks) h.onUpdate?.(m, { iteration: iteration + 1, out });
      iteration++;
      envSteps += batch.T * batch.E; // fewer than stepsPerIter when a quorum of chunks sufficed
      lastTrainReturn = mean(episodeReturns) ?? lastTrainReturn;
      const doEval = (cfg.evalEvery > 0 && iteration % cfg.evalEvery === 0) ||
        iteration === iterations;
      if (doEval) {
        lastEval = await evaluateBoth(algo, evalEnv, {
          episodes: cfg.evalEpisodes,
          seed: evalSeed(cfg.seed),
        });
        await evalEnv.pause?.(); // e.g. a worker's env session goes back to rollouts
        await appendEvaluation(out, iteration, envSteps, lastEval);
      }
      const ge = doEval ? lastEval!.greedy : null, se = doEval ? lastEval!.stochastic : null;
      const wall = wallBefore + (performance.now() - t0) / 1000;
      const rec: Record_ = {
        iteration,
        env_steps: envSteps,
        wall_s: wall,
        sps: (batch.T * batch.E) / (rollSec + updSec),
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
    return await releaseAndThrow(algo, err);
  } finally {
    for (const h of hooks) await h.close?.();
    await source.close();
  }
  let summary: Summary;
  try { // the summary and marl-eval files; the algorithm is released whatever happens here
    summary = {
      env: cfg.env,
      algo: cfg.algo,
      seed: cfg.seed,
      backend: backend.name,
      kernels: algo.kernels ?? "tfjs",
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
      ...(iteration < iterations ? { stopped: true } : {}),
      planned_iterations: iterations,
    };
    await Deno.writeTextFile(
      join(out, "summary.json"),
      JSON.stringify(redactDeep(summary), null, 2) + "\n",
    );
    // the algorithm's name carries the options given on the command line, so variants stay apart
    const given = Object.entries(cfg.algoOptions).sort(([a], [b]) => a.localeCompare(b))
      .map(([k, v]) => `${k}=${typeof v === "string" ? v : JSON.stringify(v)}`).join(";");
    await writeMarlEval(out, {
      env: cfg.env,
      algo: given ? `${cfg.algo}:${given}` : cfg.algo,
      seed: cfg.seed,
    });
  } catch (err) {
    return await releaseAndThrow(algo, err);
  }
  await algo.close?.(); // worker threads end before the caller's process may exit
  algo.dispose();
  return summary;
}

/**
 * Ends an algorithm's worker threads (their own failure aside) and frees it, then passes the run's
 * error on: every failure path of a run releases what it made.
 */
async function releaseAndThrow(algo: Algorithm, err: unknown): Promise<never> {
  await algo.close?.().catch(() => {});
  algo.dispose();
  throw err;
}
