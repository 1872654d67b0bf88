/**
 * Collecting rollouts: the buffers, the acting loop over T steps of E envs, and the
 * {@link RolloutSource} contract the trainer draws its batches from. The in-process source
 * ({@link LocalRollouts}) runs the loop here; `distributed/` runs the same loop on rollout
 * workers elsewhere and hands the trainer the chunks they sent.
 *
 * @module
 */
import { appendAll } from "./arrays.ts";
import { type Algorithm, MemoryCarry, type Metrics, type Rollout } from "./algorithm.ts";
import type { Step, VecEnv } from "./vec_env.ts";
import type { Rng, RngStreamState } from "./rng.ts";
import { actionVecDim } from "./spaces.ts";
import { checkStep } from "./testing.ts";

/** Buffers of one rollout, `T` steps of `E` envs, allocated once per run. */
export class RolloutBuffers implements Rollout {
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
  readonly n: number;

  /**
   * Allocates them.
   * @param T steps per env
   * @param E envs
   * @param spec the env's spec (agents, dimensions, action space)
   * @param memorySize floats of recurrent memory per env (0: none)
   */
  constructor(
    readonly T: number,
    readonly E: number,
    spec: VecEnv["spec"],
    memorySize: number,
  ) {
    const { numAgents: n, obsDim, stateDim, actionSpace } = spec;
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
}

/** An env in the middle of its episodes: its last step and the policy's memory per env. */
export class EnvCursor {
  /** The step the next action answers (null before the first reset). */
  step: Step | null = null;
  /** The recurrent memory carried from step to step. */
  readonly carry: MemoryCarry;

  /**
   * Creates it; call {@link EnvCursor.reset} before collecting.
   * @param env the envs
   * @param algo the algorithm (its memory size)
   * @param label how errors name the env
   */
  constructor(readonly env: VecEnv, algo: Pick<Algorithm, "memorySize">, readonly label: string) {
    this.carry = new MemoryCarry(algo, env.numEnvs);
  }

  /**
   * Resets every env with `seed` (data checked at the boundary) and the memory to zero.
   * @param seed the env seed
   */
  async reset(seed: number): Promise<void> {
    this.step = await this.env.reset(seed);
    checkStep(this.env, this.step, `Env ${this.label} at reset`);
    this.carry.reset();
  }
}

/** What one collection returns besides the filled buffers. */
export interface Collected {
  /** `[E, n]` value estimates of the state after the last step (GAE's bootstrap). */
  readonly lastValues: Float32Array;
  /** Returns of the training episodes that ended during the rollout. */
  readonly episodeReturns: number[];
  /** Their outcomes (1 won, 0 lost) where the env reports wins. */
  readonly wins: number[];
}

/**
 * Runs `buf.T` steps of the cursor's envs with the algorithm's current parameters, filling
 * `buf` (observations, actions, log-probs, values, rewards, dones, noise, memory).
 * @param algo the acting algorithm
 * @param cur the envs and their last step
 * @param buf the buffers (`buf.E` equals the env count)
 * @param rng the acting stream
 * @param iteration for error messages (1-based iteration being collected)
 * @param cancelled checked before each step: when it says so, collection stops (the envs stay
 *   mid-episode, ready for the next collection) and null is returned
 * @returns the bootstrap values and the finished episodes, or null when cancelled
 */
export async function collect(
  algo: Algorithm,
  cur: EnvCursor,
  buf: RolloutBuffers,
  rng: Rng,
  iteration: number,
  cancelled?: () => boolean,
): Promise<Collected | null> {
  const { env, carry } = cur;
  const { numAgents: n, obsDim, stateDim, actionSpace } = env.spec;
  const A = actionVecDim(actionSpace);
  const E = buf.E;
  if (!cur.step) throw new Error("EnvCursor.reset must be called before collect");
  let step = cur.step;
  const episodeReturns: number[] = [], wins: number[] = [];
  let batchValues = false;
  for (let t = 0; t < buf.T; t++) {
    if (cancelled?.()) return null;
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
    cur.step = step;
    checkStep(env, step, `Env ${cur.label} at iteration ${iteration}, step ${t + 1}`);
    carry.advance(a, step.done, step.truncated);
    buf.rewards.set(step.reward, k);
    for (let e = 0; e < E; e++) buf.dones[k + e] = step.done[e]! | step.truncated[e]!;
    appendAll(episodeReturns, step.episodes.returns);
    appendAll(wins, step.episodes.wins);
  }
  if (batchValues) { // one pass over the rollout's T x E states (critics are fixed meanwhile)
    buf.values.set(
      await algo.values({ obs: buf.obs, state: buf.state, avail: buf.avail, E: E * buf.T }),
    );
  }
  const lastValues = await algo.values(
    carry.input({ obs: step.obs, state: step.state, avail: step.availActions, E }),
  );
  return { lastValues, episodeReturns, wins };
}

/** What a source hands the trainer for one iteration. */
export interface SourceBatch extends Collected {
  /** The filled rollout (the trainer's buffers, or smaller ones when a quorum sufficed). */
  readonly buf: RolloutBuffers;
  /** Diagnostics of the collection (chunks, waits), merged into the iteration's metrics. */
  readonly metrics?: Metrics;
}

/** Where the trainer's rollouts come from: its own envs, or rollout workers. */
export interface RolloutSource {
  /**
   * Starts the envs (the trainer calls it once, before the first iteration).
   * @param seed the env seed of the run's first iteration
   */
  start(seed: number): Promise<void>;
  /**
   * Collects one iteration's rollout with the algorithm's current parameters.
   * @param x the algorithm, the trainer's buffers and acting stream, the iteration (1-based)
   *   and the stream's position before `beginIteration` drew from it
   * @returns the batch
   */
  collect(x: {
    algo: Algorithm;
    buf: RolloutBuffers;
    rng: Rng;
    iteration: number;
    before: RngStreamState;
  }): Promise<SourceBatch>;
  /**
   * Optional: the stream the algorithm's `beginIteration` draws from for `iteration` (e.g. the
   * agent order), when the source must know it before the trainer gets there (a batch collected
   * ahead of time); absent: the trainer's own stream.
   */
  orderStream?(iteration: number): Rng | null;
  /** Releases the source (not the trainer's envs, which the trainer closes). */
  close(): Promise<void>;
}

/** The in-process source: the trainer's own vectorised envs. */
export class LocalRollouts implements RolloutSource {
  #cur: EnvCursor;

  /**
   * Creates it.
   * @param env the envs
   * @param algo the algorithm (its memory size)
   * @param label how errors name the env
   */
  constructor(env: VecEnv, algo: Algorithm, label: string) {
    this.#cur = new EnvCursor(env, algo, label);
  }

  /**
   * Resets the envs.
   * @param seed the env seed
   */
  start(seed: number): Promise<void> {
    return this.#cur.reset(seed);
  }

  /**
   * Runs the envs for one rollout.
   * @param x the algorithm, buffers, acting stream and iteration
   * @returns the trainer's buffers, filled
   */
  async collect(
    x: { algo: Algorithm; buf: RolloutBuffers; rng: Rng; iteration: number },
  ): Promise<SourceBatch> {
    return { buf: x.buf, ...(await collect(x.algo, this.#cur, x.buf, x.rng, x.iteration))! };
  }

  /** Nothing to release: the trainer closes its envs. */
  close(): Promise<void> {
    return Promise.resolve();
  }
}
