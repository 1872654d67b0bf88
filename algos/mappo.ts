/**
 * MAPPO (Yu et al. 2022) as the BPTA authors ran it: one actor and one centralised critic per
 * agent, no parameter sharing, all agents updated simultaneously with the clipped PPO
 * surrogate. `ippo` is the same with each critic on its agent's own observation, and
 * `armappo` (Fu et al. 2022; BPPO's ablation) conditions each actor on its predecessors'
 * actions (spec §2) but keeps the simultaneous update, with no factor and no peer term.
 *
 * @module
 */
import { tf } from "../core/deps.ts";
import { addAll } from "../core/nets.ts";
import type { AlgoEntry, Metrics, Rollout, UpdateContext } from "../core/algorithm.ts";
import type { EnvSpec } from "../core/vec_env.ts";
import type { Rng } from "../core/rng.ts";
import {
  MetricSums,
  PpoAgents,
  PpoAlgorithm,
  type PpoOptions,
  ppoOptions,
  ratioStats,
} from "../core/ppo.ts";

/** MAPPO, IPPO and AR-MAPPO: simultaneous clipped-surrogate updates of every agent. */
export class Mappo extends PpoAlgorithm {
  /**
   * @param spec the env spec
   * @param opts options, rng, name, whether actors see predecessors' actions
   */
  constructor(
    spec: EnvSpec,
    opts: { options: PpoOptions; rng: Rng; name: string; conditioned: boolean },
  ) {
    super(
      opts.name,
      new PpoAgents(spec, { ...opts.options, conditioned: opts.conditioned, rng: opts.rng }),
    );
  }

  async update(r: Rollout, ctx: UpdateContext): Promise<Metrics> {
    const ag = this.agents;
    const { clip, entropyCoef, epochs } = ag.opts;
    const tb = ag.prepare(r);
    const m = new MetricSums();
    const vars = Array.from({ length: ag.n }, (_, i) => ag.actorVars(i));
    for (let ep = 0; ep < epochs; ep++) {
      const last = ep === epochs - 1;
      for (const idx of ag.minibatches(tb.N, ctx.rng) ?? [null]) {
        const diag: tf.Tensor[] = [];
        const { value, grads } = tf.variableGrads(() => {
          const u = idx ? tf.gather(tb.u, idx) : tb.u;
          const losses = tb.agents.map((full, i) => {
            const b = ag.rows(full, idx);
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
    const critic = await ag.updateCritics(tb, ctx.rng);
    ag.disposeBatch(tb);
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
