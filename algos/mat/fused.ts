/**
 * The Multi-Agent Transformer on the fused kernels (`--kernels auto|fused` with `--algo mat`):
 * algos/mat/model.ts's encoder and decoder with core/fused/transformer.ts's blocks, and one PPO
 * update of algos/mat/mat.ts's loss (the paper's eq. 5 with the clipped value loss and the entropy
 * bonus) written out: the decoder's teacher-forced pass, the heads' and losses' gradients
 * (kernels.c `cat_fwd`/`cat_bwd`, `gauss_fwd`/`gauss_bwd`, `ppo_clip_grad`, `value_clip_grad`), the
 * backward pass through decoder and encoder, and Adam over one buffer. The tfjs variables stay the
 * truth between updates (algos/mat/mat.ts copies in and out); tests/fused_mat_test.ts checks every
 * gradient, and every parameter and Adam slot after whole updates, against the tfjs path.
 *
 * @module
 */
import type { Rng } from "../../core/rng.ts";
import { type Buf, gatherer, type Kernels, kernels } from "../../core/fused/kernels.ts";
import { FDense, FNorm, type Param, ParamGroup } from "../../core/fused/nets.ts";
import {
  type FAttention,
  FDecodeBlock,
  FEncodeBlock,
  FGeluHead,
  geluForward,
} from "../../core/fused/transformer.ts";
import { minibatches } from "../ppo/batch.ts";
import type { MatModel } from "./model.ts";

const LOG_2PI = Math.log(2 * Math.PI);

/** One update's data, every per-agent array in the iteration's decoding order. */
export interface MatBatch {
  /** Rows (env steps) N. */
  readonly N: number;
  /** `[N, n, obsDim]`. */
  readonly obs: Float32Array;
  /** `[N, n, slot]` the decoder's shifted input. */
  readonly shifted: Float32Array;
  /** `[N, n, A]` one-hot (discrete) or the actions (box). */
  readonly actionVecs: Float32Array;
  /** `[N, n, A]` 1 where available, or null. */
  readonly avail: Float32Array | null;
  /** `[N, n]` each: log-probs at collection, normalised advantages, (normalised) returns and values. */
  readonly logpOld: Float32Array;
  readonly adv: Float32Array;
  readonly ret: Float32Array;
  readonly vOld: Float32Array;
}

/** The loss options an update reads (algos/mat/mat.ts MatOptions). */
export interface MatLossOptions {
  readonly epochs: number;
  readonly minibatches: number;
  readonly clip: number;
  readonly entropyCoef: number;
  readonly valueCoef: number;
  readonly huberDelta: number;
  readonly lr: number;
  readonly adamEps: number;
  readonly maxGradNorm: number;
}

/** Sums of the last epoch's diagnostics, as algos/mat/mat.ts's tfjs update keeps them. */
export interface MatSums {
  policy: number;
  value: number;
  entropy: number;
  kl: number;
  clipFrac: number;
  gradNorm: number;
  count: number;
}

/** @returns sums at zero */
export function emptySums(): MatSums {
  return { policy: 0, value: 0, entropy: 0, kl: 0, clipFrac: 0, gradNorm: 0, count: 0 };
}

/** The MAT encoder and decoder on the fused kernels. */
export class FusedMat {
  /** Every parameter, in {@link MatModel.variables} order. */
  readonly group: ParamGroup;
  readonly #obsNorm: FNorm | null;
  readonly #obsEmbed: FDense;
  readonly #encNorm: FNorm;
  readonly #enc: FEncodeBlock[];
  readonly #value: FGeluHead;
  readonly #actW: Param;
  readonly #actB: Param | null;
  readonly #decNorm: FNorm;
  readonly #dec: FDecodeBlock[];
  readonly #head: FGeluHead;
  /** Gaussian policies' log std `[A]`, or null. */
  readonly logStd: Param | null;
  readonly n: number;
  readonly A: number;
  readonly slot: number;
  readonly obsDim: number;
  readonly embed: number;
  readonly discrete: boolean;

  /**
   * Declares the parameters shaped like a tfjs model (values are copied in by the caller).
   * @param m the tfjs model
   * @param o heads, and the kernels instance (default: this thread's)
   */
  constructor(readonly m: MatModel, o: { heads: number; kern?: Kernels }) {
    const g = this.group = new ParamGroup(o.kern ?? kernels());
    const p = m.parts(), E = p.obsEmbed.W.shape[1]!;
    this.n = m.n, this.A = m.A, this.slot = m.slot, this.discrete = m.discrete, this.embed = E;
    this.obsDim = p.obsEmbed.W.shape[0]!;
    this.#obsNorm = p.obsNorm ? new FNorm(g, this.obsDim) : null;
    this.#obsEmbed = new FDense(g, this.obsDim, E);
    this.#encNorm = new FNorm(g, E);
    this.#enc = p.enc.map(() => new FEncodeBlock(g, E, o.heads));
    this.#value = new FGeluHead(g, E, 1);
    this.#actW = g.add([m.slot, E]);
    this.#actB = m.discrete ? null : g.add([E]); // the discrete embedding has no bias
    this.#decNorm = new FNorm(g, E);
    this.#dec = p.dec.map(() => new FDecodeBlock(g, E, o.heads));
    this.#head = new FGeluHead(g, E, m.A);
    this.logStd = m.logStd ? g.add([m.A]) : null;
    g.build();
  }

  /**
   * The encoder on B joint observations.
   * @param obs `[B n, obsDim]`
   * @param B rows
   * @returns the tape; `rep [B n, E]`, `value [B n]`
   */
  encode(obs: Buf, B: number) {
    const g = this.group, M = B * this.n;
    const t0 = this.#obsNorm ? this.#obsNorm.forward(obs, M) : null;
    const te = this.#obsEmbed.forward(t0 ? t0.y : obs, M);
    const tg = this.#encNorm.forward(geluForward(g, te.y), M); // LN(GELU(LN(o) W))
    let rep = tg.y;
    const blocks = this.#enc.map((b) => {
      const t = b.forward(rep, B, this.n);
      rep = t.y;
      return t;
    });
    const tv = this.#value.forward(rep, M);
    return { B, M, rep, value: tv.y, t0, te, tg, blocks, tv };
  }

  /**
   * Adds the encoder's parameter gradients.
   * @param t the tape
   * @param dValue `[B n]` the loss's gradient with respect to the values
   * @param dRep `[B n, E]` the decoder's gradient with respect to rep, or null
   */
  encodeBackward(t: ReturnType<FusedMat["encode"]>, dValue: Buf, dRep: Buf | null): void {
    const k = this.group.kern.k;
    let d = this.#value.backward(t.tv, dValue);
    if (dRep) k.axpby(1, dRep.ptr, 1, d.ptr, d.n);
    for (let b = this.#enc.length - 1; b >= 0; b--) d = this.#enc[b]!.backward(t.blocks[b]!, d);
    d = this.#encNorm.backward(t.tg, d);
    k.gelu_bwd(d.ptr, t.te.y.ptr, d.ptr, d.n);
    const dx = this.#obsEmbed.backward(t.te, d, !!t.t0);
    if (t.t0) this.#obsNorm!.backward(t.t0, dx!);
  }

  /**
   * The decoder in one teacher-forced pass.
   * @param shifted `[B n, slot]`
   * @param rep `[B n, E]`
   * @param B rows
   * @returns the tape; `y [B n, A]` logits (discrete) or means (box)
   */
  decode(shifted: Buf, rep: Buf, B: number) {
    const g = this.group, kern = g.kern, M = B * this.n, E = this.embed;
    const emb = kern.scratch(M * E);
    kern.k.gemm_nn(
      shifted.ptr,
      g.ptr(this.#actW),
      emb.ptr,
      this.#actB ? g.ptr(this.#actB) : 0,
      M,
      this.slot,
      E,
      0,
      0,
    );
    const tg = this.#decNorm.forward(geluForward(g, emb), M); // LN(GELU(s W_a))
    let x = tg.y;
    const blocks = this.#dec.map((b) => {
      const t = b.forward(x, rep, B, this.n);
      x = t.y;
      return t;
    });
    const th = this.#head.forward(x, M);
    return { B, M, y: th.y, shifted, emb, tg, blocks, th };
  }

  /**
   * Adds the decoder's parameter gradients.
   * @param t the tape
   * @param dOut `[B n, A]`
   * @returns the gradient with respect to rep
   */
  decodeBackward(t: ReturnType<FusedMat["decode"]>, dOut: Buf): Buf {
    const g = this.group, k = g.kern.k, E = this.embed;
    let d = this.#head.backward(t.th, dOut);
    let dRep: Buf | null = null;
    for (let b = this.#dec.length - 1; b >= 0; b--) {
      const r = this.#dec[b]!.backward(t.blocks[b]!, d);
      if (dRep) k.axpby(1, dRep.ptr, 1, r.drep.ptr, r.drep.n);
      dRep = r.drep;
      d = r.dx;
    }
    d = this.#decNorm.backward(t.tg, d);
    k.gelu_bwd(d.ptr, t.emb.ptr, d.ptr, d.n);
    k.gemm_tn(t.shifted.ptr, d.ptr, g.gptr(this.#actW), t.M, this.slot, E, 1);
    if (this.#actB) k.col_sum(d.ptr, g.gptr(this.#actB), t.M, E, 1);
    return dRep!;
  }

  /**
   * One PPO update: `epochs` passes over `minibatches` minibatches (drawn from `rng` as the tfjs
   * path draws them), each one Adam step on the whole loss.
   * @param d the batch
   * @param o the loss and optimiser options
   * @param rng the update's rng
   * @returns the last epoch's diagnostic sums
   */
  update(d: MatBatch, o: MatLossOptions, rng: Rng): MatSums {
    const g = this.group, kern = g.kern, K = kern.k, { n, A, N, obsDim, slot } = this.#dims(d);
    const sums = emptySums();
    const mk0 = kern.mark();
    try {
      const put = (x: Float32Array) => {
        const b = kern.scratch(x.length);
        kern.f32(b).set(x);
        return b;
      };
      const up = {
        obs: put(d.obs),
        shifted: put(d.shifted),
        act: put(d.actionVecs),
        avail: d.avail ? put(d.avail) : null,
        logpOld: put(d.logpOld),
        adv: put(d.adv),
        ret: put(d.ret),
        vOld: put(d.vOld),
      };
      // discrete: each agent's action index, from the one-hot vectors
      const actions = this.discrete ? new Int32Array(N * n) : null;
      if (actions) {
        for (let r = 0; r < N * n; r++) {
          for (let c = 0; c < A; c++) if (d.actionVecs[r * A + c]! > 0.5) actions[r] = c;
        }
      }
      for (let ep = 0; ep < o.epochs; ep++) {
        const last = ep === o.epochs - 1;
        for (const idxT of minibatches(N, o.minibatches, rng) ?? [null]) {
          const idx = idxT ? idxT.dataSync() as Int32Array : null;
          idxT?.dispose();
          const mk = kern.mark();
          const rows = gatherer(kern, idx), B = idx ? idx.length : N, M = B * n;
          let act: Buf | null = null;
          if (actions) {
            act = kern.scratch(M);
            const a = kern.i32(act);
            if (idx) idx.forEach((r, q) => a.set(actions.subarray(r * n, (r + 1) * n), q * n));
            else a.set(actions);
          }
          g.zeroGrad();
          const te = this.encode(rows(up.obs, n * obsDim), B);
          const td = this.decode(rows(up.shifted, n * slot), te.rep, B);
          const logp = kern.scratch(M), dlogp = kern.scratch(M), st = kern.scratch(3, true);
          const dOut = kern.scratch(M * A);
          const logpOld = rows(up.logpOld, n), adv = rows(up.adv, n);
          // the head's log-probs of the taken actions: categorical (masked) or Gaussian
          const cat = this.discrete
            ? { lsm: kern.scratch(M * A), probs: kern.scratch(M * A), ent: kern.scratch(M) }
            : null;
          const z = cat ? null : kern.scratch(M * A), ls = this.logStd;
          if (cat) {
            const avail = up.avail ? rows(up.avail, n * A).ptr : 0;
            K.cat_fwd(
              td.y.ptr,
              avail,
              act!.ptr,
              cat.lsm.ptr,
              cat.probs.ptr,
              logp.ptr,
              cat.ent.ptr,
              M,
              A,
            );
          } else {
            K.gauss_fwd(td.y.ptr, g.ptr(ls!), rows(up.act, n * A).ptr, z!.ptr, logp.ptr, M, A);
          }
          // the clipped surrogate of each agent's conditional ratio (the module doc's policy term)
          K.ppo_clip_grad(logp.ptr, logpOld.ptr, adv.ptr, 0, dlogp.ptr, 0, st.ptr, M, o.clip, M, 0);
          let entropy = 0;
          if (cat) {
            const dent = kern.scratch(M);
            kern.f32(dent).fill(-o.entropyCoef / M); // - c_ent mean(H)
            K.cat_bwd(
              cat.lsm.ptr,
              cat.probs.ptr,
              cat.ent.ptr,
              act!.ptr,
              dlogp.ptr,
              dent.ptr,
              dOut.ptr,
              M,
              A,
            );
            entropy = kern.f32(cat.ent).reduce((s, x) => s + x, 0) / M;
          } else {
            K.gauss_bwd(z!.ptr, g.ptr(ls!), dlogp.ptr, dOut.ptr, g.gptr(ls!), M, A);
            const gl = g.grad(ls!), lv = g.value(ls!);
            for (let c = 0; c < A; c++) {
              gl[c] = gl[c]! - o.entropyCoef; // d(-c_ent sum(logStd + const))/dlogStd
              entropy += lv[c]! + 0.5 * (LOG_2PI + 1);
            }
          }
          const dv = kern.scratch(M);
          const vSum = K.value_clip_grad(
            te.value.ptr,
            rows(up.vOld, n).ptr,
            rows(up.ret, n).ptr,
            dv.ptr,
            M,
            o.clip,
            o.huberDelta,
            M,
          );
          K.axpby(o.valueCoef, dv.ptr, 0, dv.ptr, M); // c_v mean(max(huber, huber_clipped))
          this.encodeBackward(te, dv, this.decodeBackward(td, dOut));
          const norm = g.adamStep({ lr: o.lr, eps: o.adamEps, maxGradNorm: o.maxGradNorm });
          if (last) {
            const [own, clipped, kl] = kern.f32(st);
            sums.policy += -own! / M;
            sums.value += vSum / M;
            sums.entropy += entropy;
            sums.kl += kl! / M;
            sums.clipFrac += clipped! / M;
            sums.gradNorm += norm;
            sums.count++;
          }
          kern.release(mk);
        }
      }
    } finally { // an error leaves no scratch mark open
      kern.unwind(mk0);
    }
    return sums;
  }

  /** Gives the parameters' buffers back to the kernels' arena. */
  dispose(): void {
    this.group.free();
  }

  #dims(d: MatBatch) {
    return { n: this.n, A: this.A, N: d.N, obsDim: this.obsDim, slot: this.slot };
  }

  /**
   * Acting's passes: the encoder once, then {@link FusedMat.decodeAt} once per position, inside
   * one scratch mark that `done` releases.
   * @param obs `[E, n, obsDim]`
   * @param E rows
   * @returns the values `[E n]`, the decoder at position i (`[E, slot]` shifted inputs of position
   *   i, returning `[E, A]`; positions in order 0, 1, ..), and the release
   */
  acting(obs: Float32Array, E: number): {
    values: Float32Array;
    decodeAt: (i: number, shifted: Float32Array) => Float32Array;
    done: () => void;
  } {
    const kern = this.group.kern, mk = kern.mark();
    try {
      const ob = kern.scratch(obs.length);
      kern.f32(ob).set(obs);
      const te = this.encode(ob, E);
      const values = kern.f32(te.value).slice();
      // every block's keys and values of the positions decoded so far, [E, n, embed] each;
      // reserved at the first position (a values-only call never decodes)
      const size = E * this.n * this.embed;
      let cache: { k1: Buf; v1: Buf; k2: Buf; v2: Buf }[] | null = null;
      let next = 0;
      return {
        values,
        decodeAt: (i, shifted) => {
          if (i !== next++) {
            throw new Error(`FusedMat.decodeAt: position ${i}, expected ${next - 1}`);
          }
          cache ??= this.#dec.map(() => ({
            k1: kern.scratch(size),
            v1: kern.scratch(size),
            k2: kern.scratch(size),
            v2: kern.scratch(size),
          }));
          const m = kern.mark();
          const out = kern.f32(this.decodeAt(i, shifted, te.rep, E, cache)).slice();
          kern.release(m);
          return out;
        },
        done: () => kern.unwind(mk),
      };
    } catch (e) {
      kern.unwind(mk);
      throw e;
    }
  }

  /**
   * The decoder at position i of E sequences, from the keys and values positions 0..i-1 left in
   * the cache (each block's attentions are causal, so position i's output reads positions 0..i
   * only): the same rows as {@link FusedMat.decode}'s position i, at n positions per joint action
   * instead of n^2.
   * @param i the position
   * @param shifted `[E, slot]` position i's shifted action
   * @param rep `[E n, embed]` the encoder's representation
   * @param E sequences
   * @param cache per block: keys and values of both attentions `[E, n, embed]` (position i written)
   * @returns `[E, A]` logits (discrete) or means (box), in scratch
   */
  decodeAt(
    i: number,
    shifted: Float32Array,
    rep: Buf,
    E: number,
    cache: { k1: Buf; v1: Buf; k2: Buf; v2: Buf }[],
  ): Buf {
    const g = this.group, kern = g.kern, k = kern.k, D = this.embed, n = this.n;
    const s = kern.scratch(E * this.slot), emb = kern.scratch(E * D), repI = kern.scratch(E * D);
    kern.f32(s).set(shifted);
    const rv = kern.f32(rep), ri = kern.f32(repI);
    for (let e = 0; e < E; e++) ri.set(rv.subarray((e * n + i) * D, (e * n + i + 1) * D), e * D);
    k.gemm_nn(
      s.ptr,
      g.ptr(this.#actW),
      emb.ptr,
      this.#actB ? g.ptr(this.#actB) : 0,
      E,
      this.slot,
      D,
      0,
      0,
    );
    let x = this.#decNorm.forward(geluForward(g, emb), E).y; // LN(GELU(s W_a))
    this.#dec.forEach((b, l) => {
      const c = cache[l]!;
      const a1 = this.#attendAt(b.attn1, x, x, c.k1, c.v1, i, E);
      k.axpby(1, x.ptr, 1, a1.ptr, a1.n);
      const t1 = b.ln1.forward(a1, E); // LN1(x + attn1)
      const a2 = this.#attendAt(b.attn2, repI, t1.y, c.k2, c.v2, i, E);
      k.axpby(1, repI.ptr, 1, a2.ptr, a2.n);
      const t2 = b.ln2.forward(a2, E); // LN2(rep + attn2)
      const tm = b.mlp.forward(t2.y, E);
      k.axpby(1, t2.y.ptr, 1, tm.y.ptr, tm.y.n);
      x = b.ln3.forward(tm.y, E).y; // LN3(c + mlp(c))
    });
    return this.#head.forward(x, E).y;
  }

  /**
   * One attention at position i: the query from `query`'s rows, position i's key and value from
   * `kv`'s rows written into the cache, softmax over positions 0..i per head (as kernels.c
   * `attn_fwd` with the causal mask), then the output projection.
   * @returns `[E, D]` in scratch
   */
  #attendAt(at: FAttention, query: Buf, kv: Buf, K: Buf, V: Buf, i: number, E: number): Buf {
    const kern = this.group.kern, D = this.embed, n = this.n, H = at.heads, hs = D / H;
    const q = at.q.forward(query, E).y, kk = at.k.forward(kv, E).y, vv = at.v.forward(kv, E).y;
    const Y = kern.scratch(E * D);
    const Q = kern.f32(q), Kc = kern.f32(K), Vc = kern.f32(V), y = kern.f32(Y);
    const kn = kern.f32(kk), vn = kern.f32(vv);
    const scale = 1 / Math.sqrt(hs), p = new Float64Array(i + 1);
    for (let e = 0; e < E; e++) {
      Kc.set(kn.subarray(e * D, (e + 1) * D), (e * n + i) * D);
      Vc.set(vn.subarray(e * D, (e + 1) * D), (e * n + i) * D);
      for (let h = 0; h < H; h++) {
        const qo = e * D + h * hs;
        let mx = -Infinity;
        for (let j = 0; j <= i; j++) {
          const ko = (e * n + j) * D + h * hs;
          let d = 0;
          for (let c = 0; c < hs; c++) d += Q[qo + c]! * Kc[ko + c]!;
          p[j] = d * scale;
          if (p[j]! > mx) mx = p[j]!;
        }
        let z = 0;
        for (let j = 0; j <= i; j++) z += p[j] = Math.exp(p[j]! - mx);
        for (let c = 0; c < hs; c++) {
          let acc = 0;
          for (let j = 0; j <= i; j++) acc += p[j]! * Vc[(e * n + j) * D + h * hs + c]!;
          y[qo + c] = acc / z;
        }
      }
    }
    return at.o.forward(Y, E).y;
  }
}
