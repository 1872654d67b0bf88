/**
 * Action distributions: categorical (with availability masks) and diagonal Gaussian, as
 * tfjs ops for losses and as plain JS for sampling.
 *
 * @module
 */
import { tf } from "./deps.ts";
import type { Rng } from "./rng.ts";

const LOG_2PI = Math.log(2 * Math.PI);

/**
 * Logits with unavailable actions pushed to -1e10.
 * @param logits `[B, A]`
 * @param avail `[B, A]` float 0/1, or null
 * @returns masked logits
 */
export function maskLogits(logits: tf.Tensor2D, avail: tf.Tensor2D | null): tf.Tensor2D {
  return avail ? tf.add(logits, tf.mul(tf.sub(avail, 1), 1e10)) : logits;
}

/**
 * log pi(a) of a categorical distribution.
 * @param logits `[B, A]` (already masked)
 * @param onehot `[B, A]` one-hot actions
 * @returns `[B]`
 */
export function categoricalLogp(logits: tf.Tensor2D, onehot: tf.Tensor2D): tf.Tensor1D {
  return tf.sum(tf.mul(tf.logSoftmax(logits), onehot), 1);
}

/**
 * Entropy `-sum p log p` of a categorical distribution.
 * @param logits `[B, A]` (already masked)
 * @returns `[B]`
 */
export function categoricalEntropy(logits: tf.Tensor2D): tf.Tensor1D {
  const logp = tf.logSoftmax(logits);
  return tf.neg(tf.sum(tf.mul(tf.exp(logp), logp), 1));
}

/**
 * log N(a; mean, exp(logStd)^2), summed over action dimensions.
 * @param mean `[B, D]`
 * @param logStd `[D]`
 * @param a `[B, D]`
 * @returns `[B]`
 */
export function gaussianLogp(mean: tf.Tensor2D, logStd: tf.Tensor1D, a: tf.Tensor2D): tf.Tensor1D {
  const z = tf.div(tf.sub(a, mean), tf.exp(logStd));
  const per = tf.sub(tf.mul(-0.5, tf.square(z)), tf.add(logStd, 0.5 * LOG_2PI));
  return tf.sum(per, 1);
}

/**
 * Entropy of a diagonal Gaussian, `sum(logStd + 0.5 log(2 pi e))`.
 * @param logStd `[D]`
 * @returns a scalar
 */
export function gaussianEntropy(logStd: tf.Tensor1D): tf.Scalar {
  return tf.sum(tf.add(logStd, 0.5 * (LOG_2PI + 1)));
}

/**
 * Samples (or takes the argmax of) a categorical row in JS.
 * @param logits row of logits
 * @param opts availability row, rng, greedy flag
 * @returns the action and its log-probability
 */
export function sampleCategorical(
  logits: Float32Array,
  opts: { avail: Uint8Array | null; rng: Rng; greedy: boolean },
): { a: number; logp: number } {
  const A = logits.length;
  let max = -Infinity;
  for (let j = 0; j < A; j++) {
    if ((!opts.avail || opts.avail[j]) && logits[j]! > max) max = logits[j]!;
  }
  let z = 0;
  const p = new Float64Array(A);
  for (let j = 0; j < A; j++) {
    p[j] = !opts.avail || opts.avail[j] ? Math.exp(logits[j]! - max) : 0;
    z += p[j]!;
  }
  let a = 0;
  if (opts.greedy) {
    for (let j = 1; j < A; j++) if (p[j]! > p[a]!) a = j;
  } else {
    let u = opts.rng.uniform() * z;
    a = -1;
    for (let j = 0; j < A; j++) {
      if (p[j]! <= 0) continue;
      a = j;
      u -= p[j]!;
      if (u < 0) break;
    }
  }
  return { a, logp: Math.log(p[a]! / z) };
}

/**
 * Samples a categorical action by Gumbel-max, `a = argmax_j (l_j + eps_j)` over the available
 * actions, and keeps the noise so that the update can rebuild the same reparameterised sample
 * (docs/bpta.md §4c). Same distribution as {@link sampleCategorical}, A Gumbel draws per call.
 * @param logits `[A]` unnormalised log-probabilities
 * @param opts availability mask, random source, and where to write the `[A]` noise
 * @returns the action and its log-probability
 */
export function sampleGumbelMax(
  logits: Float32Array,
  opts: { avail: Uint8Array | null; rng: Rng; noise: Float32Array },
): { a: number; logp: number } {
  const A = logits.length;
  let a = -1, best = -Infinity, max = -Infinity;
  for (let j = 0; j < A; j++) {
    const eps = opts.rng.gumbel();
    opts.noise[j] = eps;
    if (opts.avail && !opts.avail[j]) continue;
    if (logits[j]! > max) max = logits[j]!;
    if (logits[j]! + eps > best) {
      best = logits[j]! + eps;
      a = j;
    }
  }
  let z = 0;
  for (let j = 0; j < A; j++) if (!opts.avail || opts.avail[j]) z += Math.exp(logits[j]! - max);
  return { a, logp: logits[a]! - max - Math.log(z) };
}
