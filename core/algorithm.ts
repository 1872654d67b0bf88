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
  readonly E: number;
}

/** What acting produces for `E` envs. */
export interface ActOutput {
  /** `Int32Array [E, n]` (discrete) or `Float32Array [E, n, D]` (box, raw sample). */
  readonly actions: Int32Array | Float32Array;
  /** `[E, n, A]` one-hot (discrete) or the action itself (box): what later agents see. */
  readonly actionVecs: Float32Array;
  /** `[E, n]` log-probability of each agent's action under its conditional policy. */
  readonly logp: Float32Array;
  /** `[E, n]` value estimates (denormalised). */
  readonly values: Float32Array;
}

/**
 * A collected rollout, `T` steps of `E` envs with `n` agents; every array is row-major
 * with the leading axes `[T, E, n]` (or `[T, E]` for team quantities).
 */
export interface Rollout {
  readonly T: number;
  readonly E: number;
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
}

/** Per-update diagnostics, keyed by metric name (see core/metrics.ts). */
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
  readonly name: string;
  /** Called once before each rollout (e.g. to draw an agent order). */
  beginIteration?(rng: Rng): void;
  /** Samples (or, greedily, picks) every agent's action. */
  act(x: ActInput, opts: { rng: Rng; greedy: boolean }): Promise<ActOutput>;
  /** `[E, n]` value estimates (denormalised), for bootstrapping the last step. */
  values(x: ActInput): Promise<Float32Array>;
  /** One learning update from a rollout; `progress` runs from 0 (first) to 1 (last update). */
  update(batch: Rollout, ctx: UpdateContext): Promise<Metrics>;
  /** Serialisable state: parameters, optimiser slots, normalisers. */
  getState(): Promise<AlgoState>;
  /** Restores a state from {@link getState}. */
  setState(s: AlgoState): Promise<void>;
  /** Frees tensors. */
  dispose(): void;
}

/** One registered algorithm. */
export interface AlgoEntry<S extends z.ZodType = z.ZodType> {
  readonly name: string;
  readonly description: string;
  /** Options schema (`--algo-opt key=value`). */
  readonly options: S;
  create(spec: EnvSpec, opts: { options: z.infer<S>; rng: Rng }): Algorithm;
}
