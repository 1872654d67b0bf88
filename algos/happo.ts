/**
 * HAPPO (Kuba et al. 2022) as the BPTA authors ran it: unconditioned per-agent actors updated
 * one at a time in a random order drawn each iteration, each agent's surrogate multiplied by
 * the unclipped ratio product `M_k` of the agents updated before it (docs/bpta.md §4b). It is
 * the sequential core of `sequential.ts` with no peer term.
 *
 * @module
 */
import { tf, z } from "../core/deps.ts";
import type { AlgoEntry, Metrics, Rollout, UpdateContext } from "../core/algorithm.ts";
import type { EnvSpec } from "../core/vec_env.ts";
import type { Rng } from "../core/rng.ts";
import {
  disposeBatch,
  gatherRows,
  MetricSums,
  PpoAgents,
  ppoOptions,
  prepareBatch,
} from "./ppo/mod.ts";
import { clippedProduct, refuseSharing, SequentialPpo, sequentialSurrogate } from "./sequential.ts";
import { type FusedActors, useKernels } from "./ppo/fused.ts";

/** HAPPO's options: the PPO ones plus the agent order. */
export const happoOptions = ppoOptions.extend({
  order: z.enum(["identity", "random"]).default("random").describe(
    "update order: a random permutation per iteration (HAPPO) or fixed",
  ),
});

/** Parsed {@link happoOptions}. */
export type HappoOptions = z.infer<typeof happoOptions>;

/** HAPPO: sequential updates with the unclipped factor, no conditioning, no peer term. */
export class Happo extends SequentialPpo {
  /** Update order: drawn per iteration (HAPPO) or fixed. */
  readonly orderKind: "identity" | "random";

  /**
   * Creates it.
   * @param spec the env spec
   * @param opts parsed options and an rng
   */
  constructor(
    spec: EnvSpec,
    opts: {
      options: HappoOptions;
      rng: Rng;
      threads?: number;
      rolloutLength?: number;
      kernels?: "auto" | "tfjs" | "fused";
    },
  ) {
    refuseSharing("happo", opts.options.share);
    super(
      "happo",
      new PpoAgents(spec, {
        ...opts.options,
        conditioned: false,
        rng: opts.rng,
        rolloutLength: opts.rolloutLength,
      }),
      opts.threads,
    );
    this.orderKind = opts.options.order;
    this.#fused = this.orDispose(() => useKernels(this.agents, opts.kernels, null));
  }

  /** The actor update on the fused kernels (`--kernels fused`), or null. */
  readonly #fused: FusedActors | null = null;

  /** One learning update from a rollout. */
  protected async learn(r: Rollout, ctx: UpdateContext): Promise<Metrics> {
    const ag = this.agents;
    const tb = prepareBatch(ag, r);
    const critics = this.critics.start(tb, ctx.rng); // beside the actors, on other threads
    const m = new MetricSums();
    const factor: Float32Array[] = Array.from(
      { length: ag.n },
      () => new Float32Array(tb.N).fill(1),
    ); // rho_j
    const updated: number[] = [];
    const F = this.#fused;
    F?.begin(tb);
    for (const k of this.updateOrder()) {
      const M = clippedProduct(factor, updated, null); // M_k = prod_{j updated} rho_j, unclipped
      if (F) { // the same epochs on the fused kernels
        const before = F.logp(k);
        F.train(k, { rng: ctx.rng, metrics: m, M, peer: null, diagnose: null });
        const now = F.logp(k);
        factor[k] = now.map((v, q) => Math.exp(v - before[q]!)); // rho_k
        m.add("happo/factor_mean", M.reduce((a, b) => a + b, 0) / tb.N);
        updated.push(k);
        continue;
      }
      const Mt = tf.tensor1d(M);
      const logpBefore = this.logpFull(k, tb);
      this.trainActor(k, tb, {
        rng: ctx.rng,
        metrics: m,
        loss: (b, idx) => {
          const { logp, entropy } = ag.evaluate(k, b, null);
          return sequentialSurrogate(b, {
            logp,
            entropy,
            M: gatherRows(Mt, idx),
            peer: null,
            clip: ag.opts.clip,
            entropyCoef: ag.opts.entropyCoef,
          });
        },
      });
      factor[k] = await this.ratioAfter(k, tb, logpBefore);
      m.add("happo/factor_mean", M.reduce((a, b) => a + b, 0) / tb.N);
      tf.dispose([Mt, logpBefore]);
      updated.push(k);
    }
    F?.end();
    const critic = await critics;
    disposeBatch(tb);
    return { ...(await m.means()), ...critic };
  }
}

/** `--algo happo`. */
export const happoEntry: AlgoEntry<typeof happoOptions> = {
  name: "happo",
  description: "HAPPO: sequential updates in a random order with the unclipped ratio factor",
  options: happoOptions,
  create: (spec, o) => new Happo(spec, o),
};
