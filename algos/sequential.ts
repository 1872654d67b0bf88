/**
 * The sequential-PPO core shared by HAPPO and BPPO ([docs/bpta.md](../docs/bpta.md) §4 step 2-3):
 * agents are updated one at a time, in reverse chain order; each agent's objective is
 * multiplied by the ratio product `M_k` of the agents already updated, and after its epochs
 * the agent's own ratio `rho_k = pi_new / pi_before` joins that product for the next ones.
 *
 * @module
 */
import { tf } from "../core/deps.ts";
import type { Rng } from "../core/rng.ts";
import { sg } from "../core/nets.ts";
import { ownTerm } from "./estimators.ts";
import {
  type AgentBatch,
  type MetricSums,
  minibatches,
  PpoAlgorithm,
  ratioStats,
  rows,
  type TrainBatch,
} from "./ppo/mod.ts";

/** Agent k's actor loss on one (mini)batch and its named diagnostics. */
export interface ActorTerms {
  /** What is minimised: `pgLoss - c_ent * entropy`. */
  readonly loss: tf.Scalar;
  /** `-mean(min(surr1, surr2))`. */
  readonly pgLoss: tf.Scalar;
  /** Mean policy entropy. */
  readonly entropy: tf.Scalar;
  /** `E[(rho - 1) - log rho]`. */
  readonly approxKl: tf.Scalar;
  /** Fraction of samples with `|rho - 1| > clip`. */
  readonly clipFrac: tf.Scalar;
  /** `[B]` peer-learning term per sample (BPPO), or null. */
  readonly peer: tf.Tensor1D | null;
  /** With `split`: `-mean` of the own part of the branch `min(surr1, surr2)` picks. */
  readonly ownPart?: tf.Scalar;
  /** With `split`: `-mean` of the peer part of that branch (`ownPart + peerPart = pgLoss`). */
  readonly peerPart?: tf.Scalar;
}

/**
 * `prod_{j in agents} factor_j`, per sample, optionally clipped to `[1 - c, 1 + c]`.
 * @param factor per-agent ratios `rho_j` over the N samples (1 for agents not yet updated)
 * @param agents the agents whose ratios enter the product
 * @param clip half-width c of the clip interval, or null for no clip
 * @returns `[N]`
 */
export function clippedProduct(
  factor: readonly Float32Array[],
  agents: readonly number[],
  clip: number | null,
): Float32Array {
  const out = new Float32Array(factor[0]!.length).fill(1);
  for (const j of agents) for (let q = 0; q < out.length; q++) out[q]! *= factor[j]![q]!;
  if (clip !== null) {
    for (let q = 0; q < out.length; q++) out[q] = Math.min(1 + clip, Math.max(1 - clip, out[q]!));
  }
  return out;
}

/**
 * The PPO clipped surrogate with the sequential factor and an optional additive term
 * (docs/bpta.md §4 step 3):
 * `surr1 = rho A M + sg(rho) (p - sg p)`, `surr2 = clip(rho) A M + clip(sg(rho)) (p - sg p)`,
 * `L = -mean(min(surr1, surr2)) - c_ent H`. The peer term enters as `p - sg(p)`: value 0,
 * gradient that of `p`, so the branch `min()` takes is chosen by the own term alone (the value
 * `g · x` is an arbitrary number; only its gradient is the estimator, §4d).
 * @param b the agent's rows (old log-probs, normalised advantages)
 * @param x new log-probs and entropy, factor `M` `[B]`, peer term `p` `[B]` or null, clip and
 *   entropy coefficient
 * @returns the loss and its named terms
 */
export function sequentialSurrogate(
  b: Pick<AgentBatch, "logpOld" | "adv">,
  x: {
    logp: tf.Tensor1D;
    entropy: tf.Scalar;
    M: tf.Tensor1D;
    peer: tf.Tensor1D | null;
    clip: number;
    entropyCoef: number;
    split?: boolean;
  },
): ActorTerms {
  const eps = x.clip;
  const { ratio, approxKl, clipFrac } = ratioStats(x.logp, b.logpOld, eps); // rho_k
  const { own1, own2 } = ownTerm(ratio, b.adv, x.M, eps); // algos/estimators.ts
  let surr1: tf.Tensor = own1, surr2: tf.Tensor = own2;
  let peer1: tf.Tensor | null = null, peer2: tf.Tensor | null = null;
  if (x.peer) {
    const rhoSg = sg(ratio);
    const pGrad = tf.sub(x.peer, sg(x.peer)); // p - sg(p): only the gradient of g_k · x_k, §4d
    peer1 = tf.mul(rhoSg, pGrad); // sg(rho_k) g_k · x_k
    peer2 = tf.mul(tf.clipByValue(rhoSg, 1 - eps, 1 + eps), pGrad); // clip(sg(rho_k)) g_k · x_k
    surr1 = tf.add(own1, peer1);
    surr2 = tf.add(own2, peer2);
  }
  const pgLoss = tf.neg(tf.mean(tf.minimum(surr1, surr2))) as tf.Scalar; // -mean(min(surr1, surr2))
  const loss = tf.sub(pgLoss, tf.mul(x.entropyCoef, x.entropy)) as tf.Scalar; // - c_ent H(pi_k)
  const terms = { loss, pgLoss, entropy: x.entropy, approxKl, clipFrac, peer: x.peer };
  if (!x.split) return terms;
  const first = sg(tf.step(tf.sub(surr2, surr1))); // 1 where min() picks surr1 (step(0) = 0)
  const part = (a: tf.Tensor, b2: tf.Tensor) =>
    tf.neg(tf.mean(tf.add(tf.mul(first, a), tf.mul(tf.sub(1, first), b2)))) as tf.Scalar;
  return {
    ...terms,
    ownPart: part(own1, own2),
    peerPart: peer1 && peer2 ? part(peer1, peer2) : tf.scalar(0),
  };
}

/**
 * Refuses `share=true` for a sequential algorithm, with the reason: agent k's update is corrected
 * by the ratios `M_k` of the agents updated before it, and BPPO's feedback flows between agents'
 * distinct parameters; with one shared network every agent's step moves all agents.
 * @param name the algorithm
 * @param share the option's value
 */
export function refuseSharing(name: string, share: boolean): void {
  if (share) {
    throw new Error(
      `Invalid --algo-opt share=true for ${name}: its agents are updated one at a time, each corrected by the ratios of the agents updated before it, which needs separate parameters per agent; share with mappo, ippo or armappo`,
    );
  }
}

/** A PPO algorithm whose agents are updated one after another in reverse chain order. */
export abstract class SequentialPpo extends PpoAlgorithm {
  /** Chain order: fixed identity, or a random permutation drawn before each rollout. */
  abstract readonly orderKind: "identity" | "random";

  /** Draws the chain order for the next rollout when it is random. */
  override beginIteration(rng: Rng): void {
    super.beginIteration(rng);
    if (this.orderKind === "random") this.agents.order = rng.permutation(this.agents.n);
  }

  /** Returns the update order `k = order[n-1], ..., order[0]` (docs/bpta.md §4 step 2). */
  updateOrder(): number[] {
    return [...this.agents.order].reverse();
  }

  /** Returns agent k's predecessors in the chain. */
  predecessors(k: number): number[] {
    const o = this.agents.order;
    return Array.from(o.subarray(0, o.indexOf(k)));
  }

  /**
   * `[N]` log pi_k on the whole buffer with the current parameters.
   * @param k the agent
   * @param tb the update's tensors
   * @returns a tensor the caller disposes
   */
  logpFull(k: number, tb: TrainBatch): tf.Tensor1D {
    return tf.tidy(() => this.agents.evaluate(k, tb.agents[k]!, tb.u).logp);
  }

  /**
   * Runs agent k's PPO epochs over minibatches, logging the last epoch's diagnostics.
   * @param k the agent
   * @param tb the update's tensors
   * @param ctx minibatch rng, metric sums, and the loss of one minibatch (`idx` null = all rows)
   */
  trainActor(
    k: number,
    tb: TrainBatch,
    ctx: {
      rng: Rng;
      metrics: MetricSums;
      loss: (b: AgentBatch, idx: tf.Tensor1D | null) => ActorTerms;
      /** Called once per update, on the last epoch's first minibatch, before its step. */
      diagnose?: (b: AgentBatch, idx: tf.Tensor1D | null) => void;
    },
  ): void {
    const ag = this.agents;
    const vars = ag.actorVars(k);
    const m = ctx.metrics;
    for (let ep = 0; ep < ag.opts.epochs; ep++) {
      const last = ep === ag.opts.epochs - 1;
      let first = true;
      for (const idx of minibatches(tb.N, ag.opts.minibatches, ctx.rng, ag.seqLen) ?? [null]) {
        if (last && first && ctx.diagnose) {
          tf.tidy(() => ctx.diagnose!(rows(tb.agents[k]!, idx), idx));
        }
        first = false;
        const { value, grads } = tf.variableGrads(() => {
          const t = ctx.loss(rows(tb.agents[k]!, idx), idx);
          if (last) {
            m.add("losses/policy", t.pgLoss);
            m.add("losses/entropy", t.entropy);
            m.add("losses/approx_kl", t.approxKl);
            m.add("losses/clip_frac", t.clipFrac);
            if (t.peer) m.add("bppo/peer_abs", tf.mean(tf.abs(t.peer)));
          }
          return t.loss;
        }, vars);
        const norm = ag.actorOpts[k]!.step(vars.map((v) => grads[v.name]!));
        if (last) m.add("losses/actor_grad_norm", norm);
        tf.dispose([value, norm, ...Object.values(grads)]);
        idx?.dispose();
      }
    }
  }

  /**
   * `rho_k = pi_new / pi_before` per sample on the whole buffer, after k's epochs.
   * @param k the agent
   * @param tb the update's tensors
   * @param logpBefore `[N]` k's log-probs before its epochs
   * @returns `[N]`
   */
  async ratioAfter(k: number, tb: TrainBatch, logpBefore: tf.Tensor1D): Promise<Float32Array> {
    const rho = tf.tidy(() => tf.exp(tf.sub(this.logpFull(k, tb), logpBefore)));
    const out = Float32Array.from(await rho.data());
    rho.dispose();
    return out;
  }
}
