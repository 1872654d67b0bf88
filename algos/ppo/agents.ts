/**
 * The per-agent networks of every PPO-family algorithm (MAPPO, IPPO, HAPPO, AR-MAPPO, BPPO):
 * actors and critics with their optimisers and value normalisers, and their forward passes.
 * Acting, batch building, the critic update and checkpoint state are in the files beside this.
 *
 * Networks follow the BPTA reference (`r_actor_critic.py`, [docs/bpta.md](../../docs/bpta.md)
 * §2): `base = MLP(o_i)` with feature LayerNorm; a conditioned actor adds
 * `action_base([u ⊙ mask_i, onehot(i)])` and normalises the sum; heads are orthogonal with
 * gain 0.01; one critic per agent on the state.
 *
 * @module
 */
import { tf } from "../../core/deps.ts";
import type { EnvSpec } from "../../core/vec_env.ts";
import { actionVecDim } from "../../core/spaces.ts";
import type { Rng } from "../../core/rng.ts";
import {
  type Dense,
  dense,
  type Gru,
  gruSeq,
  gruVars,
  layerNorm,
  makeDense,
  makeGru,
  makeMlpBase,
  makeNorm,
  type MlpBase,
  mlpBase,
  mlpVars,
  type Norm,
  rowSlice,
  variableOf,
} from "../../core/nets.ts";
import { Adam } from "../../core/adam.ts";
import { ValueNorm } from "../../core/value_norm.ts";
import { RunningNorm } from "../../core/running_norm.ts";
import {
  categoricalEntropy,
  categoricalLogp,
  gaussianEntropy,
  gaussianLogp,
  maskLogits,
} from "../../core/distributions.ts";
import { lrScaleAt, type PpoOptions } from "./options.ts";
import type { AgentBatch } from "./batch.ts";
import type { FusedActors } from "./fused.ts";

/** One agent's actor. */
export interface ActorNet {
  /** The observation MLP. */
  readonly base: MlpBase;
  /** The GRU on the observation features (`recurrent: gru`), before the fusion, or null. */
  readonly gru: Gru | null;
  /** The action-conditioning MLP (conditioned actors), or null. */
  readonly cond: MlpBase | null;
  /** LayerNorm of base + cond features (conditioned actors with featureNorm). */
  readonly fuseNorm: Norm | null;
  /** The output layer. */
  readonly head: Dense;
  /** Log std of the Gaussian policy (box actions), or null. */
  readonly logStd: tf.Variable | null;
}

/** One agent's centralised critic. */
export interface CriticNet {
  /** The observation MLP. */
  readonly base: MlpBase;
  /** The GRU on its features (`recurrent: gru`), or null. */
  readonly gru: Gru | null;
  /** The output layer. */
  readonly head: Dense;
}

/**
 * Where a recurrent forward starts: rows are `L` steps of `C` sequences, time-major
 * (`row = l C + c`), from the state `h0 [C, H]`, zeroed before rows whose `keep` is 0.
 */
export interface Recurrence {
  /** `[C, H]` the state before the first step. */
  readonly h0: tf.Tensor2D;
  /** `[L C]` 0 where an episode starts (the state resets), else 1; null: never resets. */
  readonly keep: tf.Tensor1D | null;
  /** Steps L. */
  readonly L: number;
}

/** What an actor evaluation reads of a batch's rows (the GRU fields only when recurrent). */
export type ActorRows =
  & Pick<AgentBatch, "obs" | "act" | "avail">
  & Partial<Pick<AgentBatch, "hActor" | "keep">>;

let instances = 0;

/**
 * Per-agent actors and critics with their optimisers, value normalisers and acting logic.
 * Algorithms hold one and write their update on top of it.
 */
export class PpoAgents {
  /** Number of agents. */
  readonly n: number;
  /** Action vector length A (discrete n actions or box dim). */
  readonly A: number;
  /** Whether actions are discrete. */
  readonly discrete: boolean;
  /** Per-agent actors. */
  readonly actors: ActorNet[] = [];
  /** The actors on the fused kernels (`--kernels fused`; set by the algorithm), or null. */
  fused: FusedActors | null = null;
  /** Where acting and updates run (algos/ppo/fused.ts useKernels sets it). */
  kernels: "tfjs" | "fused" = "tfjs";
  /** Counts changes of the critics' tfjs variables (a fused copy re-reads them when it differs). */
  criticVersion = 0;
  /** Per-agent critics. */
  readonly critics: CriticNet[] = [];
  /** Per-agent actor optimisers. */
  readonly actorOpts: Adam[] = [];
  /** Per-agent critic optimisers. */
  readonly criticOpts: Adam[] = [];
  /** Value normaliser of every agent. */
  readonly valueNorm: ValueNorm;
  /** Lines the run should print once (`inputNorm` choices), see {@link inputNormNote}. */
  readonly notes: readonly string[];
  /** The input normalisation in use (`inputNorm`, `auto` resolved for this env). */
  readonly inputNorm: "layer" | "running" | "none";
  /** Running statistics of each agent's observation (`inputNorm` running), else null. */
  readonly obsStats: RunningNorm[] | null;
  /** Running statistics of the global state (`inputNorm` running, state critics), else null. */
  readonly stateStats: RunningNorm | null;
  /** Execution (chain) order: position p acts as agent order[p]. */
  order: Int32Array;
  /** Every variable by its instance-free name (checkpoint keys). */
  readonly named = new Map<string, tf.Variable>();
  readonly #criticDim: number;

  /**
   * Creates it.
   * @param spec the env spec
   * @param opts PPO options, whether actors condition on predecessors' actions, and an rng
   */
  constructor(
    readonly spec: EnvSpec,
    readonly opts: PpoOptions & {
      conditioned: boolean;
      storeNoise?: boolean;
      rng: Rng;
      rolloutLength?: number;
    },
  ) {
    if (
      opts.recurrent === "gru" && opts.rolloutLength !== undefined &&
      opts.rolloutLength % opts.chunk !== 0
    ) {
      throw new Error(
        `Invalid --algo-opt chunk=${opts.chunk}: the truncated-BPTT chunk must divide --rollout-length ${opts.rolloutLength} (e.g. chunk=${
          largestDivisor(opts.rolloutLength, opts.chunk)
        })`,
      );
    }
    const { numAgents: n, obsDim, stateDim } = spec;
    this.n = n;
    this.A = actionVecDim(spec.actionSpace);
    this.discrete = spec.actionSpace.kind === "discrete";
    this.order = Int32Array.from({ length: n }, (_, i) => i);
    this.valueNorm = new ValueNorm(n);
    this.shared = opts.share;
    // shared networks see which agent they act for: an agent-id one-hot after the inputs
    const id = opts.share ? n : 0;
    this.obsIn = obsDim + id;
    this.#criticDim = (opts.critic === "state" ? stateDim : obsDim) + id;
    const pre = `baton${instances++}`;
    const criticIn = opts.critic === "state" ? stateDim : obsDim;
    this.inputNorm = resolveInputNorm(opts, obsDim, criticIn);
    this.notes = [inputNormNote(opts, obsDim, criticIn)].filter((x): x is string => x !== null);
    const running = this.inputNorm === "running";
    this.obsStats = running ? Array.from({ length: n }, () => new RunningNorm(obsDim)) : null;
    this.stateStats = running && opts.critic === "state" ? new RunningNorm(stateDim) : null;
    const net = {
      hidden: opts.hidden,
      layers: opts.layers,
      activation: opts.activation,
      featureNorm: opts.featureNorm,
      inputNorm: this.inputNorm === "layer",
      rng: opts.rng,
    };
    const gru = (name: string) =>
      opts.recurrent === "gru"
        ? makeGru(name, {
          inDim: opts.hidden,
          hidden: opts.hidden,
          featureNorm: opts.featureNorm,
          rng: opts.rng,
        })
        : null;
    for (let i = 0; i < this.nets; i++) {
      const actor: ActorNet = {
        base: makeMlpBase(`${pre}/actor${i}/base`, { inDim: this.obsIn, ...net }),
        gru: gru(`${pre}/actor${i}/gru`),
        cond: opts.conditioned
          ? makeMlpBase(`${pre}/actor${i}/cond`, {
            inDim: n * this.A + n,
            ...net,
            inputNorm: opts.featureNorm, // actions and positions, not observations
          })
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
          : variableOf(tf.fill([this.A], opts.logStdInit), true, `${pre}/actor${i}/logStd`),
      };
      const critic: CriticNet = {
        base: makeMlpBase(`${pre}/critic${i}/base`, { inDim: this.#criticDim, ...net }),
        gru: gru(`${pre}/critic${i}/gru`),
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
    for (let i = this.nets; i < n; i++) { // shared: every agent's entry is the one network
      this.actors.push(this.actors[0]!);
      this.critics.push(this.critics[0]!);
    }
    for (const v of this.allVars()) this.named.set(v.name.slice(pre.length + 1), v);
  }

  /** Whether all agents share one actor and one critic (`share`). */
  readonly shared: boolean;
  /** Actor input width: the observation, plus the agent-id one-hot when shared. */
  readonly obsIn: number;

  /** Whether actors and critics carry a GRU state (`recurrent: gru`). */
  get recurrent(): boolean {
    return this.opts.recurrent === "gru";
  }

  /** Steps per training sequence: the BPTT chunk when recurrent, else 1. */
  get seqLen(): number {
    return this.recurrent ? this.opts.chunk : 1;
  }

  /** GRU state size H (the hidden width). */
  get H(): number {
    return this.opts.hidden;
  }

  /**
   * Memory per env: every agent's actor state, then every agent's critic state (`2 n H`), or 0.
   */
  get memorySize(): number {
    return this.recurrent ? 2 * this.n * this.H : 0;
  }

  /** Networks of each kind: 1 when shared, else n. */
  get nets(): number {
    return this.shared ? 1 : this.n;
  }

  /** Agent i's actor optimiser (the one optimiser when shared). */
  actorOpt(i: number): Adam {
    return this.actorOpts[this.shared ? 0 : i]!;
  }

  /** Agent i's critic optimiser (the one optimiser when shared). */
  criticOpt(i: number): Adam {
    return this.criticOpts[this.shared ? 0 : i]!;
  }

  /**
   * Agent i's rows of a `[rows, n, width]` array as `[rows, width (+ n)]`, with the agent-id
   * one-hot appended when the networks are shared.
   * @param src the array
   * @param i the agent
   * @param rows leading size
   * @param width per-agent width
   * @returns a new array
   */
  agentRows(src: ArrayLike<number>, i: number, rows: number, width: number): Float32Array {
    const n = this.n, w = width + (this.shared ? n : 0);
    const out = new Float32Array(rows * w);
    for (let s = 0; s < rows; s++) {
      const k = (s * n + i) * width;
      for (let j = 0; j < width; j++) out[s * w + j] = src[k + j]!;
      if (this.shared) out[s * w + width + i] = 1;
    }
    return out;
  }

  /**
   * The critic input of agent i for `rows` rows: the state `[rows, stateDim]` (or the agent's
   * observations), with the agent-id one-hot appended when shared.
   * @param state `[rows, stateDim]`
   * @param obs `[rows, n, obsDim]`
   * @param i the agent
   * @param rows leading size
   * @returns `[rows, criticDim]`
   */
  criticRows(state: Float32Array, obs: Float32Array, i: number, rows: number): Float32Array {
    const { stateDim } = this.spec;
    if (this.opts.critic === "obs") return this.obsRows(obs, i, rows);
    let out: Float32Array;
    if (!this.shared) out = state.slice(0, rows * stateDim);
    else {
      const w = stateDim + this.n;
      out = new Float32Array(rows * w);
      for (let s = 0; s < rows; s++) {
        out.set(state.subarray(s * stateDim, (s + 1) * stateDim), s * w);
        out[s * w + stateDim + i] = 1;
      }
    }
    this.stateStats?.apply(out, rows, this.#criticDim);
    return out;
  }

  /**
   * Agent i's actor input for `rows` rows: its observations (normalised with the running
   * statistics when `inputNorm` is running), with the agent-id one-hot appended when shared.
   * @param obs `[rows, n, obsDim]`
   * @param i the agent
   * @param rows leading size
   * @returns `[rows, obsIn]`
   */
  obsRows(obs: Float32Array, i: number, rows: number): Float32Array {
    const out = this.agentRows(obs, i, rows, this.spec.obsDim);
    this.obsStats?.[i]?.apply(out, rows, this.obsIn);
    return out;
  }

  /**
   * Sets every optimiser's learning-rate factor for an update at `progress` of the run
   * (`lrSchedule`; the critic Workers receive it with the critics' slots).
   * @param progress fraction of training done before this update
   * @returns the factor
   */
  applyLrSchedule(progress: number): number {
    const s = lrScaleAt(this.opts.lrSchedule, progress);
    for (const o of [...this.actorOpts, ...this.criticOpts]) o.lrScale = s;
    return s;
  }

  /**
   * Merges a rollout's raw observations and states into the running statistics (after the
   * update has used the statistics the rollout was acted with; see prepareBatch).
   * @param obs `[rows, n, obsDim]`
   * @param state `[rows, stateDim]`
   * @param rows leading size
   */
  updateInputStats(obs: Float32Array, state: Float32Array, rows: number): void {
    const { obsDim, stateDim } = this.spec;
    this.obsStats?.forEach((st, i) => st.update(obs, rows, this.n * obsDim, i * obsDim));
    this.stateStats?.update(state, rows, stateDim);
  }

  /** Returns agent i's actor variables. */
  actorVars(i: number): tf.Variable[] {
    const a = this.actors[i]!;
    return [
      ...mlpVars(a.base),
      ...(a.gru ? gruVars(a.gru) : []),
      ...(a.cond ? mlpVars(a.cond) : []),
      ...(a.fuseNorm ? [a.fuseNorm.g, a.fuseNorm.b] : []),
      a.head.W,
      a.head.b,
      ...(a.logStd ? [a.logStd] : []),
    ];
  }

  /** Returns agent i's critic variables. */
  criticVars(i: number): tf.Variable[] {
    const c = this.critics[i]!;
    return [...mlpVars(c.base), ...(c.gru ? gruVars(c.gru) : []), c.head.W, c.head.b];
  }

  /** Critic input width (state or own observation). */
  get criticDim(): number {
    return this.#criticDim;
  }

  /** Returns every variable (each shared one once). */
  allVars(): tf.Variable[] {
    const out: tf.Variable[] = [];
    for (let i = 0; i < this.nets; i++) out.push(...this.actorVars(i), ...this.criticVars(i));
    return out;
  }

  // ---------------------------------------------------------------- forward passes

  /**
   * `[n * A]` mask that keeps the action slots of agent i's predecessors in the chain.
   * @param i the agent
   * @returns the execution mask, docs/bpta.md §2
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
   * Actor forward of agent i: logits (discrete) or mean (box), and the GRU state after the last
   * step (recurrent actors).
   * @param i the agent
   * @param obs `[B, obsDim]`
   * @param cond `[B, n * A + n]` conditioning input (conditioned actors only)
   * @param rec where the GRU starts (recurrent actors; rows are then L steps of B / L sequences)
   * @returns `out [B, A]` and `last [B / L, H]` (null without a GRU)
   */
  actorForward(
    i: number,
    obs: tf.Tensor2D,
    cond: tf.Tensor2D | null,
    rec: Recurrence | null,
  ): { out: tf.Tensor2D; last: tf.Tensor2D | null } {
    const a = this.actors[i]!;
    let h = mlpBase(obs, a.base);
    let last: tf.Tensor2D | null = null;
    if (a.gru) { // x, h = GRU(base(o), h · mask), then LayerNorm (docs/bpta.md §2)
      if (!rec) throw new Error("a recurrent actor needs its GRU state");
      ({ out: h, last } = gruSeq(h, rec.h0, rec.keep, rec.L, a.gru));
    }
    if (a.cond && cond) {
      h = tf.add(h, mlpBase(cond, a.cond));
      if (a.fuseNorm) h = layerNorm(h, a.fuseNorm);
    }
    return { out: dense(h, a.head), last };
  }

  /**
   * Actor forward of agent i: logits (discrete) or mean (box).
   * @param i the agent
   * @param obs `[B, obsDim]`
   * @param cond `[B, n * A + n]` conditioning input (conditioned actors only)
   * @param rec where the GRU starts (recurrent actors)
   * @returns `[B, A]`
   */
  actorOut(
    i: number,
    obs: tf.Tensor2D,
    cond: tf.Tensor2D | null,
    rec: Recurrence | null = null,
  ): tf.Tensor2D {
    return this.actorForward(i, obs, cond, rec).out;
  }

  /**
   * The recurrence of a batch's rows: `L = seqLen` steps, the state of each sequence's first
   * row as `h0`, the rows' reset flags as `keep` (null for feed-forward networks).
   * @param h `[B, H]` the stored state of every row
   * @param keep `[B]` 0 at episode starts
   * @returns the recurrence, or null
   */
  rowsRecurrence(h: tf.Tensor2D | null, keep: tf.Tensor1D | null): Recurrence | null {
    if (!this.recurrent) return null;
    if (!h) throw new Error("a recurrent network's batch needs its stored GRU states");
    const L = this.seqLen, C = h.shape[0] / L;
    return { h0: rowSlice(h, 0, C), keep, L };
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
    b: ActorRows,
    u: tf.Tensor2D | null,
  ): { logp: tf.Tensor1D; entropy: tf.Scalar; out: tf.Tensor2D } {
    return this.evaluateWith(i, b, u && this.opts.conditioned ? this.condInput(i, u) : null);
  }

  /**
   * {@link evaluate} with the conditioning input already built (shared networks stack several
   * agents' rows, each with its own execution mask).
   * @param i the agent (any agent when shared)
   * @param b rows: observations, actions, availability
   * @param cond `[B, n * A + n]` conditioning input, or null
   * @returns logp `[B]`, mean entropy and the raw head output
   */
  evaluateWith(
    i: number,
    b: ActorRows,
    cond: tf.Tensor2D | null,
  ): { logp: tf.Tensor1D; entropy: tf.Scalar; out: tf.Tensor2D } {
    const out = this.actorOut(
      i,
      b.obs,
      cond,
      this.rowsRecurrence(b.hActor ?? null, b.keep ?? null),
    );
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
   * Critic forward of agent i, and its GRU state after the last step (recurrent critics).
   * @param i the agent
   * @param x `[B, criticDim]`
   * @param rec where the GRU starts (recurrent critics)
   * @returns `value [B]` (normalised scale when ValueNorm is on) and `last [B / L, H]` or null
   */
  valueForward(
    i: number,
    x: tf.Tensor2D,
    rec: Recurrence | null,
  ): { value: tf.Tensor1D; last: tf.Tensor2D | null } {
    const c = this.critics[i]!;
    let h = mlpBase(x, c.base);
    let last: tf.Tensor2D | null = null;
    if (c.gru) {
      if (!rec) throw new Error("a recurrent critic needs its GRU state");
      ({ out: h, last } = gruSeq(h, rec.h0, rec.keep, rec.L, c.gru));
    }
    return { value: tf.reshape(dense(h, c.head), [-1]), last };
  }

  /**
   * Critic forward of agent i.
   * @param i the agent
   * @param x `[B, criticDim]`
   * @param rec where the GRU starts (recurrent critics)
   * @returns `[B]` (normalised scale when ValueNorm is on)
   */
  valueOut(i: number, x: tf.Tensor2D, rec: Recurrence | null = null): tf.Tensor1D {
    return this.valueForward(i, x, rec).value;
  }

  /** Frees every tensor. */
  dispose(): void {
    for (const v of this.allVars()) v.dispose();
    for (const o of [...this.actorOpts, ...this.criticOpts]) o.dispose();
  }
}

/** The largest divisor of n that is at most k (a chunk length to suggest). */
function largestDivisor(n: number, k: number): number {
  for (let d = Math.min(n, k); d > 1; d--) if (n % d === 0) return d;
  return 1;
}

/**
 * The input normalisation a network set uses: `inputNorm` as given, or for `auto` a LayerNorm
 * when featureNorm is on and every input has 3+ features, running statistics when one has fewer
 * (a LayerNorm over two features leaves only their order, over one nothing), none without
 * featureNorm.
 * @param o the options
 * @param obsDim actor input features
 * @param criticDim critic input features (before any agent id)
 * @returns the mode
 */
export function resolveInputNorm(
  o: Pick<PpoOptions, "inputNorm" | "featureNorm">,
  obsDim: number,
  criticDim: number,
): "layer" | "running" | "none" {
  if (o.inputNorm !== "auto") return o.inputNorm;
  if (!o.featureNorm) return "none";
  return Math.min(obsDim, criticDim) >= 3 ? "layer" : "running";
}

/**
 * What a run should be told about its input normalisation: that `auto` avoided a LayerNorm, or
 * that a forced one erases an input; null when there is nothing to say.
 * @param o the options
 * @param obsDim actor input features
 * @param criticDim critic input features
 * @returns one line, or null
 */
export function inputNormNote(
  o: Pick<PpoOptions, "inputNorm" | "featureNorm">,
  obsDim: number,
  criticDim: number,
): string | null {
  const narrow = Math.min(obsDim, criticDim);
  if (narrow >= 3) return null;
  const what = `${narrow === obsDim ? "observations" : "critic inputs"} have ${narrow} feature${
    narrow === 1 ? "" : "s"
  }`;
  if (o.inputNorm === "layer") {
    return `Warning: inputNorm=layer: the ${what}; a LayerNorm over them keeps ${
      narrow === 1 ? "nothing" : "only which one is larger"
    } (use --algo-opt inputNorm=running)`;
  }
  if (resolveInputNorm(o, obsDim, criticDim) === "running" && o.inputNorm === "auto") {
    return `Note: inputNorm auto: the ${what}, which a LayerNorm would erase; normalising them with running mean/std instead`;
  }
  return null;
}
