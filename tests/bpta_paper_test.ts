// The paper's estimator of the peer term (docs/bpta.md §4c): finite-difference checks of the
// reparameterised action with stored noise (discrete, every slot; continuous, through mu and
// sigma), the successor multiplier with 4 agents, per-sample clipping, the mechanism itself (a
// successor that prefers another predecessor action moves the predecessor under the paper
// estimator and not under the reference one), and the peerWeight=0 identity of both estimators.
import assert from "node:assert/strict";
import { type EnvSpec, initBackend, Rng, type Rollout, tf } from "../mod.ts";
import {
  Bppo,
  bppoOptions,
  clipRowNorms,
  paperTrainAction,
  successorSignal,
} from "../algos/bppo.ts";
import { clippedProduct } from "../algos/sequential.ts";
import { disposeBatch, prepareBatch } from "../algos/ppo/mod.ts";
import { box } from "../core/spaces.ts";
import { SPEC2 as spec2 } from "./_helpers.ts";
import { assertClose } from "./_helpers.ts";

const specBox: EnvSpec = { ...spec2, actionSpace: box(2) };

function bppo(spec: EnvSpec, over: Record<string, unknown>, seed = 1): Bppo {
  return new Bppo(spec, {
    options: bppoOptions.parse({ hidden: 8, epochs: 1, ...over }),
    rng: new Rng(seed),
  });
}

/** A rollout collected by the algorithm's own act() on random observations (so noise is real). */
async function collect(algo: Bppo, spec: EnvSpec, N: number, seed: number): Promise<Rollout> {
  const rng = new Rng(seed);
  const n = spec.numAgents;
  const A = spec.actionSpace.kind === "discrete" ? spec.actionSpace.n : spec.actionSpace.dim;
  const obs = Float32Array.from({ length: N * n * spec.obsDim }, () => rng.normal());
  const state = Float32Array.from({ length: N * spec.stateDim }, () => rng.normal());
  const avail = spec.actionSpace.kind === "discrete" ? new Uint8Array(N * n * A).fill(1) : null;
  const out = await algo.act({ obs, state, avail, E: N }, { rng, greedy: false });
  return {
    T: 1,
    E: N,
    n,
    obs,
    state,
    avail,
    actions: out.actions,
    actionVecs: out.actionVecs,
    logp: out.logp,
    values: out.values ?? await algo.values({ obs, state, avail, E: N }),
    rewards: Float32Array.from({ length: N }, () => rng.normal()),
    dones: new Uint8Array(N).fill(1),
    advantages: Float32Array.from({ length: N * n }, () => rng.normal()),
    returns: Float32Array.from({ length: N * n }, () => rng.normal()),
    noise: out.noise ?? null,
  };
}

/** Central finite differences of f with respect to a variable's entries. */
function fdGrad(v: tf.Variable, f: () => number, h = 1e-2): number[] {
  const v0 = v.dataSync().slice();
  const out: number[] = [];
  for (let c = 0; c < v0.length; c++) {
    const p = v0.slice(), m = v0.slice();
    p[c]! += h;
    m[c]! -= h;
    v.assign(tf.tensor(p, v.shape));
    const fp = f();
    v.assign(tf.tensor(m, v.shape));
    const fm = f();
    out.push((fp - fm) / (2 * h));
  }
  v.assign(tf.tensor(v0, v.shape));
  return out;
}

Deno.test("paper estimator acts by Gumbel-max and stores the noise that produced each action", async () => {
  await initBackend("cpu");
  const algo = bppo(spec2, {});
  const r = await collect(algo, spec2, 32, 3);
  assert.ok(r.noise, "the rollout keeps the noise");
  const tb = prepareBatch(algo.agents, r);
  const logits = tf.tidy(() => algo.agents.evaluate(0, tb.agents[0]!, tb.u).out).arraySync();
  const noise = tb.agents[0]!.noise!.arraySync();
  for (let q = 0; q < 32; q++) {
    const z = logits[q]!.map((l, c) => l + noise[q]![c]!);
    assert.equal(r.actions[q * 2], z.indexOf(Math.max(...z)), `sample ${q}: a = argmax(l + eps)`);
  }
  disposeBatch(tb);
  const ref = bppo(spec2, { estimator: "reference" });
  assert.equal((await collect(ref, spec2, 4, 3)).noise, null, "the reference stores no noise");
  algo.dispose();
  ref.dispose();
});

Deno.test("paper peer gradient (discrete, stored noise, all slots) equals finite differences", async () => {
  await initBackend("cpu");
  const algo = bppo(spec2, { entropyCoef: 0 });
  const r = await collect(algo, spec2, 5, 4);
  const tb = prepareBatch(algo.agents, r);
  const k = 0, A = 3, B = 5, tau = 0.7;
  const rng = new Rng(8);
  const g = tf.tensor2d(Float32Array.from({ length: B * A }, () => rng.normal()), [B, A]);
  const M = tf.ones([B]) as tf.Tensor1D;
  const rows = { ...tb.agents[k]!, adv: tf.zeros([B]) as tf.Tensor1D }; // own term off
  const noise = rows.noise!;
  const bias = algo.agents.actors[k]!.head.b;
  const { grads } = tf.variableGrads(
    () => algo.actorLoss(k, rows, { u: tb.u, M, g, noise, tau }).loss,
    [bias],
  );
  const auto = Array.from(grads[bias.name]!.dataSync());
  // oracle: -mean_q sum_c g[q,c] softmax((l + eps) / tau)[q,c], every slot c (ratio is 1 here)
  const f = () =>
    tf.tidy(() => {
      const { out } = algo.agents.evaluate(k, rows, tb.u);
      const y = tf.softmax(tf.div(tf.add(out, noise), tau));
      return -tf.mean(tf.sum(tf.mul(g, y), 1)).dataSync()[0]!;
    });
  assertClose(auto, fdGrad(bias, f), { atol: 1e-4, rtol: 2e-2 });
  // the taken-slot-only oracle of the reference differs: the extra slots matter
  const fTaken = () =>
    tf.tidy(() => {
      const { out } = algo.agents.evaluate(k, rows, tb.u);
      const y = tf.softmax(tf.div(tf.add(out, noise), tau));
      return -tf.mean(tf.sum(tf.mul(tf.mul(g, rows.act), y), 1)).dataSync()[0]!;
    });
  const taken = fdGrad(bias, fTaken);
  assert.ok(
    auto.some((a, c) => Math.abs(a - taken[c]!) > 1e-3),
    `all-slot and taken-slot gradients should differ: ${auto} vs ${taken}`,
  );
  tf.dispose([g, M, rows.adv, ...Object.values(grads)]);
  disposeBatch(tb);
  algo.dispose();
});

Deno.test("paper peer gradient (continuous) reaches mu and sigma, equal to finite differences", async () => {
  await initBackend("cpu");
  const algo = bppo(specBox, { entropyCoef: 0 });
  const r = await collect(algo, specBox, 6, 5);
  const tb = prepareBatch(algo.agents, r);
  const k = 0, D = 2, B = 6;
  const rng = new Rng(9);
  const g = tf.tensor2d(Float32Array.from({ length: B * D }, () => rng.normal()), [B, D]);
  const M = tf.ones([B]) as tf.Tensor1D;
  const rows = { ...tb.agents[k]!, adv: tf.zeros([B]) as tf.Tensor1D };
  const eps = rows.noise!;
  const actor = algo.agents.actors[k]!;
  const vars = [actor.head.b, actor.logStd!];
  const { grads } = tf.variableGrads(
    () => algo.actorLoss(k, rows, { u: tb.u, M, g, noise: eps, tau: 1 }).loss,
    vars,
  );
  // oracle: -mean_q sum_c g[q,c] (mu[q,c] + exp(logStd[c]) eps[q,c])
  const f = () =>
    tf.tidy(() => {
      const { out } = algo.agents.evaluate(k, rows, tb.u);
      const a = tf.add(out, tf.mul(tf.exp(actor.logStd!), eps));
      return -tf.mean(tf.sum(tf.mul(g, a), 1)).dataSync()[0]!;
    });
  for (const v of vars) {
    const auto = Array.from(grads[v.name]!.dataSync());
    assertClose(auto, fdGrad(v, f), { atol: 1e-4, rtol: 2e-2 });
    assert.ok(auto.some((x) => Math.abs(x) > 1e-3), `${v.name} gets gradient`);
  }
  // value of x_k is the taken action
  const x = tf.tidy(() =>
    paperTrainAction(algo.agents.evaluate(k, rows, tb.u).out, {
      act: rows.act,
      noise: eps,
      tau: 1,
      logStd: actor.logStd as tf.Tensor1D,
    })
  );
  assertClose(x.dataSync(), rows.act.dataSync(), { atol: 1e-6 });
  tf.dispose([x, g, M, rows.adv, ...Object.values(grads)]);
  disposeBatch(tb);
  algo.dispose();
});

Deno.test("successor multiplier with 4 agents: g_k = sum_j G[j][k] clip(prod_{l != j} rho_l)", () => {
  const N = 3, A = 2, n = 4, c = 0.1;
  const rng = new Rng(2);
  const factor = Array.from(
    { length: n },
    () => Float32Array.from({ length: N }, () => 0.7 + 0.6 * rng.uniform()),
  );
  const G: (Float32Array | null)[][] = Array.from({ length: n }, () => Array(n).fill(null));
  const updated = [3, 2, 1]; // reverse chain order: agent 0 is next
  for (const j of updated) G[j]![0] = Float32Array.from({ length: N * A }, () => rng.normal());
  const g = successorSignal(0, { G, factor, updated, clip: c, N, A })!;
  for (let q = 0; q < N; q++) {
    for (let a = 0; a < A; a++) {
      let want = 0;
      for (const j of updated) {
        let w = 1;
        for (const l of updated) if (l !== j) w *= factor[l]![q]!;
        want += Math.min(1 + c, Math.max(1 - c, w)) * G[j]![0]![q * A + a]!;
      }
      assertClose([g[q * A + a]!], [want], { atol: 1e-5 });
    }
  }
  // agent 2's signal comes from agent 3 only, with weight clip(rho_... of nobody else) = 1
  G[3]![2] = Float32Array.from({ length: N * A }, () => 1);
  assertClose(successorSignal(2, { G, factor, updated: [3], clip: c, N, A })!, G[3]![2]!);
  assert.equal(successorSignal(3, { G, factor, updated: [], clip: c, N, A }), null);
  assertClose(clippedProduct(factor, [1, 2], null), factor[1]!.map((v, q) => v * factor[2]![q]!), {
    atol: 1e-6,
  });
});

Deno.test("per-sample clipping scales each feedback row to at most the norm, keeping direction", () => {
  const g = Float32Array.from([3, 4, 0.3, 0.4, 0, 0]);
  clipRowNorms(g, 2, 1);
  assertClose(g, [0.6, 0.8, 0.3, 0.4, 0, 0], { atol: 1e-6 });
  const h = Float32Array.from([3, 4]);
  clipRowNorms(h, 2, 0);
  assertClose(h, [3, 4]);
});

/**
 * BPPO whose successor (agent 1) reports `J_1 = 5 u_0[2]` per sample: its objective rises when the
 * predecessor plays action 2 rather than the action 0 it took.
 */
class PrefersTwo extends Bppo {
  override successorObjective(): (u: tf.Tensor2D) => tf.Tensor1D {
    return (u) => tf.reshape(tf.mul(5, tf.slice(u, [0, 2], [-1, 1])), [-1]) as tf.Tensor1D;
  }
}

Deno.test("a successor preferring another predecessor action moves it under the paper estimator only", async () => {
  await initBackend("cpu");
  const probP = async (estimator: string, peerWeight = 1) => {
    const opts = { hidden: 8, epochs: 10, lr: 1e-2, entropyCoef: 0, estimator, peerWeight };
    const algo = new PrefersTwo(spec2, { options: bppoOptions.parse(opts), rng: new Rng(1) });
    const r0 = await collect(bppo(spec2, {}), spec2, 64, 7); // actions and noise of one policy
    const actions = new Int32Array(r0.actions.length); // every agent took action 0
    const actionVecs = new Float32Array(r0.actionVecs.length);
    for (let q = 0; q < actions.length; q++) actionVecs[q * 3] = 1;
    const r: Rollout = { ...r0, actions, actionVecs }; // random advantages: an own term too
    // agent i's rows as tensors, built once (prepareBatch would also move the value normaliser)
    const N = 64;
    const u = tf.tensor2d(r.actionVecs, [N, 6]);
    const rowsOf = (i: number) => ({
      obs: tf.tensor2d(
        Float32Array.from(
          { length: N * 3 },
          (_, j) => r.obs[(Math.floor(j / 3) * 2 + i) * 3 + (j % 3)]!,
        ),
        [N, 3],
      ),
      act: tf.tensor2d(
        Float32Array.from(
          { length: N * 3 },
          (_, j) => r.actionVecs[(Math.floor(j / 3) * 2 + i) * 3 + (j % 3)]!,
        ),
        [N, 3],
      ),
      avail: null,
    });
    const agentRows = [rowsOf(0), rowsOf(1)];
    const p2 = () =>
      tf.tidy(() =>
        tf.mean(tf.softmax(algo.agents.evaluate(0, agentRows[0]!, u).out), 0).dataSync()[2]!
      );
    const logp = new Float32Array(r.logp.length); // behaviour = current policy: ratios start at 1
    for (let i = 0; i < 2; i++) {
      const lp = tf.tidy(() => algo.agents.evaluate(i, agentRows[i]!, u).logp).dataSync();
      lp.forEach((v, q) => (logp[q * 2 + i] = v));
    }
    const before = p2();
    await algo.update({ ...r, logp }, { rng: new Rng(2), progress: 0 });
    const after = p2();
    tf.dispose([u, ...agentRows.flatMap((x) => [x.obs, x.act])]);
    algo.dispose();
    return after - before;
  };
  const control = await probP("paper", 0); // the own term alone
  const paper = (await probP("paper")) - control;
  const reference = (await probP("reference")) - control;
  assert.ok(paper > 0.05, `paper: P(a0 = 2) should rise beyond the control, by ${paper}`);
  assert.ok(
    Math.abs(reference) < 1e-3,
    `reference: P(a0 = 2) moved ${reference} beyond the control`,
  );
});

Deno.test("with peerWeight=0 the paper and reference estimators make the same update", async () => {
  await initBackend("cpu");
  const r = await collect(bppo(spec2, {}), spec2, 16, 11);
  const after = async (estimator: string) => {
    const a = bppo(spec2, { peerWeight: 0, epochs: 3, estimator });
    await a.update(r, { rng: new Rng(2), progress: 0 });
    const st = await a.getState();
    a.dispose();
    return st.tensors;
  };
  const p = await after("paper"), q = await after("reference");
  for (const key of Object.keys(p)) assert.deepEqual(p[key]!.data, q[key]!.data, key);
});

Deno.test("an update's paper peer term is built from the noise stored at acting, never fresh noise (discrete and continuous)", async () => {
  await initBackend("cpu");
  for (const spec of [spec2, specBox]) {
    const seen: { noise: Float32Array; stored: Float32Array }[] = [];
    class Spy extends Bppo {
      override actorLoss(
        k: number,
        b: Parameters<Bppo["actorLoss"]>[1],
        x: Parameters<Bppo["actorLoss"]>[2],
      ) {
        if (x.noise && x.g) {
          seen.push({
            noise: Float32Array.from(x.noise.dataSync()),
            stored: Float32Array.from(b.noise!.dataSync()),
          });
        }
        return super.actorLoss(k, b, x);
      }
    }
    const algo = new Spy(spec, {
      options: bppoOptions.parse({ hidden: 8, epochs: 2 }),
      rng: new Rng(3),
    });
    const r = await collect(algo, spec, 16, 6);
    await algo.update(r, { rng: new Rng(1), progress: 0 });
    assert.ok(seen.length > 0, "agent 0 received feedback and built its peer term");
    for (const s of seen) assert.deepEqual(s.noise, s.stored, "the stored noise");
    algo.dispose();
  }
});

Deno.test("an update's paper feedback rows are each clipped to feedbackMaxNorm before they reach the peer term", async () => {
  await initBackend("cpu");
  const max = 1e-3; // small enough that every non-zero row is clipped
  const norms: number[] = [];
  class Spy extends Bppo {
    override actorLoss(
      k: number,
      b: Parameters<Bppo["actorLoss"]>[1],
      x: Parameters<Bppo["actorLoss"]>[2],
    ) {
      if (x.g) {
        const [B, A] = x.g.shape, g = x.g.dataSync();
        for (let q = 0; q < B; q++) {
          let s = 0;
          for (let c = 0; c < A; c++) s += g[q * A + c]! ** 2;
          norms.push(Math.sqrt(s));
        }
      }
      return super.actorLoss(k, b, x);
    }
  }
  const algo = new Spy(spec2, {
    options: bppoOptions.parse({ hidden: 8, epochs: 1, feedbackMaxNorm: max }),
    rng: new Rng(3),
  });
  await algo.update(await collect(algo, spec2, 16, 6), { rng: new Rng(1), progress: 0 });
  assert.ok(norms.length > 0, "agent 0 received feedback");
  for (const v of norms) assert.ok(v <= max * (1 + 1e-4), `row norm ${v} > ${max}`);
  assert.ok(norms.filter((v) => v > max * 0.999).length > norms.length / 2, "the clip is active");
  algo.dispose();
});
