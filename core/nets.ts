/**
 * Per-agent networks. Each agent owns its parameters (no sharing, as in the BPTA reference);
 * forward passes loop over agents with 2-D matmuls because tfjs-wasm's batched matmul is
 * ~10x slower than XNNPACK's 2-D one (measured, see design.md). Dense layers use a custom
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
  readonly W: tf.Variable;
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
    W: tf.variable(
      tf.tensor2d(orthogonal(rng, { rows: inDim, cols: outDim, gain }), [inDim, outDim]),
      true,
      `${name}/W`,
    ),
    b: tf.variable(tf.zeros([outDim]), true, `${name}/b`),
  };
}

const denseCustom = tf.customGrad((x: any, W: any, b: any, save: any) => {
  save([x, W]);
  return {
    value: tf.add(tf.matMul(x, W), b),
    gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) => {
      const [xs, Ws] = saved as [tf.Tensor2D, tf.Tensor2D];
      return [
        tf.matMul(dy as tf.Tensor2D, tf.transpose(Ws)),
        tf.matMul(tf.transpose(xs), dy as tf.Tensor2D),
        tf.sum(dy, 0),
      ];
    },
  };
}) as unknown as (x: tf.Tensor2D, W: tf.Tensor2D, b: tf.Tensor1D) => tf.Tensor2D;

/**
 * `x W + b`, with the fast custom gradient on wasm.
 * @param x `[B, in]`
 * @param d the layer
 * @returns `[B, out]`
 */
export function dense(x: tf.Tensor2D, d: Dense): tf.Tensor2D {
  if (tf.getBackend() === "wasm") return denseCustom(x, d.W as tf.Tensor2D, d.b as tf.Tensor1D);
  return tf.add(tf.matMul(x, d.W as tf.Tensor2D), d.b);
}

/** Learnable gain and bias of a LayerNorm (PyTorch's elementwise affine, init 1 and 0). */
export interface Norm {
  readonly g: tf.Variable;
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
    g: tf.variable(tf.ones([dim]), true, `${name}/g`),
    b: tf.variable(tf.zeros([dim]), true, `${name}/b`),
  };
}

/**
 * Layer normalisation over the last axis, with an optional affine transform.
 * @param x `[B, d]`
 * @param p gain and bias, or none
 * @returns normalised x
 */
export function layerNorm(x: tf.Tensor2D, p?: Norm): tf.Tensor2D {
  const { mean, variance } = tf.moments(x, -1, true);
  const y = tf.div(tf.sub(x, mean), tf.sqrt(tf.add(variance, 1e-5))) as tf.Tensor2D;
  return p ? tf.add(tf.mul(y, p.g), p.b) : y;
}

/** An MLP feature extractor: LN(input) → [Linear + act + LN] × layers. */
export interface MlpBase {
  readonly layers: Dense[];
  /** Input norm then one per layer (empty when featureNorm is off). */
  readonly norms: Norm[];
  readonly activation: Activation;
  readonly featureNorm: boolean;
}

/**
 * Creates an MLP base.
 * @param name variable name prefix
 * @param opts sizes, activation, rng
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
  const norms = opts.featureNorm
    ? [
      makeNorm(`${name}/norm_in`, opts.inDim),
      ...layers.map((_, l) => makeNorm(`${name}/norm${l}`, opts.hidden)),
    ]
    : [];
  return { layers, norms, activation: opts.activation, featureNorm: opts.featureNorm };
}

/**
 * Applies an MLP base.
 * @param x `[B, in]`
 * @param m the base
 * @returns `[B, hidden]`
 */
export function mlpBase(x: tf.Tensor2D, m: MlpBase): tf.Tensor2D {
  let h = m.featureNorm ? layerNorm(x, m.norms[0]) : x;
  m.layers.forEach((d, l) => {
    const z = dense(h, d);
    h = m.activation === "relu" ? tf.relu(z) : tf.tanh(z);
    if (m.featureNorm) h = layerNorm(h, m.norms[l + 1]);
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
 * ones summed to 6; tested in tests/webgpu_test.ts).
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
