/**
 * Generalised advantage estimation over a `[T, E, n]` rollout.
 *
 * @module
 */

/** Inputs of {@link gae}; arrays are row-major. */
export interface GaeInput {
  /** `[T, E]` team rewards. */
  readonly rewards: Float32Array;
  /** `[T, E, n]` value estimates V(s_t) per agent (denormalised). */
  readonly values: Float32Array;
  /** `[E, n]` value estimates of the state after the last step. */
  readonly lastValues: Float32Array;
  /** `[T, E]` 1 where the episode ended at step t (no bootstrap across it). */
  readonly dones: Uint8Array;
  /** Steps T. */
  readonly T: number;
  /** Envs E. */
  readonly E: number;
  /** Agents n. */
  readonly n: number;
}

/**
 * GAE(gamma, lambda) (Schulman et al. 2016, eq. 16):
 * `delta_t = r_t + gamma V_{t+1} (1 - d_t) - V_t`, `A_t = delta_t + gamma lambda (1 - d_t) A_{t+1}`.
 * Time-limit truncations count as episode ends (as in the BPTA/MAPPO reference code).
 *
 * @param x the rollout
 * @param opts discount and GAE lambda
 * @returns advantages and returns (`A + V`), both `[T, E, n]`
 *
 * @example One step, terminal
 * ```ts
 * import { gae } from "./gae.ts";
 * import assert from "node:assert/strict";
 * const r = gae({ rewards: new Float32Array([1]), values: new Float32Array([0.5]),
 *   lastValues: new Float32Array([9]), dones: new Uint8Array([1]), T: 1, E: 1, n: 1 },
 *   { gamma: 0.99, lambda: 0.95 });
 * assert.equal(r.advantages[0], 0.5);
 * ```
 */
export function gae(
  x: GaeInput,
  opts: { gamma: number; lambda: number },
): { advantages: Float32Array; returns: Float32Array } {
  const { T, E, n } = x;
  const { gamma, lambda } = opts;
  const advantages = new Float32Array(T * E * n);
  const returns = new Float32Array(T * E * n);
  const running = new Float64Array(E * n);
  for (let t = T - 1; t >= 0; t--) {
    for (let e = 0; e < E; e++) {
      const notDone = 1 - x.dones[t * E + e]!;
      const r = x.rewards[t * E + e]!;
      for (let i = 0; i < n; i++) {
        const k = (t * E + e) * n + i;
        const vNext = t === T - 1 ? x.lastValues[e * n + i]! : x.values[k + E * n]!;
        const delta = r + gamma * vNext * notDone - x.values[k]!;
        const a = delta + gamma * lambda * notDone * running[e * n + i]!;
        running[e * n + i] = a;
        advantages[k] = a;
        returns[k] = a + x.values[k]!;
      }
    }
  }
  return { advantages, returns };
}

/**
 * Normalises advantages per agent to zero mean and unit std (over all T x E samples).
 * @param adv `[T, E, n]` advantages (not modified)
 * @param n number of agents
 * @returns the normalised copy
 */
export function normalizePerAgent(adv: Float32Array, n: number): Float32Array {
  const out = new Float32Array(adv.length);
  const N = adv.length / n;
  for (let i = 0; i < n; i++) {
    let s = 0, s2 = 0;
    for (let k = i; k < adv.length; k += n) s += adv[k]!;
    const mean = s / N;
    for (let k = i; k < adv.length; k += n) s2 += (adv[k]! - mean) ** 2;
    const std = Math.sqrt(s2 / Math.max(N - 1, 1));
    for (let k = i; k < adv.length; k += n) out[k] = (adv[k]! - mean) / (std + 1e-5);
  }
  return out;
}
