/**
 * BPPO: Backpropagation Through Agents with PPO (Li, Zhao, Wu, Pajarinen, AAAI 2024), as
 * `spec/bpta.md` §2-§4 describes it. Agents act in a chain; each actor sees its predecessors'
 * action vectors. Agents are updated one at a time in reverse chain order; agent k's loss has
 * the HAPPO-style factor `M_k` of the already-updated agents and the peer-learning term
 * `sg(rho_k) g_k · x_k`, where `g_k` is the feedback its successors computed by
 * differentiating their new surrogate with respect to the stored action vectors, and `x_k`
 * is k's reparameterised (straight-through) action.
 *
 * `happo` (Kuba et al. 2022, as the BPTA authors ran it) is the same sequential scheme with
 * no conditioning, no peer term, an unclipped factor and a random agent order per iteration.
 *
 * Faithful or fixed (spec §4b): `peerScale: "mean"` reproduces the reference's 1/N scaling of
 * the feedback; `"sum"` is the per-sample gradient. The reference's A-fold own term is not
 * copied: `peerWeight` (default 1) sets the peer term's weight, and `1/A` reproduces the
 * reference's effective weighting. The successor multiplier is the intended product
 * `prod_{l != k, j} rho_l` (the reference drops rho_{j+1} instead of rho_j).
 *
 * @module
 */
import { tf, z } from "../core/deps.ts";
import type { AlgoEntry, Metrics, Rollout, UpdateContext } from "../core/algorithm.ts";
import type { EnvSpec } from "../core/vec_env.ts";
import type { Rng } from "../core/rng.ts";
import {
  type AgentBatch,
  MetricSums,
  PpoAgents,
  PpoAlgorithm,
  ppoOptions,
  ratioStats,
  type TrainBatch,
} from "../core/ppo.ts";

/** BPPO's options: the PPO ones plus the peer term, factor, order and Gumbel settings. */
export const bppoOptions = ppoOptions.extend({
  gumbelTemperature: z.number().positive().default(1).describe(
    "Gumbel-softmax temperature tau of the straight-through action (initial value if annealed)",
  ),
  temperatureSchedule: z.enum(["constant", "cosine"]).default("constant").describe(
    "tau over training: constant, or cosine-annealed to temperatureMin (reference decay_id 1)",
  ),
  temperatureMin: z.number().positive().default(0.05).describe("final tau of the cosine schedule"),
  peerWeight: z.number().min(0).default(1).describe(
    "weight of the peer-learning term (0 = off; 1/A mimics the reference's weighting)",
  ),
  peerScale: z.enum(["mean", "sum"]).default("mean").describe(
    "feedback = gradient of the successors' batch mean (reference, ~1/N per sample) or sum",
  ),
  feedbackMaxNorm: z.number().min(0).default(10).describe(
    "clip the norm of each feedback gradient (reference: max_grad_norm; 0 = off)",
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

/** HAPPO's options: the PPO ones plus the agent order. */
export const happoOptions = ppoOptions.extend({
  order: z.enum(["identity", "random"]).default("random").describe(
    "update order: a random permutation per iteration (HAPPO) or fixed",
  ),
});

const stopGradient = tf.customGrad((x: any) => ({
  value: tf.clone(x),
  gradFunc: (dy: tf.Tensor) => tf.zerosLike(dy),
})) as unknown as <T extends tf.Tensor>(x: T) => T;

/**
 * `sg(x)`: the value of x with no gradient (tfjs has no built-in stop-gradient).
 * @param x a tensor
 * @returns the same values, constant for autodiff
 */
export function sg<T extends tf.Tensor>(x: T): T {
  return stopGradient(x);
}

/**
 * The straight-through "train action" x_k of spec §3. Its value is the taken action; its
 * gradient flows through the soft Gumbel-softmax probability of the taken action (discrete)
 * or through the policy mean (continuous).
 * @param out masked logits `[B, A]` (discrete) or the mean `[B, A]` (continuous)
 * @param opts the taken action (one-hot or vector), Gumbel noise (discrete) and temperature
 * @returns `[B, A]`
 */
export function trainAction(
  out: tf.Tensor2D,
  opts: { act: tf.Tensor2D; noise: tf.Tensor2D | null; tau: number },
): tf.Tensor2D {
  if (opts.noise) {
    const y = tf.softmax(tf.div(tf.add(out, opts.noise), opts.tau)); // y = softmax((l + g) / tau)
    const s = tf.mul(y, opts.act); // s: zero except s[a] = y[a]
    return tf.add(opts.act, tf.sub(s, sg(s))); // x = onehot(a) - sg(s) + s
  }
  return tf.add(opts.act, tf.sub(out, sg(out))); // x = a - sg(mu) + mu
}

interface Settings {
  readonly conditioned: boolean;
  readonly peerWeight: number;
  readonly peerScale: "mean" | "sum";
  readonly feedbackMaxNorm: number;
  readonly useFactor: boolean;
  readonly factorClip: boolean;
  readonly order: "identity" | "random";
  readonly gumbelTemperature: number;
  readonly temperatureSchedule: "constant" | "cosine";
  readonly temperatureMin: number;
}

/** What agent k's actor loss needs besides its own rows. */
export interface PeerInputs {
  /** `[B]` clipped factor M_k. */
  readonly M: tf.Tensor1D;
  /** `[B, A]` feedback g_k, or null when no successor sent any. */
  readonly g: tf.Tensor2D | null;
  /** `[B, A]` Gumbel noise (discrete with a peer term), or null. */
  readonly noise: tf.Tensor2D | null;
  /** Gumbel temperature. */
  readonly tau: number;
}

/** BPPO (and HAPPO): sequential per-agent updates in reverse chain order. */
export class Bppo extends PpoAlgorithm {
  readonly settings: Settings;

  /**
   * @param spec the env spec
   * @param opts options (PPO + settings), rng and the algorithm's name
   */
  constructor(
    spec: EnvSpec,
    opts: { options: z.infer<typeof ppoOptions> & Settings; rng: Rng; name: string },
  ) {
    super(
      opts.name,
      new PpoAgents(spec, {
        ...opts.options,
        conditioned: opts.options.conditioned,
        rng: opts.rng,
      }),
    );
    this.settings = opts.options;
  }

  beginIteration(rng: Rng): void {
    if (this.settings.order === "random") this.agents.order = rng.permutation(this.agents.n);
  }

  /** @returns the Gumbel temperature at a point of training */
  temperature(progress: number): number {
    const s = this.settings;
    if (s.temperatureSchedule === "constant") return s.gumbelTemperature;
    return s.temperatureMin +
      (s.gumbelTemperature - s.temperatureMin) * (1 + Math.cos(Math.PI * progress)) / 2;
  }

  /**
   * Agent k's actor loss on a (mini)batch, term by term (spec §4, step 3).
   * @param k the agent
   * @param b its rows
   * @param x conditioning actions u `[B, n A]`, factor, feedback, noise and temperature
   * @returns the loss and its named terms
   */
  actorLoss(
    k: number,
    b: AgentBatch,
    x: PeerInputs & { u: tf.Tensor2D },
  ): {
    loss: tf.Scalar;
    pgLoss: tf.Scalar;
    entropy: tf.Scalar;
    approxKl: tf.Scalar;
    clipFrac: tf.Scalar;
    peer: tf.Tensor1D | null;
  } {
    const eps = this.agents.opts.clip;
    const { logp, entropy, out } = this.agents.evaluate(k, b, x.u);
    const { ratio, approxKl, clipFrac } = ratioStats(logp, b.logpOld, eps); // rho_k
    const own1 = tf.mul(tf.mul(ratio, b.adv), x.M); // rho_k * A * M_k
    const own2 = tf.mul(tf.mul(tf.clipByValue(ratio, 1 - eps, 1 + eps), b.adv), x.M); // clip(rho_k) * A * M_k
    let surr1: tf.Tensor = own1, surr2: tf.Tensor = own2, peer: tf.Tensor1D | null = null;
    if (x.g && this.settings.peerWeight > 0) {
      const xk = trainAction(out, { act: b.act, noise: x.noise, tau: x.tau }); // x_k, spec §3
      peer = tf.mul(tf.sum(tf.mul(x.g, xk), 1), this.settings.peerWeight) as tf.Tensor1D; // g_k · x_k
      const rhoSg = sg(ratio);
      surr1 = tf.add(own1, tf.mul(rhoSg, peer)); // + sg(rho_k) g_k x_k
      surr2 = tf.add(own2, tf.mul(tf.clipByValue(rhoSg, 1 - eps, 1 + eps), peer)); // + clip(sg(rho_k)) g_k x_k
    }
    const pgLoss = tf.neg(tf.mean(tf.minimum(surr1, surr2))) as tf.Scalar; // -mean(min(surr1, surr2))
    const loss = tf.sub(pgLoss, tf.mul(this.agents.opts.entropyCoef, entropy)) as tf.Scalar; // - c_ent H
    return { loss, pgLoss, entropy, approxKl, clipFrac, peer };
  }

  /**
   * The feedback agent k sends upstream (spec §4, end of step 3): the gradient of
   * `J_k = mean(exp(logp_k(u) - logpBefore) A_k)` with respect to the stored action vectors u.
   * @param k the agent
   * @param tb the update's tensors
   * @param logpBefore `[N]` agent k's log-probs before its update
   * @returns `[N, n A]` dJ_k/du (times N for peerScale "sum"; norm-clipped)
   */
  async feedback(k: number, tb: TrainBatch, logpBefore: tf.Tensor1D): Promise<Float32Array> {
    const full = tb.agents[k]!;
    const d = tf.tidy(() => {
      const J = (u: tf.Tensor) => {
        const { logp } = this.agents.evaluate(k, full, u as tf.Tensor2D);
        const rho = tf.exp(tf.sub(logp, logpBefore));
        const j = tf.mul(rho, full.adv);
        return this.settings.peerScale === "sum" ? tf.sum(j) : tf.mean(j);
      };
      let grad = tf.grad(J)(tb.u);
      const max = this.settings.feedbackMaxNorm;
      if (max > 0) {
        const norm = tf.norm(grad);
        grad = tf.mul(grad, tf.minimum(1, tf.div(max, tf.add(norm, 1e-6))));
      }
      return grad;
    });
    const out = (await d.data()) as Float32Array;
    d.dispose();
    return out;
  }

  async update(r: Rollout, ctx: UpdateContext): Promise<Metrics> {
    const ag = this.agents;
    const { n, A } = ag;
    const eps = ag.opts.clip;
    const s = this.settings;
    const tb = ag.prepare(r);
    const N = tb.N;
    const tau = this.temperature(ctx.progress);
    const m = new MetricSums();
    const factor = Array.from({ length: n }, () => new Float32Array(N).fill(1)); // rho_j per sample
    const G = new Map<string, Float32Array>(); // `${j}>${i}`: feedback from j to i, [N, A]
    const clipF = (
      x: number,
    ) => (s.factorClip ? Math.min(1 + eps / 2, Math.max(1 - eps / 2, x)) : x);
    const updated: number[] = [];
    const peerOn = s.peerWeight > 0 && s.conditioned;
    let seqSec = 0, feedbackSec = 0;
    for (const k of [...ag.order].reverse()) {
      const agentStart = performance.now();
      // M_k = clip(prod_{j != k} rho_j, 1 ± eps/2)
      const M = new Float32Array(N).fill(1);
      if (s.useFactor) {
        for (const j of updated) for (let q = 0; q < N; q++) M[q]! *= factor[j]![q]!;
        for (let q = 0; q < N; q++) M[q] = clipF(M[q]!);
      }
      // g_k = sum_{j updated} G[j][k] * clip(prod_{l != k, j} rho_l, 1 ± eps/2)
      let g: Float32Array | null = null;
      for (const j of updated) {
        const Gjk = G.get(`${j}>${k}`);
        if (!Gjk) continue;
        g ??= new Float32Array(N * A);
        for (let q = 0; q < N; q++) {
          let w = 1;
          for (const l of updated) if (l !== j) w *= factor[l]![q]!;
          w = clipF(w);
          for (let c = 0; c < A; c++) g[q * A + c]! += w * Gjk[q * A + c]!;
        }
      }
      const full = tb.agents[k]!;
      const logpBefore = tf.tidy(() => ag.evaluate(k, full, tb.u).logp);
      const Mt = tf.tensor1d(M);
      const gt = g ? tf.tensor2d(g, [N, A]) : null;
      const vars = ag.actorVars(k);
      for (let ep = 0; ep < ag.opts.epochs; ep++) {
        const last = ep === ag.opts.epochs - 1;
        for (const idx of ag.minibatches(N, ctx.rng) ?? [null]) {
          const B = idx ? idx.shape[0] : N;
          const noise = gt && ag.discrete && peerOn
            ? tf.tensor2d(Float32Array.from({ length: B * A }, () => ctx.rng.gumbel()), [B, A])
            : null;
          const diag: tf.Tensor[] = [];
          const { value, grads } = tf.variableGrads(() => {
            const t = this.actorLoss(k, ag.rows(full, idx), {
              u: idx ? tf.gather(tb.u, idx) : tb.u,
              M: idx ? tf.gather(Mt, idx) : Mt,
              g: gt ? (idx ? tf.gather(gt, idx) : gt) : null,
              noise,
              tau,
            });
            if (last) {
              diag.push(...[t.pgLoss, t.entropy, t.approxKl, t.clipFrac].map((x) => tf.keep(x)));
              if (t.peer) diag.push(tf.keep(tf.mean(tf.abs(t.peer))));
            }
            return t.loss;
          }, vars);
          const norm = ag.actorOpts[k]!.step(vars.map((v) => grads[v.name]!));
          if (last) {
            m.add("losses/policy", diag[0]!);
            m.add("losses/entropy", diag[1]!);
            m.add("losses/approx_kl", diag[2]!);
            m.add("losses/clip_frac", diag[3]!);
            m.add("losses/actor_grad_norm", norm);
            if (diag[4]) m.add("bppo/peer_abs", diag[4]);
          }
          tf.dispose([value, norm, noise!, ...diag, ...Object.values(grads)].filter(Boolean));
          idx?.dispose();
        }
      }
      // rho_k = pi_new / pi_before on the whole buffer, kept for the agents updated next
      const rho = tf.tidy(() => tf.exp(tf.sub(ag.evaluate(k, full, tb.u).logp, logpBefore)));
      factor[k] = Float32Array.from(await rho.data());
      rho.dispose();
      m.add("bppo/factor_mean", M.reduce((a, b) => a + b, 0) / N);
      const preds = Array.from(ag.order.subarray(0, ag.order.indexOf(k)));
      const fbStart = performance.now();
      if (peerOn && preds.length) {
        const d = await this.feedback(k, tb, logpBefore);
        const onehots = new Map<number, Float32Array>();
        for (const i of preds) onehots.set(i, (await tb.agents[i]!.act.data()) as Float32Array);
        for (const i of preds) {
          const Gki = new Float32Array(N * A);
          const oh = onehots.get(i)!;
          for (let q = 0; q < N; q++) {
            for (let c = 0; c < A; c++) {
              const v = d[q * n * A + i * A + c]!;
              // discrete: only the slot of the taken action (a scalar per sample)
              Gki[q * A + c] = ag.discrete ? v * oh[q * A + c]! : v;
            }
          }
          G.set(`${k}>${i}`, Gki);
          m.add("bppo/feedback_abs", Gki.reduce((a, b) => a + Math.abs(b), 0) / N);
        }
      }
      tf.dispose([logpBefore, Mt, gt!].filter(Boolean));
      updated.push(k);
      const now = performance.now();
      feedbackSec += (now - fbStart) / 1000;
      seqSec += (now - agentStart) / 1000;
    }
    const criticStart = performance.now();
    const critic = await ag.updateCritics(tb, ctx.rng);
    ag.disposeBatch(tb);
    return {
      ...(await m.means()),
      ...critic,
      ...(peerOn ? { "bppo/tau": tau } : {}),
      "time/sequential_s": seqSec, // the per-agent updates, feedback included
      "time/feedback_s": feedbackSec,
      "time/critic_s": (performance.now() - criticStart) / 1000,
    };
  }
}

/** `--algo bppo`. */
export const bppoEntry: AlgoEntry<typeof bppoOptions> = {
  name: "bppo",
  description: "BPPO: chained policies, reverse-order updates with factor M_k and the peer term",
  options: bppoOptions,
  create: (spec, o) =>
    new Bppo(spec, { options: { ...o.options, conditioned: true }, rng: o.rng, name: "bppo" }),
};

/** `--algo happo`. */
export const happoEntry: AlgoEntry<typeof happoOptions> = {
  name: "happo",
  description: "HAPPO: sequential updates in a random order with the unclipped ratio factor",
  options: happoOptions,
  create: (spec, o) =>
    new Bppo(spec, {
      options: {
        ...o.options,
        conditioned: false,
        peerWeight: 0,
        peerScale: "mean",
        feedbackMaxNorm: 0,
        useFactor: true,
        factorClip: false,
        gumbelTemperature: 1,
        temperatureSchedule: "constant",
        temperatureMin: 1,
      },
      rng: o.rng,
      name: "happo",
    }),
};
