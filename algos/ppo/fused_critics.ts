/**
 * The critics on the fused kernels (`--kernels fused`): every agent's value critic
 * ({@link FusedCritics}: the clipped Huber loss's epochs on the calling thread or a critic Worker,
 * and values while acting) and BPPO's action-value critic for the pathwise estimator
 * ({@link FusedQ}: its Huber regression and `dQ/du`). Like the actors (fused.ts), each is a copy of
 * the tfjs networks, read in before it is used and written back after an update.
 *
 * @module
 */
import type { tf } from "../../core/deps.ts";
import { Rng } from "../../core/rng.ts";
import { gatherer, type Kernels, kernels, rowsOf } from "../../core/fused/kernels.ts";
import { FDense, FGru, FMlp, ParamGroup } from "../../core/fused/nets.ts";
import type { PpoAgents } from "./agents.ts";
import type { ActionValueCritic } from "./action_value.ts";
import { minibatches } from "./batch.ts";

/** What a critic update reads of one agent's rows, as arrays or tensors. */
export interface FusedCriticRows {
  /** `[N, criticDim]`. */
  readonly criticIn: Float32Array | tf.Tensor;
  /** `[N]` value targets. */
  readonly ret: Float32Array | tf.Tensor;
  /** `[N]` values at collection. */
  readonly vOld: Float32Array | tf.Tensor;
  /** `[N, H]` the critic's GRU state of each row (recurrent), or null. */
  readonly hCritic?: Float32Array | tf.Tensor | null;
  /** `[N]` 0 where the state resets before the row (recurrent), or null. */
  readonly keep?: Float32Array | tf.Tensor | null;
}

/**
 * Every agent's critic on the fused kernels (algos/ppo/critic.ts updateCritics): the clipped
 * Huber value loss, its gradient written out, one Adam step per minibatch. Parameters and Adam
 * slots are copied in from the tfjs critics and back after each update, as for the actors.
 */
export class FusedCritics {
  readonly #kern: Kernels;
  readonly #groups: ParamGroup[];
  readonly #nets: { base: FMlp; gru: FGru | null; head: FDense }[];

  /**
   * Declares a fused copy of every critic.
   * @param ag the agents
   */
  constructor(readonly ag: PpoAgents) {
    this.#kern = kernels();
    this.#groups = ag.critics.slice(0, ag.nets).map(() => new ParamGroup(this.#kern));
    this.#nets = ag.critics.slice(0, ag.nets).map((c, i) => ({
      base: new FMlp(this.#groups[i]!, c.base),
      gru: c.gru ? new FGru(this.#groups[i]!, c.gru) : null,
      head: new FDense(this.#groups[i]!, c.head.W.shape[0]!, c.head.W.shape[1]!),
    }));
    this.#groups.forEach((g) => g.build());
  }

  /** Gives the critics' buffers back to the kernels' arena. */
  dispose(): void {
    for (const g of this.#groups) g.free();
  }

  #version = -1;

  /**
   * Every critic's value (and next GRU state) for E rows (algos/ppo/acting.ts criticValues),
   * re-reading the tfjs critics first when they changed since this copy was made.
   * @param i the agent
   * @param inp `[E, criticDim]`
   * @param E rows
   * @param rec recurrent critics: `[E, H]` states and `[E]` reset flags
   * @returns `value [E]` (normalised scale) and the next state or null, new arrays
   */
  value(
    i: number,
    inp: Float32Array,
    E: number,
    rec: { h0: Float32Array; keep: Float32Array } | null,
  ): { value: Float32Array; last: Float32Array | null } {
    if (this.#version !== this.ag.criticVersion) {
      for (let j = 0; j < this.ag.nets; j++) this.#sync(j, "in");
      this.#version = this.ag.criticVersion;
    }
    const kern = this.#kern, mk = kern.mark(), net = this.#nets[i]!;
    const put = (a: Float32Array) => {
      const b = kern.scratch(a.length);
      kern.f32(b).set(a);
      return b;
    };
    const tb = net.base.forward(put(inp), E);
    const r = rec ? { h0: put(rec.h0), keep: put(rec.keep), L: 1 } : null;
    const tg = net.gru ? net.gru.forward(tb.y, r!) : null;
    const th = net.head.forward(tg ? tg.y : tb.y, E);
    const out = { value: kern.f32(th.y).slice(), last: tg ? kern.f32(tg.last).slice() : null };
    kern.release(mk);
    return out;
  }

  #sync(i: number, dir: "in" | "out"): void {
    const c = this.ag.critics[i]!, opt = this.ag.criticOpts[i]!, g = this.#groups[i]!;
    const vars = [...FMlp.vars(c.base), ...(c.gru ? FGru.vars(c.gru) : []), ...FDense.vars(c.head)];
    if (dir === "in") g.readFromTfjs(vars, opt);
    else g.writeToTfjs(vars, opt);
  }

  /**
   * The critics' epochs for some agents (the same minibatch index sets as the tfjs path).
   * @param x the agents, their rows, N and the minibatch seed (null: one minibatch)
   * @returns the last epoch's losses and gradient norms per minibatch and agent, and the seconds
   */
  update(
    x: {
      agents: readonly number[];
      rows: readonly FusedCriticRows[];
      N: number;
      seed: number | null;
    },
  ): { loss: number[][]; gradNorm: number[][]; seconds: number } {
    const t0 = performance.now();
    const ag = this.ag, kern = this.#kern, K = kern.k, N = x.N, D = ag.criticDim;
    const { clip, huberDelta, epochs, minibatches: count } = ag.opts;
    const rng = x.seed === null ? null : new Rng(x.seed);
    const arr = (t: Float32Array | tf.Tensor) =>
      t instanceof Float32Array ? t : t.dataSync() as Float32Array;
    x.agents.forEach((i) => this.#sync(i, "in"));
    const loss: number[][] = [], gradNorm: number[][] = [];
    const mk0 = kern.mark();
    try {
      const put = (a: Float32Array) => {
        const b = kern.scratch(a.length);
        kern.f32(b).set(a);
        return b;
      };
      const data = x.rows.map((r) => ({
        inp: put(arr(r.criticIn)),
        ret: put(arr(r.ret)),
        vOld: put(arr(r.vOld)),
        h: r.hCritic ? put(arr(r.hCritic)) : null,
        keep: r.keep ? put(arr(r.keep)) : null,
      }));
      for (let ep = 0; ep < epochs; ep++) {
        const last = ep === epochs - 1;
        for (const idxT of (rng && minibatches(N, count, rng, ag.seqLen)) ?? [null]) {
          const idx = idxT ? idxT.dataSync() as Int32Array : null;
          idxT?.dispose();
          const B = idx ? idx.length : N;
          const ls: number[] = [], ns: number[] = [];
          x.agents.forEach((i, j) => {
            const mk = kern.mark(), d = data[j]!, g = this.#groups[i]!, net = this.#nets[i]!;
            const rows = gatherer(kern, idx);
            const inp = rows(d.inp, D), ret = rows(d.ret, 1), vOld = rows(d.vOld, 1);
            const rec = net.gru
              ? {
                h0: rowsOf(rows(d.h!, ag.H), ag.H, 0, B / ag.seqLen),
                keep: d.keep ? rows(d.keep, 1) : null,
                L: ag.seqLen,
              }
              : null;
            g.zeroGrad();
            const tb = net.base.forward(inp, B);
            const tg = net.gru ? net.gru.forward(tb.y, rec!) : null;
            const th = net.head.forward(tg ? tg.y : tb.y, B); // V [B, 1]
            const dv = kern.scratch(B);
            const sum = K.value_clip_grad(
              th.y.ptr,
              vOld.ptr,
              ret.ptr,
              dv.ptr,
              B,
              clip,
              huberDelta,
              B,
            );
            const dh = net.head.backward(th, dv, true)!;
            net.base.backward(tb, tg ? net.gru!.backward(tg, dh, true)! : dh, false);
            const opt = ag.criticOpts[i]!;
            const norm = g.adamStep({ ...opt.opts, lr: opt.opts.lr * opt.lrScale });
            ls.push(sum / B);
            ns.push(norm);
            kern.release(mk);
          });
          if (last) loss.push(ls), gradNorm.push(ns);
        }
      }
    } finally { // an error leaves no scratch mark open
      kern.unwind(mk0);
    }
    x.agents.forEach((i) => this.#sync(i, "out"));
    if (this.#version === this.ag.criticVersion) this.#version++; // still current after this update
    this.ag.criticVersion++;
    return { loss, gradNorm, seconds: (performance.now() - t0) / 1000 };
  }
}

const fusedCritics = new WeakMap<PpoAgents, FusedCritics>();

/**
 * The fused critics of these agents (made on first use).
 * @param ag the agents
 * @returns their fused critics
 */
export function fusedCriticsOf(ag: PpoAgents): FusedCritics {
  let f = fusedCritics.get(ag);
  if (!f) fusedCritics.set(ag, f = new FusedCritics(ag));
  return f;
}

/**
 * Frees the fused critics of these agents, if they were made (the agents are being disposed).
 * @param ag the agents
 */
export function disposeFusedCritics(ag: PpoAgents): void {
  fusedCritics.get(ag)?.dispose();
  fusedCritics.delete(ag);
}

/**
 * BPPO's action-value critic `Q(s, u)` (algos/ppo/action_value.ts, the pathwise estimator) on the
 * fused kernels: its Huber regression on the returns, and its gradient with respect to the joint
 * action. Parameters and Adam slots are copied in from tfjs before training and back after.
 */
export class FusedQ {
  readonly #kern: Kernels;
  readonly #group: ParamGroup;
  readonly #base: FMlp;
  readonly #head: FDense;

  /**
   * Declares a fused copy.
   * @param q the tfjs critic
   */
  constructor(readonly q: ActionValueCritic) {
    this.#kern = kernels();
    this.#group = new ParamGroup(this.#kern);
    const { base, head } = q.parts;
    this.#base = new FMlp(this.#group, base);
    this.#head = new FDense(this.#group, head.W.shape[0]!, head.W.shape[1]!);
    this.#group.build();
  }

  /** Gives the critic's buffers back to the kernels' arena. */
  dispose(): void {
    this.#group.free();
  }

  #sync(dir: "in" | "out"): void {
    const { base, head, opt } = this.q.parts;
    const vars = [...FMlp.vars(base), ...FDense.vars(head)];
    if (dir === "in") this.#group.readFromTfjs(vars, opt);
    else this.#group.writeToTfjs(vars, opt);
  }

  /**
   * Regresses Q on the returns (Huber loss) as ActionValueCritic.train does, on the kernels.
   * @param s `[N, criticDim]` critic inputs
   * @param u `[N, n A]` the joint actions taken
   * @param ret `[N]` returns
   * @param o epochs, minibatches, their rng, the Huber delta, the learning-rate factor
   * @returns the last epoch's mean loss
   */
  train(
    s: Float32Array,
    u: Float32Array,
    ret: Float32Array,
    o: { epochs: number; minibatches: number; rng: Rng; huberDelta: number; lrScale?: number },
  ): number {
    const kern = this.#kern, K = kern.k, g = this.#group, N = ret.length;
    const D = s.length / N, U = u.length / N, W = D + U;
    this.#sync("in");
    let last = 0;
    const mk0 = kern.mark();
    try {
      const inp = kern.scratch(N * W), r = kern.scratch(N);
      const iv = kern.f32(inp);
      for (let q = 0; q < N; q++) {
        iv.set(s.subarray(q * D, (q + 1) * D), q * W);
        iv.set(u.subarray(q * U, (q + 1) * U), q * W + D);
      }
      kern.f32(r).set(ret);
      const opt = this.q.parts.opt, lr = opt.opts.lr * (o.lrScale ?? 1);
      for (let ep = 0; ep < o.epochs; ep++) {
        let sum = 0, count = 0;
        for (const idxT of minibatches(N, o.minibatches, o.rng) ?? [null]) {
          const idx = idxT ? idxT.dataSync() as Int32Array : null;
          idxT?.dispose();
          const mk = kern.mark(), B = idx ? idx.length : N;
          let x = inp, rt = r;
          if (idx) {
            const ib = kern.scratch(B);
            kern.i32(ib).set(idx);
            x = kern.scratch(B * W), rt = kern.scratch(B);
            K.gather_rows(inp.ptr, ib.ptr, x.ptr, B, W);
            K.gather_rows(r.ptr, ib.ptr, rt.ptr, B, 1);
          }
          g.zeroGrad();
          const tb = this.#base.forward(x, B), th = this.#head.forward(tb.y, B);
          const dv = kern.scratch(B);
          // plain Huber: the clipped form with an infinite clip (both branches equal, the first taken)
          const loss = K.value_clip_grad(
            th.y.ptr,
            rt.ptr,
            rt.ptr,
            dv.ptr,
            B,
            3e38,
            o.huberDelta,
            B,
          );
          this.#base.backward(tb, this.#head.backward(th, dv, true)!, false);
          g.adamStep({ ...opt.opts, lr });
          if (ep === o.epochs - 1) sum += loss / B, count++;
          kern.release(mk);
        }
        if (ep === o.epochs - 1) last = sum / count;
      }
    } finally { // an error leaves no scratch mark open
      kern.unwind(mk0);
    }
    this.#sync("out");
    return last;
  }

  /**
   * `dQ/du` at the given rows: the gradient of `sum Q(s, u)` with respect to the joint action.
   * @param s `[N, criticDim]`
   * @param u `[N, n A]`
   * @returns `[N, n A]`
   */
  gradU(s: Float32Array, u: Float32Array): Float32Array {
    const kern = this.#kern, W = this.#base.layers[0]!.inDim; // critic input + joint action
    const N = (s.length + u.length) / W, D = s.length / N, A = u.length / N;
    const mk = kern.mark();
    const inp = kern.scratch(N * W), iv = kern.f32(inp);
    for (let q = 0; q < N; q++) {
      iv.set(s.subarray(q * D, (q + 1) * D), q * W);
      iv.set(u.subarray(q * A, (q + 1) * A), q * W + D);
    }
    const tb = this.#base.forward(inp, N), th = this.#head.forward(tb.y, N);
    const ones = kern.scratch(N);
    kern.f32(ones).fill(1);
    const dx = this.#base.backward(tb, this.#head.backward(th, ones, true, false)!, true, false)!;
    const dv = kern.f32(dx), out = new Float32Array(N * A);
    for (let q = 0; q < N; q++) out.set(dv.subarray(q * W + D, (q + 1) * W), q * A);
    kern.release(mk);
    return out;
  }
}
