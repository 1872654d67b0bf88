/**
 * A centralised action-value critic `Q(s, u_1..u_n)` for BPPO's pathwise estimator
 * (docs/bpta.md §4d): an MLP over the critic input (the state) and every agent's action vector,
 * regressed on the same (normalised) returns as the value critics, with its own Adam. Its
 * gradient with respect to the actions is what the pathwise estimator follows.
 *
 * @module
 */
import { tf } from "../../core/deps.ts";
import type { AlgoState } from "../../core/algorithm.ts";
import { Adam } from "../../core/adam.ts";
import {
  type Activation,
  type Dense,
  dense,
  makeDense,
  makeMlpBase,
  mlpBase,
} from "../../core/nets.ts";
import type { MlpBase } from "../../core/nets.ts";
import type { Rng } from "../../core/rng.ts";
import { minibatches } from "./batch.ts";

/** The action-value critic. */
export class ActionValueCritic {
  readonly #base: MlpBase;
  readonly #head: Dense;
  readonly #opt: Adam;
  /** Its variables by checkpoint name. */
  readonly named: [string, tf.Variable][];

  /**
   * Creates it.
   * @param inDim critic input width plus every agent's action vector width
   * @param o network and optimiser settings, and an rng for the initial weights
   */
  constructor(
    inDim: number,
    o: {
      hidden: number;
      layers: number;
      activation: Activation;
      featureNorm: boolean;
      inputNorm?: boolean;
      lr: number;
      eps: number;
      maxGradNorm: number;
      rng: Rng;
    },
  ) {
    this.#base = makeMlpBase("q/base", { inDim, ...o });
    this.#head = makeDense("q/head", { inDim: o.hidden, outDim: 1, gain: 1, rng: o.rng });
    const vars: [string, tf.Variable][] = [
      ...this.#base.layers.flatMap((d, l) => [[`q/base${l}/W`, d.W], [`q/base${l}/b`, d.b]]),
      ...this.#base.norms.flatMap((p, l) => [[`q/norm${l}/g`, p.g], [`q/norm${l}/b`, p.b]]),
      ["q/head/W", this.#head.W],
      ["q/head/b", this.#head.b],
    ] as [string, tf.Variable][];
    this.named = vars;
    this.#opt = new Adam(vars.map(([, v]) => v), {
      lr: o.lr,
      eps: o.eps,
      maxGradNorm: o.maxGradNorm,
    });
  }

  /** Its network and optimiser (for the fused kernels' copy, algos/ppo/fused.ts FusedQ). */
  get parts(): { base: MlpBase; head: Dense; opt: Adam } {
    return { base: this.#base, head: this.#head, opt: this.#opt };
  }

  /**
   * `Q(s, u)`.
   * @param s `[B, criticDim]` critic input
   * @param u `[B, n A]` every agent's action vector
   * @returns `[B]`
   */
  value(s: tf.Tensor2D, u: tf.Tensor2D): tf.Tensor1D {
    const h = mlpBase(tf.concat([s, u], 1) as tf.Tensor2D, this.#base);
    return tf.reshape(dense(h, this.#head), [-1]) as tf.Tensor1D;
  }

  /**
   * Regresses Q on the returns (Huber loss) for `epochs` x `minibatches` Adam steps.
   * @param s `[N, criticDim]`
   * @param u `[N, n A]` the actions taken
   * @param ret `[N]` the returns (normalised like the value critics')
   * @param o epochs, minibatches, minibatch rng and the Huber delta
   * @returns the last epoch's mean loss
   */
  async train(
    s: tf.Tensor2D,
    u: tf.Tensor2D,
    ret: tf.Tensor1D,
    o: { epochs: number; minibatches: number; rng: Rng; huberDelta: number; lrScale?: number },
  ): Promise<number> {
    this.#opt.lrScale = o.lrScale ?? 1; // the run's learning-rate schedule, as for the critics
    const vars = this.named.map(([, v]) => v);
    const d = o.huberDelta;
    let last = 0;
    for (let ep = 0; ep < o.epochs; ep++) {
      let sum = 0, count = 0;
      for (const idx of minibatches(ret.shape[0], o.minibatches, o.rng) ?? [null]) {
        const pick = <T extends tf.Tensor>(t: T) => (idx ? tf.gather(t, idx) as T : t);
        const { value, grads } = tf.variableGrads(() =>
          tf.tidy(() => {
            const e = tf.sub(pick(ret), this.value(pick(s), pick(u)));
            const a = tf.abs(e), q = tf.minimum(a, d); // Huber: 0.5 q^2 + d (|e| - q)
            return tf.mean(tf.add(tf.mul(0.5, tf.square(q)), tf.mul(d, tf.sub(a, q)))) as tf.Scalar;
          }), vars);
        const norm = this.#opt.step(vars.map((v) => grads[v.name]!));
        if (ep === o.epochs - 1) sum += (await value.data())[0]!, count++;
        tf.dispose([value, norm, ...Object.values(grads)]);
        idx?.dispose();
      }
      if (ep === o.epochs - 1) last = sum / count;
    }
    return last;
  }

  /**
   * Adds its variables and Adam slots to a checkpoint state.
   * @param s the state to extend
   */
  async saveTo(s: AlgoState): Promise<void> {
    const put = async (name: string, t: tf.Tensor) => {
      s.tensors[name] = { shape: t.shape, data: Float32Array.from(await t.data()) };
    };
    for (const [name, v] of this.named) await put(name, v);
    const sl = this.#opt.slots();
    for (const [j, t] of sl.m.entries()) await put(`q/adam/m${j}`, t);
    for (const [j, t] of sl.v.entries()) await put(`q/adam/v${j}`, t);
    s.extra.qAdamT = sl.t;
  }

  /**
   * Restores what {@link saveTo} wrote.
   * @param s the state
   */
  loadFrom(s: AlgoState): void {
    const load = (name: string, v: tf.Variable) => {
      const t = s.tensors[name];
      if (!t || t.shape.join(",") !== v.shape.join(",")) {
        throw new Error(
          `Cannot use the checkpoint: its action-value critic tensor "${name}" is missing or has another shape (was it saved with estimator=pathwise and the same sizes?)`,
        );
      }
      v.assign(tf.tensor(t.data, t.shape));
    };
    for (const [name, v] of this.named) load(name, v);
    const sl = this.#opt.slots();
    sl.m.forEach((t, j) => load(`q/adam/m${j}`, t));
    sl.v.forEach((t, j) => load(`q/adam/v${j}`, t));
    const step = s.extra.qAdamT;
    if (typeof step !== "number" || !Number.isInteger(step) || step < 0) {
      throw new Error("Cannot use the checkpoint: its algo.extra.qAdamT is not a step count");
    }
    this.#opt.setStep(step);
  }

  /** Frees its tensors. */
  dispose(): void {
    for (const [, v] of this.named) v.dispose();
    this.#opt.dispose();
  }
}
