/**
 * MAPPO (Yu et al. 2022) as the BPTA authors ran it: one actor and one centralised critic per
 * agent, no parameter sharing, all agents updated simultaneously with the clipped PPO
 * surrogate. `ippo` is the same with each critic on its agent's own observation, and
 * `armappo` (Fu et al. 2022; BPPO's ablation) conditions each actor on its predecessors'
 * actions (docs/bpta.md §2) but keeps the simultaneous update, with no factor and no peer term.
 *
 * @module
 */
import { tf } from "../core/deps.ts";
import { addAll } from "../core/nets.ts";
import type { AlgoEntry, Metrics, Rollout, UpdateContext } from "../core/algorithm.ts";
import type { EnvSpec } from "../core/vec_env.ts";
import type { Rng } from "../core/rng.ts";
import {
  disposeBatch,
  disposeStacked,
  gatherRows,
  MetricSums,
  minibatches,
  PpoAgents,
  PpoAlgorithm,
  type PpoOptions,
  ppoOptions,
  prepareBatch,
  ratioStats,
  rows,
  stackAgents,
  type TrainBatch,
} from "./ppo/mod.ts";
import { type FusedActors, useKernels } from "./ppo/fused.ts";

/** MAPPO, IPPO and AR-MAPPO: simultaneous clipped-surrogate updates of every agent. */
export class Mappo extends PpoAlgorithm {
  /**
   * Creates it.
   * @param spec the env spec
   * @param opts options, rng, name, whether actors see predecessors' actions
   */
  constructor(
    spec: EnvSpec,
    opts: {
      options: PpoOptions;
      rng: Rng;
      name: string;
      conditioned: boolean;
      threads?: number;
      rolloutLength?: number;
      kernels?: "auto" | "tfjs" | "fused";
    },
  ) {
    super(
      opts.name,
      new PpoAgents(spec, {
        ...opts.options,
        conditioned: opts.conditioned,
        rng: opts.rng,
        rolloutLength: opts.rolloutLength,
      }),
      opts.threads,
    );
    this.#fused = this.orDispose(() => useKernels(this.agents, opts.kernels, null));
  }

  /** The actor update on the fused kernels (`--kernels fused`), or null. */
  readonly #fused: FusedActors | null = null;

  readonly #metrics = new MetricSums();

  /**
   * The update of one shared actor (`share`): every agent's rows stacked into one batch of n N
   * rows, one forward and backward pass per minibatch, one optimiser; the loss is the mean over
   * all agents' rows of the same clipped surrogate (PPO eq. 7) minus the entropy bonus.
   */
  #updateShared(tb: TrainBatch, ctx: UpdateContext): void {
    const ag = this.agents, m = this.#metrics;
    const { clip, entropyCoef, epochs } = ag.opts;
    const all = stackAgents(ag, tb);
    const vars = ag.actorVars(0);
    for (let ep = 0; ep < epochs; ep++) {
      const last = ep === epochs - 1;
      for (
        const idx of minibatches(ag.n * tb.N, ag.opts.minibatches, ctx.rng, ag.seqLen) ?? [null]
      ) {
        const { value, grads } = tf.variableGrads(() => {
          const b = rows(all.rows, idx);
          const { logp, entropy } = ag.evaluateWith(0, b, gatherRows(all.cond, idx));
          const { ratio, approxKl, clipFrac } = ratioStats(logp, b.logpOld, clip);
          const surr1 = tf.mul(ratio, b.adv); // rho * A
          const surr2 = tf.mul(tf.clipByValue(ratio, 1 - clip, 1 + clip), b.adv); // clip(rho) * A
          const pgLoss = tf.neg(tf.mean(tf.minimum(surr1, surr2)));
          if (last) {
            m.add("losses/policy", pgLoss);
            m.add("losses/entropy", entropy);
            m.add("losses/approx_kl", approxKl);
            m.add("losses/clip_frac", clipFrac);
          }
          return tf.sub(pgLoss, tf.mul(entropyCoef, entropy)) as tf.Scalar;
        }, vars);
        const norm = ag.actorOpt(0).step(vars.map((v) => grads[v.name]!));
        if (last) m.add("losses/actor_grad_norm", norm);
        tf.dispose([value, norm, ...Object.values(grads)]);
        idx?.dispose();
      }
    }
    disposeStacked(all);
  }

  /** One learning update from a rollout. */
  protected async learn(r: Rollout, ctx: UpdateContext): Promise<Metrics> {
    const ag = this.agents;
    const { clip, entropyCoef, epochs } = ag.opts;
    const tb = prepareBatch(ag, r);
    const critics = this.critics.start(tb, ctx.rng); // beside the actors, on other threads
    if (ag.shared) {
      this.#updateShared(tb, ctx);
      const metrics = await this.#metrics.means();
      const critic = await critics;
      disposeBatch(tb);
      return { ...metrics, ...critic };
    }
    const m = new MetricSums();
    if (this.#fused) { // the same epochs on the fused kernels
      this.#fused.begin(tb);
      this.#fused.trainJoint({ rng: ctx.rng, metrics: m });
      this.#fused.end();
      const critic = await critics;
      disposeBatch(tb);
      return { ...(await m.means()), ...critic };
    }
    const vars = Array.from({ length: ag.n }, (_, i) => ag.actorVars(i));
    for (let ep = 0; ep < epochs; ep++) {
      const last = ep === epochs - 1;
      for (const idx of minibatches(tb.N, ag.opts.minibatches, ctx.rng, ag.seqLen) ?? [null]) {
        const diag: tf.Tensor[] = [];
        const { value, grads } = tf.variableGrads(() => {
          const u = idx ? tf.gather(tb.u, idx) : tb.u;
          const losses = tb.agents.map((full, i) => {
            const b = rows(full, idx);
            const { logp, entropy } = ag.evaluate(i, b, u);
            const { ratio, approxKl, clipFrac } = ratioStats(logp, b.logpOld, clip);
            const surr1 = tf.mul(ratio, b.adv); // rho * A             (PPO eq. 7)
            const surr2 = tf.mul(tf.clipByValue(ratio, 1 - clip, 1 + clip), b.adv); // clip(rho) * A
            const pgLoss = tf.neg(tf.mean(tf.minimum(surr1, surr2)));
            if (last) diag.push(...[pgLoss, entropy, approxKl, clipFrac].map((t) => tf.keep(t)));
            return tf.sub(pgLoss, tf.mul(entropyCoef, entropy)); // L_actor = -min(...) - c_ent H
          });
          return addAll(losses) as tf.Scalar;
        }, vars.flat());
        const norms = vars.map((vs, i) => ag.actorOpts[i]!.step(vs.map((v) => grads[v.name]!)));
        if (last) {
          for (let i = 0; i < ag.n; i++) {
            const [pg, ent, kl, cf] = diag.slice(4 * i, 4 * i + 4);
            m.add("losses/policy", pg!);
            m.add("losses/entropy", ent!);
            m.add("losses/approx_kl", kl!);
            m.add("losses/clip_frac", cf!);
            m.add("losses/actor_grad_norm", norms[i]!);
          }
        }
        tf.dispose([value, ...diag, ...Object.values(grads), ...norms]);
        idx?.dispose();
      }
    }
    const critic = await critics;
    disposeBatch(tb);
    return { ...(await m.means()), ...critic };
  }
}

/** `--algo mappo`. */
export const mappoEntry: AlgoEntry<typeof ppoOptions> = {
  name: "mappo",
  description: "MAPPO: per-agent actors, centralised per-agent critics, simultaneous PPO",
  options: ppoOptions,
  create: (spec, o) => new Mappo(spec, { ...o, name: "mappo", conditioned: false }),
};

/** `--algo ippo`. */
export const ippoEntry: AlgoEntry<typeof ppoOptions> = {
  name: "ippo",
  description: "IPPO: MAPPO with each critic on its own observation",
  options: ppoOptions,
  create: (spec, o) =>
    new Mappo(spec, {
      ...o,
      options: { ...o.options, critic: "obs" },
      name: "ippo",
      conditioned: false,
    }),
};

/** `--algo armappo`. */
export const armappoEntry: AlgoEntry<typeof ppoOptions> = {
  name: "armappo",
  description:
    "AR-MAPPO: actors condition on predecessors' actions; simultaneous PPO, no peer term",
  options: ppoOptions,
  create: (spec, o) => new Mappo(spec, { ...o, name: "armappo", conditioned: true }),
};
