/**
 * BPPO: Backpropagation Through Agents with PPO (Li, Zhao, Wu, Pajarinen, AAAI 2024), as
 * [docs/bpta.md](../docs/bpta.md) §2-§4c describes it. Agents act in a chain; each actor sees its
 * predecessors' action vectors. Agents are updated one at a time in reverse chain order (the
 * sequential core in `sequential.ts`, shared with HAPPO); agent k's loss has the factor `M_k` of
 * the already-updated agents and the peer-learning term `sg(rho_k) g_k · x_k`, where `g_k` is the
 * feedback its successors computed by differentiating their new surrogate with respect to the
 * stored action vectors, and `x_k` is k's reparameterised action.
 *
 * Two estimators of the peer term (`estimator`, docs/bpta.md §4c):
 * - `paper` (default), the Monte-Carlo form of Theorem 1: per-sample feedback
 *   `d(rho_j A_j)_q / d u_i,q` (no 1/N), every action slot, clipped per sample (row norm), and
 *   `x_k` rebuilt from the noise that produced the action at rollout time (Gumbel-max for
 *   discrete, `a = mu + sigma eps` for continuous, so the gradient also reaches sigma).
 * - `reference`, the authors' code bit for bit: the gradient of the successors' batch *mean*
 *   (`peerScale: "mean"`, ~1/N per sample), the whole `[N, nA]` gradient norm-clipped, only the
 *   taken action's slot, fresh Gumbel noise in `x_k`, and no gradient through sigma.
 * Both use the intended successor multiplier `prod_{l != k, j} rho_l` (the reference code drops
 * rho_{j+1} instead of rho_j) and one own term per sample (`peerWeight` 1/A reproduces the
 * reference's A-fold own term).
 *
 * @module
 */
import { tf, z } from "../core/deps.ts";
import type { AlgoEntry, Metrics, Rollout, UpdateContext } from "../core/algorithm.ts";
import type { EnvSpec } from "../core/vec_env.ts";
import { Rng } from "../core/rng.ts";
import {
  type AgentBatch,
  disposeBatch,
  gatherRows,
  MetricSums,
  PpoAgents,
  ppoOptions,
  prepareBatch,
  ratioStats,
  type TrainBatch,
} from "./ppo/mod.ts";
import type { AlgoState } from "../core/algorithm.ts";
import { ActionValueCritic } from "./ppo/action_value.ts";
import { type FusedActors, useKernels } from "./ppo/fused.ts";
import { FusedQ } from "./ppo/fused_critics.ts";
import { addAll, sg } from "../core/nets.ts";
import {
  chainActions,
  clipRowNorms,
  feedbackOf,
  paperTrainAction,
  pathwiseTerm,
  peerTerm,
  successorSignal,
  trainAction,
} from "./estimators.ts";
import {
  type ActorTerms,
  clippedProduct,
  refuseSharing,
  SequentialPpo,
  sequentialSurrogate,
} from "./sequential.ts";

export { clipRowNorms, paperTrainAction, sg, successorSignal, trainAction };

/** BPPO's options: the PPO ones plus the estimator, peer term, factor, order and Gumbel settings. */
export const bppoOptions = ppoOptions.extend({
  estimator: z.enum(["paper", "reference", "pathwise"]).default("paper").describe(
    "paper (own + peer term, Theorem 1, per sample, stored noise; biased, docs/bpta.md §4d), reference (authors' code), or pathwise (through an action-value critic and every successor's reparameterised action; unbiased with an exact critic)",
  ),
  gumbelTemperature: z.number().positive().default(1).describe(
    "Gumbel-softmax temperature tau of the reparameterised action (initial value if annealed)",
  ),
  temperatureSchedule: z.enum(["constant", "cosine"]).default("constant").describe(
    "tau over training: constant, or cosine-annealed to temperatureMin (reference decay_id 1)",
  ),
  temperatureMin: z.number().positive().default(0.05).describe("final tau of the cosine schedule"),
  peerWeight: z.number().min(0).default(1).describe(
    "weight of the peer-learning term (0 = off; 1/A mimics the reference's weighting)",
  ),
  peerScale: z.enum(["mean", "sum"]).default("mean").describe(
    "estimator=reference only: feedback = gradient of the successors' batch mean (~1/N) or sum",
  ),
  feedbackMaxNorm: z.number().min(0).default(10).describe(
    "feedback clip (0 = off): paper, each sample's g_k row; reference, the whole gradient",
  ),
  useFactor: z.boolean().default(true).describe(
    "multiply by the updated agents' ratio product M_k",
  ),
  factorClip: z.boolean().default(true).describe("clip M_k to [1 - clip/2, 1 + clip/2]"),
  order: z.enum(["identity", "random"]).default("identity").describe(
    "chain order: fixed identity (reference) or a random permutation per iteration",
  ),
});

/** Parsed {@link bppoOptions}. */
export type BppoOptions = z.infer<typeof bppoOptions>;

/** What agent k's actor loss needs besides its own rows. */
export interface PeerInputs {
  /** `[B]` clipped factor M_k. */
  readonly M: tf.Tensor1D;
  /** `[B, A]` feedback g_k, or null when no successor sent any. */
  readonly g: tf.Tensor2D | null;
  /** `[B, A]` noise of x_k: fresh Gumbel (reference, discrete), the stored noise (paper), or null. */
  readonly noise: tf.Tensor2D | null;
  /** Gumbel temperature. */
  readonly tau: number;
}

/** BPPO: sequential per-agent updates in reverse chain order with the peer-learning term. */
export class Bppo extends SequentialPpo {
  /** Chain order: fixed identity or drawn per iteration. */
  readonly orderKind: "identity" | "random";
  /** The parsed options. */
  readonly options: BppoOptions;

  /**
   * Creates it.
   * @param spec the env spec
   * @param opts parsed options and an rng
   */
  constructor(
    spec: EnvSpec,
    opts: {
      options: BppoOptions;
      rng: Rng;
      threads?: number;
      rolloutLength?: number;
      kernels?: "auto" | "tfjs" | "fused";
    },
  ) {
    refuseSharing("bppo", opts.options.share);
    const o = opts.options;
    super(
      "bppo",
      new PpoAgents(spec, {
        ...o,
        conditioned: true,
        storeNoise: o.estimator !== "reference", // paper and pathwise reuse the sampling noise
        rng: opts.rng,
        rolloutLength: opts.rolloutLength,
      }),
      opts.threads,
    );
    this.options = o;
    this.orderKind = o.order;
    if (o.estimator === "pathwise") {
      const ag = this.agents;
      this.#q = new ActionValueCritic(ag.criticDim + ag.n * ag.A, {
        hidden: o.hidden,
        layers: o.layers,
        activation: o.activation,
        featureNorm: o.featureNorm,
        inputNorm: ag.inputNorm === "layer",
        lr: o.criticLr,
        eps: o.adamEps,
        maxGradNorm: o.maxGradNorm,
        rng: opts.rng.fork(),
      });
    }
    this.#fused = this.orDispose(() => useKernels(this.agents, opts.kernels, o.estimator));
    const q = this.#q;
    if (this.#fused && q) this.#fq = this.orDispose(() => new FusedQ(q));
  }

  /** The action-value critic of the pathwise estimator (null for the others). */
  readonly #q: ActionValueCritic | null = null;

  /** The actor update on the fused kernels (`--kernels fused`), or null. */
  readonly #fused: FusedActors | null = null;
  /** The action-value critic on the fused kernels (fused path, pathwise estimator), or null. */
  readonly #fq: FusedQ | null = null;

  /** Agents after k in chain order. */
  successors(k: number): number[] {
    const o = this.agents.order;
    return Array.from(o.subarray(o.indexOf(k) + 1));
  }

  /**
   * `[N, A]` the pathwise gradient agent k follows (docs/bpta.md §4d): the total derivative
   * `(dQ/du_k)_total` of `Q(s, u)` at the sampled joint action, through every successor's
   * reparameterised action recomputed from `x_k` with its stored noise. Taken once per agent
   * update, at the behaviour point (where it is the unbiased estimate), then held fixed over k's
   * epochs, as the paper's feedback `g_k` is: one backward pass through the chain per agent, not
   * one per minibatch and epoch.
   * @param k the agent
   * @param tb the update's tensors
   * @param tau Gumbel temperature
   * @returns a tensor the caller disposes
   */
  pathwiseGrad(k: number, tb: TrainBatch, tau: number): tf.Tensor2D {
    const ag = this.agents;
    const logStd = (j: number) => ag.actors[j]!.logStd as tf.Tensor1D | null;
    const s = tb.agents[0]!.criticIn;
    return tf.tidy(() =>
      tf.grad((xk: tf.Tensor) => {
        const chain = chainActions(tb.u, k, xk as tf.Tensor2D, this.successors(k), ag.A, (j, v) => {
          const bj = tb.agents[j]!;
          const r = ag.evaluate(j, bj, v); // successor j's policy at the chained actions
          return paperTrainAction(r.out, { act: bj.act, noise: bj.noise!, tau, logStd: logStd(j) });
        });
        return tf.sum(pathwiseTerm((v) => this.#q!.value(s, v), chain)); // Q(s, x_1..x_n)
      })(tb.agents[k]!.act) as tf.Tensor2D
    );
  }

  /**
   * Agent k's actor loss under the pathwise estimator: `-mean(m f_k . x_k) - c_ent H`, with
   * `f_k` from {@link pathwiseGrad} and `x_k` k's reparameterised action (stored noise). Trust
   * region: the ratio clip as a mask, `m = 1` while `|rho_k - 1| <= clip` (a sample that moved
   * past PPO's range stops pushing, as PPO's clipped branch does); it needs no tuned coefficient,
   * unlike a KL penalty.
   * @param k the agent
   * @param b its rows
   * @param u `[B, n A]` their joint actions (k's conditioning input)
   * @param f `[B, A]` its rows of the pathwise gradient
   * @param tau Gumbel temperature
   * @returns the loss and its named terms
   */
  pathwiseLoss(k: number, b: AgentBatch, u: tf.Tensor2D, f: tf.Tensor2D, tau: number): ActorTerms {
    const ag = this.agents, eps = ag.opts.clip;
    const { logp, entropy, out } = ag.evaluate(k, b, u);
    const { ratio, approxKl, clipFrac } = ratioStats(logp, b.logpOld, eps);
    const logStd = ag.actors[k]!.logStd as tf.Tensor1D | null;
    const xk = paperTrainAction(out, { act: b.act, noise: b.noise!, tau, logStd });
    // m = 1 while |rho_k - 1| <= clip (step() has a gradient, zero; a comparison has none)
    const inside = tf.step(tf.sub(eps + 1e-7, tf.abs(tf.sub(sg(ratio), 1))));
    const path = peerTerm(f, xk, 1); // f_k . x_k: its gradient is (dQ/du_k)_total dx_k/dtheta_k
    const pgLoss = tf.neg(tf.mean(tf.mul(inside, path))) as tf.Scalar; // -mean(m f_k . x_k)
    const loss = tf.sub(pgLoss, tf.mul(ag.opts.entropyCoef, entropy)) as tf.Scalar;
    return { loss, pgLoss, entropy, approxKl, clipFrac, peer: null };
  }

  /** The agents' state, plus the action-value critic's (pathwise). */
  override async getState(): Promise<AlgoState> {
    const s = await super.getState();
    if (this.#q) await this.#q.saveTo(s);
    return s;
  }

  /**
   * Restores {@link getState}'s output.
   * @param s the state
   */
  override async setState(s: AlgoState): Promise<void> {
    await super.setState(s);
    this.#q?.loadFrom(s);
  }

  /** Frees the networks, the action-value critic's included. */
  override dispose(): void {
    this.#q?.dispose();
    this.#fq?.dispose();
    super.dispose();
  }

  /** Returns the Gumbel temperature at a point of training. */
  temperature(progress: number): number {
    const s = this.options;
    if (s.temperatureSchedule === "constant") return s.gumbelTemperature;
    return s.temperatureMin +
      (s.gumbelTemperature - s.temperatureMin) * (1 + Math.cos(Math.PI * progress)) / 2;
  }

  /**
   * Agent k's actor loss on a (mini)batch, term by term (docs/bpta.md §4 step 3).
   * @param k the agent
   * @param b its rows
   * @param x conditioning actions u `[B, n A]`, factor, feedback, noise, temperature, and whether
   *   to split the surrogate into its own and peer parts (diagnostics)
   * @returns the loss and its named terms
   */
  actorLoss(
    k: number,
    b: AgentBatch,
    x: PeerInputs & { u: tf.Tensor2D; split?: boolean },
  ): ActorTerms {
    const { logp, entropy, out } = this.agents.evaluate(k, b, x.u);
    let peer: tf.Tensor1D | null = null;
    if (x.g && this.options.peerWeight > 0) {
      const xk = this.options.estimator === "paper"
        ? paperTrainAction(out, { // x_k, §4c
          act: b.act,
          noise: x.noise!,
          tau: x.tau,
          logStd: this.agents.actors[k]!.logStd as tf.Tensor1D | null,
        })
        : trainAction(out, { act: b.act, noise: x.noise, tau: x.tau }); // x_k, §3
      peer = peerTerm(x.g, xk, this.options.peerWeight); // w g_k · x_k
    }
    return sequentialSurrogate(b, {
      logp,
      entropy,
      M: x.M,
      peer,
      clip: this.agents.opts.clip,
      entropyCoef: this.agents.opts.entropyCoef,
      split: x.split,
    });
  }

  /**
   * `[N]` the objective agent k reports upstream, per sample: `rho_k(u) * A_k` with
   * `rho_k = exp(logp_k(u) - logpBefore)` (docs/bpta.md §4, end of step 3).
   * @param k the agent
   * @param tb the update's tensors
   * @param logpBefore `[N]` agent k's log-probs before its update
   * @returns a function of the stored action vectors u `[N, n A]`
   */
  successorObjective(
    k: number,
    tb: TrainBatch,
    logpBefore: tf.Tensor1D,
  ): (u: tf.Tensor2D) => tf.Tensor1D {
    const full = tb.agents[k]!;
    return (u) => {
      const { logp } = this.agents.evaluate(k, full, u);
      return tf.mul(tf.exp(tf.sub(logp, logpBefore)), full.adv) as tf.Tensor1D; // rho_k * A_k
    };
  }

  /**
   * The feedback agent k sends upstream: the gradient of its objective with respect to the
   * stored action vectors u. Paper: of the sum, i.e. each sample's own derivative (clipped later,
   * per sample). Reference: of the mean (`peerScale` "mean") or sum, the whole tensor
   * norm-clipped to `feedbackMaxNorm`.
   * @param k the agent
   * @param tb the update's tensors
   * @param logpBefore `[N]` agent k's log-probs before its update
   * @returns `[N, n A]`
   */
  async feedback(k: number, tb: TrainBatch, logpBefore: tf.Tensor1D): Promise<Float32Array> {
    const o = this.options;
    const paper = o.estimator === "paper";
    const d = tf.tidy(() => {
      const J = this.successorObjective(k, tb, logpBefore);
      // paper: each sample's own derivative; reference: of the batch mean (or sum)
      let grad = feedbackOf(J, tb.u, paper || o.peerScale === "sum" ? "sum" : "mean");
      if (!paper && o.feedbackMaxNorm > 0) {
        const norm = tf.norm(grad); // reference: one norm over the whole [N, nA] tensor
        grad = tf.mul(grad, tf.minimum(1, tf.div(o.feedbackMaxNorm, tf.add(norm, 1e-6))));
      }
      return grad;
    });
    const out = (await d.data()) as Float32Array;
    d.dispose();
    return out;
  }

  /**
   * `G[k][i]` for each predecessor i: the slice of k's feedback on u_i; every slot (paper), or
   * for discrete actions only the taken action's slot (reference, one scalar per sample).
   * @param k the agent that sends
   * @param tb the update's tensors
   * @param d `[N, n A]` from {@link feedback}
   * @returns `[N, A]` per predecessor
   */
  async feedbackTo(k: number, tb: TrainBatch, d: Float32Array): Promise<Map<number, Float32Array>> {
    const { n, A } = this.agents;
    const takenOnly = this.agents.discrete && this.options.estimator === "reference";
    const out = new Map<number, Float32Array>();
    for (const i of this.predecessors(k)) {
      const onehot = takenOnly ? await tb.agents[i]!.act.data() : null;
      const Gki = new Float32Array(tb.N * A);
      for (let q = 0; q < tb.N; q++) {
        for (let c = 0; c < A; c++) {
          const v = d[q * n * A + i * A + c]!;
          Gki[q * A + c] = onehot ? v * onehot[q * A + c]! : v;
        }
      }
      out.set(i, Gki);
    }
    return out;
  }

  /**
   * Records `||grad own|| / ||grad peer||`-style diagnostics of agent k on one minibatch: the
   * actor-gradient norms of the own part and of the peer part of the surrogate (the branch
   * `min(surr1, surr2)` picks, so the two add up to the gradient of the loss).
   */
  #gradParts(k: number, b: AgentBatch, x: PeerInputs & { u: tf.Tensor2D }, m: MetricSums): void {
    const vars = this.agents.actorVars(k);
    const norm = (part: "ownPart" | "peerPart") =>
      tf.tidy(() => {
        const { grads } = tf.variableGrads(
          () => this.actorLoss(k, b, { ...x, split: true })[part]!,
          vars,
        );
        return tf.sqrt(addAll(Object.values(grads).map((g) => tf.sum(tf.square(g)))));
      });
    const own = norm("ownPart"), peer = norm("peerPart");
    m.add("bppo/grad_own", own);
    m.add("bppo/grad_peer", peer);
    m.add("bppo/grad_peer_over_own", tf.div(peer, tf.add(own, 1e-12)));
    tf.dispose([own, peer]);
  }

  /** One learning update from a rollout. */
  protected async learn(r: Rollout, ctx: UpdateContext): Promise<Metrics> {
    const ag = this.agents, o = this.options, eps = ag.opts.clip;
    const paper = o.estimator === "paper", pathwise = o.estimator === "pathwise";
    const { n, A } = ag;
    if (pathwise && !r.noise) {
      throw new Error(
        "BPPO's pathwise estimator needs the rollout's sampling noise (Rollout.noise): collect the rollout with this algorithm's act()",
      );
    }
    const tb = prepareBatch(ag, r);
    const N = tb.N, tau = this.temperature(ctx.progress);
    const peerOn = o.peerWeight > 0 && !pathwise;
    if (paper && peerOn && !r.noise) {
      throw new Error(
        "BPPO's paper estimator needs the rollout's sampling noise (Rollout.noise): collect the rollout with this algorithm's act(), or pass --algo-opt estimator=reference",
      );
    }
    const critics = this.critics.start(tb, ctx.rng); // beside the actor chain, on other threads
    const m = new MetricSums();
    const factor: Float32Array[] = Array.from({ length: n }, () => new Float32Array(N).fill(1)); // factor_j = rho_j
    const G: (Float32Array | null)[][] = Array.from({ length: n }, () => Array(n).fill(null)); // G[j][i], [N, A]
    const clipHalf = o.factorClip ? eps / 2 : null;
    const updated: number[] = [];
    let seqSec = 0, feedbackSec = 0, qLoss: number | null = null;
    const qs = this.#fq ? tb.agents[0]!.criticIn.dataSync() as Float32Array : null;
    const qOpts = {
      epochs: ag.opts.epochs,
      minibatches: ag.opts.minibatches,
      rng: ctx.rng,
      huberDelta: ag.opts.huberDelta,
      lrScale: ag.criticOpts[0]!.lrScale,
    };
    if (pathwise && this.#fq) { // the same regression on the fused kernels
      const fbStart = performance.now();
      qLoss = this.#fq.train(
        qs!,
        tb.u.dataSync() as Float32Array,
        tb.agents[0]!.ret.dataSync() as Float32Array,
        qOpts,
      );
      feedbackSec += (performance.now() - fbStart) / 1000;
    } else if (pathwise) { // Q(s, u) on this batch's returns, before the actors follow its gradient
      const fbStart = performance.now();
      qLoss = await this.#q!.train(tb.agents[0]!.criticIn, tb.u, tb.agents[0]!.ret, qOpts);
      feedbackSec += (performance.now() - fbStart) / 1000;
    }
    const F = this.#fused;
    F?.begin(tb);
    for (const k of this.updateOrder()) {
      const agentStart = performance.now();
      // M_k = clip(prod_{j updated} rho_j, 1 ± eps/2)
      const M = o.useFactor
        ? clippedProduct(factor, updated, clipHalf)
        : new Float32Array(N).fill(1);
      // g_k = sum_{j updated} G[j][k] * clip(prod_{l updated, l != j} rho_l, 1 ± eps/2)
      const g = successorSignal(k, { G, factor, updated, clip: clipHalf, N, A });
      if (g && paper) clipRowNorms(g, A, o.feedbackMaxNorm); // §4c: clip each sample's f_q
      if (F && pathwise) { // (dQ/du_k)_total on the kernels, then k's epochs following it
        const pathStart = performance.now();
        const f = F.pathwiseGrad(k, this.#fq!, qs!, this.successors(k), tau);
        feedbackSec += (performance.now() - pathStart) / 1000;
        F.trainPathwise(k, { rng: ctx.rng, metrics: m, f, tau });
        m.add("bppo/factor_mean", M.reduce((a, b) => a + b, 0) / N);
        updated.push(k);
        seqSec += (performance.now() - agentStart) / 1000;
        continue;
      }
      if (F) { // the same steps on the fused kernels
        const before = F.logp(k); // k's log-probs before its epochs
        F.train(k, {
          rng: ctx.rng,
          metrics: m,
          M,
          peer: g && peerOn
            ? { g, weight: o.peerWeight, tau, estimator: paper ? "paper" : "reference" }
            : null,
          diagnose: g && peerOn ? new Rng(k) : null,
        });
        const after = F.logp(k);
        factor[k] = after.map((v, q) => Math.exp(v - before[q]!)); // rho_k
        m.add("bppo/factor_mean", M.reduce((a, b) => a + b, 0) / N);
        const fbStart = performance.now();
        if (peerOn && this.predecessors(k).length) {
          const d = F.feedback(k, before, {
            reduce: paper || o.peerScale === "sum" ? "sum" : "mean",
            maxNorm: paper ? 0 : o.feedbackMaxNorm,
          });
          for (const [i, Gki] of await this.feedbackTo(k, tb, d)) {
            G[k]![i] = Gki;
            m.add("bppo/feedback_abs", Gki.reduce((a, b) => a + Math.abs(b), 0) / N);
          }
        }
        updated.push(k);
        const now = performance.now();
        feedbackSec += (now - fbStart) / 1000;
        seqSec += (now - agentStart) / 1000;
        continue;
      }
      // k's log-probs before its epochs: for the factor and the feedback (pathwise needs neither)
      const logpBefore = pathwise ? null : this.logpFull(k, tb);
      const Mt = tf.tensor1d(M), gt = g ? tf.tensor2d(g, [N, A]) : null;
      const inputs = (b: AgentBatch, idx: tf.Tensor1D | null, rng: Rng) => ({
        u: gatherRows(tb.u, idx),
        M: gatherRows(Mt, idx),
        g: gatherRows(gt, idx),
        noise: !gt || !peerOn || !(paper || ag.discrete) ? null : paper
          ? b.noise // the stored noise of the taken action
          : gumbelNoise(b.obs.shape[0], A, rng), // reference: fresh noise
        tau,
      });
      const diagRng = new Rng(k); // diagnostics draw no numbers from the training stream
      const pathStart = performance.now();
      const f = pathwise ? this.pathwiseGrad(k, tb, tau) : null; // (dQ/du_k)_total, §4d
      if (f) feedbackSec += (performance.now() - pathStart) / 1000;
      this.trainActor(k, tb, {
        rng: ctx.rng,
        metrics: m,
        loss: f
          ? (b, idx) => this.pathwiseLoss(k, b, gatherRows(tb.u, idx), gatherRows(f, idx), tau)
          : (b, idx) => this.actorLoss(k, b, inputs(b, idx, ctx.rng)),
        diagnose: gt && peerOn
          ? (b, idx) => this.#gradParts(k, b, inputs(b, idx, diagRng), m)
          : undefined,
      });
      // rho_k for the agents updated next (pathwise needs no factor: the chain carries them)
      if (logpBefore) factor[k] = await this.ratioAfter(k, tb, logpBefore);
      m.add("bppo/factor_mean", M.reduce((a, b) => a + b, 0) / N);
      const fbStart = performance.now();
      if (logpBefore && peerOn && this.predecessors(k).length) {
        for (
          const [i, Gki] of await this.feedbackTo(k, tb, await this.feedback(k, tb, logpBefore))
        ) {
          G[k]![i] = Gki;
          m.add("bppo/feedback_abs", Gki.reduce((a, b) => a + Math.abs(b), 0) / N);
        }
      }
      tf.dispose([Mt, ...(logpBefore ? [logpBefore] : []), ...(gt ? [gt] : []), ...(f ? [f] : [])]);
      updated.push(k);
      const now = performance.now();
      feedbackSec += (now - fbStart) / 1000;
      seqSec += (now - agentStart) / 1000;
    }
    F?.end();
    const criticStart = performance.now();
    const critic = await critics;
    disposeBatch(tb);
    return {
      ...(await m.means()),
      ...critic,
      ...(peerOn || pathwise ? { "bppo/tau": tau } : {}),
      ...(qLoss !== null ? { "bppo/q_loss": qLoss } : {}),
      "time/sequential_s": seqSec, // the per-agent updates, feedback included
      "time/feedback_s": feedbackSec,
      "time/critic_wait_s": (performance.now() - criticStart) / 1000, // critics after the actors
    };
  }
}

/**
 * `[B, A]` standard Gumbel noise.
 * @param B rows
 * @param A columns
 * @param rng random source
 * @returns a tensor
 */
function gumbelNoise(B: number, A: number, rng: Rng): tf.Tensor2D {
  return tf.tensor2d(Float32Array.from({ length: B * A }, () => rng.gumbel()), [B, A]);
}

/** `--algo bppo`. */
export const bppoEntry: AlgoEntry<typeof bppoOptions> = {
  name: "bppo",
  description: "BPPO: chained policies, reverse-order updates with factor M_k and the peer term",
  options: bppoOptions,
  create: (spec, o) => new Bppo(spec, o),
};
