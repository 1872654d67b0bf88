// BPPO's math: finite-difference checks of the feedback G[k][i] and of the peer term, the
// straight-through Gumbel gradient, and the ablation identity BPPO(no peer, no factor) = AR-MAPPO.
import assert from "node:assert/strict";
import {
  type AlgoState,
  defaultAlgoRegistry,
  type EnvSpec,
  initBackend,
  Rng,
  type Rollout,
  tf,
} from "../mod.ts";
import { type Bppo, bppoOptions, trainAction } from "../algos/bppo.ts";
import { Happo } from "../algos/happo.ts";
import { SPEC2 as spec2 } from "./_helpers.ts";
import { assertClose } from "./_helpers.ts";
import { disposeBatch, type PpoAgents, prepareBatch } from "../algos/ppo/mod.ts";

const algos = defaultAlgoRegistry();

/** A tiny random rollout for n agents with discrete (A) or box (D = A) actions. */
function tinyRollout(spec: EnvSpec, N: number, seed: number): Rollout {
  const rng = new Rng(seed);
  const n = spec.numAgents;
  const A = spec.actionSpace.kind === "discrete" ? spec.actionSpace.n : spec.actionSpace.dim;
  const obs = Float32Array.from({ length: N * n * spec.obsDim }, () => rng.normal());
  const state = Float32Array.from({ length: N * spec.stateDim }, () => rng.normal());
  const discreteA = spec.actionSpace.kind === "discrete";
  const actions = discreteA ? new Int32Array(N * n) : new Float32Array(N * n * A);
  const actionVecs = new Float32Array(N * n * A);
  for (let k = 0; k < N * n; k++) {
    if (discreteA) {
      const a = rng.int(A);
      actions[k] = a;
      actionVecs[k * A + a] = 1;
    } else {
      for (let d = 0; d < A; d++) actionVecs[k * A + d] = actions[k * A + d] = rng.normal();
    }
  }
  return {
    T: N,
    E: 1,
    n,
    obs,
    state,
    avail: discreteA ? new Uint8Array(N * n * A).fill(1) : null,
    actions,
    actionVecs,
    logp: new Float32Array(N * n), // replaced below by the policy's own log-probs
    values: Float32Array.from({ length: N * n }, () => rng.normal()),
    rewards: Float32Array.from({ length: N }, () => rng.normal()),
    dones: new Uint8Array(N).fill(1),
    advantages: Float32Array.from({ length: N * n }, () => rng.normal()),
    returns: Float32Array.from({ length: N * n }, () => rng.normal()),
  };
}

/** Sets the rollout's behaviour log-probs to the current policy's, so every ratio starts at 1. */
function behaviourLogp(algo: { agents: PpoAgents }, r: Rollout): Rollout {
  const tb = prepareBatch(algo.agents, { ...r });
  const logp = new Float32Array(r.logp.length);
  for (let i = 0; i < r.n; i++) {
    const lp = tf.tidy(() => algo.agents.evaluate(i, tb.agents[i]!, tb.u).logp);
    lp.dataSync().forEach((v, q) => (logp[q * r.n + i] = v));
    lp.dispose();
  }
  disposeBatch(tb);
  return { ...r, logp };
}

function makeBppo(spec: EnvSpec, over: Record<string, unknown>, seed = 1): Bppo {
  return algos.get("bppo").create(spec, {
    options: bppoOptions.parse({ hidden: 8, epochs: 1, ...over }),
    rng: new Rng(seed),
  }) as Bppo;
}

Deno.test("feedback G[k][i] equals finite differences of J_k on the predecessor's action", async () => {
  await initBackend("cpu");
  const algo = makeBppo(spec2, { peerScale: "sum", feedbackMaxNorm: 0 });
  const r = behaviourLogp(algo, tinyRollout(spec2, 6, 3));
  const tb = prepareBatch(algo.agents, r);
  const k = 1, i = 0, A = 3, n = 2;
  const logpBefore = tf.tidy(() => algo.agents.evaluate(k, tb.agents[k]!, tb.u).logp);
  const d = await algo.feedback(k, tb, logpBefore);
  const base = Float32Array.from(tb.u.dataSync());
  const J = (u: Float32Array) =>
    tf.tidy(() => {
      const { logp } = algo.agents.evaluate(k, tb.agents[k]!, tf.tensor2d(u, [6, n * A]));
      return tf.sum(tf.mul(tf.exp(tf.sub(logp, logpBefore)), tb.agents[k]!.adv)).dataSync()[0]!;
    });
  const h = 1e-2;
  for (let q = 0; q < 6; q++) {
    for (let c = 0; c < A; c++) {
      const at = q * n * A + i * A + c;
      const up = base.slice(), dn = base.slice();
      up[at]! += h;
      dn[at]! -= h;
      const fd = (J(up) - J(dn)) / (2 * h);
      assertClose([d[at]!], [fd], { atol: 2e-3, rtol: 2e-2 });
    }
    // agent k's own slots and later agents get no feedback
    for (let c = 0; c < A; c++) assert.ok(d[q * n * A + k * A + c] === 0);
  }
  tf.dispose(logpBefore);
  disposeBatch(tb);
  algo.dispose();
});

Deno.test("reference estimator: peer term gradient equals finite differences of mean(g · y(theta)) (discrete)", async () => {
  await initBackend("cpu");
  const algo = makeBppo(spec2, { entropyCoef: 0, estimator: "reference" });
  const r = behaviourLogp(algo, tinyRollout(spec2, 5, 4));
  const tb = prepareBatch(algo.agents, r);
  const k = 0, A = 3, B = 5, tau = 0.7;
  const rng = new Rng(8);
  const g = tf.tensor2d(Float32Array.from({ length: B * A }, () => rng.normal()), [B, A]);
  const noise = tf.tensor2d(Float32Array.from({ length: B * A }, () => rng.gumbel()), [B, A]);
  const M = tf.ones([B]) as tf.Tensor1D;
  const rows = { ...tb.agents[k]!, adv: tf.zeros([B]) as tf.Tensor1D }; // own term off
  const bias = algo.agents.actors[k]!.head.b;
  const { grads } = tf.variableGrads(
    () => algo.actorLoss(k, rows, { u: tb.u, M, g, noise, tau }).loss,
    [bias],
  );
  const auto = grads[bias.name]!.dataSync().slice();
  // Oracle: -mean_q sum_c g[q,c] * onehot[q,c] * softmax((logits + noise) / tau)[q,c]
  const f = () =>
    tf.tidy(() => {
      const { out } = algo.agents.evaluate(k, rows, tb.u);
      const y = tf.softmax(tf.div(tf.add(out, noise), tau));
      return -tf.mean(tf.sum(tf.mul(tf.mul(g, rows.act), y), 1)).dataSync()[0]!;
    });
  const h = 1e-2, b0 = bias.dataSync().slice();
  for (let c = 0; c < A; c++) {
    const p = b0.slice(), m = b0.slice();
    p[c]! += h;
    m[c]! -= h;
    bias.assign(tf.tensor1d(p));
    const fp = f();
    bias.assign(tf.tensor1d(m));
    const fm = f();
    bias.assign(tf.tensor1d(b0));
    assertClose([auto[c]!], [(fp - fm) / (2 * h)], { atol: 1e-4, rtol: 2e-2 });
  }
  assert.ok(auto.some((x) => Math.abs(x) > 1e-4), "the peer gradient is not trivially zero");
  tf.dispose([g, noise, M, rows.adv, ...Object.values(grads)]);
  disposeBatch(tb);
  algo.dispose();
});

Deno.test("straight-through Gumbel action: value is the one-hot, gradient is y_a (delta_ac - y_c) / tau", async () => {
  await initBackend("cpu");
  const logits = tf.tensor2d([[0.2, -1, 0.5]]);
  const act = tf.tensor2d([[0, 0, 1]]);
  const noise = tf.tensor2d([[0.1, 0.3, -0.2]]);
  const tau = 0.5;
  const x = trainAction(logits, { act, noise, tau });
  assert.deepEqual(Array.from(x.dataSync()), [0, 0, 1]);
  const grad = tf.grad((l: tf.Tensor) =>
    tf.sum(trainAction(l as tf.Tensor2D, { act, noise, tau }))
  )(logits);
  const z = [0.3, -0.7, 0.3].map((v) => v / tau);
  const mx = Math.max(...z), e = z.map((v) => Math.exp(v - mx)), s = e.reduce((a, b) => a + b, 0);
  const y = e.map((v) => v / s);
  const expected = y.map((yc, c) => (y[2]! * ((c === 2 ? 1 : 0) - yc)) / tau);
  assertClose(grad.dataSync(), expected, { atol: 1e-6 });
  assert.ok(
    grad.dataSync()[2]! > 0 && grad.dataSync()[0]! < 0,
    "raising the taken logit raises x_a",
  );
  // continuous: value is a, gradient flows to the mean with slope 1
  const mu = tf.tensor2d([[0.3, -0.2]]), a = tf.tensor2d([[1.5, 0.1]]);
  assert.deepEqual(
    Array.from(trainAction(mu, { act: a, noise: null, tau }).dataSync()),
    [1.5, 0.1].map(Math.fround),
  );
  const gm = tf.grad((m: tf.Tensor) =>
    tf.sum(trainAction(m as tf.Tensor2D, { act: a, noise: null, tau }))
  )(mu);
  assert.deepEqual(Array.from(gm.dataSync()), [1, 1]);
});

async function paramsAfterUpdate(name: string, opts: Record<string, unknown>, r: Rollout) {
  const entry = algos.get(name);
  const algo = entry.create(spec2, {
    options: entry.options.parse({ hidden: 8, epochs: 3, ...opts }),
    rng: new Rng(1),
  });
  await algo.update(r, { rng: new Rng(2), progress: 0 });
  const st: AlgoState = await algo.getState();
  algo.dispose();
  return st.tensors;
}

Deno.test("with the peer term and the factor off, BPPO's update equals AR-MAPPO's", async () => {
  await initBackend("cpu");
  const probe = makeBppo(spec2, { epochs: 3 });
  const r = behaviourLogp(probe, tinyRollout(spec2, 16, 5));
  probe.dispose();
  const ar = await paramsAfterUpdate("armappo", {}, r);
  const bp = await paramsAfterUpdate("bppo", { peerWeight: 0, useFactor: false }, r);
  const withFactor = await paramsAfterUpdate("bppo", { peerWeight: 0 }, r);
  const actorKeys = Object.keys(ar).filter((k) => k.startsWith("actor"));
  assert.ok(actorKeys.length > 8);
  for (const key of Object.keys(ar)) {
    if (key.startsWith("adam")) continue;
    assertClose(bp[key]!.data, ar[key]!.data, { atol: 1e-6 });
  }
  // With the factor on, agent 1 (updated first, M = 1) still matches; agent 0 (M = clip(rho_1)) does not.
  assertClose(withFactor["actor1/head/W"]!.data, ar["actor1/head/W"]!.data, { atol: 1e-6 });
  const d0 = withFactor["actor0/head/W"]!.data.reduce(
    (s, v, q) => s + Math.abs(v - ar["actor0/head/W"]!.data[q]!),
    0,
  );
  assert.ok(d0 > 1e-6, `agent 0 should see the factor, difference ${d0}`);
});

Deno.test("random chain order: the execution mask follows the drawn order", async () => {
  await initBackend("cpu");
  const spec3: EnvSpec = { ...spec2, numAgents: 3 };
  const algo = makeBppo(spec3, { order: "random" });
  const seen = new Set<string>();
  const rng = new Rng(4);
  for (let it = 0; it < 12; it++) {
    algo.beginIteration(rng);
    const order = Array.from(algo.agents.order);
    seen.add(order.join(""));
    assert.deepEqual([...order].sort(), [0, 1, 2]);
    const first = algo.agents.execMask(order[0]!), second = algo.agents.execMask(order[1]!);
    assert.ok(first.every((x) => x === 0), "the first agent sees no one");
    for (let j = 0; j < 3; j++) {
      const slots = Array.from(second.subarray(j * 3, j * 3 + 3));
      assert.deepEqual(slots, j === order[0] ? [1, 1, 1] : [0, 0, 0]);
    }
  }
  assert.ok(seen.size > 1, "the order changes between iterations");
  const fixed = makeBppo(spec3, {});
  fixed.beginIteration(rng);
  assert.deepEqual(Array.from(fixed.agents.order), [0, 1, 2]);
  algo.dispose();
  fixed.dispose();
});

Deno.test("happo: unconditioned actors, random order, unclipped factor, no peer term", async () => {
  await initBackend("cpu");
  const h = algos.get("happo").create(spec2, {
    options: algos.get("happo").options.parse({ hidden: 8, epochs: 2 }),
    rng: new Rng(1),
  }) as Happo;
  assert.ok(h instanceof Happo);
  assert.equal(h.orderKind, "random");
  assert.equal(h.agents.opts.conditioned, false);
  assert.equal(h.agents.actors[0]!.cond, null);
  const r = behaviourLogp(h, tinyRollout(spec2, 16, 2));
  h.beginIteration(new Rng(3));
  const m = await h.update(r, { rng: new Rng(2), progress: 0 });
  assert.ok(Number.isFinite(m["losses/policy"]!));
  assert.equal(m["bppo/peer_abs"], undefined);
  // unclipped factor: agent updated second sees M = rho of the first, beyond [1 - eps/2, 1 + eps/2]
  assert.ok(Number.isFinite(m["happo/factor_mean"]!));
  h.dispose();
});

Deno.test("cosine temperature schedule goes from tau0 to tauMin", () => {
  const a = makeBppo(spec2, {
    temperatureSchedule: "cosine",
    gumbelTemperature: 1.2,
    temperatureMin: 0.05,
  });
  assertClose([a.temperature(0), a.temperature(0.5), a.temperature(1)], [1.2, 0.625, 0.05], {
    atol: 1e-9,
  });
  a.dispose();
});
