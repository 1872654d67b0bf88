/**
 * The algorithm contract: "how to act" plus "how to update". The trainer knows nothing else
 * about an algorithm, and an algorithm knows nothing about the trainer's loop.
 *
 * @module
 */
import type { z } from "./deps.ts";
import type { EnvSpec } from "./vec_env.ts";
import type { Rng } from "./rng.ts";

/** One batch of observations for acting, `E` envs. */
export interface ActInput {
  /** `[E, n, obsDim]`. */
  readonly obs: Float32Array;
  /** `[E, stateDim]`. */
  readonly state: Float32Array;
  /** `[E, n, A]` or null. */
  readonly avail: Uint8Array | null;
  /** Number of envs E. */
  readonly E: number;
  /**
   * `[E, M]` each env's memory before this step (recurrent policies, M = `memorySize`), as the
   * previous {@link ActOutput.memory} returned it; absent for feed-forward policies.
   */
  readonly memory?: Float32Array;
  /** `[E]` 1 where this step is an episode's first: the policy resets that env's memory. */
  readonly starts?: Uint8Array;
}

/** What acting produces for `E` envs. */
export interface ActOutput {
  /** `Int32Array [E, n]` (discrete) or `Float32Array [E, n, D]` (box, raw sample). */
  readonly actions: Int32Array | Float32Array;
  /** `[E, n, A]` one-hot (discrete) or the action itself (box): what later agents see. */
  readonly actionVecs: Float32Array;
  /** `[E, n]` log-probability of each agent's action under its conditional policy. */
  readonly logp: Float32Array;
  /**
   * `[E, n]` value estimates (denormalised), or absent: the trainer then asks
   * {@link Algorithm.values} once for the whole rollout (one batched pass instead of T small ones;
   * the critics do not change during a rollout).
   */
  readonly values?: Float32Array;
  /**
   * `[E, n, A]` the noise that produced each sampled action (Gumbel for discrete, standard
   * normal for box), for algorithms that reparameterise with it; absent otherwise.
   */
  readonly noise?: Float32Array;
  /** `[E, M]` each env's memory after this step (recurrent policies); absent otherwise. */
  readonly memory?: Float32Array;
}

/**
 * A collected rollout, `T` steps of `E` envs with `n` agents; every array is row-major
 * with the leading axes `[T, E, n]` (or `[T, E]` for team quantities).
 */
export interface Rollout {
  /** Steps per env T. */
  readonly T: number;
  /** Number of envs E. */
  readonly E: number;
  /** Number of agents n. */
  readonly n: number;
  /** `[T, E, n, obsDim]`. */
  readonly obs: Float32Array;
  /** `[T, E, stateDim]`. */
  readonly state: Float32Array;
  /** `[T, E, n, A]` or null. */
  readonly avail: Uint8Array | null;
  /** `[T, E, n]` (discrete) or `[T, E, n, D]` (box). */
  readonly actions: Int32Array | Float32Array;
  /** `[T, E, n, A]`. */
  readonly actionVecs: Float32Array;
  /** `[T, E, n]` behaviour log-probs. */
  readonly logp: Float32Array;
  /** `[T, E, n]` value estimates at collection (denormalised). */
  readonly values: Float32Array;
  /** `[T, E]`. */
  readonly rewards: Float32Array;
  /** `[T, E]` episode ended after step t. */
  readonly dones: Uint8Array;
  /** `[T, E, n]` GAE advantages (not normalised). */
  readonly advantages: Float32Array;
  /** `[T, E, n]` value targets (advantages + values). */
  readonly returns: Float32Array;
  /** `[T, E, n, A]` the sampling noise from {@link ActOutput.noise}, or null when none. */
  readonly noise?: Float32Array | null;
  /** `[T, E, M]` the memory each step was acted with (before its reset), recurrent policies only. */
  readonly memory?: Float32Array | null;
  /** `[T, E]` 1 where step t is an episode's first (recurrent policies only). */
  readonly starts?: Uint8Array | null;
}

/** Per-update diagnostics, keyed by metric name (the README's metric table lists them). */
export type Metrics = Record<string, number>;

/** Everything an algorithm needs to save and restore. */
export interface AlgoState {
  /** Variables and optimiser slots by name, as flat float32 arrays with shapes. */
  readonly tensors: Record<string, { shape: number[]; data: Float32Array }>;
  /** JSON-serialisable extras (value normaliser, step counters). */
  readonly extra: Record<string, unknown>;
}

/** What the trainer tells an update besides the rollout. */
export interface UpdateContext {
  /** Minibatch shuffling and any noise the update draws. */
  readonly rng: Rng;
  /** Fraction of training done before this update, in [0, 1) (for schedules). */
  readonly progress: number;
}

/** A trainable multi-agent policy. */
export interface Algorithm {
  /** The algorithm's name (`--algo`). */
  readonly name: string;
  /**
   * Floats of memory a recurrent policy carries per env from step to step (0 or absent:
   * feed-forward). Callers keep it with {@link MemoryCarry}.
   */
  readonly memorySize?: number;
  /** Lines the trainer prints once on stderr unless quiet (choices the run should know about). */
  readonly notes?: readonly string[];
  /** Where its acting and updates run (`--kernels` resolved), when it has a choice. */
  readonly kernels?: "tfjs" | "fused";
  /** Called once before each rollout (e.g. to draw an agent order). */
  beginIteration?(rng: Rng): void;
  /** Samples (or, greedily, picks) every agent's action. */
  act(x: ActInput, opts: { rng: Rng; greedy: boolean }): Promise<ActOutput>;
  /** `[E, n]` value estimates (denormalised) of E rows: a rollout's states, or the last step's. */
  values(x: ActInput): Promise<Float32Array>;
  /** One learning update from a rollout; `progress` runs from 0 (first) to 1 (last update). */
  update(batch: Rollout, ctx: UpdateContext): Promise<Metrics>;
  /** Serialisable state: parameters, optimiser slots, normalisers. */
  getState(): Promise<AlgoState>;
  /** Restores a state from {@link getState}. */
  setState(s: AlgoState): Promise<void>;
  /** Frees tensors. */
  dispose(): void;
  /**
   * Optional: stops what must be waited for before the process may exit (worker threads), ahead
   * of {@link dispose}. The trainer awaits it at the end of a run.
   */
  close?(): Promise<void>;
}

/** One registered algorithm. */
export interface AlgoEntry<S extends z.ZodType = z.ZodType> {
  /** The algorithm's name (`--algo`). */
  readonly name: string;
  /** One line for listings. */
  readonly description: string;
  /** Options schema (`--algo-opt key=value`). */
  readonly options: S;
  /** Builds the algorithm for an env spec with parsed options. */
  create(
    spec: EnvSpec,
    opts: {
      options: z.infer<S>;
      rng: Rng;
      threads?: number;
      rolloutLength?: number;
      kernels?: "auto" | "tfjs" | "fused";
    },
  ): Algorithm;
}

/**
 * Carries a recurrent algorithm's per-env memory from one step to the next, and marks episode
 * starts (every env at first, then each env whose episode just ended). For a feed-forward
 * algorithm it adds nothing to the act input.
 */
export class MemoryCarry {
  /** Floats per env. */
  readonly M: number;
  /** `[E, M]` the memory to act with next. */
  memory: Float32Array;
  /** `[E]` 1 where the next step starts an episode. */
  readonly starts: Uint8Array;

  /**
   * Creates it with every env at an episode start.
   * @param algo the algorithm (its `memorySize`)
   * @param E number of envs
   */
  constructor(algo: Pick<Algorithm, "memorySize">, readonly E: number) {
    this.M = algo.memorySize ?? 0;
    this.memory = new Float32Array(E * this.M);
    this.starts = new Uint8Array(E).fill(1);
  }

  /**
   * The act input with memory and starts added (recurrent algorithms only).
   * @param x the observations
   * @returns x, or x with `memory` and `starts`
   */
  input(x: ActInput): ActInput {
    return this.M ? { ...x, memory: this.memory, starts: this.starts } : x;
  }

  /**
   * Takes the memory an act returned and the done flags of the step that followed.
   * @param out what act returned
   * @param done `[E]` episode ended (terminated)
   * @param truncated `[E]` episode ended (time limit)
   */
  advance(out: ActOutput, done: Uint8Array, truncated: Uint8Array): void {
    if (!this.M) return;
    if (!out.memory || out.memory.length !== this.memory.length) {
      throw new Error(`A recurrent algorithm's act must return memory [E, ${this.M}]`);
    }
    this.memory = out.memory;
    for (let e = 0; e < this.E; e++) this.starts[e] = done[e]! | truncated[e]!;
  }

  /** Marks every env at an episode start (after a reset). */
  reset(): void {
    this.starts.fill(1);
  }
}
