/**
 * The Multi-Agent Transformer's networks (Wen et al., NeurIPS 2022), for `--algo mat` (issue 31;
 * the algorithm around them lands separately):
 *
 * - encoder: `e = GELU(LN(o) W_o)` per agent, `rep = blocks(LN(e))` (every agent attends to every
 *   agent), value `V_i = head(rep_i)` with `head = Linear -> GELU -> LN -> Linear(1)`;
 * - decoder: the shifted joint action `s` (position 0 a start token, position i the action of
 *   agent i - 1), `x = LN(GELU(s W_a))`, then decoder blocks with causal self-attention and causal
 *   cross-attention to `rep`, then `head` to agent i's logits (discrete) or mean (continuous).
 *
 * Because every attention is causal, agent i's output depends on `rep_0..rep_i` and the actions of
 * agents `0..i-1` only: the whole decoder runs in one teacher-forced pass for training and one
 * pass per agent when acting (tests/mat_test.ts checks both agree).
 *
 * @module
 */
import { tf } from "../../core/deps.ts";
import type { Rng } from "../../core/rng.ts";
import type { EnvSpec } from "../../core/vec_env.ts";
import { actionVecDim } from "../../core/spaces.ts";
import {
  type Dense,
  dense,
  layerNorm,
  makeDense,
  makeNorm,
  type Norm,
  variableOf,
} from "../../core/nets.ts";
import {
  type DecodeBlock,
  decodeBlock,
  decodeBlockVars,
  type EncodeBlock,
  encodeBlock,
  encodeBlockVars,
  gelu,
  layerNorm3,
  makeDecodeBlock,
  makeEncodeBlock,
} from "../../core/transformer.ts";

/** Sizes of the networks (the paper's defaults per benchmark are in algos/mat.ts's options). */
export interface MatSizes {
  /** Encoder and decoder blocks each. */
  readonly blocks: number;
  /** Attention heads (divide `embed`). */
  readonly heads: number;
  /** Embedding width. */
  readonly embed: number;
  /** LayerNorm the observations before their embedding (the authors' encoder does). */
  readonly obsNorm?: boolean;
}

/** `Linear -> GELU -> LN -> Linear(out)`, the authors' value and action heads. */
export interface MatHead {
  /** `Linear(embed, embed)`, followed by GELU. */
  readonly a: Dense;
  /** LayerNorm after the GELU. */
  readonly norm: Norm;
  /** `Linear(embed, out)`. */
  readonly b: Dense;
}

function makeHead(name: string, embed: number, out: number, rng: Rng): MatHead {
  return {
    a: makeDense(`${name}/a`, { inDim: embed, outDim: embed, gain: Math.SQRT2, rng }),
    norm: makeNorm(`${name}/norm`, embed),
    b: makeDense(`${name}/b`, { inDim: embed, outDim: out, gain: 0.01, rng }),
  };
}

function head3(x: tf.Tensor3D, h: MatHead): tf.Tensor3D {
  const [B, L, D] = x.shape;
  const flat = tf.reshape(x, [B * L, D]) as tf.Tensor2D;
  const y = dense(layerNorm(gelu(dense(flat, h.a)), h.norm), h.b);
  return tf.reshape(y, [B, L, y.shape[1]]) as tf.Tensor3D;
}

/** The MAT encoder and decoder of one env spec. */
export class MatModel {
  /** Agents n. */
  readonly n: number;
  /** Action vector width A (actions for discrete, dimensions for box). */
  readonly A: number;
  /** Whether actions are discrete. */
  readonly discrete: boolean;
  /** Width of a shifted-action slot: A + 1 (a start flag) for discrete, A for box. */
  readonly slot: number;
  readonly #obsNorm: Norm | null;
  readonly #obsEmbed: Dense;
  readonly #encNorm: Norm;
  readonly #enc: EncodeBlock[];
  readonly #value: MatHead;
  readonly #actEmbed: Dense;
  readonly #decNorm: Norm;
  readonly #dec: DecodeBlock[];
  readonly #head: MatHead;
  /** Gaussian policies: the state-independent log standard deviation `[A]`. */
  readonly logStd: tf.Variable | null;

  /**
   * Creates the networks.
   * @param spec the env spec
   * @param o sizes, the initial log std of Gaussian policies, an rng for the weights
   */
  constructor(spec: EnvSpec, o: MatSizes & { logStdInit: number; rng: Rng; name?: string }) {
    const name = o.name ?? "mat", E = o.embed, rng = o.rng;
    this.n = spec.numAgents;
    this.A = actionVecDim(spec.actionSpace);
    this.discrete = spec.actionSpace.kind === "discrete";
    this.slot = this.discrete ? this.A + 1 : this.A;
    this.#obsNorm = o.obsNorm ?? true ? makeNorm(`${name}/enc/obs_norm`, spec.obsDim) : null;
    this.#obsEmbed = makeDense(`${name}/enc/obs_embed`, {
      inDim: spec.obsDim,
      outDim: E,
      gain: Math.SQRT2,
      rng,
    });
    this.#encNorm = makeNorm(`${name}/enc/norm`, E);
    this.#enc = Array.from(
      { length: o.blocks },
      (_, b) => makeEncodeBlock(`${name}/enc/block${b}`, { dim: E, heads: o.heads, rng }),
    );
    this.#value = makeHead(`${name}/enc/value`, E, 1, rng);
    this.#actEmbed = makeDense(`${name}/dec/act_embed`, {
      inDim: this.slot,
      outDim: E,
      gain: Math.SQRT2,
      rng,
    });
    this.#decNorm = makeNorm(`${name}/dec/norm`, E);
    this.#dec = Array.from(
      { length: o.blocks },
      (_, b) => makeDecodeBlock(`${name}/dec/block${b}`, { dim: E, heads: o.heads, rng }),
    );
    this.#head = makeHead(`${name}/dec/head`, E, this.A, rng);
    this.logStd = this.discrete
      ? null
      : variableOf(tf.fill([this.A], o.logStdInit), true, `${name}/dec/log_std`);
  }

  /**
   * The encoder: each agent's value and the representation the decoder attends to.
   * @param obs `[B, n, obsDim]`
   * @returns `value [B, n]` and `rep [B, n, embed]`
   */
  encode(obs: tf.Tensor3D): { value: tf.Tensor2D; rep: tf.Tensor3D } {
    return tf.tidy(() => {
      const e = gelu(
        tf.reshape(
          dense(
            this.#obsNorm
              ? layerNorm(tf.reshape(obs, [-1, obs.shape[2]]) as tf.Tensor2D, this.#obsNorm)
              : tf.reshape(obs, [-1, obs.shape[2]]) as tf.Tensor2D,
            this.#obsEmbed,
          ),
          [obs.shape[0], obs.shape[1], -1],
        ) as tf.Tensor3D,
      );
      let rep = layerNorm3(e, this.#encNorm);
      for (const b of this.#enc) rep = encodeBlock(rep, b);
      const value = tf.reshape(head3(rep, this.#value), [obs.shape[0], obs.shape[1]]);
      return { value: value as tf.Tensor2D, rep };
    });
  }

  /**
   * The decoder in one pass: agent i's logits (discrete) or mean (box) from the shifted actions
   * (see {@link shiftActions}) and the representation.
   * @param shifted `[B, n, slot]`
   * @param rep `[B, n, embed]`
   * @returns `[B, n, A]`
   */
  decode(shifted: tf.Tensor3D, rep: tf.Tensor3D): tf.Tensor3D {
    return tf.tidy(() => {
      const [B, L] = shifted.shape;
      const flat = tf.reshape(shifted, [B * L, this.slot]) as tf.Tensor2D;
      // the authors' discrete action embedding has no bias (the start flag plays its part)
      const emb = this.discrete ? tf.matMul(flat, this.#actEmbed.W) : dense(flat, this.#actEmbed);
      let x = layerNorm3(gelu(tf.reshape(emb, [B, L, -1]) as tf.Tensor3D), this.#decNorm);
      for (const b of this.#dec) x = decodeBlock(x, rep, b);
      return head3(x, this.#head);
    });
  }

  /**
   * The decoder's input for a joint action: position 0 holds the start token (discrete: the flag
   * slot set; box: zeros), position i the action vector of agent i - 1.
   * @param actionVecs `[B, n, A]` one-hot (discrete) or the actions (box), in chain order
   * @param B batch size
   * @returns `[B, n, slot]`
   */
  shiftActions(actionVecs: Float32Array, B: number): Float32Array {
    const { n, A, slot } = this;
    const out = new Float32Array(B * n * slot);
    for (let b = 0; b < B; b++) {
      if (this.discrete) out[b * n * slot] = 1; // start token
      for (let i = 1; i < n; i++) {
        const to = (b * n + i) * slot + (this.discrete ? 1 : 0), from = (b * n + i - 1) * A;
        for (let c = 0; c < A; c++) out[to + c] = actionVecs[from + c]!;
      }
    }
    return out;
  }

  /**
   * The trained variables, in a fixed order (the optimiser's and the checkpoint's).
   * @returns the variables
   */
  variables(): tf.Variable[] {
    const d = (x: Dense) => [x.W, x.b];
    const nv = (x: Norm) => [x.g, x.b];
    const h = (x: MatHead) => [...d(x.a), ...nv(x.norm), ...d(x.b)];
    return [
      ...(this.#obsNorm ? nv(this.#obsNorm) : []),
      ...d(this.#obsEmbed),
      ...nv(this.#encNorm),
      ...this.#enc.flatMap(encodeBlockVars),
      ...h(this.#value),
      ...(this.discrete ? [this.#actEmbed.W] : d(this.#actEmbed)),
      ...nv(this.#decNorm),
      ...this.#dec.flatMap(decodeBlockVars),
      ...h(this.#head),
      ...(this.logStd ? [this.logStd] : []),
    ];
  }

  /**
   * The layers, for a copy on other kernels (algos/mat/fused.ts); read-only by convention.
   * @returns every part in {@link variables} order
   */
  parts(): {
    obsNorm: Norm | null;
    obsEmbed: Dense;
    encNorm: Norm;
    enc: readonly EncodeBlock[];
    value: MatHead;
    actEmbed: Dense;
    decNorm: Norm;
    dec: readonly DecodeBlock[];
    head: MatHead;
  } {
    return {
      obsNorm: this.#obsNorm,
      obsEmbed: this.#obsEmbed,
      encNorm: this.#encNorm,
      enc: this.#enc,
      value: this.#value,
      actEmbed: this.#actEmbed,
      decNorm: this.#decNorm,
      dec: this.#dec,
      head: this.#head,
    };
  }

  /** Frees every variable. */
  dispose(): void {
    tf.dispose([...this.variables(), this.#actEmbed.b]);
  }
}
