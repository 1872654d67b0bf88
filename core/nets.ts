/**
 * Per-agent networks. Each agent owns its parameters (no sharing, as in the BPTA reference);
 * forward passes loop over agents with 2-D matmuls because tfjs-wasm's batched matmul is
 * ~10x slower than XNNPACK's 2-D one (measured, see docs/architecture.md). Dense layers use a custom
 * gradient on wasm, where autodiff's transposed matmul is 8-10x slow (toolchain P5).
 *
 * @module
 */
import { tf } from "./deps.ts";
import type { Rng } from "./rng.ts";

/** Activation of hidden layers. */
export type Activation = "relu" | "tanh";

/** A dense layer's variables. */
export interface Dense {
  /** Weights `[in, out]`. */
  readonly W: tf.Variable;
  /** Bias `[out]` (dense) or shift (LayerNorm). */
  readonly b: tf.Variable;
}

/**
 * Orthogonal matrix `[rows, cols]` times gain (Gram-Schmidt on a Gaussian draw).
 * @param rng random source
 * @param shape rows, cols and gain
 * @returns row-major values
 */
export function orthogonal(
  rng: Rng,
  shape: { rows: number; cols: number; gain: number },
): Float32Array {
  const { rows, cols, gain } = shape;
  const big = Math.max(rows, cols), small = Math.min(rows, cols);
  // small orthonormal vectors of length big
  const q: Float64Array[] = [];
  for (let k = 0; k < small; k++) {
    let v = Float64Array.from({ length: big }, () => rng.normal());
    for (let rep = 0; rep < 2; rep++) {
      for (const u of q) {
        let d = 0;
        for (let j = 0; j < big; j++) d += u[j]! * v[j]!;
        for (let j = 0; j < big; j++) v[j]! -= d * u[j]!;
      }
    }
    let norm = 0;
    for (let j = 0; j < big; j++) norm += v[j]! * v[j]!;
    norm = Math.sqrt(norm) || 1;
    v = v.map((x) => x / norm);
    q.push(v);
  }
  const out = new Float32Array(rows * cols);
  for (let r = 0; r < rows; r++) {
    for (let c = 0; c < cols; c++) {
      out[r * cols + c] = gain * (rows >= cols ? q[c]![r]! : q[r]![c]!);
    }
  }
  return out;
}

/**
 * A variable holding `init`'s values, with `init` itself disposed: `tf.variable` shares the
 * initial tensor's data and leaves that tensor alive, so a variable made from a temporary kept
 * the temporary (and its memory) after the variable was disposed.
 * @param init the initial values (disposed here)
 * @param trainable whether gradients flow to it
 * @param name its name
 * @returns the variable
 */
export function variableOf(init: tf.Tensor, trainable = true, name?: string): tf.Variable {
  const v = tf.variable(init, trainable, name);
  init.dispose();
  return v;
}

/**
 * Creates a dense layer with orthogonal weights and zero bias.
 * @param name variable name prefix
 * @param opts sizes, gain and rng
 * @returns the layer
 */
export function makeDense(
  name: string,
  opts: { inDim: number; outDim: number; gain: number; rng: Rng },
): Dense {
  const { inDim, outDim, gain, rng } = opts;
  return {
    W: variableOf(
      tf.tensor2d(orthogonal(rng, { rows: inDim, cols: outDim, gain }), [inDim, outDim]),
      true,
      `${name}/W`,
    ),
    b: variableOf(tf.zeros([outDim]), true, `${name}/b`),
  };
}

// On wasm: one fused kernel for x W + b (and the ReLU), XNNPACK's fully-connected operator, and
// a hand-written gradient with explicit transposes (autodiff's transposed matMul is 8-10x slow
// there, toolchain P5); each small kernel saved is ~20 us of fixed overhead. tfjs-wasm packs the
// second matMul operand for XNNPACK on every call with a new tensor (~6 ns a float), so the
// weight gradient packs the narrower of x [B, in] and dz [B, out]: at B = 10,000 and in = 2 that
// is 0.7 ms against 3.7 ms.
const denseFused = (activation: "linear" | "relu") =>
  tf.customGrad((x: any, W: any, b: any, save: any) => {
    const out = tf.fused.matMul({ a: x, b: W, bias: b, activation });
    save([x, W, out]);
    return {
      value: out,
      gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) => {
        const [xs, Ws, outs] = saved as [tf.Tensor2D, tf.Tensor2D, tf.Tensor2D];
        const dz = (activation === "relu" ? tf.mul(dy, tf.step(outs)) : dy) as tf.Tensor2D;
        return [
          tf.matMul(dz, tf.transpose(Ws)),
          xs.shape[1] < dz.shape[1]
            ? tf.transpose(tf.matMul(tf.transpose(dz), xs)) // (dz^T x)^T packs x
            : tf.matMul(tf.transpose(xs), dz), // x^T dz packs dz
          tf.sum(dz, 0),
        ];
      },
    };
  }) as unknown as (x: tf.Tensor2D, W: tf.Tensor2D, b: tf.Tensor1D) => tf.Tensor2D;
const denseLinear = denseFused("linear"), denseRelu = denseFused("relu");

/**
 * `x W + b`, with a fused kernel and the fast custom gradient on wasm.
 * @param x `[B, in]`
 * @param d the layer
 * @param activation `relu` applies the ReLU in the same kernel (default: none)
 * @returns `[B, out]`
 */
export function dense(x: tf.Tensor2D, d: Dense, activation?: "relu"): tf.Tensor2D {
  if (tf.getBackend() === "wasm") {
    return (activation ? denseRelu : denseLinear)(x, d.W as tf.Tensor2D, d.b as tf.Tensor1D);
  }
  const z = tf.add(tf.matMul(x, d.W as tf.Tensor2D), d.b) as tf.Tensor2D;
  return activation ? tf.relu(z) : z;
}

/** Learnable gain and bias of a LayerNorm (PyTorch's elementwise affine, init 1 and 0). */
export interface Norm {
  /** LayerNorm gain. */
  readonly g: tf.Variable;
  /** Bias `[out]` (dense) or shift (LayerNorm). */
  readonly b: tf.Variable;
}

/**
 * Creates LayerNorm parameters.
 * @param name variable name prefix
 * @param dim feature size
 * @returns the parameters
 */
export function makeNorm(name: string, dim: number): Norm {
  return {
    g: variableOf(tf.ones([dim]), true, `${name}/g`),
    b: variableOf(tf.zeros([dim]), true, `${name}/b`),
  };
}

// LayerNorm with its gradient written out: autodiff of the forward ops (moments, broadcasts)
// takes ~3x the kernels, and on wasm each small kernel costs ~20 us of fixed overhead. With
// y = (x - mean) / s, s = sqrt(var + eps), and dyg = dy * g:
// dx = (dyg - mean(dyg) - y * mean(dyg * y)) / s, dg = sum_rows(dy * y), db = sum_rows(dy).
const layerNormAffine = tf.customGrad((x: any, g: any, b: any, save: any) => {
  const mean = tf.mean(x, -1, true);
  const xc = tf.sub(x, mean);
  const s = tf.sqrt(tf.add(tf.mean(tf.square(xc), -1, true), 1e-5));
  const y = tf.div(xc, s);
  save([y, s, g]);
  return {
    value: tf.add(tf.mul(y, g), b),
    gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) => {
      const [ys, ss, gs] = saved as [tf.Tensor2D, tf.Tensor2D, tf.Tensor1D];
      const dyg = tf.mul(dy, gs);
      const inner = tf.sub(
        tf.sub(dyg, tf.mean(dyg, -1, true)),
        tf.mul(ys, tf.mean(tf.mul(dyg, ys), -1, true)),
      );
      return [tf.div(inner, ss), tf.sum(tf.mul(dy, ys), 0), tf.sum(dy, 0)];
    },
  };
}) as unknown as (x: tf.Tensor2D, g: tf.Tensor1D, b: tf.Tensor1D) => tf.Tensor2D;

/**
 * Layer normalisation over the last axis, with an optional affine transform. The affine form has
 * a hand-written gradient (fewer kernels; checked against autodiff in tests/math_test.ts).
 * @param x `[B, d]`
 * @param p gain and bias, or none
 * @returns normalised x
 */
export function layerNorm(x: tf.Tensor2D, p?: Norm): tf.Tensor2D {
  if (p) return layerNormAffine(x, p.g as tf.Tensor1D, p.b as tf.Tensor1D);
  const { mean, variance } = tf.moments(x, -1, true);
  return tf.div(tf.sub(x, mean), tf.sqrt(tf.add(variance, 1e-5))) as tf.Tensor2D;
}

/** An MLP feature extractor: LN(input) → [Linear + act + LN] × layers. */
export interface MlpBase {
  /** Hidden dense layers. */
  readonly layers: Dense[];
  /** The input norm (when `inputNorm`), then one per layer (when `featureNorm`). */
  readonly norms: Norm[];
  /** Hidden activation. */
  readonly activation: Activation;
  /** Whether hidden features are LayerNorm'd. */
  readonly featureNorm: boolean;
  /** Whether the input is LayerNorm'd. */
  readonly inputNorm: boolean;
}

/**
 * Creates an MLP base.
 * @param name variable name prefix
 * @param opts sizes, activation, rng; `inputNorm` (default `featureNorm`): LayerNorm the input
 * @returns the base
 */
export function makeMlpBase(
  name: string,
  opts: {
    inDim: number;
    hidden: number;
    layers: number;
    activation: Activation;
    featureNorm: boolean;
    inputNorm?: boolean;
    rng: Rng;
  },
): MlpBase {
  const gain = opts.activation === "relu" ? Math.SQRT2 : 5 / 3;
  const layers: Dense[] = [];
  for (let l = 0; l < opts.layers; l++) {
    layers.push(makeDense(`${name}/${l}`, {
      inDim: l === 0 ? opts.inDim : opts.hidden,
      outDim: opts.hidden,
      gain,
      rng: opts.rng,
    }));
  }
  const inputNorm = opts.inputNorm ?? opts.featureNorm;
  const norms = [
    ...(inputNorm ? [makeNorm(`${name}/norm_in`, opts.inDim)] : []),
    ...(opts.featureNorm ? layers.map((_, l) => makeNorm(`${name}/norm${l}`, opts.hidden)) : []),
  ];
  return { layers, norms, activation: opts.activation, featureNorm: opts.featureNorm, inputNorm };
}

/**
 * Applies an MLP base.
 * @param x `[B, in]`
 * @param m the base
 * @returns `[B, hidden]`
 */
export function mlpBase(x: tf.Tensor2D, m: MlpBase): tf.Tensor2D {
  let k = 0;
  let h = m.inputNorm ? layerNorm(x, m.norms[k++]) : x;
  m.layers.forEach((d) => {
    h = m.activation === "relu" ? dense(h, d, "relu") : tf.tanh(dense(h, d));
    if (m.featureNorm) h = layerNorm(h, m.norms[k++]);
  });
  return h;
}

/** @returns every variable of an MLP base */
export function mlpVars(m: MlpBase): tf.Variable[] {
  return [...m.layers.flatMap((d) => [d.W, d.b]), ...m.norms.flatMap((p) => [p.g, p.b])];
}

/**
 * Sum of tensors of one shape by pairwise `tf.add`. Use instead of `tf.addN`: tfjs-webgpu
 * 4.22's addN silently adds only the first 6 inputs (seen on Deno's llvmpipe adapter: ten
 * ones summed to 6; tested in tests/_webgpu_checks.ts).
 * @param ts the tensors (at least one)
 * @returns their sum
 */
export function addAll<T extends tf.Tensor>(ts: T[]): T {
  if (!ts.length) throw new Error("addAll needs at least one tensor");
  let level: tf.Tensor[] = ts;
  while (level.length > 1) {
    const next: tf.Tensor[] = [];
    for (let i = 0; i < level.length; i += 2) {
      next.push(i + 1 < level.length ? tf.add(level[i]!, level[i + 1]!) : level[i]!);
    }
    level = next;
  }
  return level[0] as T;
}

const stopGradient = tf.customGrad((x: any) => ({
  value: tf.clone(x),
  gradFunc: (dy: tf.Tensor) => tf.zerosLike(dy),
})) as unknown as <T extends tf.Tensor>(x: T) => T;

/**
 * `sg(x)`: the value of x with no gradient (tfjs has no built-in stop-gradient).
 * @param x a tensor
 * @returns the same values, constant for autodiff
 */
export function sg<T extends tf.Tensor>(x: T): T {
  return stopGradient(x);
}

/** A GRU layer (PyTorch's gates: reset, update, new) with an optional output LayerNorm. */
export interface Gru {
  /** Input weights `[in, H]` and bias `[H]` of each gate, r, z, n (`W_i*`, `b_i*`). */
  readonly x: readonly [Dense, Dense, Dense];
  /** Recurrent weights `[H, H]` and bias `[H]` of each gate, r, z, n (`W_h*`, `b_h*`). */
  readonly h: readonly [Dense, Dense, Dense];
  /** LayerNorm of the output features (the reference's `RNNLayer.norm`), or null. */
  readonly norm: Norm | null;
  /** Hidden size H. */
  readonly H: number;
}

/**
 * Creates a GRU layer as the BPTA reference's `RNNLayer` does: orthogonal weights (gain 1, over
 * each of the whole `[in, 3H]` and `[H, 3H]` matrices, as PyTorch's `orthogonal_` on
 * `weight_ih`/`weight_hh`), zero biases, LayerNorm on the output when `featureNorm`. Each gate's
 * columns are their own variables, so no step slices a wider tensor.
 * @param name variable name prefix
 * @param opts input size, hidden size, output norm, rng
 * @returns the layer
 */
export function makeGru(
  name: string,
  opts: { inDim: number; hidden: number; featureNorm: boolean; rng: Rng },
): Gru {
  const H = opts.hidden;
  const gates = (side: "x" | "h", inDim: number) => {
    const W = orthogonal(opts.rng, { rows: inDim, cols: 3 * H, gain: 1 });
    return (["r", "z", "n"] as const).map((gate, k) => {
      const Wk = new Float32Array(inDim * H);
      for (let i = 0; i < inDim; i++) {
        Wk.set(W.subarray(i * 3 * H + k * H, i * 3 * H + (k + 1) * H), i * H);
      }
      return {
        W: variableOf(tf.tensor2d(Wk, [inDim, H]), true, `${name}/${side}_${gate}/W`),
        b: variableOf(tf.zeros([H]), true, `${name}/${side}_${gate}/b`),
      };
    }) as unknown as [Dense, Dense, Dense];
  };
  return {
    x: gates("x", opts.inDim),
    h: gates("h", H),
    norm: opts.featureNorm ? makeNorm(`${name}/norm`, H) : null,
    H,
  };
}

/** @returns every variable of a GRU layer */
export function gruVars(g: Gru): tf.Variable[] {
  return [
    ...g.x.flatMap((d) => [d.W, d.b]),
    ...g.h.flatMap((d) => [d.W, d.b]),
    ...(g.norm ? [g.norm.g, g.norm.b] : []),
  ];
}

/**
 * One GRU step with plain autodiff ops: `r = σ(x W_ir + b_ir + h W_hr + b_hr)`,
 * `z = σ(x W_iz + b_iz + h W_hz + b_hz)`, `n = tanh(x W_in + b_in + r ⊙ (h W_hn + b_hn))`,
 * `h' = (1 - z) ⊙ n + z ⊙ h` (Cho et al. 2014; PyTorch's `nn.GRU`). The reference that
 * {@link gruSeq}'s hand-written gradient is tested against.
 * @param x `[B, in]` input
 * @param h `[B, H]` previous state
 * @param g the layer
 * @returns `[B, H]` the next state
 */
export function gruCell(x: tf.Tensor2D, h: tf.Tensor2D, g: Gru): tf.Tensor2D {
  const lin = (v: tf.Tensor2D, d: Dense) => tf.add(tf.matMul(v, d.W as tf.Tensor2D), d.b);
  const r = tf.sigmoid(tf.add(lin(x, g.x[0]), lin(h, g.h[0]))); // reset gate
  const z = tf.sigmoid(tf.add(lin(x, g.x[1]), lin(h, g.h[1]))); // update gate
  const n = tf.tanh(tf.add(lin(x, g.x[2]), tf.mul(r, lin(h, g.h[2])))); // candidate
  return tf.add(n, tf.mul(z, tf.sub(h, n))) as tf.Tensor2D; // (1 - z) n + z h
}

let scratch = new Float32Array(0);

/**
 * Rows `start .. start + rows - 1` of a 2-D tensor, as a new tensor (no gradient: for use inside
 * hand-written ops). On wasm, tfjs's slice kernel first copies the *whole* input out of the heap
 * into a fresh JS buffer (`readSync`), which made slicing one step out of a `[L C, 3H]` tensor
 * cost 0.5-3 ms; here the rows are copied from a view of the heap into a reused buffer and
 * uploaded (~10 us for 320 x 64).
 * @param t `[R, w]`
 * @param start first row
 * @param rows number of rows
 * @returns `[rows, w]`
 */
export function rowSlice(t: tf.Tensor2D, start: number, rows: number): tf.Tensor2D {
  const w = t.shape[1];
  const b = tf.backend() as unknown as {
    typedArrayFromHeap?: (x: { shape: number[]; dtype: string; dataId: unknown }) => Float32Array;
  };
  if (tf.getBackend() === "wasm" && t.dtype === "float32" && b.typedArrayFromHeap) {
    const heap = b.typedArrayFromHeap({ shape: t.shape, dtype: t.dtype, dataId: t.dataId });
    if (scratch.length < rows * w) scratch = new Float32Array(rows * w);
    const part = scratch.subarray(0, rows * w);
    part.set(heap.subarray(start * w, (start + rows) * w)); // the heap view is read before any malloc
    return tf.tensor2d(part, [rows, w]); // copied into the heap now; the scratch is free again
  }
  return tf.slice(t, [start, 0], [rows, w]);
}

// The recurrence of gruSeq over L steps as one op with its gradient written out (back-propagation
// through time). Autodiff of the step ops costs ~2x the kernels, and on wasm each small kernel is
// ~20 us of fixed overhead; here the backward pass does one matmul per step (dgh W_h^T) and a single
// weight-gradient matmul over all L steps. Each gate has its own input projection and recurrent
// matmul, so no step slices columns out of a wider tensor (see rowSlice for why that is slow).
// With u = h_prev · keep, gh_k = u W_hk + b_hk (k = r, z, n), r = σ(gx_r + gh_r),
// z = σ(gx_z + gh_z), n = tanh(gx_n + r gh_n), h = n + z (u - n):
// dn = dh (1 - z), dz = dh (u - n), da_n = dn (1 - n²), da_r = da_n gh_n r (1 - r),
// da_z = dz z (1 - z), dgh_n = da_n r, du = dh z + [da_r, da_z, dgh_n] W_h^T, dh_prev = du · keep.
// tanh(x) = 2 σ(2x) - 1: tfjs-wasm's tanh is a scalar loop (~300 us on 320 x 64), its sigmoid
// XNNPACK's vectorised one (~25 us)
const fastTanh = (x: tf.Tensor) => tf.sub(tf.mul(2, tf.sigmoid(tf.mul(2, x))), 1);
const gruScans = new Map<number, (...x: tf.Tensor[]) => tf.Tensor2D>();
function gruScan(L: number): (...x: tf.Tensor[]) => tf.Tensor2D {
  let f = gruScans.get(L);
  if (!f) {
    // inputs: gx_r, gx_z, gx_n [L C, H]; h0 [C, H]; keep [L C, 1]; W_hr, W_hz, W_hn; b_hr, b_hz, b_hn
    f = tf.customGrad((...args: any[]) => {
      const save = args.pop();
      const [gxr, gxz, gxn, h0, keep, Wr, Wz, Wn, br, bz, bn] = args as tf.Tensor2D[];
      const C = h0!.shape[0];
      const steps = (t: tf.Tensor2D) =>
        L === 1 ? [t] : Array.from({ length: L }, (_, l) => rowSlice(t, l * C, C));
      const [xr, xz, xn, keeps] = [gxr!, gxz!, gxn!, keep!].map(steps);
      const mm = (a: tf.Tensor2D, W: tf.Tensor2D, b: tf.Tensor) =>
        tf.getBackend() === "wasm"
          ? tf.fused.matMul({ a, b: W, bias: b })
          : tf.add(tf.matMul(a, W), b) as tf.Tensor2D;
      const u: tf.Tensor[] = [], r: tf.Tensor[] = [], z: tf.Tensor[] = [];
      const n: tf.Tensor[] = [], hn: tf.Tensor[] = [], outs: tf.Tensor[] = [];
      let h = h0!;
      for (let l = 0; l < L; l++) {
        const ul = tf.mul(h, keeps![l]!) as tf.Tensor2D; // h · mask
        const rl = tf.sigmoid(tf.add(xr![l]!, mm(ul, Wr!, br!))); // reset gate
        const zl = tf.sigmoid(tf.add(xz![l]!, mm(ul, Wz!, bz!))); // update gate
        const hnl = mm(ul, Wn!, bn!);
        const nl = fastTanh(tf.add(xn![l]!, tf.mul(rl, hnl))); // candidate
        h = tf.add(nl, tf.mul(zl, tf.sub(ul, nl))) as tf.Tensor2D; // (1 - z) n + z u
        u.push(ul), r.push(rl), z.push(zl), n.push(nl), hn.push(hnl), outs.push(h);
      }
      save([Wr, Wz, Wn, keep, ...u, ...r, ...z, ...n, ...hn]);
      return {
        value: L === 1 ? outs[0]! : tf.concat(outs, 0),
        gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) => {
          const [Ws, ks] = [saved.slice(0, 3) as tf.Tensor2D[], saved[3] as tf.Tensor2D];
          const at = (k: number, l: number) => saved[4 + k * L + l] as tf.Tensor2D;
          const WT = Ws.map((W) => tf.transpose(W));
          const dys = steps(dy as tf.Tensor2D), kl = steps(ks);
          const dr: tf.Tensor[] = Array(L), dz: tf.Tensor[] = Array(L), dn: tf.Tensor[] = Array(L);
          const dhn: tf.Tensor[] = Array(L);
          let dh: tf.Tensor2D | null = null;
          for (let l = L - 1; l >= 0; l--) {
            const [ul, rl, zl, nl, hnl] = [0, 1, 2, 3, 4].map((k) => at(k, l)) as tf.Tensor2D[];
            const d = dh ? tf.add(dys[l]!, dh) : dys[l]!;
            const oneMinusZ = tf.sub(1, zl!);
            const dan = tf.mul(tf.mul(d, oneMinusZ), tf.sub(1, tf.square(nl!))); // dn (1 - n²)
            const dar = tf.mul(tf.mul(dan, hnl!), tf.mul(rl!, tf.sub(1, rl!))); // dr r (1 - r)
            const daz = tf.mul(tf.mul(d, tf.sub(ul!, nl!)), tf.mul(zl!, oneMinusZ)); // dz z (1 - z)
            dr[l] = dar, dz[l] = daz, dn[l] = dan, dhn[l] = tf.mul(dan, rl!);
            const du = addAll([
              tf.mul(d, zl!),
              tf.matMul(dar, WT[0]!),
              tf.matMul(daz, WT[1]!),
              tf.matMul(dhn[l]!, WT[2]!),
            ]);
            dh = tf.mul(du, kl[l]!) as tf.Tensor2D;
          }
          const rows = (ts: tf.Tensor[]) => (L === 1 ? ts[0]! : tf.concat(ts, 0)) as tf.Tensor2D;
          const U = rows(saved.slice(4, 4 + L));
          const dgh = [rows(dr), rows(dz), rows(dhn)];
          const UT = tf.transpose(U);
          return [
            dgh[0]!,
            dgh[1]!,
            rows(dn),
            dh!,
            tf.zerosLike(ks),
            ...dgh.map((g) => tf.matMul(UT, g)), // dW_hk = U^T dgh_k over all L steps at once
            ...dgh.map((g) => tf.sum(g, 0)),
          ];
        },
      };
    }) as unknown as (...x: tf.Tensor[]) => tf.Tensor2D;
    gruScans.set(L, f);
  }
  return f;
}

/**
 * A GRU over `L` steps of `C` sequences, rows time-major (`row = l C + c`): the state starts at
 * `h0` and is zeroed before each step whose `keep` is 0 (an episode's first step), as the
 * reference multiplies `h` by its masks. The input projection of all `L C` rows is one matmul
 * per gate; the recurrence is one op with a hand-written backward pass.
 * @param x `[L C, in]` inputs
 * @param h0 `[C, H]` the state before the first step
 * @param keep `[L C]` 0 where the state resets before that step, else 1 (null: never resets)
 * @param L steps
 * @param g the layer
 * @returns `out [L C, H]` the per-step outputs (LayerNorm'd when the layer has a norm) and
 *   `last [C, H]` the state after the last step (for acting: with L > 1 it carries no gradient)
 */
export function gruSeq(
  x: tf.Tensor2D,
  h0: tf.Tensor2D,
  keep: tf.Tensor1D | null,
  L: number,
  g: Gru,
): { out: tf.Tensor2D; last: tf.Tensor2D } {
  const C = h0.shape[0];
  if (x.shape[0] !== L * C) throw new Error(`gruSeq: ${x.shape[0]} rows are not ${L} x ${C}`);
  const gx = g.x.map((d) => dense(x, d)); // x W_ik + b_ik, all L C rows at once, per gate
  const k = keep ? tf.reshape(keep, [L * C, 1]) as tf.Tensor2D : tf.ones([L * C, 1]) as tf.Tensor2D;
  const seq = gruScan(L)(...gx, h0, k, ...g.h.map((d) => d.W), ...g.h.map((d) => d.b));
  const h = L === 1 ? seq : rowSlice(seq, (L - 1) * C, C);
  return { out: g.norm ? layerNorm(seq, g.norm) : seq, last: h };
}
