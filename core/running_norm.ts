/**
 * Running mean and standard deviation per feature, the input normalisation most RL frameworks
 * offer beside (or instead of) a LayerNorm: `x' = clip((x - mean) / sqrt(var + eps), -clip, clip)`
 * with the statistics merged batch by batch (Chan, Golub and LeVeque's parallel update, as
 * OpenAI baselines' `RunningMeanStd`). Unlike a per-sample LayerNorm it keeps every feature's
 * value, so a 2-feature observation `[x, 1]` stays informative.
 *
 * @module
 */

/** A checkpointable snapshot. */
export interface RunningNormState {
  /** Samples seen (starts at a tiny positive count, so the first batch dominates). */
  count: number;
  /** Per-feature mean. */
  mean: number[];
  /** Per-feature (population) variance. */
  var: number[];
}

/** Per-feature running statistics of a `width`-feature input. */
export class RunningNorm {
  /** Samples seen. */
  count = 1e-4;
  /** Per-feature mean. */
  readonly mean: Float64Array;
  /** Per-feature variance. */
  readonly var: Float64Array;

  /**
   * Creates statistics at mean 0, variance 1 (so an input is unchanged until the first update).
   * @param width features per sample
   * @param eps added to the variance before the square root
   * @param clip normalised values are clipped to [-clip, clip]
   */
  constructor(readonly width: number, readonly eps = 1e-8, readonly clip = 10) {
    this.mean = new Float64Array(width);
    this.var = new Float64Array(width).fill(1);
  }

  /**
   * Merges a batch of samples into the statistics.
   * @param src rows of `stride` floats
   * @param rows how many rows
   * @param stride floats per row (>= offset + width)
   * @param offset where this input's features start in a row
   */
  update(src: ArrayLike<number>, rows: number, stride = this.width, offset = 0): void {
    if (rows <= 0) return;
    const w = this.width, bMean = new Float64Array(w), bVar = new Float64Array(w);
    for (let r = 0; r < rows; r++) {
      for (let j = 0; j < w; j++) bMean[j]! += src[r * stride + offset + j]!;
    }
    for (let j = 0; j < w; j++) bMean[j]! /= rows;
    for (let r = 0; r < rows; r++) {
      for (let j = 0; j < w; j++) {
        const d = src[r * stride + offset + j]! - bMean[j]!;
        bVar[j]! += d * d;
      }
    }
    const tot = this.count + rows;
    for (let j = 0; j < w; j++) {
      bVar[j]! /= rows;
      const delta = bMean[j]! - this.mean[j]!;
      // M2 of the union = M2_a + M2_b + delta^2 n_a n_b / n   (Chan et al. 1979)
      const m2 = this.var[j]! * this.count + bVar[j]! * rows +
        delta * delta * this.count * rows / tot;
      this.mean[j] = this.mean[j]! + delta * rows / tot;
      this.var[j] = m2 / tot;
    }
    this.count = tot;
  }

  /**
   * Normalises rows in place.
   * @param x rows of `stride` floats
   * @param rows how many rows
   * @param stride floats per row
   * @param offset where this input's features start in a row
   */
  apply(x: Float32Array, rows: number, stride = this.width, offset = 0): void {
    const w = this.width, c = this.clip;
    const inv = Array.from({ length: w }, (_, j) => 1 / Math.sqrt(this.var[j]! + this.eps));
    for (let r = 0; r < rows; r++) {
      for (let j = 0; j < w; j++) {
        const k = r * stride + offset + j;
        const v = (x[k]! - this.mean[j]!) * inv[j]!;
        x[k] = v > c ? c : v < -c ? -c : v;
      }
    }
  }

  /**
   * A snapshot of the statistics, for checkpoints and for rollout workers.
   * @returns count, means and variances
   */
  getState(): RunningNormState {
    return { count: this.count, mean: Array.from(this.mean), var: Array.from(this.var) };
  }

  /**
   * Restores a snapshot.
   * @param s a snapshot from {@link getState}
   */
  setState(s: RunningNormState): void {
    if (s.mean.length !== this.width || s.var.length !== this.width) {
      throw new Error(`Running-norm state has width ${s.mean.length}, expected ${this.width}`);
    }
    this.count = s.count;
    this.mean.set(s.mean);
    this.var.set(s.var);
  }
}
