// The soundness of the BPTA estimators (issue 29, docs/bpta.md §4d): only the gradient of the
// peer term enters PPO's surrogate, so the branch min() takes is chosen by the own term alone;
// and a known-answer test runs Baton's estimator functions (algos/estimators.ts) on a game whose
// gradient is known in closed form: each estimator's mean is what the document says it is.
import assert from "node:assert/strict";
import { initBackend, Rng, tf } from "../mod.ts";
import { sequentialSurrogate } from "../algos/sequential.ts";
import {
  chainActions,
  feedbackOf,
  ownTerm,
  paperTrainAction,
  pathwiseTerm,
  peerTerm,
} from "../algos/estimators.ts";
import { sg } from "../core/nets.ts";

Deno.test("the peer term's value never chooses PPO's branch: min() is chosen by the own term alone", async () => {
  await initBackend("cpu");
  // rho = 1.5 > 1 + eps with A > 0: the own term's clipped branch (surr2) is the minimum, so the
  // own gradient through rho is 0. A large negative peer value p would make surr1 the smaller
  // (1.5 A + 1.5 p < 1.2 A + 1.2 p) and let the unclipped own gradient through.
  const B = 4, eps = 0.2, c = 3;
  const logpOld = tf.zeros([B]) as tf.Tensor1D;
  const adv = tf.ones([B]) as tf.Tensor1D;
  const M = tf.ones([B]) as tf.Tensor1D;
  const entropy = tf.scalar(0);
  const logp = tf.variable(tf.fill([B], Math.log(1.5)) as tf.Tensor1D, true, "t_logp");
  for (const value of [0, -100, 100]) {
    // p = c w with w = value / c: its gradient in w is c whatever its value
    const w = tf.variable(tf.fill([B], value / c) as tf.Tensor1D, true, `t_w${value}`);
    const { value: loss, grads } = tf.variableGrads(() =>
      sequentialSurrogate({ logpOld, adv }, {
        logp: logp as unknown as tf.Tensor1D,
        entropy,
        M,
        peer: tf.mul(w, c) as tf.Tensor1D,
        clip: eps,
        entropyCoef: 0,
      }).loss, [logp, w]);
    // the loss's value is the own term's: -mean(clip(rho) A) = -1.2
    assert.ok(Math.abs(loss.dataSync()[0]! + 1.2) < 1e-6, `p = ${value}: loss ${loss.dataSync()}`);
    assert.deepEqual(
      [...grads[logp.name]!.dataSync()],
      [0, 0, 0, 0],
      `p = ${value}: no own gradient`,
    );
    // the peer gradient is the clipped branch's: -(1/B) clip(sg(rho)) c per sample
    for (const g of grads[w.name]!.dataSync()) assert.ok(Math.abs(g + 1.2 * c / B) < 1e-6, `${g}`);
    tf.dispose([loss, ...Object.values(grads), w]);
  }
  tf.dispose([logp, logpOld, adv, M, entropy]);
});

/** Mean and standard error of per-sample values. */
function meanSe(xs: Float32Array): { mean: number; se: number } {
  let s = 0, s2 = 0;
  for (const x of xs) s += x, s2 += x * x;
  const mean = s / xs.length;
  return { mean, se: Math.sqrt((s2 / xs.length - mean * mean) / xs.length) };
}

Deno.test("known answer: on a 2-agent Gaussian game the own term estimates dJ/dmu, own + peer (paper) adds the successor's reaction, the reference adds it / N", async () => {
  // docs/bpta.md §4d: a1 = mu + eps1, a2 ~ N(2 a1, 1), Q = a2 - a1^2 / 2, mu = 0.3.
  // dJ/dmu = 2 - mu = 1.7; the peer term's mean (the successor's reaction) is 2.
  await initBackend("cpu");
  const N = 200_000, mu0 = 0.3, rng = new Rng(7);
  const eps1 = Float32Array.from({ length: N }, () => rng.normal());
  const eps2 = Float32Array.from({ length: N }, () => rng.normal());
  const a1v = eps1.map((e) => mu0 + e), a2v = a1v.map((a, q) => 2 * a + eps2[q]!);
  const Qv = a1v.map((a, q) => a2v[q]! - a * a / 2);
  const [a1, a2, Q, e1] = [a1v, a2v, Qv, eps1].map((v) => tf.tensor2d(v, [N, 1]));
  const M = tf.ones([N]) as tf.Tensor1D;
  // agent 1's policy output: its mean, one per sample so each sample's gradient is its own row
  const mu = tf.fill([N, 1], mu0) as tf.Tensor2D;
  const logN = (x: tf.Tensor, m: tf.Tensor) => tf.mul(-0.5, tf.square(tf.sub(x, m))); // + const
  const perSample = (f: (m: tf.Tensor2D) => tf.Tensor) =>
    tf.tidy(() => tf.grad((m) => tf.sum(f(m as tf.Tensor2D)))(mu).dataSync() as Float32Array);
  // own: Baton's own term at rho = 1 (its gradient is the score times A M)
  const own = perSample((m) => {
    const logp = tf.reshape(logN(a1, m), [N]) as tf.Tensor1D;
    const ratio = tf.exp(tf.sub(logp, sg(logp))) as tf.Tensor1D;
    return ownTerm(ratio, tf.reshape(Q, [N]) as tf.Tensor1D, M, 0.2).own1;
  });
  // the successor's per-sample objective rho_2(u) Q, as a function of agent 1's action u
  const logp2Old = logN(a2, tf.mul(2, a1));
  const J2 = (u: tf.Tensor2D) =>
    tf.reshape(tf.mul(tf.exp(tf.sub(logN(a2, tf.mul(2, u)), logp2Old)), Q), [N]) as tf.Tensor1D;
  const peerOf = (reduce: "sum" | "mean") => {
    const g = feedbackOf(J2, a1, reduce); // Baton's feedback: dJ_q / du_q (sum) or 1/N of it
    const out = perSample((m) => {
      const x = paperTrainAction(m, { act: a1, noise: e1, tau: 1, logStd: tf.zeros([1]) });
      return peerTerm(g, x, 1);
    });
    g.dispose();
    return out;
  };
  const peer = peerOf("sum"), peerRef = peerOf("mean");
  const sum = own.map((x, q) => x + peer[q]!);
  const check = (what: string, xs: Float32Array, want: number, scale = 1) => {
    const { mean, se } = meanSe(xs);
    assert.ok(
      Math.abs(mean * scale - want) < 3 * se * scale,
      `${what}: mean ${mean * scale} (se ${se * scale}), want ${want}`,
    );
    return mean * scale;
  };
  check("own (unbiased)", own, 2 - mu0);
  check("peer (the successor's reaction R)", peer, 2);
  check("own + peer (paper)", sum, 2 - mu0 + 2);
  check("reference peer (R / N)", peerRef, 2, N);
  // and the sum is not the gradient: 3.7 is more than 10 standard errors from 1.7
  const s = meanSe(sum);
  assert.ok(Math.abs(s.mean - (2 - mu0)) > 10 * s.se, "the paper's sum is biased");
  tf.dispose([a1, a2, Q, e1, M, mu, logp2Old]);
});

Deno.test("known answer: the pathwise estimator through the whole chain is the true gradient with an exact critic (3 agents)", async () => {
  // a1 = mu + eps1, a2 = 2 a1 + eps2, a3 = a2 + eps3, Q = a3 - a1^2 / 2: dJ/dmu = 2 - mu. The
  // successors' reaction reaches agent 1 only through a3 <- a2 <- a1: a chain cut after one hop
  // would give -mu.
  await initBackend("cpu");
  const N = 100_000, mu0 = 0.3, rng = new Rng(11);
  const e = [0, 1, 2].map(() => Float32Array.from({ length: N }, () => rng.normal()));
  const a1v = e[0]!.map((x) => mu0 + x);
  const a2v = a1v.map((a, q) => 2 * a + e[1]![q]!);
  const a3v = a2v.map((a, q) => a + e[2]![q]!);
  const acts = [a1v, a2v, a3v].map((v) => tf.tensor2d(v, [N, 1]));
  const noise = e.map((v) => tf.tensor2d(v, [N, 1]));
  const u = tf.concat(acts, 1) as tf.Tensor2D;
  const mu = tf.fill([N, 1], mu0) as tf.Tensor2D;
  const logStd = tf.zeros([1]) as tf.Tensor1D;
  // each successor's policy mean as a function of the joint action so far (sigma = 1)
  const meanOf = (j: number, v: tf.Tensor2D) =>
    j === 1 ? tf.mul(2, tf.slice(v, [0, 0], [-1, 1])) : tf.slice(v, [0, 1], [-1, 1]);
  const q = (v: tf.Tensor2D) =>
    tf.reshape(
      tf.sub(tf.slice(v, [0, 2], [-1, 1]), tf.div(tf.square(tf.slice(v, [0, 0], [-1, 1])), 2)),
      [N],
    ) as tf.Tensor1D;
  const grads = tf.tidy(() =>
    tf.grad((m) => {
      const x1 = paperTrainAction(m as tf.Tensor2D, {
        act: acts[0]!,
        noise: noise[0]!,
        tau: 1,
        logStd,
      });
      const chain = chainActions(u, 0, x1, [1, 2], 1, (j, v) =>
        paperTrainAction(meanOf(j, v) as tf.Tensor2D, {
          act: acts[j]!,
          noise: noise[j]!,
          tau: 1,
          logStd,
        }));
      return tf.sum(pathwiseTerm(q, chain));
    })(mu).dataSync() as Float32Array
  );
  const { mean, se } = meanSe(grads);
  assert.ok(Math.abs(mean - (2 - mu0)) < 3 * se, `pathwise: mean ${mean} (se ${se}), want 1.7`);
  assert.ok(se < 0.01, `se ${se}`);
  tf.dispose([...acts, ...noise, u, mu, logStd]);
});
