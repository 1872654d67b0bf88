/**
 * The tensors of one PPO update: per-agent rows of the rollout (full batch, N = T x E
 * samples), minibatch index sets and row gathering.
 *
 * @module
 */
import { tf } from "../../core/deps.ts";
import type { Rollout } from "../../core/algorithm.ts";
import type { Rng } from "../../core/rng.ts";
import { normalizePerAgent } from "../../core/gae.ts";
import type { PpoAgents } from "./agents.ts";

/** Per-agent tensors of one update (full batch, N = T x E samples). */
export interface AgentBatch {
  /** `[N, obsDim]`. */
  readonly obs: tf.Tensor2D;
  /** `[N, A]` one-hot (discrete) or raw action (box). */
  readonly act: tf.Tensor2D;
  /** `[N, A]` availability, or null. */
  readonly avail: tf.Tensor2D | null;
  /** `[N]` behaviour log-probs. */
  readonly logpOld: tf.Tensor1D;
  /** `[N]` normalised advantages. */
  readonly adv: tf.Tensor1D;
  /** `[N, criticDim]`. */
  readonly criticIn: tf.Tensor2D;
  /** `[N]` value targets (normalised when ValueNorm is on). */
  readonly ret: tf.Tensor1D;
  /** `[N]` values at collection (same scale as ret). */
  readonly vOld: tf.Tensor1D;
  /** `[N, A]` the noise that produced each action (docs/bpta.md §4c), or null. */
  readonly noise: tf.Tensor2D | null;
  /** `[N, H]` the actor's GRU state each row was acted with (recurrent), or null. */
  readonly hActor: tf.Tensor2D | null;
  /** `[N, H]` the critic's GRU state of each row (recurrent), or null. */
  readonly hCritic: tf.Tensor2D | null;
  /** `[N]` 0 where a row is an episode's first step, else 1 (recurrent), or null. */
  readonly keep: tf.Tensor1D | null;
}

/** The tensors of one update. */
export interface TrainBatch {
  /**
   * Samples N = T x E, row `t E + e`; with recurrent networks the rows are reordered into
   * `T / L` chunks of L steps per env, time-major (`row = l C + c`, C = N / L chunks; see
   * {@link chunkMajor}).
   */
  readonly N: number;
  /** Per-agent rows. */
  readonly agents: AgentBatch[];
  /** `[N, n * A]` every agent's action vector (conditioning input). */
  readonly u: tf.Tensor2D;
}

/**
 * Builds the per-agent tensors of one update; updates the value normaliser with the
 * returns first (so targets and old values share one scale).
 * @param ag the agents (spec, options, value normaliser)
 * @param r the rollout
 * @returns tensors the caller disposes with {@link disposeBatch}
 */
export function prepareBatch(ag: PpoAgents, rollout: Rollout): TrainBatch {
  const { n, A } = ag;
  const r = ag.recurrent ? chunkMajor(rollout, ag.seqLen) : rollout;
  const N = r.T * r.E;
  const ret = r.returns.slice(), vOld = r.values.slice();
  if (ag.opts.valueNorm) {
    ag.valueNorm.update(ret);
    ag.valueNorm.normalize(ret);
    ag.valueNorm.normalize(vOld);
  }
  const advantages = normalizePerAgent(r.advantages, n);
  const pick = (src: ArrayLike<number>, i: number, width: number) => {
    const out = new Float32Array(N * width);
    for (let s = 0; s < N; s++) {
      const k = (s * n + i) * width;
      for (let j = 0; j < width; j++) out[s * width + j] = src[k + j]!;
    }
    return out;
  };
  const agents: AgentBatch[] = [];
  for (let i = 0; i < n; i++) {
    const criticIn = tf.tensor2d(ag.criticRows(r.state, r.obs, i, N), [N, ag.criticDim]);
    agents.push({
      obs: tf.tensor2d(ag.obsRows(r.obs, i, N), [N, ag.obsIn]),
      act: tf.tensor2d(pick(r.actionVecs, i, A), [N, A]),
      avail: r.avail ? tf.tensor2d(pick(r.avail, i, A), [N, A]) : null,
      logpOld: tf.tensor1d(pick(r.logp, i, 1)),
      adv: tf.tensor1d(pick(advantages, i, 1)),
      criticIn,
      ret: tf.tensor1d(pick(ret, i, 1)),
      vOld: tf.tensor1d(pick(vOld, i, 1)),
      noise: r.noise ? tf.tensor2d(pick(r.noise, i, A), [N, A]) : null,
      ...memoryRows(ag, r, i),
    });
  }
  // the rollout was acted with the current input statistics and the batch uses them too; the
  // next rollout's statistics include this one
  ag.updateInputStats(r.obs, r.state, N);
  return { N, agents, u: tf.tensor2d(r.actionVecs, [N, n * A]) };
}

/**
 * Agent i's stored GRU states and reset flags, as tensors (all null for feed-forward networks).
 * @param ag the agents
 * @param r the rollout (rows as the batch orders them)
 * @param i the agent
 * @returns `hActor [N, H]`, `hCritic [N, H]`, `keep [N]`
 */
function memoryRows(
  ag: PpoAgents,
  r: Rollout,
  i: number,
): Pick<AgentBatch, "hActor" | "hCritic" | "keep"> {
  if (!ag.recurrent) return { hActor: null, hCritic: null, keep: null };
  if (!r.memory || !r.starts) {
    throw new Error(
      "A recurrent algorithm's update needs the rollout's memory and starts: collect it with this algorithm's act()",
    );
  }
  const N = r.T * r.E, { n, H, memorySize: M } = ag;
  const hA = new Float32Array(N * H), hC = new Float32Array(N * H);
  for (let s = 0; s < N; s++) {
    hA.set(r.memory.subarray(s * M + i * H, s * M + (i + 1) * H), s * H);
    hC.set(r.memory.subarray(s * M + (n + i) * H, s * M + (n + i + 1) * H), s * H);
  }
  const keep = Float32Array.from(r.starts, (x) => 1 - x);
  return {
    hActor: tf.tensor2d(hA, [N, H]),
    hCritic: tf.tensor2d(hC, [N, H]),
    keep: tf.tensor1d(keep),
  };
}

/**
 * A rollout's rows reordered for truncated BPTT: the T steps of each env are cut into `T / L`
 * chunks of L steps, chunk `c = k E + e` holding steps `k L .. k L + L - 1` of env e, and the rows
 * are laid out time-major over chunks, `row = l C + c` (C = T E / L). Every per-row array moves
 * the same way, so the update's rows, feedback and factors stay aligned.
 * @param r the rollout
 * @param L chunk length (divides T)
 * @returns the rollout with reordered rows, shape `[T, E] -> [L, C]` (T and E reported as L, C)
 */
export function chunkMajor(r: Rollout, L: number): Rollout {
  const { T, E } = r;
  if (T % L !== 0) throw new Error(`chunk length ${L} does not divide the rollout length ${T}`);
  const N = T * E, C = N / L;
  const src = new Int32Array(N); // new row -> old row
  for (let l = 0; l < L; l++) {
    for (let k = 0; k < T / L; k++) {
      for (let e = 0; e < E; e++) src[l * C + k * E + e] = (k * L + l) * E + e;
    }
  }
  const move = <X extends Float32Array | Int32Array | Uint8Array>(a: X): X => {
    const w = a.length / N;
    const out = new (a.constructor as new (n: number) => X)(a.length);
    for (let s = 0; s < N; s++) out.set(a.subarray(src[s]! * w, (src[s]! + 1) * w), s * w);
    return out;
  };
  const opt = <X extends Float32Array | Int32Array | Uint8Array>(a: X | null | undefined) =>
    a ? move(a) : null;
  return {
    T: L,
    E: C,
    n: r.n,
    obs: move(r.obs),
    state: move(r.state),
    avail: opt(r.avail),
    actions: move(r.actions),
    actionVecs: move(r.actionVecs),
    logp: move(r.logp),
    values: move(r.values),
    rewards: move(r.rewards),
    dones: move(r.dones),
    advantages: move(r.advantages),
    returns: move(r.returns),
    noise: opt(r.noise),
    memory: opt(r.memory),
    starts: opt(r.starts),
  };
}

/** Frees a {@link TrainBatch}. */
export function disposeBatch(b: TrainBatch): void {
  b.u.dispose();
  for (const a of b.agents) {
    for (const t of Object.values(a)) (t as tf.Tensor | null)?.dispose();
  }
}

/**
 * Minibatch index sets for one epoch (a fresh permutation), or null for one full batch. With
 * sequences (`L > 1`, rows time-major over `N / L` chunks) whole chunks are drawn, and each set
 * lists its rows time-major again (`l |set| + j` is step l of the set's j-th chunk).
 * @param N samples
 * @param k minibatches per epoch
 * @param rng random source
 * @param L steps per chunk (1: rows are independent samples)
 * @returns index tensors the caller disposes, or null
 */
export function minibatches(N: number, k: number, rng: Rng, L = 1): tf.Tensor1D[] | null {
  if (k <= 1) return null;
  const C = N / L;
  const perm = rng.permutation(C);
  const size = Math.floor(C / k);
  if (size < 1) {
    throw new Error(`${k} minibatches need at least ${k} chunks of ${L} steps; there are ${C}`);
  }
  return Array.from({ length: k }, (_, j) => {
    const set = perm.subarray(j * size, (j + 1) * size);
    if (L === 1) return tf.tensor1d(set, "int32");
    const idx = new Int32Array(L * size);
    for (let l = 0; l < L; l++) for (let q = 0; q < size; q++) idx[l * size + q] = l * C + set[q]!;
    return tf.tensor1d(idx, "int32");
  });
}

/**
 * Gathers rows of a tensor (or returns it whole).
 * @param t the tensor, or null
 * @param idx row indices or null
 * @returns the rows
 */
export function gatherRows<T extends tf.Tensor | null>(t: T, idx: tf.Tensor1D | null): T {
  return (t && idx ? tf.gather(t, idx) : t) as T;
}

/**
 * Gathers the rows of an agent batch (or returns it whole).
 * @param b the agent batch
 * @param idx row indices or null
 * @returns the minibatch
 */
export function rows(b: AgentBatch, idx: tf.Tensor1D | null): AgentBatch {
  if (!idx) return b;
  const out: Record<string, tf.Tensor | null> = {};
  for (const [k, t] of Object.entries(b)) out[k] = t ? tf.gather(t as tf.Tensor, idx) : null;
  return out as unknown as AgentBatch;
}

/**
 * Every agent's rows stacked into one batch of `n N` rows (agent-major), for shared networks;
 * the conditioning inputs are built per agent (each with its own execution mask) and stacked too.
 * @param ag the agents
 * @param tb the update's tensors
 * @returns the stacked rows and conditioning input (null for unconditioned actors); the caller
 *   disposes them with {@link disposeStacked}
 */
export function stackAgents(
  ag: PpoAgents,
  tb: TrainBatch,
): { rows: AgentBatch; cond: tf.Tensor2D | null } {
  const rows = stackRows(ag, tb, Object.keys(tb.agents[0]!) as (keyof AgentBatch)[]) as AgentBatch;
  const cond = ag.opts.conditioned
    ? tf.tidy(() =>
      stackOrder(ag, tb.N)(tf.concat(tb.agents.map((_, i) => ag.condInput(i, tb.u)), 0))
    )
    : null;
  return { rows, cond };
}

/**
 * How stacked rows (agent-major, `i N + row`) are reordered: not at all for feed-forward
 * networks; recurrent rows stay time-major over all `n C` chunks, row `(l n + i) C + c` taking
 * agent i's row `l C + c`.
 * @param ag the agents
 * @param N rows per agent
 * @returns a function that reorders a stacked tensor (a new tensor, or the same one)
 */
function stackOrder(ag: PpoAgents, N: number): <X extends tf.Tensor>(t: X) => X {
  const L = ag.seqLen, C = N / L, n = ag.n;
  if (L === 1) return (t) => t;
  const perm = new Int32Array(n * N);
  for (let l = 0; l < L; l++) {
    for (let i = 0; i < n; i++) {
      for (let c = 0; c < C; c++) perm[(l * n + i) * C + c] = i * N + l * C + c;
    }
  }
  return <X extends tf.Tensor>(t: X) =>
    tf.tidy(() => tf.gather(t, tf.tensor1d(perm, "int32"))) as X;
}

/**
 * Some fields of every agent's rows stacked into `n N` rows (see {@link stackOrder}).
 * @param ag the agents
 * @param tb the update's tensors
 * @param keys the fields
 * @returns new tensors (null for null fields) the caller disposes
 */
export function stackRows<K extends keyof AgentBatch>(
  ag: PpoAgents,
  tb: TrainBatch,
  keys: readonly K[],
): Pick<AgentBatch, K> {
  const order = stackOrder(ag, tb.N);
  const cat = (k: K) => {
    const ts = tb.agents.map((a) => a[k]);
    if (!ts[0]) return null;
    const all = tf.concat(ts as unknown as tf.Tensor[], 0);
    const out = order(all);
    if (out !== all) all.dispose();
    return out;
  };
  return Object.fromEntries(keys.map((k) => [k, cat(k)])) as unknown as Pick<AgentBatch, K>;
}

/** Frees what {@link stackAgents} made. */
export function disposeStacked(s: { rows: AgentBatch; cond: tf.Tensor2D | null }): void {
  for (const t of Object.values(s.rows)) (t as tf.Tensor | null)?.dispose();
  s.cond?.dispose();
}
