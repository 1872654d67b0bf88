/**
 * Transformer blocks over the agent axis, as the Multi-Agent Transformer uses them (Wen et al.,
 * NeurIPS 2022; the structure read from the authors' `ma_transformer.py`, written here anew):
 *
 * - attention: `softmax(q k^T / sqrt(d_h) + mask) v` per head, with `q = query Wq`, `k = key Wk`,
 *   `v = value Wv`, the heads side by side, then an output projection `Wo`; the causal mask lets
 *   position i attend to positions j <= i only;
 * - encoder block (post-LN): `x = LN1(x + attn(x, x, x))`, `x = LN2(x + mlp(x))`;
 * - decoder block: `x = LN1(x + attn1(x, x, x; causal))`, then the cross-attention whose queries
 *   are the encoder's representation, `x = LN2(rep + attn2(q = rep, k = x, v = x; causal))`, then
 *   `x = LN3(x + mlp(x))`;
 * - mlp: `Linear -> GELU -> Linear`, the width of the embedding.
 *
 * Tensors are `[B, L, D]` (batch, agents, embedding). Weights are orthogonal with zero biases, the
 * authors' gains (0.01 for attention and output layers, sqrt 2 before a GELU).
 *
 * @module
 */
import { tf } from "./deps.ts";
import type { Rng } from "./rng.ts";
import { type Dense, dense, layerNorm, makeDense, makeNorm, type Norm } from "./nets.ts";

/** Multi-head attention parameters. */
export interface Attention {
  /** Query projection `[D, D]`. */
  readonly q: Dense;
  /** Key projection `[D, D]`. */
  readonly k: Dense;
  /** Value projection `[D, D]`. */
  readonly v: Dense;
  /** Output projection `[D, D]`. */
  readonly o: Dense;
  /** Number of heads (divides D). */
  readonly heads: number;
}

/** An encoder block: attention and an MLP, each followed by a residual LayerNorm. */
export interface EncodeBlock {
  /** Self-attention over all positions. */
  readonly attn: Attention;
  /** LayerNorm after the attention's residual. */
  readonly ln1: Norm;
  /** LayerNorm after the MLP's residual. */
  readonly ln2: Norm;
  /** `Linear -> GELU -> Linear`. */
  readonly mlp: [Dense, Dense];
}

/** A decoder block: causal self-attention, causal cross-attention and an MLP. */
export interface DecodeBlock {
  /** Causal self-attention over the embedded actions. */
  readonly attn1: Attention;
  /** Causal cross-attention: queries from the encoder's representation, keys and values from attn1. */
  readonly attn2: Attention;
  /** LayerNorm after attn1's residual. */
  readonly ln1: Norm;
  /** LayerNorm after attn2's residual (on the representation). */
  readonly ln2: Norm;
  /** LayerNorm after the MLP's residual. */
  readonly ln3: Norm;
  /** `Linear -> GELU -> Linear`. */
  readonly mlp: [Dense, Dense];
}

/**
 * Creates attention parameters.
 * @param name variable name prefix
 * @param o embedding width, heads, rng
 * @returns the parameters
 */
export function makeAttention(
  name: string,
  o: { dim: number; heads: number; rng: Rng },
): Attention {
  if (o.dim % o.heads !== 0) {
    throw new Error(`attention: ${o.heads} heads do not divide the embedding width ${o.dim}`);
  }
  const d = (k: string) =>
    makeDense(`${name}/${k}`, { inDim: o.dim, outDim: o.dim, gain: 0.01, rng: o.rng });
  return { q: d("q"), k: d("k"), v: d("v"), o: d("o"), heads: o.heads };
}

/** GELU, the exact form `x Phi(x) = x (1 + erf(x / sqrt 2)) / 2` (PyTorch's default). */
export function gelu<T extends tf.Tensor>(x: T): T {
  return tf.tidy(() => tf.mul(tf.mul(x, 0.5), tf.add(1, tf.erf(tf.mul(x, Math.SQRT1_2)))) as T);
}

/** `[B, L, D] -> [B L, D] -> dense -> [B, L, out]`. */
function dense3(x: tf.Tensor3D, d: Dense): tf.Tensor3D {
  const [B, L, D] = x.shape;
  const y = dense(tf.reshape(x, [B * L, D]) as tf.Tensor2D, d);
  return tf.reshape(y, [B, L, y.shape[1]]) as tf.Tensor3D;
}

/** LayerNorm over the last axis of `[B, L, D]`. */
export function layerNorm3(x: tf.Tensor3D, p: Norm): tf.Tensor3D {
  const [B, L, D] = x.shape;
  return tf.reshape(layerNorm(tf.reshape(x, [B * L, D]) as tf.Tensor2D, p), [B, L, D]);
}

/**
 * `[L, L]` additive mask: 0 where position i may attend to j (j <= i), -1e9 elsewhere.
 * @param L sequence length
 * @returns the mask
 */
export function causalMask(L: number): tf.Tensor2D {
  const m = new Float32Array(L * L);
  for (let i = 0; i < L; i++) for (let j = i + 1; j < L; j++) m[i * L + j] = -1e9;
  return tf.tensor2d(m, [L, L]);
}

/**
 * Multi-head attention.
 * @param query `[B, L, D]`
 * @param key `[B, L, D]`
 * @param value `[B, L, D]`
 * @param p the parameters
 * @param causal whether position i sees only j <= i
 * @returns `[B, L, D]`
 */
export function attention(
  query: tf.Tensor3D,
  key: tf.Tensor3D,
  value: tf.Tensor3D,
  p: Attention,
  causal: boolean,
): tf.Tensor3D {
  return tf.tidy(() => {
    const [B, L, D] = query.shape;
    const h = p.heads, hs = D / h;
    // [B, L, D] -> [B, h, L, hs]
    const split = (x: tf.Tensor3D) => tf.transpose(tf.reshape(x, [B, L, h, hs]), [0, 2, 1, 3]);
    const q = split(dense3(query, p.q)), k = split(dense3(key, p.k)), v = split(dense3(value, p.v));
    let att = tf.mul(tf.matMul(q, k, false, true), 1 / Math.sqrt(hs)) as tf.Tensor4D; // [B,h,L,L]
    if (causal) att = tf.add(att, causalMask(L));
    const y = tf.matMul(tf.softmax(att, -1), v); // [B, h, L, hs]
    const joined = tf.reshape(tf.transpose(y, [0, 2, 1, 3]), [B, L, D]) as tf.Tensor3D;
    return dense3(joined, p.o);
  });
}

function makeMlp(name: string, dim: number, rng: Rng): [Dense, Dense] {
  return [
    makeDense(`${name}/0`, { inDim: dim, outDim: dim, gain: Math.SQRT2, rng }),
    makeDense(`${name}/1`, { inDim: dim, outDim: dim, gain: 0.01, rng }),
  ];
}

function mlp(x: tf.Tensor3D, m: [Dense, Dense]): tf.Tensor3D {
  return dense3(gelu(dense3(x, m[0])), m[1]);
}

/**
 * Creates an encoder block.
 * @param name variable name prefix
 * @param o embedding width, heads, rng
 * @returns the block
 */
export function makeEncodeBlock(
  name: string,
  o: { dim: number; heads: number; rng: Rng },
): EncodeBlock {
  return {
    attn: makeAttention(`${name}/attn`, o),
    ln1: makeNorm(`${name}/ln1`, o.dim),
    ln2: makeNorm(`${name}/ln2`, o.dim),
    mlp: makeMlp(`${name}/mlp`, o.dim, o.rng),
  };
}

/**
 * An encoder block: every agent attends to every agent.
 * @param x `[B, L, D]`
 * @param b the block
 * @returns `[B, L, D]`
 */
export function encodeBlock(x: tf.Tensor3D, b: EncodeBlock): tf.Tensor3D {
  return tf.tidy(() => {
    const a = layerNorm3(tf.add(x, attention(x, x, x, b.attn, false)), b.ln1); // LN1(x + attn)
    return layerNorm3(tf.add(a, mlp(a, b.mlp)), b.ln2); // LN2(x + mlp(x))
  });
}

/**
 * Creates a decoder block.
 * @param name variable name prefix
 * @param o embedding width, heads, rng
 * @returns the block
 */
export function makeDecodeBlock(
  name: string,
  o: { dim: number; heads: number; rng: Rng },
): DecodeBlock {
  return {
    attn1: makeAttention(`${name}/attn1`, o),
    attn2: makeAttention(`${name}/attn2`, o),
    ln1: makeNorm(`${name}/ln1`, o.dim),
    ln2: makeNorm(`${name}/ln2`, o.dim),
    ln3: makeNorm(`${name}/ln3`, o.dim),
    mlp: makeMlp(`${name}/mlp`, o.dim, o.rng),
  };
}

/**
 * A decoder block: position i sees the actions embedded at positions <= i and the encoder's
 * representation of the agents at positions <= i.
 * @param x `[B, L, D]` embedded (shifted) actions
 * @param rep `[B, L, D]` the encoder's representation
 * @param b the block
 * @returns `[B, L, D]`
 */
export function decodeBlock(x: tf.Tensor3D, rep: tf.Tensor3D, b: DecodeBlock): tf.Tensor3D {
  return tf.tidy(() => {
    const a = layerNorm3(tf.add(x, attention(x, x, x, b.attn1, true)), b.ln1);
    const c = layerNorm3(tf.add(rep, attention(rep, a, a, b.attn2, true)), b.ln2);
    return layerNorm3(tf.add(c, mlp(c, b.mlp)), b.ln3);
  });
}

/** @returns every variable of an attention */
export function attentionVars(p: Attention): tf.Variable[] {
  return [p.q, p.k, p.v, p.o].flatMap((d) => [d.W, d.b]);
}

/** @returns every variable of an encoder block */
export function encodeBlockVars(b: EncodeBlock): tf.Variable[] {
  return [
    ...attentionVars(b.attn),
    ...[b.ln1, b.ln2].flatMap((n) => [n.g, n.b]),
    ...b.mlp.flatMap((d) => [d.W, d.b]),
  ];
}

/** @returns every variable of a decoder block */
export function decodeBlockVars(b: DecodeBlock): tf.Variable[] {
  return [
    ...attentionVars(b.attn1),
    ...attentionVars(b.attn2),
    ...[b.ln1, b.ln2, b.ln3].flatMap((n) => [n.g, n.b]),
    ...b.mlp.flatMap((d) => [d.W, d.b]),
  ];
}
