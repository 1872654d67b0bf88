/**
 * `--algo mat`: the Multi-Agent Transformer (Wen et al., NeurIPS 2022) on Baton's trainer. The
 * encoder gives every agent's value; the decoder emits the agents' actions one after another,
 * agent i conditioned on the actions of agents 0..i-1 (algos/mat/model.ts). Training is PPO on
 * the paper's objective (its eq. 5), one teacher-forced decoder pass per minibatch:
 *
 *   L = -1/(N n) sum_t sum_i min(r_t^i A_t^i, clip(r_t^i, 1 +- eps) A_t^i)        (policy)
 *       + c_v mean(max(huber(R - V), huber(R - V_clipped)))                         (value)
 *       - c_ent mean(H(pi(. | o, a^{<i})))                                          (entropy)
 *
 * with `r_t^i = pi(a^i | o, a^{<i}) / pi_old(a^i | o, a^{<i})` the ratio of agent i's
 * conditional (so the product over agents is the joint action's ratio), `A_t^i` the GAE of agent
 * i's value (normalised over the batch), one Adam over every weight (the authors' code).
 *
 * `order=random` draws the agents' decoding order before each rollout (position p of the encoder
 * and decoder holds agent `order[p]`); the update of that iteration uses the same order.
 *
 * `--kernels auto` (the default) and `fused` run acting and updates on the fused kernels
 * (algos/mat/fused.ts: the same loss written out, checked against this file's tfjs autodiff in
 * tests/fused_mat_test.ts); `tfjs` keeps autodiff. The tfjs variables stay the truth between
 * updates (checkpoints read them).
 *
 * Left for later (issue 31): recurrent memory.
 *
 * @module
 */
import { tf, z } from "../../core/deps.ts";
import type {
  ActInput,
  ActOutput,
  AlgoEntry,
  Algorithm,
  AlgoState,
  Metrics,
  Rollout,
  UpdateContext,
} from "../../core/algorithm.ts";
import type { EnvSpec } from "../../core/vec_env.ts";
import type { Rng } from "../../core/rng.ts";
import { Adam } from "../../core/adam.ts";
import { assignTensor } from "../../core/checkpoint.ts";
import { ValueNorm, type ValueNormState, valueNormStateSchema } from "../../core/value_norm.ts";
import { formatZodError } from "../../core/errors.ts";
import {
  categoricalEntropy,
  categoricalLogp,
  gaussianEntropy,
  gaussianLogp,
  maskLogits,
  sampleCategorical,
} from "../../core/distributions.ts";
import { minibatches } from "../ppo/batch.ts";
import { MatModel } from "./model.ts";
import { emptySums, FusedMat, type MatBatch, type MatSums } from "./fused.ts";

/**
 * MAT's options (`--algo-opt`); defaults: the MAT code base's model (1 block, 1 head, 64 wide,
 * `mat/config.py`) with Baton's PPO settings. The authors' per-benchmark settings (SMAC: 15
 * epochs, clip 0.05; MA-MuJoCo: lr 5e-5, 40 minibatches, entropy 0.001; football: 10 epochs, clip
 * 0.05) are presets: `examples/configs/mat_*.yaml`.
 */
export const matOptions = z.strictObject({
  blocks: z.int().min(1).max(16).default(1).describe("encoder and decoder blocks (n_block)"),
  heads: z.int().min(1).max(16).default(1).describe("attention heads (n_head; divide embed)"),
  embed: z.int().min(2).max(1024).default(64).describe("embedding width (n_embd)"),
  lr: z.number().positive().default(5e-4).describe("learning rate"),
  adamEps: z.number().positive().default(1e-5).describe("Adam epsilon"),
  epochs: z.int().min(1).default(10).describe("PPO epochs per update"),
  minibatches: z.int().min(1).default(1).describe("minibatches per epoch"),
  clip: z.number().positive().default(0.2).describe("PPO clip (also value clipping)"),
  entropyCoef: z.number().min(0).default(0.01).describe("entropy bonus coefficient"),
  valueCoef: z.number().min(0).default(1).describe("value loss coefficient"),
  maxGradNorm: z.number().min(0).default(10).describe("gradient norm clip (0 = off)"),
  huberDelta: z.number().positive().default(10).describe("Huber delta of the value loss"),
  valueNorm: z.boolean().default(true).describe("normalise value targets (ValueNorm)"),
  logStdInit: z.number().default(-0.5).describe("initial log std of Gaussian policies"),
  order: z.enum(["identity", "random"]).default("identity").describe(
    "decoding order of the agents: fixed identity, or a random permutation per iteration",
  ),
  obsNorm: z.enum(["auto", "layer", "none"]).default("auto").describe(
    "the encoder's observation LayerNorm: auto = only with 3+ observation features (over fewer " +
      "it maps every observation to the same few values), layer, none",
  ),
});
/** Parsed {@link matOptions}. */
export type MatOptions = z.infer<typeof matOptions>;

let instances = 0;

/** The Multi-Agent Transformer. */
export class Mat implements Algorithm {
  readonly name = "mat";
  /** The encoder and decoder. */
  readonly model: MatModel;
  /** Value normaliser of every agent's value targets. */
  readonly valueNorm: ValueNorm;
  readonly #opt: Adam;
  readonly #vars: tf.Variable[];
  /** Checkpoint keys: variable names without the instance prefix. */
  readonly #keys: string[];
  readonly #spec: EnvSpec;
  /** Decoding order: position p holds agent `order[p]`. */
  order: Int32Array;

  /** What the run should be told once (the observation norm left out). */
  notes: readonly string[] = [];

  /** Where acting and updates run (`--kernels` resolved). */
  readonly kernels: "tfjs" | "fused";
  /** The networks on the fused kernels, or null (tfjs). */
  readonly #fused: FusedMat | null = null;
  /** Whether the fused copy holds the tfjs variables' current values. */
  #fresh = false;

  /**
   * Creates it.
   * @param spec the env spec
   * @param o options and an rng for the initial weights
   */
  constructor(
    spec: EnvSpec,
    readonly o: MatOptions & { rng: Rng; kernels?: "auto" | "tfjs" | "fused" },
  ) {
    if (o.embed % o.heads !== 0) {
      throw new Error(
        `Invalid --algo-opt heads=${o.heads}: the heads must divide embed=${o.embed}`,
      );
    }
    this.#spec = spec;
    const prefix = `mat${instances++}`;
    const obsNorm = o.obsNorm === "layer" || (o.obsNorm === "auto" && spec.obsDim >= 3);
    if (o.obsNorm === "auto" && !obsNorm) {
      this.notes = [
        `mat: no observation LayerNorm (${spec.obsDim} observation feature${
          spec.obsDim === 1 ? "" : "s"
        }: a LayerNorm over fewer than 3 maps them to the same few values; --algo-opt obsNorm=layer forces it)`,
      ];
    }
    this.model = new MatModel(spec, { ...o, obsNorm, name: prefix });
    this.#vars = this.model.variables();
    this.#keys = this.#vars.map((v) => v.name.slice(prefix.length + 1));
    this.#opt = new Adam(this.#vars, { lr: o.lr, eps: o.adamEps, maxGradNorm: o.maxGradNorm });
    this.valueNorm = new ValueNorm(spec.numAgents);
    this.order = Int32Array.from({ length: spec.numAgents }, (_, i) => i);
    const choice = o.kernels ?? "tfjs";
    const why = this.model.A > 256
      ? `--kernels fused supports up to 256 actions per agent (this env has ${this.model.A})`
      : spec.numAgents > 1024
      ? `--kernels fused supports up to 1024 agents (this env has ${spec.numAgents})`
      : null;
    if (why && choice === "fused") {
      this.dispose(); // the networks made above
      throw new Error(`${why}; or use --kernels tfjs`);
    }
    const fused = choice === "fused" || (choice === "auto" && !why && tf.getBackend() !== "webgpu");
    this.kernels = fused ? "fused" : "tfjs";
    if (fused) this.#fused = new FusedMat(this.model, { heads: o.heads });
  }

  /** The fused copy, brought up to date with the tfjs variables (after a load). */
  #fusedNow(): FusedMat {
    const f = this.#fused!;
    if (!this.#fresh) {
      f.group.readFromTfjs(this.#vars, this.#opt);
      this.#fresh = true;
    }
    return f;
  }

  /** Draws the decoding order for the next rollout when it is random. */
  beginIteration(rng: Rng): void {
    if (this.o.order === "random") this.order = rng.permutation(this.#spec.numAgents);
  }

  /**
   * Rows of `width` floats per agent, from agent order to chain order (position p <- agent
   * order[p]), or back with `back`.
   */
  #chain<T extends Float32Array | Uint8Array>(
    src: T,
    rows: number,
    width: number,
    back = false,
  ): T {
    const n = this.#spec.numAgents, o = this.order;
    if (o.every((k, p) => k === p)) return src;
    const out = new (src.constructor as new (n: number) => T)(src.length);
    for (let r = 0; r < rows; r++) {
      for (let p = 0; p < n; p++) {
        const from = (r * n + (back ? p : o[p]!)) * width,
          to = (r * n + (back ? o[p]! : p)) * width;
        out.set(src.subarray(from, from + width) as T, to);
      }
    }
    return out;
  }

  /** Feed-forward: no memory. */
  readonly memorySize = 0;

  /** Values of E envs' agents, denormalised `[E, n]`. */
  values(x: ActInput): Promise<Float32Array> {
    const { numAgents: n, obsDim } = this.#spec;
    const obs = this.#chain(x.obs, x.E, obsDim);
    let out: Float32Array;
    if (this.#fused) {
      const a = this.#fusedNow().acting(obs, x.E);
      a.done();
      out = this.#chain(a.values, x.E, 1, true);
    } else {
      const v = tf.tidy(() => this.model.encode(tf.tensor3d(obs, [x.E, n, obsDim])).value);
      out = this.#chain(v.dataSync() as Float32Array, x.E, 1, true);
      v.dispose();
    }
    return Promise.resolve(this.o.valueNorm ? this.valueNorm.denormalize(out) : out);
  }

  /**
   * Acts auto-regressively: the encoder once, then the decoder once per agent, agent i reading
   * the actions agents 0..i-1 just took.
   */
  async act(x: ActInput, ctx: { rng: Rng; greedy: boolean }): Promise<ActOutput> {
    const m = this.model, { numAgents: n, obsDim } = this.#spec, E = x.E, { A, slot } = m;
    // the encoder once; decodeAt(i, s) gives position i's rows [E, A] from the shifted actions so
    // far [E, n, slot]: the fused decoder computes position i alone from its keys-and-values
    // cache and answers synchronously (its scratch mark is never open across an await); the tfjs
    // decoder runs every position and keeps position i's rows
    let values: Float32Array;
    let decodeAt: (i: number, s: Float32Array) => Float32Array | Promise<Float32Array>;
    let done: () => void;
    const obs = this.#chain(x.obs, E, obsDim);
    if (this.#fused) {
      const a = this.#fusedNow().acting(obs, E);
      values = a.values, done = a.done;
      const row = new Float32Array(E * slot);
      decodeAt = (i, s) => {
        for (let e = 0; e < E; e++) {
          row.set(s.subarray((e * n + i) * slot, (e * n + i + 1) * slot), e * slot);
        }
        return a.decodeAt(i, row);
      };
    } else {
      const obsT = tf.tensor3d(obs, [E, n, obsDim]);
      const { value, rep } = m.encode(obsT);
      obsT.dispose(); // encode keeps only its outputs
      values = Float32Array.from(value.dataSync());
      value.dispose();
      done = () => rep.dispose();
      decodeAt = async (i, s) => {
        const out = tf.tidy(() =>
          tf.slice(m.decode(tf.tensor3d(s, [E, n, slot]), rep), [0, i, 0], [E, 1, A])
        );
        const rows = await out.data() as Float32Array;
        out.dispose();
        return rows;
      };
    }
    const out = this.#decodeChain(x, ctx, values, decodeAt);
    if (this.#fused) { // it ran to its end synchronously: free the scratch before yielding
      done();
      return out;
    }
    try {
      return await out;
    } finally {
      done();
    }
  }

  /** act's loop over the agents, in decoding order. */
  async #decodeChain(
    x: ActInput,
    ctx: { rng: Rng; greedy: boolean },
    value: Float32Array,
    decodeAt: (i: number, s: Float32Array) => Float32Array | Promise<Float32Array>,
  ): Promise<ActOutput> {
    const m = this.model, { numAgents: n } = this.#spec, E = x.E, { A, slot } = m;
    const shifted = new Float32Array(E * n * slot);
    if (m.discrete) { for (let e = 0; e < E; e++) shifted[e * n * slot] = 1; // start tokens
     }
    const actions = m.discrete ? new Int32Array(E * n) : new Float32Array(E * n * A);
    const actionVecs = new Float32Array(E * n * A), logp = new Float32Array(E * n);
    const std = m.logStd ? Array.from(m.logStd.dataSync(), Math.exp) : [];
    const logStd = m.logStd ? Array.from(m.logStd.dataSync()) : [];
    for (let i = 0; i < n; i++) {
      const got = decodeAt(i, shifted);
      const rows = got instanceof Promise ? await got : got;
      for (let e = 0; e < E; e++) {
        const row = rows.subarray(e * A, (e + 1) * A) as Float32Array;
        const k = e * n + this.order[i]!; // position i decodes agent order[i]
        if (m.discrete) {
          const avail = x.avail ? x.avail.subarray(k * A, (k + 1) * A) : null;
          const s = sampleCategorical(row, { avail, rng: ctx.rng, greedy: ctx.greedy });
          actions[k] = s.a;
          actionVecs[k * A + s.a] = 1;
          logp[k] = s.logp;
        } else {
          let lp = 0;
          for (let c = 0; c < A; c++) {
            const z = ctx.greedy ? 0 : ctx.rng.normal();
            const a = row[c]! + std[c]! * z;
            actions[k * A + c] = a;
            actionVecs[k * A + c] = a;
            lp += -0.5 * z * z - logStd[c]! - 0.5 * Math.log(2 * Math.PI); // log N(a; mu, std)
          }
          logp[k] = lp;
        }
        if (i + 1 < n) { // agent i's action becomes agent i + 1's input
          const to = (e * n + i + 1) * slot + (m.discrete ? 1 : 0);
          for (let c = 0; c < A; c++) shifted[to + c] = actionVecs[k * A + c]!;
        }
      }
    }
    const v = this.#chain(value, E, 1, true);
    return {
      actions,
      actionVecs,
      logp,
      values: this.o.valueNorm ? this.valueNorm.denormalize(v) : v,
    };
  }

  /** One PPO update on the rollout (see the module doc for the loss). */
  async update(r: Rollout, ctx: UpdateContext): Promise<Metrics> {
    const m = this.model, o = this.o, { obsDim } = this.#spec;
    const N = r.T * r.E, A = m.A;
    const ret = r.returns.slice(), vOld = r.values.slice();
    if (o.valueNorm) {
      this.valueNorm.update(ret);
      this.valueNorm.normalize(ret);
      this.valueNorm.normalize(vOld);
    }
    // advantages normalised over the whole batch (every agent together), as the authors' code
    let mean = 0, sq = 0;
    for (const a of r.advantages) mean += a / r.advantages.length;
    for (const a of r.advantages) sq += (a - mean) ** 2 / r.advantages.length;
    const adv = Float32Array.from(r.advantages, (a) => (a - mean) / (Math.sqrt(sq) + 1e-5));
    // every per-agent array in the order this iteration decoded the agents in
    const ch = <T extends Float32Array | Uint8Array>(x: T, w: number) => this.#chain(x, N, w);
    const actionVecs = ch(r.actionVecs, A);
    const d: MatBatch = {
      N,
      obs: ch(r.obs, obsDim),
      shifted: m.shiftActions(actionVecs, N),
      actionVecs,
      avail: r.avail ? Float32Array.from(ch(r.avail, A)) : null,
      logpOld: ch(r.logp, 1),
      adv: ch(adv, 1),
      ret: ch(ret, 1),
      vOld: ch(vOld, 1),
    };
    const sums = this.#fused
      ? this.#fusedNow().update(d, o, ctx.rng)
      : await this.#tfjsUpdate(d, ctx.rng);
    if (this.#fused) this.#fused.group.writeToTfjs(this.#vars, this.#opt); // tfjs stays the truth
    const c = Math.max(1, sums.count);
    return {
      "losses/policy": sums.policy / c,
      "losses/value": sums.value / c,
      "losses/entropy": sums.entropy / c,
      "losses/approx_kl": sums.kl / c,
      "losses/clip_frac": sums.clipFrac / c,
      "losses/actor_grad_norm": sums.gradNorm / c,
    };
  }

  /** The update's epochs on tfjs (autodiff of the module doc's loss). */
  async #tfjsUpdate(d: MatBatch, rng: Rng): Promise<MatSums> {
    const m = this.model, o = this.o, { numAgents: n, obsDim } = this.#spec, { N } = d, A = m.A;
    const t = {
      obs: tf.tensor3d(d.obs, [N, n, obsDim]),
      shifted: tf.tensor3d(d.shifted, [N, n, m.slot]),
      act: tf.tensor3d(d.actionVecs, [N, n, A]),
      avail: d.avail ? tf.tensor3d(d.avail, [N, n, A]) : null,
      logpOld: tf.tensor2d(d.logpOld, [N, n]),
      adv: tf.tensor2d(d.adv, [N, n]),
      ret: tf.tensor2d(d.ret, [N, n]),
      vOld: tf.tensor2d(d.vOld, [N, n]),
    };
    const sums = emptySums();
    for (let ep = 0; ep < o.epochs; ep++) {
      for (const idx of minibatches(N, o.minibatches, rng) ?? [null]) {
        const pick = <T extends tf.Tensor>(x: T) => (idx ? tf.gather(x, idx) as T : x);
        const last = ep === o.epochs - 1;
        const diag: tf.Tensor[] = [];
        const { grads } = tf.variableGrads(() =>
          tf.tidy(() => {
            const obs = pick(t.obs), B = obs.shape[0];
            const { value, rep } = m.encode(obs);
            const out = tf.reshape(m.decode(pick(t.shifted), rep), [B * n, A]) as tf.Tensor2D;
            const act = tf.reshape(pick(t.act), [B * n, A]) as tf.Tensor2D;
            let logp: tf.Tensor1D, entropy: tf.Scalar;
            if (m.discrete) {
              const avail = t.avail ? tf.reshape(pick(t.avail), [B * n, A]) as tf.Tensor2D : null;
              const logits = maskLogits(out, avail);
              logp = categoricalLogp(logits, act);
              entropy = tf.mean(categoricalEntropy(logits));
            } else {
              logp = gaussianLogp(out, m.logStd! as tf.Tensor1D, act);
              entropy = gaussianEntropy(m.logStd! as tf.Tensor1D);
            }
            const logpOld = tf.reshape(pick(t.logpOld), [B * n]);
            const a = tf.reshape(pick(t.adv), [B * n]);
            const ratio = tf.exp(tf.sub(logp, logpOld)); // r_t^i, agent i's conditional
            const surr1 = tf.mul(ratio, a);
            const surr2 = tf.mul(tf.clipByValue(ratio, 1 - o.clip, 1 + o.clip), a);
            const policy = tf.neg(tf.mean(tf.minimum(surr1, surr2))) as tf.Scalar; // eq. 5
            const v = tf.reshape(value, [B * n]), vo = tf.reshape(pick(t.vOld), [B * n]);
            const R = tf.reshape(pick(t.ret), [B * n]);
            const vClip = tf.add(vo, tf.clipByValue(tf.sub(v, vo), -o.clip, o.clip));
            const d = o.huberDelta;
            const huber = (err: tf.Tensor) => { // 0.5 q^2 + d (|e| - q), q = min(|e|, d)
              const q = tf.minimum(tf.abs(err), d);
              return tf.add(tf.mul(0.5, tf.square(q)), tf.mul(d, tf.sub(tf.abs(err), q)));
            };
            const vLoss = tf.mean(tf.maximum(huber(tf.sub(R, v)), huber(tf.sub(R, vClip))));
            if (last) {
              const logRatio = tf.sub(logp, logpOld);
              diag.push(
                ...[
                  policy,
                  vLoss,
                  entropy,
                  tf.mean(tf.sub(tf.sub(ratio, 1), logRatio)),
                  tf.mean(tf.cast(tf.greater(tf.abs(tf.sub(ratio, 1)), o.clip), "float32")),
                ].map((x) => tf.keep(x)),
              );
            }
            return tf.sub(
              tf.add(policy, tf.mul(o.valueCoef, vLoss)),
              tf.mul(o.entropyCoef, entropy),
            ) as tf.Scalar;
          }), this.#vars);
        const norm = this.#opt.step(this.#vars.map((v) => grads[v.name]!));
        if (last) {
          const [p, vl, en, kl, cf] = await Promise.all(diag.map((x) => x.data()));
          sums.policy += p![0]!;
          sums.value += vl![0]!;
          sums.entropy += en![0]!;
          sums.kl += kl![0]!;
          sums.clipFrac += cf![0]!;
          sums.gradNorm += (await norm.data())[0]!;
          sums.count++;
        }
        tf.dispose([...Object.values(grads), norm, ...diag]);
      }
    }
    tf.dispose(Object.values(t).filter((x) => x !== null) as tf.Tensor[]);
    return sums;
  }

  async getState(): Promise<AlgoState> {
    const tensors: AlgoState["tensors"] = {};
    const put = async (name: string, x: tf.Tensor) => {
      tensors[name] = { shape: x.shape, data: Float32Array.from(await x.data()) };
    };
    for (const [k, v] of this.#vars.entries()) await put(this.#keys[k]!, v);
    const s = this.#opt.slots();
    for (const [j, x] of s.m.entries()) await put(`adam/m${j}`, x);
    for (const [j, x] of s.v.entries()) await put(`adam/v${j}`, x);
    return {
      tensors,
      extra: { valueNorm: this.valueNorm.getState(), adamT: s.t, order: Array.from(this.order) },
    };
  }

  setState(s: AlgoState): Promise<void> {
    const r = z.object({
      valueNorm: valueNormStateSchema(this.valueNorm.getState().mean.length),
      adamT: z.int().min(0),
      order: z.array(z.int().min(0).max(this.#spec.numAgents - 1)).length(this.#spec.numAgents)
        .refine((o) => new Set(o).size === o.length, "expected a permutation of the agents"),
    }).safeParse(s.extra);
    if (!r.success) {
      throw new Error(
        `Cannot use the checkpoint: its algorithm state has algo.extra.${
          formatZodError(r.error)
        } (the file was edited or written by another algorithm or size)`,
      );
    }
    const load = (name: string, v: tf.Variable) => assignTensor(s, name, v);
    this.#vars.forEach((v, k) => load(this.#keys[k]!, v));
    const sl = this.#opt.slots();
    sl.m.forEach((x, j) => load(`adam/m${j}`, x));
    sl.v.forEach((x, j) => load(`adam/v${j}`, x));
    this.#opt.setStep(r.data.adamT);
    this.valueNorm.setState(r.data.valueNorm as ValueNormState);
    this.order = Int32Array.from(r.data.order);
    this.#fresh = false; // the fused copy re-reads the loaded variables
    return Promise.resolve();
  }

  dispose(): void {
    const s = this.#opt.slots();
    tf.dispose([...s.m, ...s.v]);
    this.model.dispose();
    this.#fused?.dispose();
  }
}

/** `--algo mat`. */
export const matEntry: AlgoEntry<typeof matOptions> = {
  name: "mat",
  description:
    "Multi-Agent Transformer: an encoder over all agents' observations gives the values, a causal decoder emits the actions one agent after another; PPO on each agent's conditional ratio",
  options: matOptions,
  create: (spec, { options, rng, kernels }) => new Mat(spec, { ...options, rng, kernels }),
};
