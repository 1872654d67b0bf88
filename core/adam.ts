/**
 * Adam (Kingma & Ba 2015) with PyTorch's update rule and global-norm gradient clipping,
 * over an explicit list of named variables. One optimiser per agent network, as in the
 * reference code, so a sequential (per-agent) update never moves another agent's weights.
 *
 * @module
 */
import { tf } from "./deps.ts";
import { addAll, variableOf } from "./nets.ts";

/** Adam over a fixed set of variables, with slots that can be saved by logical name. */
export class Adam {
  readonly #m: tf.Variable[];
  readonly #v: tf.Variable[];
  #t = 0;
  /** Multiplies `opts.lr` (a learning-rate schedule sets it before each update; default 1). */
  lrScale = 1;

  /**
   * Creates it.
   * @param vars the variables this optimiser owns
   * @param opts learning rate, eps, betas, max gradient norm (0 = no clipping)
   */
  constructor(
    readonly vars: tf.Variable[],
    readonly opts: { lr: number; eps: number; beta1?: number; beta2?: number; maxGradNorm: number },
  ) {
    this.#m = vars.map((v) => variableOf(tf.zerosLike(v), false));
    this.#v = vars.map((v) => variableOf(tf.zerosLike(v), false));
  }

  /**
   * Clips the gradients to the max global norm and takes one Adam step.
   * @param grads one gradient per variable, in `vars` order
   * @returns the global gradient norm before clipping (a scalar tensor the caller disposes)
   */
  step(grads: tf.Tensor[]): tf.Scalar {
    const b1 = this.opts.beta1 ?? 0.9, b2 = this.opts.beta2 ?? 0.999;
    this.#t += 1;
    const bc1 = 1 - b1 ** this.#t, bc2 = 1 - b2 ** this.#t;
    const stepSize = this.opts.lr * this.lrScale / bc1;
    return tf.tidy(() => {
      const norm = tf.sqrt(addAll(grads.map((g) => tf.sum(tf.square(g))))) as tf.Scalar;
      const scale = this.opts.maxGradNorm > 0
        ? tf.minimum(1, tf.div(this.opts.maxGradNorm, tf.add(norm, 1e-6)))
        : tf.scalar(1);
      this.vars.forEach((w, k) => {
        const g = tf.mul(grads[k]!, scale);
        const m = this.#m[k]!, v = this.#v[k]!;
        m.assign(tf.add(tf.mul(m, b1), tf.mul(g, 1 - b1)));
        v.assign(tf.add(tf.mul(v, b2), tf.mul(tf.square(g), 1 - b2)));
        const denom = tf.add(tf.div(tf.sqrt(v), Math.sqrt(bc2)), this.opts.eps);
        w.assign(tf.sub(w, tf.mul(stepSize, tf.div(m, denom))));
      });
      return tf.keep(norm);
    });
  }

  /** Returns the slots (m, v per variable) and the step count. */
  slots(): { m: tf.Variable[]; v: tf.Variable[]; t: number } {
    return { m: this.#m, v: this.#v, t: this.#t };
  }

  /** Sets the step count (when restoring). */
  setStep(t: number): void {
    this.#t = t;
  }

  /** Frees the slots. */
  dispose(): void {
    for (const x of [...this.#m, ...this.#v]) x.dispose();
  }
}
