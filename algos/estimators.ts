/**
 * The BPTA estimators, each a short function next to the equation it implements
 * ([docs/bpta.md](../docs/bpta.md) §4, §4c, §4d). `algos/bppo.ts` assembles them into BPPO's
 * update; the known-answer test (`tests/bpta_sound_test.ts`) runs these same functions on a game
 * whose gradient is known in closed form.
 *
 * What each estimates (§4d): the **own** term alone is the whole `dJ/dtheta_k`; the paper's
 * **own + peer** sum is `dJ/dtheta_k` plus the successors' reaction `R_k` (it counts that
 * reaction twice); the reference's batch-mean peer term adds `R_k / N`.
 *
 * @module
 */
import { tf } from "../core/deps.ts";
import { sg } from "../core/nets.ts";
import { clippedProduct } from "./sequential.ts";

// ------------------------------------------------------------------------------ own term

/**
 * The own term of agent k, per sample, both PPO branches (§4 step 3; §4d "own"):
 * `own1 = rho_k A M_k`, `own2 = clip(rho_k, 1 ± eps) A M_k`. At `rho = 1` its gradient is
 * `grad log pi_k * A * M_k`: the score-function estimator, unbiased for `dJ/dtheta_k` (at the
 * updated successors' policies when `M_k` carries their ratios).
 * @param ratio `[B]` rho_k
 * @param adv `[B]` advantages
 * @param M `[B]` factor M_k
 * @param eps the clip half-width
 * @returns both branches, `[B]` each
 */
export function ownTerm(
  ratio: tf.Tensor1D,
  adv: tf.Tensor1D,
  M: tf.Tensor1D,
  eps: number,
): { own1: tf.Tensor1D; own2: tf.Tensor1D } {
  const own1 = tf.mul(tf.mul(ratio, adv), M) as tf.Tensor1D; // rho_k * A * M_k
  const own2 = tf.mul(tf.mul(tf.clipByValue(ratio, 1 - eps, 1 + eps), adv), M) as tf.Tensor1D; // clip(rho_k) * A * M_k
  return { own1, own2 };
}

// ----------------------------------------------------------------------------- peer term

/**
 * The feedback a successor sends upstream (§4 end of step 3, §4c): the derivative of its
 * per-sample objective `J_q(u)` (`rho_k A_k` as a function of the stored action vectors `u`)
 * with respect to `u`. `sum` (the paper's estimator): each sample's own derivative
 * `dJ_q / du_q`. `mean` (the authors' code): the derivative of the batch mean, `1/N` of that.
 * @param objective `[N]` per-sample objective of `u`
 * @param u `[N, d]` the stored action vectors
 * @param reduce `sum` or `mean`
 * @returns `[N, d]`
 */
export function feedbackOf(
  objective: (u: tf.Tensor2D) => tf.Tensor1D,
  u: tf.Tensor2D,
  reduce: "sum" | "mean",
): tf.Tensor2D {
  const total = (x: tf.Tensor) => {
    const j = objective(x as tf.Tensor2D);
    return reduce === "sum" ? tf.sum(j) : tf.mean(j); // d sum_q J_q / du: row q is dJ_q / du_q
  };
  return tf.grad(total)(u) as tf.Tensor2D;
}

/**
 * The peer term of agent k, per sample (§4 step 3): `w g_k · x_k`, with `x_k` k's
 * reparameterised action and `g_k` its successors' summed feedback. Only its gradient is used
 * (the surrogate adds `p - sg(p)`, §4d); its mean is the successors' reaction `R_k`.
 * @param g `[B, A]` feedback g_k
 * @param x `[B, A]` reparameterised action x_k
 * @param weight the peer weight
 * @returns `[B]`
 */
export function peerTerm(g: tf.Tensor2D, x: tf.Tensor2D, weight: number): tf.Tensor1D {
  return tf.mul(tf.sum(tf.mul(g, x), 1), weight) as tf.Tensor1D; // w g_k · x_k
}

/**
 * The reference estimator's straight-through "train action" x_k (docs/bpta.md §3). Its value is
 * the taken action; its gradient flows through the soft Gumbel-softmax probability of the taken
 * action only (discrete, fresh noise) or through the policy mean only (continuous).
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

/**
 * The paper estimator's reparameterised action x_k (docs/bpta.md §4c). Its value is the taken
 * action. Discrete: `x = onehot(a) + y - sg(y)`, `y = softmax((l + eps) / tau)` with the Gumbel
 * noise `eps` that produced `a = argmax(l + eps)`, so every slot carries gradient. Continuous:
 * `x = a + (mu - sg mu) + (sigma - sg sigma) sg(eps)` with the stored `eps` of `a = mu + sigma eps`.
 * @param out masked logits `[B, A]` (discrete) or the mean `[B, A]` (continuous)
 * @param opts the taken action, its stored noise `[B, A]`, temperature, and `logStd` `[A]`
 *   (continuous; null for discrete)
 * @returns `[B, A]`
 */
export function paperTrainAction(
  out: tf.Tensor2D,
  opts: { act: tf.Tensor2D; noise: tf.Tensor2D; tau: number; logStd: tf.Tensor1D | null },
): tf.Tensor2D {
  if (!opts.logStd) {
    const y = tf.softmax(tf.div(tf.add(out, opts.noise), opts.tau)); // y = softmax((l + eps) / tau)
    return tf.add(opts.act, tf.sub(y, sg(y))); // x = onehot(a) + y - sg(y)
  }
  const sigma = tf.exp(opts.logStd);
  const dMu = tf.sub(out, sg(out)); // mu - sg(mu)
  const dSigma = tf.mul(tf.sub(sigma, sg(sigma)), sg(opts.noise)); // (sigma - sg sigma) sg(eps)
  return tf.add(opts.act, tf.add(dMu, dSigma)); // x = a + (mu - sg mu) + (sigma - sg sigma) sg(eps)
}

/**
 * The peer signal of agent k (docs/bpta.md §4 step 3, §4c):
 * `g_k = sum_{j updated} G[j][k] * clip(prod_{l updated, l != j} rho_l, 1 ± c)`.
 * @param k the agent about to be updated
 * @param x feedback `G[j][i]` (`[N, A]` or null), per-agent ratios, updated agents, clip half-width
 *   (null = none), N and A
 * @returns `[N, A]`, or null when no successor sent feedback
 */
export function successorSignal(
  k: number,
  x: {
    G: readonly (readonly (Float32Array | null)[])[];
    factor: readonly Float32Array[];
    updated: readonly number[];
    clip: number | null;
    N: number;
    A: number;
  },
): Float32Array | null {
  const { N, A } = x;
  let g: Float32Array | null = null;
  for (const j of x.updated) {
    const Gjk = x.G[j]![k];
    if (!Gjk) continue;
    const w = clippedProduct(x.factor, x.updated.filter((l) => l !== j), x.clip); // w_{j,q}
    g ??= new Float32Array(N * A);
    for (let q = 0; q < N; q++) {
      for (let c = 0; c < A; c++) g[q * A + c]! += w[q]! * Gjk[q * A + c]!;
    }
  }
  return g;
}

/**
 * Scales each row of `[N, A]` down to Euclidean norm at most `max`, in place.
 * @param g the rows
 * @param A row length
 * @param max the largest allowed row norm (0 = no clip)
 * @returns g
 */
export function clipRowNorms(g: Float32Array, A: number, max: number): Float32Array {
  if (max <= 0) return g;
  for (let q = 0; q < g.length / A; q++) {
    let s = 0;
    for (let c = 0; c < A; c++) s += g[q * A + c]! ** 2;
    const norm = Math.sqrt(s);
    if (norm > max) { for (let c = 0; c < A; c++) g[q * A + c]! *= max / norm; }
  }
  return g;
}

// -------------------------------------------------------------------------- pathwise term

/**
 * The joint action with agent k's reparameterised action put in and every successor's action
 * recomputed from it, in chain order, through the successor's policy with the noise that
 * produced its action (§4d, `path`): `u_k <- x_k`, then for each successor j, `u_j <- x_j(u)`.
 * The successors' reaction to `x_k` reaches it here, once, through the chain.
 * @param u `[B, n A]` the stored action vectors (predecessors stay as sampled)
 * @param k the agent whose gradient is taken
 * @param xk `[B, A]` its reparameterised action (value: the sampled action)
 * @param successors the agents after k, in chain order
 * @param A action vector width
 * @param actOf `x_j(u)`: successor j's reparameterised action given the joint action so far
 * @returns `[B, n A]`
 */
export function chainActions(
  u: tf.Tensor2D,
  k: number,
  xk: tf.Tensor2D,
  successors: readonly number[],
  A: number,
  actOf: (j: number, u: tf.Tensor2D) => tf.Tensor2D,
): tf.Tensor2D {
  const put = (v: tf.Tensor2D, i: number, x: tf.Tensor2D) => {
    const n = v.shape[1] / A;
    const parts = [];
    if (i > 0) parts.push(tf.slice(v, [0, 0], [-1, i * A]));
    parts.push(x);
    if (i < n - 1) parts.push(tf.slice(v, [0, (i + 1) * A], [-1, (n - 1 - i) * A]));
    return tf.concat(parts, 1) as tf.Tensor2D;
  };
  let chain = put(u, k, xk); // u_k <- x_k
  for (const j of successors) chain = put(chain, j, actOf(j, chain)); // u_j <- x_j(u)
  return chain;
}

/**
 * The pathwise term of agent k, per sample (§4d, `path`): `Q(s, u)` at the chained joint action.
 * Its gradient with respect to k's parameters is `(dQ/du_k)_total dx_k/dtheta_k`: with an exact
 * critic and continuous actions, an unbiased estimate of `dJ/dtheta_k` (discrete: the gradient
 * of the Gumbel-softmax relaxation, biased for a finite temperature).
 * @param q the action-value critic, `[B]` of `[B, n A]`
 * @param chain `[B, n A]` from {@link chainActions}
 * @returns `[B]`
 */
export function pathwiseTerm(q: (u: tf.Tensor2D) => tf.Tensor1D, chain: tf.Tensor2D): tf.Tensor1D {
  return q(chain); // Q(s, x_1..x_n)
}
