/**
 * Diagnostics shared by the PPO family: the ratio statistics and running metric means.
 *
 * @module
 */
import { tf } from "../../core/deps.ts";
import type { Metrics } from "../../core/algorithm.ts";

/**
 * The PPO clipped surrogate terms for one agent (CleanRL names).
 * @param logp `[B]` new log-probs
 * @param b old log-probs and advantages
 * @param clip epsilon
 * @returns ratio, and the diagnostics approx KL and clip fraction (scalars)
 */
export function ratioStats(
  logp: tf.Tensor1D,
  logpOld: tf.Tensor1D,
  clip: number,
): { ratio: tf.Tensor1D; approxKl: tf.Scalar; clipFrac: tf.Scalar } {
  const logRatio = tf.sub(logp, logpOld);
  const ratio = tf.exp(logRatio) as tf.Tensor1D;
  return {
    ratio,
    // http://joschu.net/blog/kl-approx.html: E[(r - 1) - log r]
    approxKl: tf.mean(tf.sub(tf.sub(ratio, 1), logRatio)),
    clipFrac: tf.mean(tf.cast(tf.greater(tf.abs(tf.sub(ratio, 1)), clip), "float32")),
  };
}

/**
 * Running means of scalar diagnostics, read back once per update (asynchronously, so that
 * no backend has to block on a GPU read in the middle of an update).
 */
export class MetricSums {
  readonly #items: [string, number | tf.Tensor][] = [];

  /** Adds a value; a tensor is copied and kept (the caller still owns its own handle). */
  add(key: string, v: number | tf.Tensor): void {
    this.#items.push([key, typeof v === "number" ? v : tf.keep(tf.clone(v))]);
  }

  /** Returns the mean of each key; frees the kept tensors. */
  async means(): Promise<Metrics> {
    const sums = new Map<string, [number, number]>();
    for (const [k, v] of this.#items) {
      const x = typeof v === "number" ? v : (await v.data())[0]!;
      if (typeof v !== "number") v.dispose();
      const [s, c] = sums.get(k) ?? [0, 0];
      sums.set(k, [s + x, c + 1]);
    }
    this.#items.length = 0;
    return Object.fromEntries([...sums].map(([k, [s, c]]) => [k, s / c]));
  }
}
