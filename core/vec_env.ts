/**
 * The environment contract. A {@link VecEnv} steps `numEnvs` copies of a cooperative
 * multi-agent environment at once, with typed arrays in and out and auto-reset.
 *
 * Env authors usually extend {@link VecEnvBase}, which owns auto-reset, time limits,
 * episode bookkeeping and input checks, and write only the transition; or they write one
 * scalar environment and wrap it with {@link fromScalarEnv}.
 *
 * Layouts (row-major): `obs [E, n, obsDim]`, `state [E, stateDim]`,
 * `availActions [E, n, A]` (discrete only), `reward [E]`, `done [E]`, `truncated [E]`;
 * actions are `Int32Array [E, n]` (discrete) or `Float32Array [E, n, D]` (box).
 *
 * @module
 */
import type { Space } from "./spaces.ts";
import type { Scene } from "./scene.ts";
import { Rng } from "./rng.ts";

/** What an algorithm needs to know about an environment. */
export interface EnvSpec {
  /** Number of agents n. */
  readonly numAgents: number;
  /** Per-agent observation length. */
  readonly obsDim: number;
  /** Global state length (input of a centralised critic). */
  readonly stateDim: number;
  /** The action space, the same for every agent. */
  readonly actionSpace: Space;
  /** Steps after which an episode is truncated. */
  readonly episodeLimit: number;
  /** The best achievable episode return, when known (matrix games). */
  readonly optimalReturn?: number;
  /**
   * Heterogeneous agents: agent i's own observation length (each at most `obsDim`). Its
   * observation is padded with zeros to `obsDim` (by {@link VecEnvBase}; other envs pad themselves).
   */
  readonly agentObsDims?: readonly number[];
  /**
   * Heterogeneous agents (discrete spaces): agent i's own number of actions (each at most the
   * space's `n`); actions from `agentActions[i]` up are never available to it.
   */
  readonly agentActions?: readonly number[];
}

/** Episodes that ended during one step, for logging. */
export interface EpisodeStats {
  /** Team return of each finished episode. */
  readonly returns: number[];
  /** Length of each finished episode. */
  readonly lengths: number[];
  /** Win flag of each finished episode, where the env reports one (1 won, 0 lost). */
  readonly wins: number[];
}

/** One batched transition, as returned by reset and step. */
export interface Step {
  /** `[E, n, obsDim]`; after an episode ends, the first observation of the next one. */
  readonly obs: Float32Array;
  /** `[E, stateDim]`. */
  readonly state: Float32Array;
  /** `[E, n, A]` with 1 where an action is available; null for box spaces. */
  readonly availActions: Uint8Array | null;
  /** `[E]` team reward of the step just taken (0 after reset). */
  readonly reward: Float32Array;
  /** `[E]` 1 where the episode terminated (a true end, no bootstrap). */
  readonly done: Uint8Array;
  /** `[E]` 1 where the episode was cut by the time limit. */
  readonly truncated: Uint8Array;
  /** Episodes that finished in this step. */
  readonly episodes: EpisodeStats;
}

/** A batch of `numEnvs` environments. */
export interface VecEnv {
  /** Agents, dimensions, action space, episode limit. */
  readonly spec: EnvSpec;
  /** How many environments are stepped at once (E). */
  readonly numEnvs: number;
  /** Resets every env; the same seed gives the same episodes. */
  reset(seed: number): Promise<Step>;
  /** Steps every env; finished envs are reset automatically. */
  step(actions: Int32Array | Float32Array): Promise<Step>;
  /** Releases resources (processes, wasm memory, workers). */
  close(): Promise<void>;
  /**
   * Optional: the caller will not step this env until its next `reset` (the trainer says so after
   * each evaluation), so an env may free what it holds meanwhile (a session on a rollout worker).
   */
  pause?(): Promise<void>;
  /**
   * Optional: a picture of env slot 0 as it stands after the last reset or step, for
   * `deno task replay` (core/scene.ts). Envs without it have no generic replay.
   */
  render?(): Scene | null | Promise<Scene | null>;
}

/** The buffers a {@link VecEnvBase} subclass writes into. */
export interface EnvBuffers {
  /** `[E, n, obsDim]`. */
  readonly obs: Float32Array;
  /** `[E, stateDim]`. */
  readonly state: Float32Array;
  /** `[E, n, A]` (discrete) or null. */
  readonly availActions: Uint8Array | null;
  /** `[E]` team reward. */
  readonly reward: Float32Array;
  /** `[E]` episode ended (not by the time limit). */
  readonly done: Uint8Array;
  /** Set to 1 (won) or 0 (lost) for envs whose episode ended, or leave -1. */
  readonly won: Int8Array;
}

/**
 * Base class that owns auto-reset, truncation at the episode limit, episode returns and
 * action checks. Subclasses write the transition only:
 * - `resetEnv(e, rng)`: start a new episode in env e;
 * - `stepEnvs(actions, buf)`: advance all envs, writing `reward` and `done` (termination);
 * - `observe(buf)`: write `obs`, `state` and `availActions` for all envs.
 */
export abstract class VecEnvBase implements VecEnv {
  /** Per-env RNGs, re-seeded by reset(seed). */
  protected rngs: Rng[] = [];
  readonly #buf: EnvBuffers;
  readonly #truncated: Uint8Array;
  readonly #t: Int32Array;
  readonly #ret: Float64Array;
  #started = false;

  /**
   * Creates it.
   * @param spec the env spec
   * @param numEnvs how many envs to step at once
   */
  constructor(readonly spec: EnvSpec, readonly numEnvs: number) {
    if (!Number.isInteger(numEnvs) || numEnvs < 1) {
      throw new Error(`Cannot build env as numEnvs must be a positive integer: current ${numEnvs}`);
    }
    const { numAgents: n, obsDim, stateDim, actionSpace } = spec;
    const A = actionSpace.kind === "discrete" ? actionSpace.n : 0;
    this.#buf = {
      obs: new Float32Array(numEnvs * n * obsDim),
      state: new Float32Array(numEnvs * stateDim),
      availActions: A > 0 ? new Uint8Array(numEnvs * n * A).fill(1) : null,
      reward: new Float32Array(numEnvs),
      done: new Uint8Array(numEnvs),
      won: new Int8Array(numEnvs).fill(-1),
    };
    this.#truncated = new Uint8Array(numEnvs);
    this.#t = new Int32Array(numEnvs);
    this.#ret = new Float64Array(numEnvs);
  }

  /** Start a new episode in env `e`. */
  protected abstract resetEnv(e: number, rng: Rng): void;
  /** Advance every env by one step; write reward, done and (optionally) won. */
  protected abstract stepEnvs(actions: Int32Array | Float32Array, buf: EnvBuffers): void;
  /** Write obs, state and availActions of every env. */
  protected abstract observe(buf: EnvBuffers): void;
  /**
   * Optional: a picture of env slot 0 now (core/scene.ts). When env 0's episode ends, the base
   * takes this picture before the automatic reset, so a replay's last frame shows the outcome.
   */
  protected renderEnv0?(): Scene;
  #endScene: Scene | null = null;

  /** Env slot 0's picture, or null when the env has no `renderEnv0` (see {@link VecEnv.render}). */
  render(): Scene | null {
    if (!this.renderEnv0) return null;
    return this.#endScene ?? this.renderEnv0();
  }

  reset(seed: number): Promise<Step> {
    const root = new Rng(seed);
    this.rngs = Array.from({ length: this.numEnvs }, () => root.fork());
    for (let e = 0; e < this.numEnvs; e++) {
      this.resetEnv(e, this.rngs[e]!);
      this.#t[e] = 0;
      this.#ret[e] = 0;
    }
    const b = this.#buf;
    b.reward.fill(0);
    b.done.fill(0);
    this.#truncated.fill(0);
    this.observe(b);
    this.#pad(b);
    this.#started = true;
    return Promise.resolve(this.#snapshot({ returns: [], lengths: [], wins: [] }));
  }

  #reportsWins = false;

  step(actions: Int32Array | Float32Array): Promise<Step> {
    if (!this.#started) throw new Error("Cannot step env before reset(seed) was called");
    this.#checkActions(actions);
    const b = this.#buf;
    b.done.fill(0);
    b.won.fill(-1);
    this.stepEnvs(actions, b);
    this.#endScene = null;
    const episodes: EpisodeStats = { returns: [], lengths: [], wins: [] };
    for (let e = 0; e < this.numEnvs; e++) {
      const r = b.reward[e]!;
      if (!Number.isFinite(r)) throw new Error(`Env returned a non-finite reward ${r} in env ${e}`);
      this.#t[e]! += 1;
      this.#ret[e]! += r;
      const trunc = !b.done[e] && this.#t[e]! >= this.spec.episodeLimit ? 1 : 0;
      this.#truncated[e] = trunc;
      if (b.done[e] || trunc) {
        episodes.returns.push(this.#ret[e]!);
        episodes.lengths.push(this.#t[e]!);
        // an env that reports wins at all: an episode without a flag (a time-out) is not won
        if (b.won[e]! >= 0) this.#reportsWins = true;
        if (this.#reportsWins) episodes.wins.push(Math.max(0, b.won[e]!));
        if (e === 0 && this.renderEnv0) this.#endScene = this.renderEnv0(); // before the reset
        this.resetEnv(e, this.rngs[e]!);
        this.#t[e] = 0;
        this.#ret[e] = 0;
      }
    }
    this.observe(b);
    this.#pad(b);
    return Promise.resolve(this.#snapshot(episodes));
  }

  /** Heterogeneous agents: zeros past each agent's observation, no actions past its count. */
  #pad(b: EnvBuffers): void {
    const { numAgents: n, obsDim, actionSpace, agentObsDims: od, agentActions: na } = this.spec;
    if (!od && !na) return;
    const A = actionSpace.kind === "discrete" ? actionSpace.n : 0;
    for (let e = 0; e < this.numEnvs; e++) {
      for (let i = 0; i < n; i++) {
        const k = e * n + i;
        if (od && od[i]! < obsDim) b.obs.fill(0, k * obsDim + od[i]!, (k + 1) * obsDim);
        if (na && b.availActions && na[i]! < A) b.availActions.fill(0, k * A + na[i]!, (k + 1) * A);
      }
    }
  }

  close(): Promise<void> {
    return Promise.resolve();
  }

  #snapshot(episodes: EpisodeStats): Step {
    const b = this.#buf;
    return {
      obs: b.obs.slice(),
      state: b.state.slice(),
      availActions: b.availActions ? b.availActions.slice() : null,
      reward: b.reward.slice(),
      done: b.done.slice(),
      truncated: this.#truncated.slice(),
      episodes,
    };
  }

  #checkActions(actions: Int32Array | Float32Array): void {
    const { numAgents: n, actionSpace: s } = this.spec;
    const E = this.numEnvs;
    if (s.kind === "discrete") {
      if (!(actions instanceof Int32Array) || actions.length !== E * n) {
        throw new Error(
          `Env expects Int32Array actions of length ${
            E * n
          } (E=${E} x n=${n}): got ${actions.constructor.name} of length ${actions.length}`,
        );
      }
      const av = this.#buf.availActions!;
      for (let i = 0; i < E * n; i++) {
        const a = actions[i]!;
        if (a < 0 || a >= s.n || !av[i * s.n + a]) {
          throw new Error(
            `Env got unavailable action ${a} for agent ${i % n} in env ${Math.floor(i / n)}`,
          );
        }
      }
    } else if (!(actions instanceof Float32Array) || actions.length !== E * n * s.dim) {
      throw new Error(
        `Env expects Float32Array actions of length ${
          E * n * s.dim
        } (E x n x dim): got length ${actions.length}`,
      );
    }
  }
}

/** A single (non-batched) environment, for authors who prefer to write one env at a time. */
export interface ScalarEnv {
  /** Start an episode. */
  reset(rng: Rng): void;
  /** Apply the joint action; return the team reward, termination and an optional win flag. */
  step(
    actions: Int32Array | Float32Array,
  ): { reward: number; terminated: boolean; won?: boolean };
  /** Write this env's `[n, obsDim]` observations into `out`. */
  obs(out: Float32Array): void;
  /** Write this env's `[stateDim]` state into `out`. */
  state(out: Float32Array): void;
  /** Write this env's `[n, A]` availability into `out` (discrete only; default all 1). */
  availActions?(out: Uint8Array): void;
  /** Optional: a picture of this env now, for replays (core/scene.ts). */
  render?(): Scene;
}

class ScalarVecEnv extends VecEnvBase {
  constructor(spec: EnvSpec, numEnvs: number, readonly envs: ScalarEnv[]) {
    super(spec, numEnvs);
    if (envs[0]?.render) this.renderEnv0 = () => this.envs[0]!.render!();
  }
  protected resetEnv(e: number, rng: Rng): void {
    this.envs[e]!.reset(rng);
  }
  protected stepEnvs(actions: Int32Array | Float32Array, buf: EnvBuffers): void {
    const per = actions.length / this.numEnvs;
    this.envs.forEach((env, e) => {
      const r = env.step(actions.subarray(e * per, (e + 1) * per));
      buf.reward[e] = r.reward;
      buf.done[e] = r.terminated ? 1 : 0;
      if (r.won !== undefined) buf.won[e] = r.won ? 1 : 0;
    });
  }
  protected observe(buf: EnvBuffers): void {
    const { numAgents: n, obsDim, stateDim, actionSpace } = this.spec;
    const A = actionSpace.kind === "discrete" ? actionSpace.n : 0;
    this.envs.forEach((env, e) => {
      env.obs(buf.obs.subarray(e * n * obsDim, (e + 1) * n * obsDim));
      env.state(buf.state.subarray(e * stateDim, (e + 1) * stateDim));
      if (buf.availActions && env.availActions) {
        env.availActions(buf.availActions.subarray(e * n * A, (e + 1) * n * A));
      }
    });
  }
}

/**
 * Wraps a scalar env factory into a {@link VecEnv} of `numEnvs` copies.
 *
 * @param spec the env spec
 * @param numEnvs how many copies
 * @param make builds one env
 * @returns the batched env
 */
export function fromScalarEnv(spec: EnvSpec, numEnvs: number, make: () => ScalarEnv): VecEnv {
  return new ScalarVecEnv(spec, numEnvs, Array.from({ length: numEnvs }, make));
}
