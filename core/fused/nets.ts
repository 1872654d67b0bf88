/**
 * The networks of core/nets.ts on the fused kernels: the same layers, parameter order and
 * initial values (copied from the tfjs variables), with whole-batch forward and backward passes
 * written out. A network's parameters, gradients and Adam slots are each one contiguous buffer,
 * so zeroing the gradients, their global norm and the Adam step are one kernel call each.
 *
 * Forward passes return a tape (the saved activations, in the current scratch mark); backward
 * passes take it and add into the gradients. Checked against tfjs autodiff in
 * tests/fused_test.ts.
 *
 * @module
 */
import { tf } from "../deps.ts";
import type { Dense, Gru, MlpBase, Norm } from "../nets.ts";
import { ACT, type Buf, type Kernels, rowsOf } from "./kernels.ts";
import type { Adam } from "../adam.ts";

/** One parameter tensor: its place in its group's buffers and its shape. */
export interface Param {
  /** Offset in floats inside the group (a multiple of 4). */
  readonly off: number;
  /** Its shape. */
  readonly shape: readonly number[];
  /** Elements. */
  readonly n: number;
}

/**
 * The parameters of one network (one optimiser): values, gradients and Adam's two slots, each
 * one buffer in the kernels' memory, tensors at 16-byte-aligned offsets.
 */
export class ParamGroup {
  readonly #params: Param[] = [];
  #size = 0;
  #bufs: { p: Buf; g: Buf; m: Buf; v: Buf } | null = null;
  /** Adam's step count. */
  t = 0;

  /**
   * Creates it.
   * @param kern the kernels instance that holds the buffers
   */
  constructor(readonly kern: Kernels) {}

  /**
   * Declares a tensor (before {@link build}).
   * @param shape its shape
   * @returns its handle
   */
  add(shape: readonly number[]): Param {
    if (this.#bufs) throw new Error("ParamGroup.add after build");
    const n = shape.reduce((a, b) => a * b, 1);
    const p = { off: this.#size, shape, n };
    this.#size += (n + 3) & ~3;
    this.#params.push(p);
    return p;
  }

  /** Allocates the buffers (once every tensor is declared). */
  build(): void {
    const s = this.#size;
    this.#bufs = {
      p: this.kern.alloc(s),
      g: this.kern.alloc(s),
      m: this.kern.alloc(s),
      v: this.kern.alloc(s),
    };
  }

  /** Gives the buffers back to the kernels' arena (the network is not used again). */
  free(): void {
    if (!this.#bufs) return;
    for (const b of Object.values(this.#bufs)) this.kern.free(b);
    this.#bufs = null;
  }

  #b() {
    if (!this.#bufs) throw new Error("ParamGroup used before build (or after free)");
    return this.#bufs;
  }

  /** The declared tensors, in order. */
  get params(): readonly Param[] {
    return this.#params;
  }

  /** Floats in each buffer (with alignment padding). */
  get size(): number {
    return this.#size;
  }

  /** @returns byte address of a parameter's values */
  ptr(p: Param): number {
    return this.#b().p.ptr + 4 * p.off;
  }

  /** @returns byte address of a parameter's gradient */
  gptr(p: Param): number {
    return this.#b().g.ptr + 4 * p.off;
  }

  /** @returns the whole values, gradients and slots buffers */
  get buffers(): { p: Buf; g: Buf; m: Buf; v: Buf } {
    return this.#b();
  }

  /** Sets every gradient to zero. */
  zeroGrad(): void {
    this.kern.f32(this.#b().g).fill(0);
  }

  /**
   * @param p a parameter
   * @returns a view of its values
   */
  value(p: Param): Float32Array {
    return this.kern.f32(this.#b().p).subarray(p.off, p.off + p.n);
  }

  /**
   * @param p a parameter
   * @returns a view of its gradient
   */
  grad(p: Param): Float32Array {
    return this.kern.f32(this.#b().g).subarray(p.off, p.off + p.n);
  }

  /**
   * Copies values from tfjs variables, in {@link params} order.
   * @param vars one per parameter, same shapes
   */
  readFrom(vars: readonly tf.Variable[]): void {
    if (vars.length !== this.#params.length) {
      throw new Error(`ParamGroup.readFrom: ${vars.length} variables for ${this.#params.length}`);
    }
    vars.forEach((v, k) => {
      const p = this.#params[k]!;
      if (v.size !== p.n) throw new Error(`ParamGroup.readFrom: ${v.name} has ${v.size} values`);
      this.value(p).set(v.dataSync() as Float32Array);
    });
  }

  /**
   * Copies values into tfjs variables, in {@link params} order.
   * @param vars one per parameter, same shapes
   */
  writeTo(vars: readonly tf.Variable[]): void {
    vars.forEach((v, k) => {
      const p = this.#params[k]!;
      tf.tidy(() => v.assign(tf.tensor(this.value(p).slice(), v.shape)));
    });
  }

  /**
   * Copies a network in from tfjs: values (in {@link params} order) and its Adam's slots and step.
   * @param vars the tfjs variables, one per parameter, in this group's order
   * @param opt their optimiser (its variable order may differ: slots are matched by variable)
   */
  readFromTfjs(vars: readonly tf.Variable[], opt: Adam): void {
    this.readFrom(vars);
    const { m, v } = this.#b(), sl = opt.slots(), at = (x: tf.Variable) => opt.vars.indexOf(x);
    vars.forEach((x, q) => {
      const p = this.#params[q]!;
      this.kern.f32(m).set(sl.m[at(x)]!.dataSync() as Float32Array, p.off);
      this.kern.f32(v).set(sl.v[at(x)]!.dataSync() as Float32Array, p.off);
    });
    this.t = sl.t;
  }

  /**
   * Copies a network back to tfjs: values, Adam's slots and step ({@link readFromTfjs}'s inverse).
   * @param vars the tfjs variables, one per parameter, in this group's order
   * @param opt their optimiser
   */
  writeToTfjs(vars: readonly tf.Variable[], opt: Adam): void {
    this.writeTo(vars);
    const { m, v } = this.#b(), sl = opt.slots(), at = (x: tf.Variable) => opt.vars.indexOf(x);
    tf.tidy(() => {
      vars.forEach((x, q) => {
        const p = this.#params[q]!;
        const part = (b: Buf) => tf.tensor(this.kern.f32(b).slice(p.off, p.off + p.n), x.shape);
        sl.m[at(x)]!.assign(part(m));
        sl.v[at(x)]!.assign(part(v));
      });
    });
    opt.setStep(this.t);
  }

  /**
   * Clips the gradients to a global norm and takes one Adam step (core/adam.ts's rule).
   * @param opts learning rate, betas, eps, max gradient norm (0: none)
   * @returns the global gradient norm before clipping
   */
  adamStep(
    opts: { lr: number; eps: number; beta1?: number; beta2?: number; maxGradNorm: number },
  ): number {
    const b = this.#b(), k = this.kern.k;
    const b1 = opts.beta1 ?? 0.9, b2 = opts.beta2 ?? 0.999;
    this.t += 1;
    const bc1 = 1 - b1 ** this.t, bc2 = 1 - b2 ** this.t;
    const norm = Math.fround(Math.sqrt(k.sum_sq(b.g.ptr, this.#size)));
    const scale = opts.maxGradNorm > 0 ? Math.min(1, opts.maxGradNorm / (norm + 1e-6)) : 1;
    k.adam(
      b.p.ptr,
      b.g.ptr,
      b.m.ptr,
      b.v.ptr,
      this.#size,
      scale,
      b1,
      b2,
      opts.lr / bc1,
      Math.sqrt(bc2),
      opts.eps,
    );
    return norm;
  }
}

/** What a layer's forward pass saved for its backward pass. */
export interface Tape {
  /** Rows of the batch. */
  readonly M: number;
  /** The output. */
  readonly y: Buf;
}

/** A dense layer `act(x W + b)`. */
export class FDense {
  /** Weights `[in, out]`. */
  readonly W: Param;
  /** Bias `[out]`. */
  readonly b: Param;

  /**
   * Declares it in a group.
   * @param group the network's parameters
   * @param inDim inputs
   * @param outDim outputs
   * @param act activation applied in the same kernel
   */
  constructor(
    readonly group: ParamGroup,
    readonly inDim: number,
    readonly outDim: number,
    readonly act: keyof typeof ACT = "none",
  ) {
    this.W = group.add([inDim, outDim]);
    this.b = group.add([outDim]);
  }

  /**
   * @param x `[M, in]` in scratch or a parameter buffer
   * @param M rows
   * @returns the tape, with `y [M, out]`
   */
  forward(x: Buf, M: number): Tape & { x: Buf } {
    const g = this.group, kern = g.kern;
    const y = kern.scratch(M * this.outDim);
    kern.k.gemm_nn(
      x.ptr,
      g.ptr(this.W),
      y.ptr,
      g.ptr(this.b),
      M,
      this.inDim,
      this.outDim,
      0,
      ACT[this.act],
    );
    return { M, y, x };
  }

  /**
   * Adds `dW = x^T dz`, `db = sum dz` into the gradients, `dz = dy act'(y)`.
   * @param t the forward tape
   * @param dy `[M, out]` (overwritten with dz)
   * @param wantDx whether to return `dx = dz W^T`
   * @param grads whether to add the parameter gradients (false: only dx)
   * @returns `dx [M, in]` or null
   */
  backward(t: Tape & { x: Buf }, dy: Buf, wantDx: boolean, grads = true): Buf | null {
    const g = this.group, kern = g.kern, k = kern.k, { M } = t;
    if (this.act !== "none") k.act_bwd(dy.ptr, t.y.ptr, dy.ptr, M * this.outDim, ACT[this.act]);
    if (grads) {
      k.gemm_tn(t.x.ptr, dy.ptr, g.gptr(this.W), M, this.inDim, this.outDim, 1);
      k.col_sum(dy.ptr, g.gptr(this.b), M, this.outDim, 1);
    }
    if (!wantDx) return null;
    const WT = kern.scratch(this.inDim * this.outDim);
    k.transpose(g.ptr(this.W), WT.ptr, this.inDim, this.outDim);
    const dx = kern.scratch(M * this.inDim);
    k.gemm_nn(dy.ptr, WT.ptr, dx.ptr, 0, M, this.outDim, this.inDim, 0, 0);
    return dx;
  }

  /**
   * @param d the tfjs layer
   * @returns its variables in this layer's parameter order
   */
  static vars(d: Dense): tf.Variable[] {
    return [d.W, d.b];
  }
}

/** A LayerNorm with gain and shift (or none: plain normalisation). */
export class FNorm {
  /** Gain, or null. */
  readonly g: Param | null;
  /** Shift, or null. */
  readonly b: Param | null;

  /**
   * Declares it.
   * @param group the network's parameters
   * @param dim features
   * @param affine whether it has a gain and shift
   */
  constructor(readonly group: ParamGroup, readonly dim: number, affine = true) {
    this.g = affine ? group.add([dim]) : null;
    this.b = affine ? group.add([dim]) : null;
  }

  /**
   * @param x `[M, dim]`
   * @param M rows
   * @returns the tape
   */
  forward(x: Buf, M: number): Tape & { xhat: Buf; rstd: Buf } {
    const gr = this.group, kern = gr.kern;
    const y = kern.scratch(M * this.dim), xhat = kern.scratch(M * this.dim);
    const rstd = kern.scratch(M);
    kern.k.layernorm_fwd(
      x.ptr,
      this.g ? gr.ptr(this.g) : 0,
      this.b ? gr.ptr(this.b) : 0,
      y.ptr,
      xhat.ptr,
      rstd.ptr,
      M,
      this.dim,
    );
    return { M, y, xhat, rstd };
  }

  /**
   * @param t the forward tape
   * @param dy `[M, dim]`; overwritten with dx
   * @param grads whether to add the gain's and shift's gradients
   * @returns dx (the same buffer)
   */
  backward(t: Tape & { xhat: Buf; rstd: Buf }, dy: Buf, grads = true): Buf {
    const gr = this.group;
    gr.kern.k.layernorm_bwd(
      dy.ptr,
      t.xhat.ptr,
      t.rstd.ptr,
      this.g ? gr.ptr(this.g) : 0,
      dy.ptr,
      this.g && grads ? gr.gptr(this.g) : 0,
      this.b && grads ? gr.gptr(this.b!) : 0,
      t.M,
      this.dim,
      1,
    );
    return dy;
  }

  /**
   * @param p the tfjs norm
   * @returns its variables in this layer's order
   */
  static vars(p: Norm): tf.Variable[] {
    return [p.g, p.b];
  }
}

/** core/nets.ts's MLP base: LN(input) -> [dense + act + LN] x layers. */
export class FMlp {
  /** The hidden layers. */
  readonly layers: FDense[];
  /** The input norm, or null. */
  readonly inNorm: FNorm | null;
  /** One norm per layer (featureNorm), else empty. */
  readonly norms: FNorm[];
  /** Output features. */
  readonly outDim: number;

  /**
   * Declares a base shaped like a tfjs one.
   * @param group the network's parameters
   * @param m the tfjs base (its shapes and options; values are read by {@link FMlp.vars} order)
   */
  constructor(readonly group: ParamGroup, readonly m: MlpBase) {
    const act = m.activation === "relu" ? "relu" : "tanh";
    this.layers = m.layers.map((d) => new FDense(group, d.W.shape[0]!, d.W.shape[1]!, act));
    // parameter order as mlpVars: every layer's W, b, then the norms' g, b
    let k = 0;
    this.inNorm = m.inputNorm ? new FNorm(group, m.norms[k++]!.g.shape[0]!) : null;
    this.norms = m.featureNorm
      ? m.layers.map(() => new FNorm(group, m.norms[k++]!.g.shape[0]!))
      : [];
    this.outDim = m.layers.at(-1)!.W.shape[1]!;
  }

  /**
   * @param x `[M, in]`
   * @param M rows
   * @returns the tape of every layer; `y` is the output
   */
  forward(x: Buf, M: number): Tape & { parts: Tape[] } {
    const parts: Tape[] = [];
    let h = x;
    if (this.inNorm) {
      const t = this.inNorm.forward(h, M);
      parts.push(t);
      h = t.y;
    }
    this.layers.forEach((d, l) => {
      const t = d.forward(h, M);
      parts.push(t);
      h = t.y;
      if (this.norms.length) {
        const tn = this.norms[l]!.forward(h, M);
        parts.push(tn);
        h = tn.y;
      }
    });
    return { M, y: h, parts };
  }

  /**
   * @param t the forward tape
   * @param dy `[M, out]` (overwritten)
   * @param wantDx whether to return the input's gradient
   * @param grads whether to add the parameter gradients
   * @returns dx or null
   */
  backward(t: Tape & { parts: Tape[] }, dy: Buf, wantDx: boolean, grads = true): Buf | null {
    let k = t.parts.length - 1;
    let d: Buf | null = dy;
    for (let l = this.layers.length - 1; l >= 0; l--) {
      if (this.norms.length) d = this.norms[l]!.backward(t.parts[k--] as never, d!, grads);
      const first = l === 0;
      const need = !first || wantDx || (!!this.inNorm && grads);
      d = this.layers[l]!.backward(t.parts[k--] as never, d!, need, grads);
    }
    if (this.inNorm && d) d = this.inNorm.backward(t.parts[k--] as never, d, grads);
    return wantDx ? d : null;
  }

  /**
   * @param m a tfjs base
   * @returns its variables in the fused parameter order (core/nets.ts mlpVars)
   */
  static vars(m: MlpBase): tf.Variable[] {
    return [...m.layers.flatMap(FDense.vars), ...m.norms.flatMap(FNorm.vars)];
  }
}

/** Where a recurrent pass starts: `L` steps of `C` sequences, time-major rows. */
export interface FRecurrence {
  /** `[C, H]` the state before the first step. */
  readonly h0: Buf;
  /** `[L C]` 0 where the state resets before that row, else 1; null: never. */
  readonly keep: Buf | null;
  /** Steps. */
  readonly L: number;
}

/**
 * core/nets.ts's GRU layer (gruSeq) on the kernels: the three input projections over all rows
 * at once, the recurrence and its back-propagation through time in one kernel call each
 * (kernels.c gru_fwd / gru_bwd), the output LayerNorm when the layer has one. Parameter order as
 * core/nets.ts gruVars.
 */
export class FGru {
  /** Input projections of the r, z, n gates. */
  readonly x: readonly [FDense, FDense, FDense];
  /** Recurrent weights `[H, H]` and biases of the r, z, n gates. */
  readonly hW: readonly [Param, Param, Param];
  /** Recurrent biases. */
  readonly hb: readonly [Param, Param, Param];
  /** Output LayerNorm, or null. */
  readonly norm: FNorm | null;
  /** State size. */
  readonly H: number;

  /**
   * Declares it shaped like a tfjs GRU layer.
   * @param group the network's parameters
   * @param g the tfjs layer
   */
  constructor(readonly group: ParamGroup, g: Gru) {
    const H = g.H, inDim = g.x[0].W.shape[0]!;
    this.H = H;
    this.x = [0, 1, 2].map(() => new FDense(group, inDim, H)) as unknown as [
      FDense,
      FDense,
      FDense,
    ];
    const W: Param[] = [], b: Param[] = [];
    for (let k = 0; k < 3; k++) W.push(group.add([H, H])), b.push(group.add([H]));
    this.hW = W as unknown as [Param, Param, Param];
    this.hb = b as unknown as [Param, Param, Param];
    this.norm = g.norm ? new FNorm(group, H) : null;
  }

  /**
   * @param g a tfjs GRU layer
   * @returns its variables in the fused order (core/nets.ts gruVars)
   */
  static vars(g: Gru): tf.Variable[] {
    return [
      ...g.x.flatMap(FDense.vars),
      ...g.h.flatMap(FDense.vars),
      ...(g.norm ? FNorm.vars(g.norm) : []),
    ];
  }

  /**
   * @param x `[L C, in]` inputs, time-major
   * @param rec where the state starts, and L
   * @returns the tape; `y [L C, H]` the (normalised) outputs, `last [C, H]` the final state
   */
  forward(x: Buf, rec: FRecurrence) {
    const g = this.group, kern = g.kern, H = this.H, rows = x.n / this.x[0].inDim;
    const C = rows / rec.L;
    const gx = this.x.map((d) => d.forward(x, rows));
    const buf = () => kern.scratch(rows * H);
    const out = buf(), U = buf(), R = buf(), Z = buf(), Nn = buf(), HN = buf();
    kern.k.gru_fwd(
      gx[0]!.y.ptr,
      gx[1]!.y.ptr,
      gx[2]!.y.ptr,
      rec.h0.ptr,
      rec.keep?.ptr ?? 0,
      g.ptr(this.hW[0]),
      g.ptr(this.hW[1]),
      g.ptr(this.hW[2]),
      g.ptr(this.hb[0]),
      g.ptr(this.hb[1]),
      g.ptr(this.hb[2]),
      out.ptr,
      U.ptr,
      R.ptr,
      Z.ptr,
      Nn.ptr,
      HN.ptr,
      rec.L,
      C,
      H,
    );
    const tn = this.norm ? this.norm.forward(out, rows) : null;
    const last = rowsOf(out, H, (rec.L - 1) * C, C);
    return { M: rows, y: tn ? tn.y : out, last, gx, U, R, Z, Nn, HN, tn, rec, C };
  }

  /**
   * @param t the forward tape
   * @param dy `[L C, H]` (overwritten)
   * @param wantDx whether to return the input's gradient
   * @param grads whether to add the parameter gradients
   * @returns dx `[L C, in]` or null
   */
  backward(t: ReturnType<FGru["forward"]>, dy: Buf, wantDx: boolean, grads = true): Buf | null {
    const g = this.group, kern = g.kern, K = kern.k, H = this.H, rows = t.M, C = t.C;
    const d = t.tn ? this.norm!.backward(t.tn, dy, grads) : dy;
    const WT = this.hW.map((W) => {
      const b = kern.scratch(H * H);
      K.transpose(g.ptr(W), b.ptr, H, H);
      return b;
    });
    const buf = () => kern.scratch(rows * H);
    const dar = buf(), daz = buf(), dan = buf(), dhn = buf(), dh0 = kern.scratch(C * H);
    const sc = kern.scratch(2 * C * H);
    K.gru_bwd(
      d.ptr,
      t.U.ptr,
      t.R.ptr,
      t.Z.ptr,
      t.Nn.ptr,
      t.HN.ptr,
      t.rec.keep?.ptr ?? 0,
      WT[0]!.ptr,
      WT[1]!.ptr,
      WT[2]!.ptr,
      dar.ptr,
      daz.ptr,
      dan.ptr,
      dhn.ptr,
      dh0.ptr,
      sc.ptr,
      t.rec.L,
      C,
      H,
    );
    if (grads) { // dW_hk = U^T dgh_k over every step at once, db_hk = sum dgh_k
      [dar, daz, dhn].forEach((dg, k) => {
        K.gemm_tn(t.U.ptr, dg.ptr, g.gptr(this.hW[k]!), rows, H, H, 1);
        K.col_sum(dg.ptr, g.gptr(this.hb[k]!), rows, H, 1);
      });
    }
    const dxs = [dar, daz, dan].map((dg, k) => this.x[k]!.backward(t.gx[k]!, dg, wantDx, grads));
    if (!wantDx) return null;
    const dx = dxs[0]!;
    K.axpby(1, dxs[1]!.ptr, 1, dx.ptr, dx.n);
    K.axpby(1, dxs[2]!.ptr, 1, dx.ptr, dx.n);
    return dx;
  }
}

/**
 * Gradient of PPO's clipped surrogate per row (kernels.c `ppo_clip_grad`):
 * `L = -mean(min(rho A, clip(rho, 1 - eps, 1 + eps) A))` (PPO eq. 7), rho = exp(logp - logpOld),
 * as tfjs's autodiff of that expression: `dL/dlogp = -rho A / M` where `rho A <= clip(rho) A`,
 * else 0 (the minimum passes ties to the unclipped term).
 * @param kern the kernels
 * @param b `[M]` buffers: log-probabilities now and at collection, advantages; `dlogp` written
 * @param clip the clip range eps
 * @returns the surrogate loss, the fraction of rows with `|rho - 1| > eps`, and the mean of
 *   `(rho - 1) - log rho` (algos/ppo/metrics.ts's approx_kl)
 */
export function ppoClipGrad(
  kern: Kernels,
  b: { logp: Buf; logpOld: Buf; adv: Buf; dlogp: Buf },
  clip: number,
): { pgLoss: number; clipFrac: number; approxKl: number } {
  const M = b.logp.n;
  const mk = kern.mark();
  const st = kern.scratch(3, true);
  kern.k.ppo_clip_grad(
    b.logp.ptr,
    b.logpOld.ptr,
    b.adv.ptr,
    0,
    b.dlogp.ptr,
    0,
    st.ptr,
    M,
    clip,
    M,
    0,
  );
  const [sum, clipped, kl] = kern.f32(st);
  kern.release(mk);
  return { pgLoss: -sum! / M, clipFrac: clipped! / M, approxKl: kl! / M };
}

/** The tfjs actor parts an {@link FActor} mirrors (algos/ppo/agents.ts ActorNet, without a GRU). */
export interface ActorParts {
  /** Observation MLP. */
  readonly base: MlpBase;
  /** Action-conditioning MLP, or null. */
  readonly cond: MlpBase | null;
  /** LayerNorm of base + cond features, or null. */
  readonly fuseNorm: Norm | null;
  /** Output layer. */
  readonly head: Dense;
  /** Log std of a Gaussian policy (box actions), or null. */
  readonly logStd?: tf.Variable | null;
  /** GRU on the observation features (`recurrent: gru`), or null. */
  readonly gru?: Gru | null;
}

/**
 * An actor on the fused kernels: `head(fuseNorm(base(o) + cond(c)))` (algos/ppo/agents.ts
 * actorForward without a GRU), parameters in {@link ActorParts} variable order: base, cond,
 * fuseNorm, head.
 */
export class FActor {
  /** Observation MLP. */
  readonly base: FMlp;
  /** GRU after the observation MLP, or null. */
  readonly gru: FGru | null;
  /** Conditioning MLP, or null. */
  readonly cond: FMlp | null;
  /** Fusion norm, or null. */
  readonly fuseNorm: FNorm | null;
  /** Output layer. */
  readonly head: FDense;
  /** Log std `[A]` of a Gaussian policy, or null. */
  readonly logStd: Param | null;

  /**
   * Declares it in a group shaped like the tfjs actor.
   * @param group parameters (built by the caller)
   * @param a the tfjs actor
   */
  constructor(readonly group: ParamGroup, readonly a: ActorParts) {
    this.base = new FMlp(group, a.base);
    this.gru = a.gru ? new FGru(group, a.gru) : null;
    this.cond = a.cond ? new FMlp(group, a.cond) : null;
    this.fuseNorm = a.fuseNorm ? new FNorm(group, a.fuseNorm.g.shape[0]!) : null;
    this.head = new FDense(group, a.head.W.shape[0]!, a.head.W.shape[1]!);
    this.logStd = a.logStd ? group.add([a.logStd.size]) : null;
  }

  /**
   * @param a the tfjs actor
   * @returns its variables in the fused parameter order
   */
  static vars(a: ActorParts): tf.Variable[] {
    return [
      ...FMlp.vars(a.base),
      ...(a.gru ? FGru.vars(a.gru) : []),
      ...(a.cond ? FMlp.vars(a.cond) : []),
      ...(a.fuseNorm ? FNorm.vars(a.fuseNorm) : []),
      ...FDense.vars(a.head),
      ...(a.logStd ? [a.logStd] : []),
    ];
  }

  /**
   * @param obs `[M, obsIn]`
   * @param cond `[M, condIn]` (conditioned actors) or null
   * @param M rows
   * @param rec where the GRU starts (recurrent actors; rows are L steps of M / L sequences)
   * @returns the tape; `y [M, A]` the head's output, `last` the GRU's final state or null
   */
  forward(obs: Buf, cond: Buf | null, M: number, rec: FRecurrence | null = null) {
    const tb = this.base.forward(obs, M);
    let h = tb.y;
    let tg: ReturnType<FGru["forward"]> | null = null;
    if (this.gru) { // x, h = GRU(base(o), h · mask), then LayerNorm (docs/bpta.md §2)
      if (!rec) throw new Error("a recurrent fused actor needs its GRU state");
      tg = this.gru.forward(h, rec);
      h = tg.y;
    }
    let tc: ReturnType<FMlp["forward"]> | null = null;
    let tn: ReturnType<FNorm["forward"]> | null = null;
    if (this.cond && cond) {
      tc = this.cond.forward(cond, M);
      const s = this.group.kern.scratch(M * this.base.outDim);
      const k = this.group.kern.k;
      k.axpby(1, h.ptr, 0, s.ptr, s.n);
      k.axpby(1, tc.y.ptr, 1, s.ptr, s.n);
      h = s;
      if (this.fuseNorm) {
        tn = this.fuseNorm.forward(h, M);
        h = tn.y;
      }
    }
    const th = this.head.forward(h, M);
    return { M, y: th.y, tb, tg, tc, tn, th, last: tg?.last ?? null };
  }

  /**
   * Adds the parameter gradients of `sum(dy * y)`.
   * @param t the forward tape
   * @param dy `[M, A]` (overwritten)
   * @param wantDcond whether to return the conditioning input's gradient
   * @param grads whether to add the parameter gradients (false: only dcond, through cond)
   * @returns `dcond [M, condIn]` or null
   */
  backward(
    t: ReturnType<FActor["forward"]>,
    dy: Buf,
    wantDcond: boolean,
    grads = true,
  ): Buf | null {
    let dh = this.head.backward(t.th, dy, true, grads)!;
    if (t.tn) dh = this.fuseNorm!.backward(t.tn, dh, grads);
    let dcond: Buf | null = null;
    if (t.tc) {
      const dc = grads ? this.group.kern.scratch(dh.n) : dh;
      if (grads) this.group.kern.k.axpby(1, dh.ptr, 0, dc.ptr, dh.n);
      dcond = this.cond!.backward(t.tc, dc, wantDcond, grads);
    }
    if (grads) {
      const db = t.tg ? this.gru!.backward(t.tg, dh, true)! : dh;
      this.base.backward(t.tb, db, false);
    }
    return dcond;
  }
}
