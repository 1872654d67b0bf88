/**
 * core/transformer.ts's blocks on the fused kernels: multi-head attention, the encoder and
 * decoder blocks (post-LN) and the `Linear -> GELU -> LN -> Linear` head, with whole-batch forward
 * and backward passes. Parameters are declared in the tfjs blocks' variable order
 * (`attentionVars`, `encodeBlockVars`, `decodeBlockVars`), so a {@link ParamGroup} copies a tfjs
 * model in and out directly. Rows are `[B L, D]`: B sequences of L positions (the agents).
 *
 * Backward passes take a forward tape (saved in the current scratch mark) and add into the
 * gradients; checked against tfjs autodiff in tests/fused_mat_test.ts.
 *
 * @module
 */
import type { Buf } from "./kernels.ts";
import { FDense, FNorm, type ParamGroup, type Tape } from "./nets.ts";

/** `y = x + y` over a buffer's length (a residual; y overwritten). */
function addInto(g: ParamGroup, x: Buf, y: Buf): Buf {
  g.kern.k.axpby(1, x.ptr, 1, y.ptr, y.n);
  return y;
}

/** A copy of a buffer in scratch. */
function copyOf(g: ParamGroup, x: Buf): Buf {
  const c = g.kern.scratch(x.n);
  g.kern.k.axpby(1, x.ptr, 0, c.ptr, x.n);
  return c;
}

/** `GELU(x)` in new scratch. */
export function geluForward(g: ParamGroup, x: Buf): Buf {
  const y = g.kern.scratch(x.n);
  g.kern.k.gelu_fwd(x.ptr, y.ptr, x.n);
  return y;
}

/** Multi-head attention: `softmax(q k^T / sqrt(d_h) + mask) v` per head, then `Wo`. */
export class FAttention {
  /** Query, key, value and output projections. */
  readonly q: FDense;
  readonly k: FDense;
  readonly v: FDense;
  readonly o: FDense;

  /**
   * Declares it.
   * @param group the parameters
   * @param dim embedding width D
   * @param heads heads (divide D)
   */
  constructor(readonly group: ParamGroup, readonly dim: number, readonly heads: number) {
    this.q = new FDense(group, dim, dim);
    this.k = new FDense(group, dim, dim);
    this.v = new FDense(group, dim, dim);
    this.o = new FDense(group, dim, dim);
  }

  /**
   * @param query `[B L, D]`
   * @param key `[B L, D]`
   * @param value `[B L, D]`
   * @param B sequences
   * @param L positions
   * @param causal whether position i sees only j <= i
   * @returns the tape; `y [B L, D]`
   */
  forward(query: Buf, key: Buf, value: Buf, B: number, L: number, causal: boolean) {
    const M = B * L, D = this.dim, kern = this.group.kern;
    const tq = this.q.forward(query, M), tk = this.k.forward(key, M), tv = this.v.forward(value, M);
    const P = kern.scratch(B * this.heads * L * L), Y = kern.scratch(M * D);
    kern.k.attn_fwd(tq.y.ptr, tk.y.ptr, tv.y.ptr, P.ptr, Y.ptr, B, L, D, this.heads, +causal);
    const to = this.o.forward(Y, M);
    return { M, B, L, causal, y: to.y, tq, tk, tv, P, to };
  }

  /**
   * Adds the parameter gradients of `sum(dy * y)`.
   * @param t the forward tape
   * @param dy `[B L, D]`
   * @returns the gradients of the query, key and value inputs (separate buffers)
   */
  backward(t: ReturnType<FAttention["forward"]>, dy: Buf): { dq: Buf; dk: Buf; dv: Buf } {
    const kern = this.group.kern, { M, B, L } = t, D = this.dim;
    const dY = this.o.backward(t.to, dy, true)!;
    const dQ = kern.scratch(M * D), dK = kern.scratch(M * D), dV = kern.scratch(M * D);
    kern.k.attn_bwd(
      dY.ptr,
      t.tq.y.ptr,
      t.tk.y.ptr,
      t.tv.y.ptr,
      t.P.ptr,
      dQ.ptr,
      dK.ptr,
      dV.ptr,
      B,
      L,
      D,
      this.heads,
      +t.causal,
    );
    return {
      dq: this.q.backward(t.tq, dQ, true)!,
      dk: this.k.backward(t.tk, dK, true)!,
      dv: this.v.backward(t.tv, dV, true)!,
    };
  }
}

/** `Linear -> GELU -> Linear`, the blocks' MLP. */
export class FGeluMlp {
  readonly a: FDense;
  readonly b: FDense;

  /**
   * Declares it.
   * @param group the parameters
   * @param dim width
   */
  constructor(readonly group: ParamGroup, dim: number) {
    this.a = new FDense(group, dim, dim);
    this.b = new FDense(group, dim, dim);
  }

  /** @returns the tape; `y [M, dim]` */
  forward(x: Buf, M: number) {
    const ta = this.a.forward(x, M);
    const tb = this.b.forward(geluForward(this.group, ta.y), M);
    return { M, y: tb.y, ta, tb };
  }

  /** @returns dx (new scratch); dy is left untouched */
  backward(t: ReturnType<FGeluMlp["forward"]>, dy: Buf): Buf {
    const k = this.group.kern.k;
    const d = this.b.backward(t.tb, dy, true)!;
    k.gelu_bwd(d.ptr, t.ta.y.ptr, d.ptr, d.n);
    return this.a.backward(t.ta, d, true)!;
  }
}

/** An encoder block: `a = LN1(x + attn(x, x, x))`, `y = LN2(a + mlp(a))`. */
export class FEncodeBlock {
  readonly attn: FAttention;
  readonly ln1: FNorm;
  readonly ln2: FNorm;
  readonly mlp: FGeluMlp;

  /**
   * Declares it (encodeBlockVars order: attention, ln1, ln2, mlp).
   * @param group the parameters
   * @param dim width
   * @param heads attention heads
   */
  constructor(readonly group: ParamGroup, dim: number, heads: number) {
    this.attn = new FAttention(group, dim, heads);
    this.ln1 = new FNorm(group, dim);
    this.ln2 = new FNorm(group, dim);
    this.mlp = new FGeluMlp(group, dim);
  }

  /** @returns the tape; `y [B L, D]` */
  forward(x: Buf, B: number, L: number) {
    const g = this.group, M = B * L;
    const ta = this.attn.forward(x, x, x, B, L, false);
    const t1 = this.ln1.forward(addInto(g, x, copyOf(g, ta.y)), M); // LN1(x + attn)
    const tm = this.mlp.forward(t1.y, M);
    const t2 = this.ln2.forward(addInto(g, t1.y, copyOf(g, tm.y)), M); // LN2(a + mlp(a))
    return { M, y: t2.y, ta, t1, tm, t2 };
  }

  /** @returns dx (dy is overwritten) */
  backward(t: ReturnType<FEncodeBlock["forward"]>, dy: Buf): Buf {
    const g = this.group;
    const ds2 = this.ln2.backward(t.t2, dy);
    const da = addInto(g, this.mlp.backward(t.tm, ds2), ds2); // residual + mlp's input
    const ds1 = this.ln1.backward(t.t1, da);
    const d = this.attn.backward(t.ta, ds1);
    return addInto(g, d.dv, addInto(g, d.dk, addInto(g, d.dq, ds1)));
  }
}

/**
 * A decoder block: `a = LN1(x + attn1(x, x, x; causal))`, `c = LN2(rep + attn2(rep, a, a;
 * causal))`, `y = LN3(c + mlp(c))`.
 */
export class FDecodeBlock {
  readonly attn1: FAttention;
  readonly attn2: FAttention;
  readonly ln1: FNorm;
  readonly ln2: FNorm;
  readonly ln3: FNorm;
  readonly mlp: FGeluMlp;

  /**
   * Declares it (decodeBlockVars order).
   * @param group the parameters
   * @param dim width
   * @param heads attention heads
   */
  constructor(readonly group: ParamGroup, dim: number, heads: number) {
    this.attn1 = new FAttention(group, dim, heads);
    this.attn2 = new FAttention(group, dim, heads);
    this.ln1 = new FNorm(group, dim);
    this.ln2 = new FNorm(group, dim);
    this.ln3 = new FNorm(group, dim);
    this.mlp = new FGeluMlp(group, dim);
  }

  /** @returns the tape; `y [B L, D]` */
  forward(x: Buf, rep: Buf, B: number, L: number) {
    const g = this.group, M = B * L;
    const ta1 = this.attn1.forward(x, x, x, B, L, true);
    const t1 = this.ln1.forward(addInto(g, x, copyOf(g, ta1.y)), M);
    const ta2 = this.attn2.forward(rep, t1.y, t1.y, B, L, true);
    const t2 = this.ln2.forward(addInto(g, rep, copyOf(g, ta2.y)), M);
    const tm = this.mlp.forward(t2.y, M);
    const t3 = this.ln3.forward(addInto(g, t2.y, copyOf(g, tm.y)), M);
    return { M, y: t3.y, ta1, t1, ta2, t2, tm, t3 };
  }

  /** @returns dx and the gradient of rep (dy is overwritten) */
  backward(t: ReturnType<FDecodeBlock["forward"]>, dy: Buf): { dx: Buf; drep: Buf } {
    const g = this.group;
    const ds3 = this.ln3.backward(t.t3, dy);
    const dc = addInto(g, this.mlp.backward(t.tm, ds3), ds3);
    const ds2 = this.ln2.backward(t.t2, dc);
    const d2 = this.attn2.backward(t.ta2, ds2);
    const drep = addInto(g, d2.dq, ds2); // residual + query
    const da = addInto(g, d2.dk, d2.dv); // key and value
    const ds1 = this.ln1.backward(t.t1, da);
    const d1 = this.attn1.backward(t.ta1, ds1);
    return { dx: addInto(g, d1.dv, addInto(g, d1.dk, addInto(g, d1.dq, ds1))), drep };
  }
}

/** `Linear -> GELU -> LN -> Linear(out)`, MAT's value and action heads. */
export class FGeluHead {
  readonly a: FDense;
  readonly norm: FNorm;
  readonly b: FDense;

  /**
   * Declares it (algos/mat/model.ts head order: a, norm, b).
   * @param group the parameters
   * @param dim input width
   * @param out outputs
   */
  constructor(readonly group: ParamGroup, dim: number, out: number) {
    this.a = new FDense(group, dim, dim);
    this.norm = new FNorm(group, dim);
    this.b = new FDense(group, dim, out);
  }

  /** @returns the tape; `y [M, out]` */
  forward(x: Buf, M: number) {
    const ta = this.a.forward(x, M);
    const tn = this.norm.forward(geluForward(this.group, ta.y), M);
    const tb = this.b.forward(tn.y, M);
    return { M, y: tb.y, ta, tn, tb } satisfies Tape & Record<string, unknown>;
  }

  /** @returns dx (dy is left untouched: the output layer has no activation) */
  backward(t: ReturnType<FGeluHead["forward"]>, dy: Buf): Buf {
    const k = this.group.kern.k;
    const d = this.norm.backward(t.tn, this.b.backward(t.tb, dy, true)!);
    k.gelu_bwd(d.ptr, t.ta.y.ptr, d.ptr, d.n);
    return this.a.backward(t.ta, d, true)!;
  }
}
