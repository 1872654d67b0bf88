// The soundness of the BPTA estimators (issue 29, docs/bpta.md §4d): only the gradient of the
// peer term enters PPO's surrogate, so the branch min() takes is chosen by the own term alone.
import assert from "node:assert/strict";
import { initBackend, tf } from "../mod.ts";
import { sequentialSurrogate } from "../algos/sequential.ts";

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
