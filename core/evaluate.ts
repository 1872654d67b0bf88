/**
 * Greedy evaluation: of a live policy during training, and of a saved checkpoint
 * (`--eval-only`). Both use the same seed, {@link evalSeed} of the run's seed.
 *
 * @module
 */
import { type AlgoEntry, type Algorithm, MemoryCarry } from "./algorithm.ts";
import type { VecEnv } from "./vec_env.ts";
import { type EnvEntry, makeEnv, parseOptions } from "./registry.ts";
import { Rng } from "./rng.ts";
import type { Checkpoint } from "./checkpoint.ts";
import { evalSchedule, evalSeed, type TrainConfig } from "./config.ts";

/** Result of an evaluation. */
export interface EvalResult {
  /** Mean return over the evaluated episodes. */
  meanReturn: number;
  /** Fraction won, or null when the env reports no wins. */
  winRate: number | null;
  /** The greedy joint action of env 0 at the first step (discrete envs). */
  firstJointAction: number[] | null;
  /** Each episode's return, in the fixed order of the evaluation set. */
  returns: number[];
  /** Each episode's win flag (1/0), or null where the env reports no wins. */
  wins: number[] | null;
  /** Sample standard deviation of the returns over episodes. */
  std: number;
  /** Half-width of the 95% confidence interval of the mean return (normal, 1.96 sd / sqrt(n)). */
  ci95: number;
  /** Half-width of the 95% confidence interval of the win rate, or null. */
  winRateCi95: number | null;
}

/** Greedy and stochastic evaluation of one policy on the same fixed set of episodes. */
export interface EvalPair {
  /** Each agent takes its most likely action (what SMAC papers call "test win rate"). */
  readonly greedy: EvalResult;
  /** Each agent samples from its policy, with the evaluation seed's random stream. */
  readonly stochastic: EvalResult;
}

/**
 * Mean, standard deviation and normal 95% CI half-width of a sample.
 * @param xs the values
 * @returns the statistics (std and ci 0 for fewer than 2 values)
 */
export function spread(xs: readonly number[]): { mean: number; std: number; ci95: number } {
  const n = xs.length;
  const mean = n ? xs.reduce((a, b) => a + b, 0) / n : NaN;
  const std = n > 1 ? Math.sqrt(xs.reduce((a, b) => a + (b - mean) ** 2, 0) / (n - 1)) : 0;
  return { mean, std, ci95: n > 1 ? 1.96 * std / Math.sqrt(n) : 0 };
}

/**
 * Runs `episodes` greedy episodes: a fixed set, the first episode of each env slot, each to its
 * end (rounds of `numEnvs` slots when more episodes are asked for than there are envs, the env
 * reset with `seed + round`). Taking "the first N episodes to finish" instead would favour short
 * episodes. Return and win rate come from the same episodes; where the env reports wins, an
 * episode it reports no win flag for counts as not won.
 * @param algo the policy
 * @param env an env used only for evaluation
 * @param opts number of episodes and seed
 * @returns mean return, win rate and the first greedy joint action
 */
export async function evaluate(
  algo: Algorithm,
  env: VecEnv,
  opts: { episodes: number; seed: number; greedy?: boolean },
): Promise<EvalResult> {
  const greedy = opts.greedy ?? true;
  const rng = new Rng(opts.seed);
  const E = env.numEnvs, n = env.spec.numAgents;
  const returns: number[] = [], won: (number | null)[] = [];
  let first: number[] | null = null;
  for (let round = 0; returns.length < opts.episodes; round++) {
    const slots = Math.min(E, opts.episodes - returns.length); // slots 0..slots-1 count
    const counted = new Uint8Array(E);
    let left = slots;
    let step = await env.reset(opts.seed + round);
    const carry = new MemoryCarry(algo, E); // recurrent policies carry their state across steps
    for (let t = 0; left > 0 && t <= env.spec.episodeLimit; t++) {
      const out = await algo.act(
        carry.input({ obs: step.obs, state: step.state, avail: step.availActions, E }),
        { rng, greedy },
      );
      if (first === null && out.actions instanceof Int32Array) {
        first = Array.from(out.actions.subarray(0, n));
      }
      step = await env.step(out.actions);
      carry.advance(out, step.done, step.truncated);
      const ep = step.episodes;
      const perEpisodeWins = ep.wins.length === ep.returns.length;
      let j = 0; // episodes are listed in slot order, one per slot that ended
      for (let e = 0; e < E; e++) {
        if (!step.done[e] && !step.truncated[e]) continue;
        if (e < slots && !counted[e] && j < ep.returns.length) {
          counted[e] = 1;
          left--;
          returns.push(ep.returns[j]!);
          won.push(perEpisodeWins ? ep.wins[j]! : ep.wins.length ? 0 : null);
        }
        j++;
      }
    }
    if (left > 0) {
      throw new Error(
        `Evaluation: ${left} of ${slots} episodes did not end within the episode limit (${env.spec.episodeLimit} steps)`,
      );
    }
  }
  const reportsWins = won.some((w) => w !== null);
  const wins = reportsWins ? won.map((w) => w ?? 0) : null;
  const r = spread(returns), w = wins ? spread(wins) : null;
  return {
    meanReturn: r.mean,
    winRate: w ? w.mean : null,
    firstJointAction: first,
    returns,
    wins,
    std: r.std,
    ci95: r.ci95,
    winRateCi95: w ? w.ci95 : null,
  };
}

/**
 * Greedy, then stochastic evaluation on the same episodes (same env seeds): see {@link evaluate}.
 * @param algo the policy
 * @param env an env used only for evaluation
 * @param opts number of episodes and seed
 * @returns both results
 */
export async function evaluateBoth(
  algo: Algorithm,
  env: VecEnv,
  opts: { episodes: number; seed: number },
): Promise<EvalPair> {
  const greedy = await evaluate(algo, env, { ...opts, greedy: true });
  const stochastic = await evaluate(algo, env, { ...opts, greedy: false });
  return { greedy, stochastic };
}

/** What `--eval-only` reports: the greedy result's fields, and the stochastic evaluation. */
export interface CheckpointEval extends EvalResult {
  /** The same episodes with sampled actions. */
  readonly stochastic: EvalResult;
  /** Env steps the checkpoint was trained for. */
  readonly envSteps: number;
  /** Episodes played, each greedily and sampled (`evalEpisodes`, resolved when `auto`). */
  readonly episodes: number;
  /** The game's optimal return, when the env knows it. */
  readonly optimalReturn?: number;
}

/**
 * Evaluates a checkpoint greedily on `cfg.evalEpisodes` episodes with the run's eval seed.
 * @param cfg the resolved config (usually the checkpoint's, with overrides)
 * @param ck the checkpoint
 * @param deps the env and algorithm entries
 * @returns the evaluation
 */
export async function evaluateCheckpoint(
  cfg: TrainConfig,
  ck: Checkpoint,
  deps: { env: EnvEntry; algo: AlgoEntry },
): Promise<CheckpointEval> {
  let episodes: number;
  if (cfg.evalEpisodes === "auto") { // the episode limit decides: ask a one-env copy
    const probe = await makeEnv(deps.env, { options: cfg.envOptions, numEnvs: 1 });
    episodes = evalSchedule(cfg, probe.spec.episodeLimit).episodes;
    await probe.close();
  } else episodes = cfg.evalEpisodes;
  const env = await makeEnv(deps.env, {
    options: cfg.envOptions,
    numEnvs: Math.min(episodes, 100),
  });
  try {
    const algo = deps.algo.create(env.spec, {
      options: parseOptions(deps.algo.options, cfg.algoOptions, `algorithm ${cfg.algo}`),
      rng: new Rng(cfg.seed),
      rolloutLength: cfg.rolloutLength,
    });
    try {
      await algo.setState(ck.algo);
      const r = await evaluateBoth(algo, env, {
        episodes,
        seed: evalSeed(cfg.seed),
      });
      return {
        ...r.greedy,
        episodes,
        stochastic: r.stochastic,
        envSteps: ck.envSteps,
        optimalReturn: env.spec.optimalReturn,
      };
    } finally {
      algo.dispose();
    }
  } finally {
    await env.close();
  }
}
