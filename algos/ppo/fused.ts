/**
 * The PPO-family actor update on the fused kernels (`--kernels fused`, core/fused/): per agent, a
 * copy of its actor's parameters and Adam slots in the kernels' memory, the update's rows loaded
 * once, and whole-batch forward and backward passes with the losses' gradients written out. The
 * tfjs variables stay the source of truth between updates (acting, evaluation, checkpoints read
 * them): {@link FusedActors.begin} copies parameters and slots in, {@link FusedActors.end} copies
 * them back.
 *
 * What runs here: categorical and diagonal-Gaussian policies on MLP actors (no GRU), conditioned
 * or not; PPO's clipped surrogate (MAPPO, IPPO, AR-MAPPO), the sequential factor M_k (HAPPO,
 * BPPO), BPPO's peer term for the paper and reference estimators, its feedback (the gradient of
 * `rho_k A_k` with respect to the stored action vectors) and the own/peer gradient-norm
 * diagnostics; the pathwise estimator's chain ({@link FusedActors.pathwiseGrad}); acting's forward
 * passes. The critics and the pathwise estimator's action-value critic are in fused_critics.ts.
 * {@link fusedUnsupported} names what does not run here yet.
 *
 * @module
 */
import { tf } from "../../core/deps.ts";
import type { Rng } from "../../core/rng.ts";
import { type Buf, gatherer, type Kernels, kernels, rowsOf } from "../../core/fused/kernels.ts";
import { FActor, type FRecurrence, ParamGroup } from "../../core/fused/nets.ts";
import type { FusedQ } from "./fused_critics.ts";
import type { PpoAgents } from "./agents.ts";
import { minibatches, type TrainBatch } from "./batch.ts";
import type { MetricSums } from "./metrics.ts";

/**
 * Why a configuration cannot use the fused kernels yet, or null when it can.
 * @param ag the agents
 * @param _estimator BPPO's estimator (null for other algorithms; every one runs fused)
 * @returns a sentence naming the option to change, or null
 */
export function fusedUnsupported(ag: PpoAgents, _estimator: string | null): string | null {
  if (ag.A > 256) {
    return `--kernels fused supports up to 256 actions per agent (this env has ${ag.A})`;
  }
  if (ag.shared) {
    return "--kernels fused supports per-agent actors so far: drop --algo-opt share=true";
  }
  return null;
}

/**
 * Resolves `--kernels` for a PPO-family algorithm and, for the fused path, gives its agents their
 * fused actors (`ag.fused`, `ag.kernels`). `auto` takes the fused path where it supports the
 * configuration and the backend is not WebGPU; a forced `fused` it does not support is an error
 * naming the option.
 * @param ag the agents
 * @param choice `--kernels`
 * @param estimator BPPO's estimator (null for other algorithms)
 * @returns the fused actors, or null on the tfjs path
 */
export function useKernels(
  ag: PpoAgents,
  choice: "auto" | "tfjs" | "fused" | undefined,
  estimator: string | null,
): FusedActors | null {
  if (!choice || choice === "tfjs") return null;
  const why = fusedUnsupported(ag, estimator);
  if (why && choice === "fused") throw new Error(`${why}; or use --kernels tfjs`);
  if (why || (choice === "auto" && tf.getBackend() === "webgpu")) return null;
  ag.kernels = "fused";
  return ag.fused = new FusedActors(ag);
}

/** The peer term's inputs for one agent's update (BPPO; null elsewhere). */
export interface FusedPeer {
  /** `[N, A]` the feedback g_k. */
  readonly g: Float32Array;
  /** Peer weight w. */
  readonly weight: number;
  /** Gumbel temperature tau. */
  readonly tau: number;
  /** paper: stored noise, every slot; reference: fresh noise, the taken action's slot. */
  readonly estimator: "paper" | "reference";
}

/** What a policy head's forward pass keeps for its backward pass. */
interface HeadTape {
  B: number;
  /** `[B]` log-probs of the stored actions. */
  logp: Buf;
  /** Categorical: `[B, A]` log-softmax and probabilities, `[B]` entropies (or null). */
  lsm: Buf | null;
  probs: Buf | null;
  ent: Buf | null;
  /** Gaussian: `[B, A]` standardised actions `(a - mu) / sigma`. */
  z: Buf | null;
  /** The network's output (logits or mean). */
  mu: Buf;
}

/** A minibatch's rows (scratch buffers), with what the step needs besides them. */
interface MiniRows {
  B: number;
  obs: Buf;
  cond: Buf | null;
  acts: Buf;
  avail: Buf | null;
  logpOld: Buf;
  adv: Buf;
  M: Buf | null;
  g: Buf | null;
  noise: Buf | null;
  storedNoise: (() => Buf) | null;
  /** Recurrent: where the GRU starts (the minibatch's rows are L steps of B / L sequences). */
  rec: FRecurrence | null;
}

interface AgentRows {
  /** `[N, H]` the GRU state each row was acted with, and `[N]` its reset flags (recurrent). */
  h: Buf | null;
  keep: Buf | null;
  obs: Buf;
  cond: Buf | null;
  acts: Buf;
  avail: Buf | null;
  logpOld: Buf;
  adv: Buf;
  noise: Buf | null;
}

/** Every agent's actor on the fused kernels, and the rows of the update in progress. */
export class FusedActors {
  readonly #kern: Kernels;
  readonly #groups: ParamGroup[];
  readonly #actors: FActor[];
  #rows: AgentRows[] | null = null;
  #mark = 0;
  #N = 0;
  #mask: Float32Array[] = [];
  #u: Float32Array = new Float32Array(0);

  /**
   * Declares a fused copy of every agent's actor.
   * @param ag the agents (their tfjs networks give the shapes)
   */
  constructor(readonly ag: PpoAgents) {
    this.#kern = kernels();
    this.#groups = ag.actors.slice(0, ag.nets).map(() => new ParamGroup(this.#kern));
    this.#actors = ag.actors.slice(0, ag.nets).map((a, i) => new FActor(this.#groups[i]!, a));
    this.#groups.forEach((g) => g.build());
  }

  /** Gives the actors' buffers back to the kernels' arena (and an update's scratch it left). */
  dispose(): void {
    this.#dropFailed();
    for (const g of this.#groups) g.free();
  }

  /** Frees the scratch an update that failed before end() left marked (nothing is copied back). */
  #dropFailed(): void {
    if (this.#rows) {
      this.#kern.unwind(this.#mark);
      this.#rows = null;
    }
  }

  /** The agent's tfjs variables in fused order, and its Adam slots. */
  #tfjs(k: number) {
    return { vars: FActor.vars(this.ag.actors[k]!), opt: this.ag.actorOpts[k]! };
  }

  #fresh = false;

  /** Says that the tfjs actors changed (a checkpoint was loaded): acting re-reads them first. */
  markStale(): void {
    this.#fresh = false;
  }

  /** Copies every actor's parameters and Adam slots in from tfjs. */
  #pull(): void {
    this.#groups.forEach((g, k) => {
      const t = this.#tfjs(k);
      g.readFromTfjs(t.vars, t.opt);
    });
    this.#fresh = true;
  }

  /**
   * Starts an update: copies every actor's parameters and Adam slots in, and the batch's rows.
   * @param tb the update's tensors
   */
  begin(tb: TrainBatch): void {
    const kern = this.#kern, { n, A } = this.ag, N = tb.N;
    this.#dropFailed();
    this.#pull();
    this.#mark = kern.mark();
    this.#N = N;
    const u = tb.u.dataSync() as Float32Array;
    this.#u = u;
    const put = (x: Float32Array | Int32Array) => {
      const b = kern.scratch(x.length);
      if (x instanceof Int32Array) kern.i32(b).set(x);
      else kern.f32(b).set(x);
      return b;
    };
    this.#mask = Array.from({ length: n }, (_, i) => this.ag.execMask(i));
    this.#rows = tb.agents.map((b, i) => {
      const act = b.act.dataSync() as Float32Array; // one-hot (discrete) or the raw action
      let acts: Int32Array | Float32Array = act;
      if (this.ag.discrete) {
        acts = new Int32Array(N);
        for (let q = 0; q < N; q++) {
          for (let c = 0; c < A; c++) if (act[q * A + c]! > 0.5) acts[q] = c;
        }
      }
      let cond: Buf | null = null;
      if (this.ag.opts.conditioned) {
        const w = n * A + n, c = new Float32Array(N * w), mask = this.#mask[i]!;
        for (let q = 0; q < N; q++) {
          for (let j = 0; j < n * A; j++) c[q * w + j] = u[q * n * A + j]! * mask[j]!;
          c[q * w + n * A + i] = 1;
        }
        cond = put(c);
      }
      return {
        obs: put(b.obs.dataSync() as Float32Array),
        cond,
        acts: put(acts),
        avail: b.avail ? put(b.avail.dataSync() as Float32Array) : null,
        logpOld: put(b.logpOld.dataSync() as Float32Array),
        adv: put(b.adv.dataSync() as Float32Array),
        noise: b.noise ? put(b.noise.dataSync() as Float32Array) : null,
        h: b.hActor ? put(b.hActor.dataSync() as Float32Array) : null,
        keep: b.keep ? put(b.keep.dataSync() as Float32Array) : null,
      };
    });
  }

  /** Ends the update: copies parameters, Adam slots and step counts back to tfjs. */
  end(): void {
    this.#groups.forEach((g, k) => {
      const t = this.#tfjs(k);
      g.writeToTfjs(t.vars, t.opt);
    });
    if (this.#rows) this.#kern.release(this.#mark);
    this.#rows = null;
    this.#fresh = true;
  }

  /**
   * Agent i's actor output (logits) for E rows while acting (algos/ppo/acting.ts).
   * @param i the agent
   * @param obs `[E, obsIn]`
   * @param cond `[E, n A + n]` (conditioned actors) or null
   * @param E rows
   * @param rec recurrent actors: `[E, H]` stored states and `[E]` reset flags (0: reset)
   * @returns `out [E, A]` and the GRU's next state `[E, H]` (or null), new arrays
   */
  act(
    i: number,
    obs: Float32Array,
    cond: Float32Array | null,
    E: number,
    rec: { h0: Float32Array; keep: Float32Array } | null = null,
  ): { out: Float32Array; last: Float32Array | null } {
    if (this.#rows) throw new Error("FusedActors.act during an update");
    if (!this.#fresh) this.#pull();
    const kern = this.#kern, mk = kern.mark();
    const put = (a: Float32Array) => {
      const b = kern.scratch(a.length);
      kern.f32(b).set(a);
      return b;
    };
    const r = rec ? { h0: put(rec.h0), keep: put(rec.keep), L: 1 } : null;
    const t = this.#actors[i]!.forward(put(obs), cond ? put(cond) : null, E, r);
    const out = kern.f32(t.y).slice(), last = t.last ? kern.f32(t.last).slice() : null;
    kern.release(mk);
    return { out, last };
  }

  #r(k: number): AgentRows {
    if (!this.#rows) throw new Error("FusedActors used outside begin()/end()");
    return this.#rows[k]!;
  }

  /**
   * `[N]` log pi_k of the stored actions on every row, with the current parameters.
   * @param k the agent
   * @returns a new array
   */
  logp(k: number): Float32Array {
    const kern = this.#kern, r = this.#r(k), N = this.#N;
    const mk = kern.mark();
    const t = this.#actors[k]!.forward(r.obs, r.cond, N, this.#rec(r.h, r.keep, N));
    const out = kern.f32(this.#headFwd(k, t.y, r, N, false).logp).slice();
    kern.release(mk);
    return out;
  }

  /**
   * The policy head on the network's output: log-probs of the stored actions, and what its
   * backward pass needs (categorical: log-softmax, probabilities, per-row entropy; Gaussian: z).
   */
  #headFwd(
    k: number,
    out: Buf,
    x: { acts: Buf; avail: Buf | null },
    B: number,
    withEntropy: boolean,
  ): HeadTape {
    const kern = this.#kern, A = this.ag.A, logp = kern.scratch(B);
    if (this.ag.discrete) {
      const lsm = kern.scratch(B * A), probs = kern.scratch(B * A);
      const ent = withEntropy ? kern.scratch(B) : null;
      kern.k.cat_fwd(
        out.ptr,
        x.avail?.ptr ?? 0,
        x.acts.ptr,
        lsm.ptr,
        probs.ptr,
        logp.ptr,
        ent?.ptr ?? 0,
        B,
        A,
      );
      return { B, logp, lsm, probs, ent, z: null, mu: out };
    }
    const z = kern.scratch(B * A), g = this.#groups[k]!, ls = g.ptr(this.#actors[k]!.logStd!);
    kern.k.gauss_fwd(out.ptr, ls, x.acts.ptr, z.ptr, logp.ptr, B, A);
    return { B, logp, lsm: null, probs: null, ent: null, z, mu: out };
  }

  /**
   * Writes into `dl` the gradient of `sum dlogp logp` (+ the entropy bonus's, `-c mean H`, when
   * `entropyCoef` is given) with respect to the network's output; for a Gaussian head the log
   * std's share goes straight into its gradient (when `grads`).
   */
  #headBwd(
    k: number,
    h: HeadTape,
    x: { acts: Buf },
    o: { dlogp: Buf | null; entropyCoef: number | null; dl: Buf; grads: boolean },
  ): void {
    const kern = this.#kern, K = kern.k, A = this.ag.A, B = h.B;
    if (h.lsm) {
      let dent: Buf | null = null;
      if (o.entropyCoef !== null) {
        dent = kern.scratch(B);
        kern.f32(dent).fill(-o.entropyCoef / B); // - c_ent mean(H)
      }
      K.cat_bwd(
        h.lsm.ptr,
        h.probs!.ptr,
        h.ent?.ptr ?? 0,
        x.acts.ptr,
        o.dlogp?.ptr ?? 0,
        dent?.ptr ?? 0,
        o.dl.ptr,
        B,
        A,
      );
      return;
    }
    const g = this.#groups[k]!, p = this.#actors[k]!.logStd!;
    const dls = o.grads ? g.gptr(p) : 0;
    if (o.dlogp) K.gauss_bwd(h.z!.ptr, g.ptr(p), o.dlogp.ptr, o.dl.ptr, dls, B, A);
    else kern.f32(o.dl).fill(0);
    if (o.entropyCoef !== null && o.grads) { // H = sum(logStd + log(2 pi e) / 2): dH/dlogStd = 1
      const gv = g.grad(p);
      for (let d = 0; d < A; d++) gv[d]! -= o.entropyCoef;
    }
  }

  /** Adds the peer term's gradient `sum dpeer w g · x` into `dl` (and the log std's, Gaussian). */
  #peerBwd(
    k: number,
    h: HeadTape,
    x: MiniRows,
    dpeer: Buf,
    dl: Buf,
    p: FusedPeer,
    grads: boolean,
  ): void {
    const K = this.#kern.k, A = this.ag.A, B = h.B;
    if (h.lsm) {
      K.gumbel_peer_bwd(
        h.lsm.ptr,
        x.noise!.ptr,
        x.g!.ptr,
        x.acts.ptr,
        dpeer.ptr,
        dl.ptr,
        B,
        A,
        p.tau,
        p.weight,
        p.estimator === "reference" ? 1 : 0,
      );
      return;
    }
    const g = this.#groups[k]!, ls = this.#actors[k]!.logStd!;
    // paper: x = a + (mu - sg mu) + (sigma - sg sigma) sg(eps); reference: no sigma part
    const noise = p.estimator === "paper" ? x.noise!.ptr : 0;
    K.gauss_peer_bwd(
      x.g!.ptr,
      noise,
      g.ptr(ls),
      dpeer.ptr,
      dl.ptr,
      grads ? g.gptr(ls) : 0,
      B,
      A,
      p.weight,
    );
  }

  /** The mean entropy of a head tape (categorical: over rows; Gaussian: of the distribution). */
  #entropy(k: number, h: HeadTape): number {
    if (h.ent) return this.#kern.f32(h.ent).reduce((a, b) => a + b, 0) / h.B;
    const ls = this.#groups[k]!.value(this.#actors[k]!.logStd!);
    return ls.reduce((a, b) => a + b + 0.5 * (Math.log(2 * Math.PI) + 1), 0);
  }

  /**
   * The recurrence of B time-major rows (L = seqLen steps of B / L sequences): the stored state
   * of each sequence's first row, and the rows' reset flags (algos/ppo/agents.ts rowsRecurrence).
   */
  #rec(h: Buf | null, keep: Buf | null, B: number): FRecurrence | null {
    if (!this.ag.recurrent) return null;
    if (!h) throw new Error("a recurrent network's batch needs its stored GRU states");
    const L = this.ag.seqLen;
    return { h0: rowsOf(h, this.ag.H, 0, B / L), keep, L };
  }

  /** A minibatch's rows of agent k (the whole batch when `idx` is null), gathered in scratch. */
  #gather(k: number, idx: Int32Array | null, extra: { M: Buf | null; g: Buf | null }): MiniRows {
    const kern = this.#kern, r = this.#r(k), A = this.ag.A, B = idx ? idx.length : this.#N;
    const rows = gatherer(kern, idx);
    return {
      B,
      obs: rows(r.obs, this.ag.obsIn),
      cond: r.cond ? rows(r.cond, this.ag.n * A + this.ag.n) : null,
      acts: rows(r.acts, this.ag.discrete ? 1 : A),
      avail: r.avail ? rows(r.avail, A) : null,
      logpOld: rows(r.logpOld, 1),
      adv: rows(r.adv, 1),
      M: extra.M ? rows(extra.M, 1) : null,
      g: extra.g ? rows(extra.g, A) : null,
      noise: null,
      storedNoise: r.noise ? () => rows(r.noise!, A) : null,
      rec: this.#rec(r.h ? rows(r.h, this.ag.H) : null, r.keep ? rows(r.keep, 1) : null, B),
    };
  }

  /** The peer term's noise for a minibatch: the stored one (paper) or fresh Gumbel (reference). */
  #noise(x: MiniRows, peer: FusedPeer | null, rng: Rng): Buf | null {
    if (!peer) return null;
    if (peer.estimator === "paper") return x.storedNoise!();
    if (!this.ag.discrete) return null; // reference, box actions: x = a + (mu - sg mu), no noise
    const nb = this.#kern.scratch(x.B * this.ag.A), v = this.#kern.f32(nb);
    for (let q = 0; q < v.length; q++) v[q] = rng.gumbel();
    return nb;
  }

  /**
   * One minibatch step of agent k: forward, the clipped surrogate (with the factor and the peer
   * term when given) minus the entropy bonus, backward, one Adam step; the diagnostics when
   * `last`. Runs inside the caller's scratch mark.
   */
  #step(k: number, x: MiniRows, o: { last: boolean; metrics: MetricSums; peer: FusedPeer | null }) {
    const ag = this.ag, kern = this.#kern, K = kern.k, A = ag.A, B = x.B, m = o.metrics;
    const fa = this.#actors[k]!, g = this.#groups[k]!, opt = this.#tfjs(k).opt;
    const { clip, entropyCoef } = ag.opts;
    g.zeroGrad();
    const t = fa.forward(x.obs, x.cond, B, x.rec);
    const h = this.#headFwd(k, t.y, x, B, true);
    const dlogp = kern.scratch(B), dpeer = o.peer ? kern.scratch(B) : null;
    const st = kern.scratch(3, true);
    K.ppo_clip_grad( // PPO eq. 7 with M_k (algos/sequential.ts sequentialSurrogate)
      h.logp.ptr,
      x.logpOld.ptr,
      x.adv.ptr,
      x.M?.ptr ?? 0,
      dlogp.ptr,
      dpeer?.ptr ?? 0,
      st.ptr,
      B,
      clip,
      B,
      0,
    );
    const dl = kern.scratch(B * A);
    this.#headBwd(k, h, x, { dlogp, entropyCoef, dl, grads: true });
    if (o.peer && dpeer) this.#peerBwd(k, h, x, dpeer, dl, o.peer, true); // + sg(rho) w g_k · x_k
    fa.backward(t, dl, false);
    const norm = g.adamStep({ ...opt.opts, lr: opt.opts.lr * opt.lrScale });
    if (!o.last) return;
    const [sum, clipped, kl] = kern.f32(st);
    m.add("losses/policy", -sum! / B);
    m.add("losses/entropy", this.#entropy(k, h));
    m.add("losses/approx_kl", kl! / B);
    m.add("losses/clip_frac", clipped! / B);
    if (o.peer) { // |w g_k · x_k|: x_k's value is onehot(a) (discrete) or a (box)
      const gv = kern.f32(x.g!);
      let s = 0;
      if (ag.discrete) {
        const av = kern.i32(x.acts);
        for (let q = 0; q < B; q++) s += Math.abs(o.peer.weight * gv[q * A + av[q]!]!);
      } else {
        const av = kern.f32(x.acts);
        for (let q = 0; q < B; q++) {
          let d = 0;
          for (let c = 0; c < A; c++) d += gv[q * A + c]! * av[q * A + c]!;
          s += Math.abs(o.peer.weight * d);
        }
      }
      m.add("bppo/peer_abs", s / B);
    }
    m.add("losses/actor_grad_norm", norm);
  }

  /**
   * Agent k's PPO epochs over minibatches (algos/sequential.ts trainActor on the kernels): the
   * clipped surrogate with the factor M_k and, for BPPO, the peer term `w g_k · x_k`, minus the
   * entropy bonus; one Adam step per minibatch; the last epoch's diagnostics into `metrics`.
   * @param k the agent
   * @param ctx minibatch rng, metrics, factor `[N]`, peer inputs or null, and the rng of the
   *   own/peer gradient-norm diagnostics on the last epoch's first minibatch (null: none)
   */
  train(
    k: number,
    ctx: {
      rng: Rng;
      metrics: MetricSums;
      M: Float32Array;
      peer: FusedPeer | null;
      diagnose: Rng | null;
    },
  ): void {
    const ag = this.ag, kern = this.#kern, N = this.#N, A = ag.A;
    const mk0 = kern.mark();
    try {
      const Mb = kern.scratch(N), gb = ctx.peer ? kern.scratch(N * A) : null;
      kern.f32(Mb).set(ctx.M);
      if (gb) kern.f32(gb).set(ctx.peer!.g);
      for (let ep = 0; ep < ag.opts.epochs; ep++) {
        const last = ep === ag.opts.epochs - 1;
        let first = true;
        for (const idxT of minibatches(N, ag.opts.minibatches, ctx.rng, ag.seqLen) ?? [null]) {
          const idx = idxT ? idxT.dataSync() as Int32Array : null;
          idxT?.dispose();
          const mk = kern.mark();
          const x = this.#gather(k, idx, { M: Mb, g: gb });
          if (last && first && ctx.diagnose && ctx.peer) {
            this.#diagnose(
              k,
              { ...x, noise: this.#noise(x, ctx.peer, ctx.diagnose) },
              ctx.metrics,
              ctx.peer,
            );
          }
          first = false;
          x.noise = this.#noise(x, ctx.peer, ctx.rng);
          this.#step(k, x, { last, metrics: ctx.metrics, peer: ctx.peer });
          kern.release(mk);
        }
      }
    } finally { // an error leaves no scratch mark open
      kern.unwind(mk0);
    }
  }

  /**
   * Every agent's PPO epochs at once (algos/mappo.ts: MAPPO, IPPO, AR-MAPPO): each epoch's
   * minibatches are drawn once and every agent takes its step on the same rows; no factor, no
   * peer term.
   * @param ctx minibatch rng and metrics
   */
  trainJoint(ctx: { rng: Rng; metrics: MetricSums }): void {
    const ag = this.ag, kern = this.#kern;
    for (let ep = 0; ep < ag.opts.epochs; ep++) {
      const last = ep === ag.opts.epochs - 1;
      for (const idxT of minibatches(this.#N, ag.opts.minibatches, ctx.rng, ag.seqLen) ?? [null]) {
        const idx = idxT ? idxT.dataSync() as Int32Array : null;
        idxT?.dispose();
        for (let k = 0; k < ag.n; k++) {
          const mk = kern.mark();
          this.#step(k, this.#gather(k, idx, { M: null, g: null }), {
            last,
            metrics: ctx.metrics,
            peer: null,
          });
          kern.release(mk);
        }
      }
    }
  }

  /** The own and peer parts' actor-gradient norms on one minibatch (algos/bppo.ts #gradParts). */
  #diagnose(k: number, x: MiniRows, m: MetricSums, p: FusedPeer): void {
    const kern = this.#kern, K = kern.k, A = this.ag.A, fa = this.#actors[k]!, g = this.#groups[k]!;
    const B = x.B, mk = kern.mark();
    const t = fa.forward(x.obs, x.cond, B, x.rec);
    const h = this.#headFwd(k, t.y, x, B, false);
    const dlogp = kern.scratch(B), dpeer = kern.scratch(B), st = kern.scratch(3, true);
    // the split picks the first branch only where surr1 < surr2 strictly (its step())
    K.ppo_clip_grad(
      h.logp.ptr,
      x.logpOld.ptr,
      x.adv.ptr,
      x.M!.ptr,
      dlogp.ptr,
      dpeer.ptr,
      st.ptr,
      B,
      this.ag.opts.clip,
      B,
      1,
    );
    const norm = (which: "own" | "peer") => {
      g.zeroGrad();
      const mk2 = kern.mark();
      const dl = kern.scratch(B * A);
      if (which === "own") {
        this.#headBwd(k, h, x, { dlogp, entropyCoef: null, dl, grads: true });
      } else {
        kern.f32(dl).fill(0);
        this.#peerBwd(k, h, x, dpeer, dl, p, true);
      }
      const t2 = fa.forward(x.obs, x.cond, B, x.rec); // a tape is consumed by its backward pass
      fa.backward(t2, dl, false);
      kern.release(mk2);
      return Math.sqrt(K.sum_sq(g.buffers.g.ptr, g.size));
    };
    const own = norm("own"), peer = norm("peer");
    m.add("bppo/grad_own", own);
    m.add("bppo/grad_peer", peer);
    m.add("bppo/grad_peer_over_own", peer / (own + 1e-12));
    g.zeroGrad();
    kern.release(mk);
  }

  /**
   * `[N, A]` the pathwise gradient agent k follows (algos/bppo.ts pathwiseGrad, docs/bpta.md
   * §4d): the total derivative of `Q(s, u)` with respect to u_k through every successor's
   * reparameterised action (recomputed from the stored noise), by reverse mode: dQ/du at the
   * stored joint action, then each successor j in reverse chain order passes the adjoint of its
   * x_j back through its policy to the action slots its conditioning input reads.
   * @param k the agent
   * @param q the fused action-value critic
   * @param s `[N, criticDim]` the critic inputs
   * @param successors the agents after k, in chain order
   * @param tau Gumbel temperature
   * @returns a new array
   */
  pathwiseGrad(
    k: number,
    q: FusedQ,
    s: Float32Array,
    successors: readonly number[],
    tau: number,
  ): Float32Array {
    const kern = this.#kern, K = kern.k, N = this.#N, { n, A } = this.ag, nA = n * A;
    const adj = q.gradU(s, this.#u); // dQ/du, every slot
    for (const j of [...successors].reverse()) {
      const r = this.#r(j), mk = kern.mark(), fa = this.#actors[j]!;
      const t = fa.forward(r.obs, r.cond, N, this.#rec(r.h, r.keep, N));
      const h = this.#headFwd(j, t.y, r, N, false);
      const g = kern.scratch(N * A), gv = kern.f32(g);
      for (let q2 = 0; q2 < N; q2++) {
        gv.set(adj.subarray(q2 * nA + j * A, q2 * nA + (j + 1) * A), q2 * A);
      }
      const ones = kern.scratch(N), dl = kern.scratch(N * A, true);
      kern.f32(ones).fill(1);
      if (h.lsm) { // x_j = onehot + y - sg(y), y = softmax((l + eps) / tau): its Jacobian's transpose
        K.gumbel_peer_bwd(
          h.lsm.ptr,
          r.noise!.ptr,
          g.ptr,
          r.acts.ptr,
          ones.ptr,
          dl.ptr,
          N,
          A,
          tau,
          1,
          0,
        );
      } else { // x_j = a + (mu - sg mu) + ...: the mean passes the adjoint (sigma does not see u)
        K.gauss_peer_bwd(g.ptr, 0, this.#groups[j]!.ptr(fa.logStd!), ones.ptr, dl.ptr, 0, N, A, 1);
      }
      const dcond = fa.backward(t, dl, true, false)!;
      const w = nA + n, dc = kern.f32(dcond), mask = this.#mask[j]!;
      for (let q2 = 0; q2 < N; q2++) {
        for (let c = 0; c < nA; c++) adj[q2 * nA + c]! += dc[q2 * w + c]! * mask[c]!; // d(u ⊙ mask_j)/du
      }
      kern.release(mk);
    }
    const out = new Float32Array(N * A);
    for (let q2 = 0; q2 < N; q2++) {
      out.set(adj.subarray(q2 * nA + k * A, q2 * nA + (k + 1) * A), q2 * A);
    }
    return out;
  }

  /**
   * Agent k's epochs under the pathwise estimator (algos/bppo.ts pathwiseLoss): the loss
   * `-mean(m f_k · x_k) - c_ent H`, `x_k` its reparameterised action (stored noise), `m = 1` while
   * `|rho_k - 1| <= clip` (+1e-7, as the tfjs path), one Adam step per minibatch.
   * @param k the agent
   * @param ctx minibatch rng, metrics, `f [N, A]` from {@link pathwiseGrad}, temperature
   */
  trainPathwise(
    k: number,
    ctx: { rng: Rng; metrics: MetricSums; f: Float32Array; tau: number },
  ): void {
    const ag = this.ag, kern = this.#kern, N = this.#N, A = ag.A, m = ctx.metrics;
    const { clip, entropyCoef, epochs } = ag.opts;
    const fa = this.#actors[k]!, g = this.#groups[k]!, opt = this.#tfjs(k).opt;
    const peer: FusedPeer = { g: ctx.f, weight: 1, tau: ctx.tau, estimator: "paper" };
    const th = Math.fround(clip + 1e-7);
    const mk0 = kern.mark();
    try {
      const fb = kern.scratch(N * A);
      kern.f32(fb).set(ctx.f);
      for (let ep = 0; ep < epochs; ep++) {
        const last = ep === epochs - 1;
        for (const idxT of minibatches(N, ag.opts.minibatches, ctx.rng, ag.seqLen) ?? [null]) {
          const idx = idxT ? idxT.dataSync() as Int32Array : null;
          idxT?.dispose();
          const mk = kern.mark();
          const x = this.#gather(k, idx, { M: null, g: fb }), B = x.B;
          x.noise = x.storedNoise!();
          g.zeroGrad();
          const t = fa.forward(x.obs, x.cond, B, x.rec);
          const h = this.#headFwd(k, t.y, x, B, true);
          const lp = kern.f32(h.logp), old = kern.f32(x.logpOld);
          const dpeer = kern.scratch(B), dp = kern.f32(dpeer);
          let kl = 0, clipped = 0;
          for (let q = 0; q < B; q++) {
            const d = Math.fround(lp[q]! - old[q]!), rho = Math.fround(Math.exp(d));
            const inside = Math.fround(th - Math.abs(Math.fround(rho - 1))) > 0 ? 1 : 0;
            dp[q] = -inside / B; // d/dp of -mean(m f · x)
            kl += rho - 1 - d;
            if (Math.abs(rho - 1) > clip) clipped++;
          }
          const dl = kern.scratch(B * A);
          this.#headBwd(k, h, x, { dlogp: null, entropyCoef, dl, grads: true });
          this.#peerBwd(k, h, x, dpeer, dl, peer, true);
          fa.backward(t, dl, false);
          const norm = g.adamStep({ ...opt.opts, lr: opt.opts.lr * opt.lrScale });
          if (last) {
            const gv = kern.f32(x.g!);
            let path = 0;
            if (ag.discrete) {
              const av = kern.i32(x.acts);
              for (let q = 0; q < B; q++) path += -dp[q]! * B * gv[q * A + av[q]!]!;
            } else {
              const av = kern.f32(x.acts);
              for (let q = 0; q < B; q++) {
                let d = 0;
                for (let c = 0; c < A; c++) d += gv[q * A + c]! * av[q * A + c]!;
                path += -dp[q]! * B * d;
              }
            }
            m.add("losses/policy", -path / B); // -mean(m f_k · x_k), x_k's value the taken action
            m.add("losses/entropy", this.#entropy(k, h));
            m.add("losses/approx_kl", kl / B);
            m.add("losses/clip_frac", clipped / B);
            m.add("losses/actor_grad_norm", norm);
          }
          kern.release(mk);
        }
      }
    } finally { // an error leaves no scratch mark open
      kern.unwind(mk0);
    }
  }

  /**
   * The feedback agent k sends upstream (algos/bppo.ts feedback): the gradient of
   * `sum_q rho_k,q A_k,q` (paper) or of its mean (reference, `peerScale` mean) with respect to
   * the stored action vectors u, `[N, n A]`, through k's conditioning MLP; the reference form is
   * then norm-clipped as one tensor to `maxNorm` (0: no clip).
   * @param k the agent
   * @param logpBefore `[N]` its log-probs before its update
   * @param o reduction and the reference's whole-tensor clip
   * @returns `[N, n A]`
   */
  feedback(
    k: number,
    logpBefore: Float32Array,
    o: { reduce: "sum" | "mean"; maxNorm: number },
  ): Float32Array {
    const kern = this.#kern, r = this.#r(k), N = this.#N, { n, A } = this.ag;
    const mk = kern.mark();
    const t = this.#actors[k]!.forward(r.obs, r.cond, N, this.#rec(r.h, r.keep, N));
    const h = this.#headFwd(k, t.y, r, N, false);
    const dlogp = kern.scratch(N), lp = kern.f32(h.logp), adv = kern.f32(r.adv);
    const scale = o.reduce === "mean" ? 1 / N : 1;
    const dv = kern.f32(dlogp);
    for (let q = 0; q < N; q++) {
      dv[q] = Math.fround(Math.exp(lp[q]! - logpBefore[q]!)) * adv[q]! * scale; // d(rho A)/dlogp
    }
    const dl = kern.scratch(N * A);
    this.#headBwd(k, h, r, { dlogp, entropyCoef: null, dl, grads: false });
    const dcond = this.#actors[k]!.backward(t, dl, true, false)!;
    const w = n * A + n, dc = kern.f32(dcond), mask = this.#mask[k]!;
    const out = new Float32Array(N * n * A);
    for (let q = 0; q < N; q++) {
      for (let j = 0; j < n * A; j++) out[q * n * A + j] = dc[q * w + j]! * mask[j]!; // d(u ⊙ mask)/du
    }
    kern.release(mk);
    if (o.maxNorm > 0) {
      let s = 0;
      for (const v of out) s += v * v;
      const f = Math.min(1, o.maxNorm / (Math.sqrt(s) + 1e-6));
      for (let q = 0; q < out.length; q++) out[q]! *= f;
    }
    return out;
  }
}
