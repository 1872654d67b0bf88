/**
 * Plumbing shared by every PPO-family algorithm (MAPPO, IPPO, HAPPO, AR-MAPPO, BPPO):
 * per-agent actors and critics, acting in chain order, the per-update tensors, the critic
 * update, and checkpoint state. What differs between the algorithms (which agents update
 * when, and the actor loss) lives in `algos/<name>.ts`.
 *
 * Networks follow the BPTA reference (`r_actor_critic.py`): `base = MLP(o_i)` with feature
 * LayerNorm; a conditioned actor adds `action_base([u ⊙ mask_i, onehot(i)])` and normalises
 * the sum (spec §2); heads are orthogonal with gain 0.01; one critic per agent on the state.
 *
 * @module
 */
import { tf, z } from "./deps.ts";
import type {
  ActInput,
  ActOutput,
  Algorithm,
  AlgoState,
  Metrics,
  Rollout,
  UpdateContext,
} from "./algorithm.ts";
import type { EnvSpec } from "./vec_env.ts";
import { actionVecDim } from "./spaces.ts";
import type { Rng } from "./rng.ts";
import {
  addAll,
  type Dense,
  dense,
  layerNorm,
  makeDense,
  makeMlpBase,
  makeNorm,
  type MlpBase,
  mlpBase,
  mlpVars,
  type Norm,
} from "./nets.ts";
import { Adam } from "./adam.ts";
import { ValueNorm, type ValueNormState } from "./value_norm.ts";
import {
  categoricalEntropy,
  categoricalLogp,
  gaussianEntropy,
  gaussianLogp,
  maskLogits,
  sampleCategorical,
} from "./distributions.ts";
import { normalizePerAgent } from "./gae.ts";

/** Options every PPO-family algorithm takes (defaults: the BPTA reference, spec §5). */
export const ppoOptions = z.strictObject({
  lr: z.number().positive().default(5e-4).describe("actor learning rate"),
  criticLr: z.number().positive().default(5e-4).describe("critic learning rate"),
  adamEps: z.number().positive().default(1e-5).describe("Adam epsilon"),
  epochs: z.int().min(1).default(15).describe("PPO epochs per update"),
  minibatches: z.int().min(1).default(1).describe("minibatches per epoch"),
  clip: z.number().positive().default(0.2).describe("PPO clip epsilon (also value clipping)"),
  entropyCoef: z.number().min(0).default(0.01).describe("entropy bonus coefficient"),
  maxGradNorm: z.number().min(0).default(10).describe("per-network gradient norm clip (0 = off)"),
  hidden: z.int().min(1).default(64).describe("hidden width"),
  layers: z.int().min(1).default(1).describe("hidden layers in each MLP base"),
  activation: z.enum(["relu", "tanh"]).default("relu").describe("hidden activation"),
  featureNorm: z.boolean().default(true).describe("LayerNorm on inputs and hidden features"),
  huberDelta: z.number().positive().default(10).describe("Huber delta of the value loss"),
  valueNorm: z.boolean().default(true).describe("normalise value targets (ValueNorm)"),
  critic: z.enum(["state", "obs"]).default("state").describe(
    "critic input: global state (MAPPO) or own observation (IPPO)",
  ),
  logStdInit: z.number().default(-0.5).describe("initial log std of Gaussian policies"),
});

/** Parsed {@link ppoOptions}. */
export type PpoOptions = z.infer<typeof ppoOptions>;

interface ActorNet {
  readonly base: MlpBase;
  readonly cond: MlpBase | null;
  /** LayerNorm of base + cond features (conditioned actors with featureNorm). */
  readonly fuseNorm: Norm | null;
  readonly head: Dense;
  readonly logStd: tf.Variable | null;
}

interface CriticNet {
  readonly base: MlpBase;
  readonly head: Dense;
}

/** Per-agent tensors of one update (full batch, N = T x E samples). */
export interface AgentBatch {
  /** `[N, obsDim]`. */
  readonly obs: tf.Tensor2D;
  /** `[N, A]` one-hot (discrete) or raw action (box). */
  readonly act: tf.Tensor2D;
  /** `[N, A]` availability, or null. */
  readonly avail: tf.Tensor2D | null;
  /** `[N]` behaviour log-probs. */
  readonly logpOld: tf.Tensor1D;
  /** `[N]` normalised advantages. */
  readonly adv: tf.Tensor1D;
  /** `[N, criticDim]`. */
  readonly criticIn: tf.Tensor2D;
  /** `[N]` value targets (normalised when ValueNorm is on). */
  readonly ret: tf.Tensor1D;
  /** `[N]` values at collection (same scale as ret). */
  readonly vOld: tf.Tensor1D;
}

/** The tensors of one update. */
export interface TrainBatch {
  readonly N: number;
  readonly agents: AgentBatch[];
  /** `[N, n * A]` every agent's action vector (conditioning input). */
  readonly u: tf.Tensor2D;
}

let instances = 0;

/**
 * Per-agent actors and critics with their optimisers, value normalisers and acting logic.
 * Algorithms hold one and write their update on top of it.
 */
export class PpoAgents {
  readonly n: number;
  /** Action vector length A (discrete n actions or box dim). */
  readonly A: number;
  readonly discrete: boolean;
  readonly actors: ActorNet[] = [];
  readonly critics: CriticNet[] = [];
  readonly actorOpts: Adam[] = [];
  readonly criticOpts: Adam[] = [];
  readonly valueNorm: ValueNorm;
  /** Execution (chain) order: position p acts as agent order[p]. */
  order: Int32Array;
  readonly #named = new Map<string, tf.Variable>();
  readonly #criticDim: number;

  /**
   * @param spec the env spec
   * @param opts PPO options, whether actors condition on predecessors' actions, and an rng
   */
  constructor(
    readonly spec: EnvSpec,
    readonly opts: PpoOptions & { conditioned: boolean; rng: Rng },
  ) {
    const { numAgents: n, obsDim, stateDim } = spec;
    this.n = n;
    this.A = actionVecDim(spec.actionSpace);
    this.discrete = spec.actionSpace.kind === "discrete";
    this.order = Int32Array.from({ length: n }, (_, i) => i);
    this.valueNorm = new ValueNorm(n);
    this.#criticDim = opts.critic === "state" ? stateDim : obsDim;
    const pre = `baton${instances++}`;
    const net = {
      hidden: opts.hidden,
      layers: opts.layers,
      activation: opts.activation,
      featureNorm: opts.featureNorm,
      rng: opts.rng,
    };
    for (let i = 0; i < n; i++) {
      const actor: ActorNet = {
        base: makeMlpBase(`${pre}/actor${i}/base`, { inDim: obsDim, ...net }),
        cond: opts.conditioned
          ? makeMlpBase(`${pre}/actor${i}/cond`, { inDim: n * this.A + n, ...net })
          : null,
        fuseNorm: opts.conditioned && opts.featureNorm
          ? makeNorm(`${pre}/actor${i}/fuse_norm`, opts.hidden)
          : null,
        head: makeDense(`${pre}/actor${i}/head`, {
          inDim: opts.hidden,
          outDim: this.A,
          gain: 0.01,
          rng: opts.rng,
        }),
        logStd: this.discrete
          ? null
          : tf.variable(tf.fill([this.A], opts.logStdInit), true, `${pre}/actor${i}/logStd`),
      };
      const critic: CriticNet = {
        base: makeMlpBase(`${pre}/critic${i}/base`, { inDim: this.#criticDim, ...net }),
        head: makeDense(`${pre}/critic${i}/head`, {
          inDim: opts.hidden,
          outDim: 1,
          gain: 1,
          rng: opts.rng,
        }),
      };
      this.actors.push(actor);
      this.critics.push(critic);
      this.actorOpts.push(
        new Adam(this.actorVars(i), {
          lr: opts.lr,
          eps: opts.adamEps,
          maxGradNorm: opts.maxGradNorm,
        }),
      );
      this.criticOpts.push(
        new Adam(this.criticVars(i), {
          lr: opts.criticLr,
          eps: opts.adamEps,
          maxGradNorm: opts.maxGradNorm,
        }),
      );
    }
    for (const v of this.allVars()) this.#named.set(v.name.slice(pre.length + 1), v);
  }

  /** @returns agent i's actor variables */
  actorVars(i: number): tf.Variable[] {
    const a = this.actors[i]!;
    return [
      ...mlpVars(a.base),
      ...(a.cond ? mlpVars(a.cond) : []),
      ...(a.fuseNorm ? [a.fuseNorm.g, a.fuseNorm.b] : []),
      a.head.W,
      a.head.b,
      ...(a.logStd ? [a.logStd] : []),
    ];
  }

  /** @returns agent i's critic variables */
  criticVars(i: number): tf.Variable[] {
    const c = this.critics[i]!;
    return [...mlpVars(c.base), c.head.W, c.head.b];
  }

  /** @returns every variable */
  allVars(): tf.Variable[] {
    const out: tf.Variable[] = [];
    for (let i = 0; i < this.n; i++) out.push(...this.actorVars(i), ...this.criticVars(i));
    return out;
  }

  // ---------------------------------------------------------------- forward passes

  /**
   * `[n * A]` mask that keeps the action slots of agent i's predecessors in the chain.
   * @param i the agent
   * @returns the execution mask, spec §2
   */
  execMask(i: number): Float32Array {
    const m = new Float32Array(this.n * this.A);
    const pos = this.order.indexOf(i);
    for (let p = 0; p < pos; p++) m.fill(1, this.order[p]! * this.A, (this.order[p]! + 1) * this.A);
    return m;
  }

  /**
   * The conditioning input `[vec(u ⊙ mask_i), onehot(i)]` of agent i.
   * @param i the agent
   * @param u `[B, n * A]` action vectors
   * @returns `[B, n * A + n]`
   */
  condInput(i: number, u: tf.Tensor2D): tf.Tensor2D {
    const B = u.shape[0];
    const id = new Float32Array(this.n);
    id[i] = 1;
    return tf.concat([
      tf.mul(u, tf.tensor2d(this.execMask(i), [1, this.n * this.A])),
      tf.tile(tf.tensor2d(id, [1, this.n]), [B, 1]),
    ], 1);
  }

  /**
   * Actor forward of agent i: logits (discrete) or mean (box).
   * @param i the agent
   * @param obs `[B, obsDim]`
   * @param cond `[B, n * A + n]` conditioning input (conditioned actors only)
   * @returns `[B, A]`
   */
  actorOut(i: number, obs: tf.Tensor2D, cond: tf.Tensor2D | null): tf.Tensor2D {
    const a = this.actors[i]!;
    let h = mlpBase(obs, a.base);
    if (a.cond && cond) {
      h = tf.add(h, mlpBase(cond, a.cond));
      if (a.fuseNorm) h = layerNorm(h, a.fuseNorm);
    }
    return dense(h, a.head);
  }

  /**
   * log pi_i(a_i | o_i, a_{<i}) and entropy of agent i on a batch.
   * @param i the agent
   * @param b the agent's batch (full or minibatch)
   * @param u `[B, n * A]` action vectors (conditioned actors), or null
   * @returns logp `[B]`, entropy (mean, scalar) and the raw head output
   */
  evaluate(
    i: number,
    b: Pick<AgentBatch, "obs" | "act" | "avail">,
    u: tf.Tensor2D | null,
  ): { logp: tf.Tensor1D; entropy: tf.Scalar; out: tf.Tensor2D } {
    const out = this.actorOut(i, b.obs, u && this.opts.conditioned ? this.condInput(i, u) : null);
    if (this.discrete) {
      const logits = maskLogits(out, b.avail);
      return {
        logp: categoricalLogp(logits, b.act),
        entropy: tf.mean(categoricalEntropy(logits)),
        out: logits,
      };
    }
    const logStd = this.actors[i]!.logStd as tf.Tensor1D;
    return { logp: gaussianLogp(out, logStd, b.act), entropy: gaussianEntropy(logStd), out };
  }

  /**
   * Critic forward of agent i.
   * @param i the agent
   * @param x `[B, criticDim]`
   * @returns `[B]` (normalised scale when ValueNorm is on)
   */
  valueOut(i: number, x: tf.Tensor2D): tf.Tensor1D {
    const c = this.critics[i]!;
    return tf.reshape(dense(mlpBase(x, c.base), c.head), [-1]);
  }

  // ---------------------------------------------------------------- acting

  #agentRows(x: ActInput, i: number): Float32Array {
    const { obsDim } = this.spec;
    const out = new Float32Array(x.E * obsDim);
    for (let e = 0; e < x.E; e++) {
      out.set(x.obs.subarray((e * this.n + i) * obsDim, (e * this.n + i + 1) * obsDim), e * obsDim);
    }
    return out;
  }

  /**
   * Every agent acts, in chain order: agent order[p] sees the actions of order[0..p-1].
   * @param x observations of E envs
   * @param ctx rng and whether to act greedily
   * @returns actions, action vectors, log-probs and values
   */
  async act(x: ActInput, ctx: { rng: Rng; greedy: boolean }): Promise<ActOutput> {
    const { E } = x;
    const { n, A } = this;
    const u = new Float32Array(E * n * A);
    const logp = new Float32Array(E * n);
    const actions = this.discrete ? new Int32Array(E * n) : new Float32Array(E * n * A);
    for (const i of this.order) {
      const head = tf.tidy(() => {
        const obs = tf.tensor2d(this.#agentRows(x, i), [E, this.spec.obsDim]);
        const cond = this.opts.conditioned ? this.condInput(i, tf.tensor2d(u, [E, n * A])) : null;
        return this.actorOut(i, obs, cond);
      });
      const rows = (await head.data()) as Float32Array;
      head.dispose();
      if (this.discrete) {
        for (let e = 0; e < E; e++) {
          const k = e * n + i;
          const s = sampleCategorical(rows.subarray(e * A, (e + 1) * A), {
            avail: x.avail ? x.avail.subarray(k * A, (k + 1) * A) : null,
            rng: ctx.rng,
            greedy: ctx.greedy,
          });
          actions[k] = s.a;
          logp[k] = s.logp;
          u[k * A + s.a] = 1;
        }
      } else {
        const logStd = (await this.actors[i]!.logStd!.data()) as Float32Array;
        for (let e = 0; e < E; e++) {
          const k = e * n + i;
          let lp = 0;
          for (let d = 0; d < A; d++) {
            const z = ctx.greedy ? 0 : ctx.rng.normal();
            const a = rows[e * A + d]! + Math.exp(logStd[d]!) * z;
            actions[k * A + d] = a;
            u[k * A + d] = a;
            lp += -0.5 * z * z - logStd[d]! - 0.5 * Math.log(2 * Math.PI);
          }
          logp[k] = lp;
        }
      }
    }
    return { actions, actionVecs: u, logp, values: await this.values(x) };
  }

  /**
   * Value estimates of every agent.
   * @param x observations and state of E envs
   * @returns `[E, n]` denormalised values
   */
  async values(x: ActInput): Promise<Float32Array> {
    const { E } = x;
    const out = new Float32Array(E * this.n);
    for (let i = 0; i < this.n; i++) {
      const v = tf.tidy(() =>
        this.valueOut(
          i,
          this.opts.critic === "state"
            ? tf.tensor2d(x.state, [E, this.spec.stateDim])
            : tf.tensor2d(this.#agentRows(x, i), [E, this.spec.obsDim]),
        )
      );
      const d = await v.data();
      v.dispose();
      for (let e = 0; e < E; e++) out[e * this.n + i] = d[e]!;
    }
    return this.opts.valueNorm ? this.valueNorm.denormalize(out) : out;
  }

  // ---------------------------------------------------------------- update plumbing

  /**
   * Builds the per-agent tensors of one update; updates the value normaliser with the
   * returns first (so targets and old values share one scale).
   * @param r the rollout
   * @returns tensors the caller disposes with {@link disposeBatch}
   */
  prepare(r: Rollout): TrainBatch {
    const { n, A } = this;
    const N = r.T * r.E;
    const { obsDim, stateDim } = this.spec;
    const ret = r.returns.slice(), vOld = r.values.slice();
    if (this.opts.valueNorm) {
      this.valueNorm.update(ret);
      this.valueNorm.normalize(ret);
      this.valueNorm.normalize(vOld);
    }
    const advantages = normalizePerAgent(r.advantages, n);
    const pick = (src: ArrayLike<number>, i: number, width: number) => {
      const out = new Float32Array(N * width);
      for (let s = 0; s < N; s++) {
        const k = (s * n + i) * width;
        for (let j = 0; j < width; j++) out[s * width + j] = src[k + j]!;
      }
      return out;
    };
    const agents: AgentBatch[] = [];
    for (let i = 0; i < n; i++) {
      const criticIn = this.opts.critic === "state"
        ? tf.tensor2d(r.state, [N, stateDim])
        : tf.tensor2d(pick(r.obs, i, obsDim), [N, obsDim]);
      agents.push({
        obs: tf.tensor2d(pick(r.obs, i, obsDim), [N, obsDim]),
        act: tf.tensor2d(pick(r.actionVecs, i, A), [N, A]),
        avail: r.avail ? tf.tensor2d(pick(r.avail, i, A), [N, A]) : null,
        logpOld: tf.tensor1d(pick(r.logp, i, 1)),
        adv: tf.tensor1d(pick(advantages, i, 1)),
        criticIn,
        ret: tf.tensor1d(pick(ret, i, 1)),
        vOld: tf.tensor1d(pick(vOld, i, 1)),
      });
    }
    return { N, agents, u: tf.tensor2d(r.actionVecs, [N, n * A]) };
  }

  /** Frees a {@link TrainBatch}. */
  disposeBatch(b: TrainBatch): void {
    b.u.dispose();
    for (const a of b.agents) {
      for (const t of Object.values(a)) (t as tf.Tensor | null)?.dispose();
    }
  }

  /**
   * Minibatch index sets for one epoch (a fresh permutation), or null for one full batch.
   * @param N samples
   * @param rng random source
   * @returns index tensors the caller disposes, or null
   */
  minibatches(N: number, rng: Rng): tf.Tensor1D[] | null {
    const k = this.opts.minibatches;
    if (k <= 1) return null;
    const perm = rng.permutation(N);
    const size = Math.floor(N / k);
    return Array.from(
      { length: k },
      (_, j) => tf.tensor1d(perm.subarray(j * size, (j + 1) * size), "int32"),
    );
  }

  /**
   * Gathers the rows of an agent batch (or returns it whole).
   * @param b the agent batch
   * @param idx row indices or null
   * @returns the minibatch
   */
  rows(b: AgentBatch, idx: tf.Tensor1D | null): AgentBatch {
    if (!idx) return b;
    const out: Record<string, tf.Tensor | null> = {};
    for (const [k, t] of Object.entries(b)) out[k] = t ? tf.gather(t as tf.Tensor, idx) : null;
    return out as unknown as AgentBatch;
  }

  /**
   * Clipped Huber value loss of agent i on a (mini)batch (spec §4, MAPPO code base):
   * `max(huber(R - V), huber(R - V_clipped))`, `V_clipped = V_old + clip(V - V_old, ±eps)`.
   * @param i the agent
   * @param b the agent's rows
   * @returns the mean loss
   */
  valueLoss(i: number, b: Pick<AgentBatch, "criticIn" | "ret" | "vOld">): tf.Scalar {
    const { clip, huberDelta: d } = this.opts;
    const v = this.valueOut(i, b.criticIn);
    const vClipped = tf.add(b.vOld, tf.clipByValue(tf.sub(v, b.vOld), -clip, clip));
    const huber = (e: tf.Tensor) => { // 0.5 q^2 + d (|e| - q), q = min(|e|, d)
      const a = tf.abs(e);
      const q = tf.minimum(a, d);
      return tf.add(tf.mul(0.5, tf.square(q)), tf.mul(d, tf.sub(a, q)));
    };
    return tf.mean(tf.maximum(huber(tf.sub(b.ret, v)), huber(tf.sub(b.ret, vClipped))));
  }

  /**
   * Updates every agent's critic for `epochs` x `minibatches` steps (critics are independent
   * of the actors' updates within an iteration, so all agents go in one backward pass).
   * @param tb the update's tensors
   * @param rng minibatch shuffling
   * @returns mean value loss and critic gradient norm
   */
  async updateCritics(tb: TrainBatch, rng: Rng): Promise<Metrics> {
    const m = new MetricSums();
    const vars = Array.from({ length: this.n }, (_, i) => this.criticVars(i));
    for (let ep = 0; ep < this.opts.epochs; ep++) {
      const mbs = this.minibatches(tb.N, rng);
      for (const idx of mbs ?? [null]) {
        const { value, grads } = tf.variableGrads(
          () => addAll(tb.agents.map((a, i) => this.valueLoss(i, this.rows(a, idx)))) as tf.Scalar,
          vars.flat(),
        );
        const norms = vars.map((vs, i) => this.criticOpts[i]!.step(vs.map((v) => grads[v.name]!)));
        if (ep === this.opts.epochs - 1) {
          tf.tidy(() => {
            m.add("losses/value", tf.div(value, this.n));
            m.add("losses/critic_grad_norm", tf.div(addAll(norms), this.n));
          });
        }
        tf.dispose([value, ...Object.values(grads), ...norms]);
        idx?.dispose();
      }
    }
    return await m.means();
  }

  // ---------------------------------------------------------------- checkpoint state

  /** @returns variables, Adam slots and the value normaliser */
  async getState(): Promise<AlgoState> {
    const tensors: AlgoState["tensors"] = {};
    const put = async (name: string, t: tf.Tensor) => {
      tensors[name] = { shape: t.shape, data: Float32Array.from(await t.data()) };
    };
    for (const [name, v] of this.#named) await put(name, v);
    const adamT: number[] = [];
    for (const [k, o] of [...this.actorOpts, ...this.criticOpts].entries()) {
      const s = o.slots();
      for (const [j, t] of s.m.entries()) await put(`adam${k}/m${j}`, t);
      for (const [j, t] of s.v.entries()) await put(`adam${k}/v${j}`, t);
      adamT.push(s.t);
    }
    return {
      tensors,
      extra: {
        valueNorm: this.valueNorm.getState(),
        adamT,
        order: Array.from(this.order),
      },
    };
  }

  /** Restores a state from {@link getState}. */
  setState(s: AlgoState): Promise<void> {
    const load = (name: string, v: tf.Variable) => {
      const t = s.tensors[name];
      if (!t) {
        throw new Error(
          `Checkpoint has no tensor "${name}": was it saved by another algorithm or size?`,
        );
      }
      if (t.shape.join(",") !== v.shape.join(",")) {
        throw new Error(
          `Checkpoint tensor "${name}" has shape [${t.shape}], expected [${v.shape}]`,
        );
      }
      v.assign(tf.tensor(t.data, t.shape));
    };
    for (const [name, v] of this.#named) load(name, v);
    const adamT = s.extra.adamT as number[];
    [...this.actorOpts, ...this.criticOpts].forEach((o, k) => {
      const sl = o.slots();
      sl.m.forEach((t, j) => load(`adam${k}/m${j}`, t));
      sl.v.forEach((t, j) => load(`adam${k}/v${j}`, t));
      o.setStep(adamT[k]!);
    });
    this.valueNorm.setState(s.extra.valueNorm as ValueNormState);
    this.order = Int32Array.from(s.extra.order as number[]);
    return Promise.resolve();
  }

  /** Frees every tensor. */
  dispose(): void {
    for (const v of this.allVars()) v.dispose();
    for (const o of [...this.actorOpts, ...this.criticOpts]) o.dispose();
  }
}

/**
 * The PPO clipped surrogate terms for one agent (CleanRL names).
 * @param logp `[B]` new log-probs
 * @param b old log-probs and advantages
 * @param clip epsilon
 * @returns ratio, and the diagnostics approx KL and clip fraction (scalars)
 */
export function ratioStats(
  logp: tf.Tensor1D,
  logpOld: tf.Tensor1D,
  clip: number,
): { ratio: tf.Tensor1D; approxKl: tf.Scalar; clipFrac: tf.Scalar } {
  const logRatio = tf.sub(logp, logpOld);
  const ratio = tf.exp(logRatio) as tf.Tensor1D;
  return {
    ratio,
    // http://joschu.net/blog/kl-approx.html: E[(r - 1) - log r]
    approxKl: tf.mean(tf.sub(tf.sub(ratio, 1), logRatio)),
    clipFrac: tf.mean(tf.cast(tf.greater(tf.abs(tf.sub(ratio, 1)), clip), "float32")),
  };
}

/**
 * Running means of scalar diagnostics, read back once per update (asynchronously, so that
 * no backend has to block on a GPU read in the middle of an update).
 */
export class MetricSums {
  readonly #items: [string, number | tf.Tensor][] = [];

  /** Adds a value; a tensor is copied and kept (the caller still owns its own handle). */
  add(key: string, v: number | tf.Tensor): void {
    this.#items.push([key, typeof v === "number" ? v : tf.keep(tf.clone(v))]);
  }

  /** @returns the mean of each key; frees the kept tensors */
  async means(): Promise<Metrics> {
    const sums = new Map<string, [number, number]>();
    for (const [k, v] of this.#items) {
      const x = typeof v === "number" ? v : (await v.data())[0]!;
      if (typeof v !== "number") v.dispose();
      const [s, c] = sums.get(k) ?? [0, 0];
      sums.set(k, [s + x, c + 1]);
    }
    this.#items.length = 0;
    return Object.fromEntries([...sums].map(([k, [s, c]]) => [k, s / c]));
  }
}

/**
 * Base of every PPO-family algorithm: acting, values, checkpoint state and disposal go to the
 * shared {@link PpoAgents}; a subclass writes only `update` (and `beginIteration` if needed).
 */
export abstract class PpoAlgorithm implements Algorithm {
  /**
   * @param name the algorithm's name
   * @param agents its per-agent networks
   */
  constructor(readonly name: string, readonly agents: PpoAgents) {}

  /** One learning update (the algorithm itself). */
  abstract update(batch: Rollout, ctx: UpdateContext): Promise<Metrics>;

  act(x: ActInput, ctx: { rng: Rng; greedy: boolean }): Promise<ActOutput> {
    return this.agents.act(x, ctx);
  }

  values(x: ActInput): Promise<Float32Array> {
    return this.agents.values(x);
  }

  getState(): Promise<AlgoState> {
    return this.agents.getState();
  }

  setState(s: AlgoState): Promise<void> {
    return this.agents.setState(s);
  }

  dispose(): void {
    this.agents.dispose();
  }
}
