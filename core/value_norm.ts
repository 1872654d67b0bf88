/**
 * Running normalisation of value targets, one normaliser per agent ("ValueNorm" of the
 * MAPPO/BPTA code: debiased exponential moments, beta 0.99999, variance floor 1e-2).
 *
 * @module
 */

import { z } from "./deps.ts";

/** Serialisable state of a {@link ValueNorm}. */
export interface ValueNormState {
  /** Running mean per agent. */
  mean: number[];
  /** Running mean of squares per agent. */
  meanSq: number[];
  /** Debiasing weight per agent. */
  debias: number[];
}

/**
 * Per-agent running mean/variance of returns.
 *
 * @example
 * ```ts
 * import { ValueNorm } from "./value_norm.ts";
 * import assert from "node:assert/strict";
 * const v = new ValueNorm(1, { beta: 0 });
 * v.update(new Float32Array([1, 3]));
 * assert.equal(v.mean(0), 2);
 * ```
 */
export class ValueNorm {
  readonly #beta: number;
  #s: ValueNormState;

  /**
   * Creates it.
   * @param n number of agents
   * @param opts beta, the weight of the old moments per update
   */
  constructor(readonly n: number, opts: { beta?: number } = {}) {
    this.#beta = opts.beta ?? 0.99999;
    this.#s = { mean: Array(n).fill(0), meanSq: Array(n).fill(0), debias: Array(n).fill(0) };
  }

  /**
   * Updates the moments with a batch laid out `[..., n]` (agent is the last axis).
   * @param x the batch
   */
  update(x: Float32Array): void {
    const n = this.n, N = x.length / n, w = this.#beta;
    for (let i = 0; i < n; i++) {
      let s = 0, s2 = 0;
      for (let k = i; k < x.length; k += n) {
        s += x[k]!;
        s2 += x[k]! * x[k]!;
      }
      this.#s.mean[i] = w * this.#s.mean[i]! + (1 - w) * (s / N);
      this.#s.meanSq[i] = w * this.#s.meanSq[i]! + (1 - w) * (s2 / N);
      this.#s.debias[i] = w * this.#s.debias[i]! + (1 - w);
    }
  }

  /** Returns the debiased mean of agent i. */
  mean(i: number): number {
    return this.#s.mean[i]! / Math.max(this.#s.debias[i]!, 1e-5);
  }

  /** Returns the debiased std of agent i (variance floored at 1e-2). */
  std(i: number): number {
    const m = this.mean(i);
    const sq = this.#s.meanSq[i]! / Math.max(this.#s.debias[i]!, 1e-5);
    return Math.sqrt(Math.max(sq - m * m, 1e-2));
  }

  /** Normalises `[..., n]` values in place. @returns x */
  normalize(x: Float32Array): Float32Array {
    const n = this.n;
    for (let i = 0; i < n; i++) {
      const m = this.mean(i), s = this.std(i);
      for (let k = i; k < x.length; k += n) x[k] = (x[k]! - m) / s;
    }
    return x;
  }

  /** Denormalises `[..., n]` values in place. @returns x */
  denormalize(x: Float32Array): Float32Array {
    const n = this.n;
    for (let i = 0; i < n; i++) {
      const m = this.mean(i), s = this.std(i);
      for (let k = i; k < x.length; k += n) x[k] = x[k]! * s + m;
    }
    return x;
  }

  /** Returns a copy of the state, for checkpoints. */
  getState(): ValueNormState {
    return structuredClone(this.#s);
  }

  /** Restores a state from {@link getState}. */
  setState(s: ValueNormState): void {
    this.#s = structuredClone(s);
  }
}

/**
 * The checkpoint schema of {@link ValueNorm.getState} for `n` agents: finite means, second
 * moments >= 0, debiasing terms (checked before a checkpoint's state is used).
 * @param n agents
 * @returns the zod schema
 */
export function valueNormStateSchema(n: number): z.ZodType<ValueNormState> {
  const stats = z.array(z.number()).length(n);
  return z.object({ mean: stats, meanSq: z.array(z.number().min(0)).length(n), debias: stats });
}
