// Recurrent policies (--algo-opt recurrent=gru): the GRU's equations and gradients, truncated
// BPTT over stored states against a full unroll, resets at episode starts, a memory task a GRU
// learns and an MLP cannot, and bit-identical resume.
import assert from "node:assert/strict";
import { join } from "node:path";
import {
  defaultAlgoRegistry,
  gruCell,
  gruSeq,
  initBackend,
  loadCheckpoint,
  MemoryCarry,
  Rng,
  type Rollout,
  tf,
  train,
} from "../mod.ts";
import { makeGru } from "../core/nets.ts";
import { disposeBatch, PpoAgents, ppoOptions, prepareBatch } from "../algos/ppo/mod.ts";
import { actChain } from "../algos/ppo/acting.ts";
import { Bppo, bppoOptions } from "../algos/bppo.ts";
import { assertClose, smallConfig } from "./_helpers.ts";
import { remember, rememberAlternating, rememberEnv, spec } from "./_remember.ts";

await initBackend("wasm");
const algos = defaultAlgoRegistry();

/** PyTorch's GRU equations in plain numbers, for one row (`w[side][gate]` = `{W, b}` values). */
function gruRef(x: number[], h: number[], w: number[][][][], H: number): number[] {
  const lin = (v: number[], side: number, gate: number, j: number) =>
    w[side]![gate]![1]![j]! + v.reduce((s, vi, i) => s + vi * w[side]![gate]![0]![i * H + j]!, 0);
  const sig = (v: number) => 1 / (1 + Math.exp(-v));
  return h.map((hj, j) => {
    const r = sig(lin(x, 0, 0, j) + lin(h, 1, 0, j)), zz = sig(lin(x, 0, 1, j) + lin(h, 1, 1, j));
    const n = Math.tanh(lin(x, 0, 2, j) + r * lin(h, 1, 2, j));
    return (1 - zz) * n + zz * hj;
  });
}

Deno.test("GRU: PyTorch's equations, resets where keep is 0, and gradients match finite differences", () => {
  const H = 3, I = 2, C = 2, L = 3;
  const g = makeGru("t/gru", { inDim: I, hidden: H, featureNorm: false, rng: new Rng(1) });
  const rng = new Rng(2);
  for (const d of [...g.x, ...g.h]) {
    d.b.assign(tf.tensor1d(Float32Array.from({ length: H }, () => 0.3 * rng.normal())));
  }
  const w = [g.x, g.h].map((side) =>
    side.map((d) => [Array.from(d.W.dataSync()), Array.from(d.b.dataSync())])
  );
  const xs = Float32Array.from({ length: L * C * I }, () => rng.normal());
  const h0 = Float32Array.from({ length: C * H }, () => rng.normal());
  const keep = Float32Array.from([1, 1, 1, 0, 1, 1]); // sequence 1 restarts at step 1
  const { out, last } = gruSeq(
    tf.tensor2d(xs, [L * C, I]),
    tf.tensor2d(h0, [C, H]),
    tf.tensor1d(keep),
    L,
    g,
  );
  const got = out.dataSync();
  for (let c = 0; c < C; c++) {
    let h = Array.from(h0.subarray(c * H, (c + 1) * H));
    for (let l = 0; l < L; l++) {
      if (!keep[l * C + c]) h = h.map(() => 0);
      h = gruRef(Array.from(xs.subarray((l * C + c) * I, (l * C + c + 1) * I)), h, w, H);
      assertClose(got.subarray((l * C + c) * H, (l * C + c + 1) * H), h, { atol: 1e-5 });
    }
    assertClose(last.dataSync().subarray(c * H, (c + 1) * H), h, { atol: 1e-5 });
  }
  // d/d(everything) of sum(out * R): the hand-written backward pass against central differences
  // and against autodiff through gruCell chained by hand
  const R = tf.tensor2d(Float32Array.from({ length: L * C * H }, () => rng.normal()), [L * C, H]);
  const x0 = tf.variable(tf.tensor2d(xs, [L * C, I])), hv = tf.variable(tf.tensor2d(h0, [C, H]));
  const keepT = tf.tensor1d(keep);
  const loss = () => tf.sum(tf.mul(gruSeq(x0, hv, keepT, L, g).out, R)) as tf.Scalar;
  const chained = () => {
    let h = hv as tf.Tensor2D;
    const outs: tf.Tensor2D[] = [];
    for (let l = 0; l < L; l++) {
      const k = tf.reshape(tf.slice(keepT, l * C, C), [C, 1]);
      h = gruCell(tf.slice(x0, [l * C, 0], [C, I]), tf.mul(h, k), g);
      outs.push(h);
    }
    return tf.sum(tf.mul(tf.concat(outs, 0), R)) as tf.Scalar;
  };
  const vars = [x0, hv, ...g.x.flatMap((d) => [d.W, d.b]), ...g.h.flatMap((d) => [d.W, d.b])];
  const { grads } = tf.variableGrads(loss, vars);
  const auto = tf.variableGrads(chained, vars).grads;
  const eps = 1e-2;
  for (const v of vars) {
    assertClose(grads[v.name]!.dataSync(), auto[v.name]!.dataSync(), { atol: 1e-5, rtol: 1e-4 });
    const base = v.dataSync().slice() as Float32Array;
    const fd = new Float32Array(base.length);
    for (let k = 0; k < base.length; k++) {
      const at = (d: number) => {
        const p = base.slice();
        p[k]! += d;
        v.assign(tf.tensor(p, v.shape));
        return loss().dataSync()[0]!;
      };
      fd[k] = (at(eps) - at(-eps)) / (2 * eps);
    }
    v.assign(tf.tensor(base, v.shape));
    assertClose(grads[v.name]!.dataSync(), fd, { atol: 2e-3, rtol: 2e-2 });
  }
});

function agents(over: Record<string, unknown>, conditioned = true): PpoAgents {
  return new PpoAgents(spec, {
    ...ppoOptions.parse({ recurrent: "gru", hidden: 8, ...over }),
    conditioned,
    storeNoise: false,
    rng: new Rng(7),
  });
}

/** Acts T steps of E envs carrying memory, and returns the rollout with its stored states. */
async function collect(ag: PpoAgents, T: number, E: number): Promise<Rollout> {
  const env = rememberEnv(E);
  const rng = new Rng(3);
  const carry = new MemoryCarry(ag, E);
  const { n, A } = ag, M = ag.memorySize;
  const r = {
    T,
    E,
    n,
    obs: new Float32Array(T * E * n * 2),
    state: new Float32Array(T * E * 2),
    avail: null,
    actions: new Int32Array(T * E * n),
    actionVecs: new Float32Array(T * E * n * A),
    logp: new Float32Array(T * E * n),
    values: new Float32Array(T * E * n),
    rewards: new Float32Array(T * E),
    dones: new Uint8Array(T * E),
    advantages: Float32Array.from({ length: T * E * n }, () => rng.normal()),
    returns: Float32Array.from({ length: T * E * n }, () => rng.normal()),
    memory: new Float32Array(T * E * M),
    starts: new Uint8Array(T * E),
  };
  let step = await env.reset(1);
  for (let t = 0; t < T; t++) {
    const a = await actChain(ag, carry.input({ ...step, avail: null, E }), { rng, greedy: false });
    r.obs.set(step.obs, t * E * n * 2);
    r.state.set(step.state, t * E * 2);
    r.memory.set(carry.memory, t * E * M);
    r.starts.set(carry.starts, t * E);
    r.actions.set(a.actions as Int32Array, t * E * n);
    r.actionVecs.set(a.actionVecs, t * E * n * A);
    r.logp.set(a.logp, t * E * n);
    r.values.set(a.values!, t * E * n);
    step = await env.step(a.actions);
    carry.advance(a, step.done, step.truncated);
  }
  await env.close();
  return r;
}

Deno.test("GRU: a hidden state is reset exactly at episode starts", async () => {
  const ag = agents({});
  const E = 3, M = ag.memorySize;
  const obs = Float32Array.from({ length: E * 4 }, (_, k) => (k % 5) - 2);
  const x = { obs, state: new Float32Array(E * 2), avail: null, E };
  const act = (memory: Float32Array, starts: number[]) =>
    actChain(ag, { ...x, memory, starts: Uint8Array.from(starts) }, {
      rng: new Rng(0),
      greedy: true,
    });
  const zero = await act(new Float32Array(E * M), [1, 1, 1]);
  const rand = Float32Array.from({ length: E * M }, (_, k) => Math.sin(k));
  const reset = await act(rand, [1, 0, 1]);
  for (const e of [0, 2]) {
    assertClose(
      reset.memory!.subarray(e * M, (e + 1) * M),
      zero.memory!.subarray(e * M, (e + 1) * M),
    );
    assertClose(reset.values!.subarray(e * 2, e * 2 + 2), zero.values!.subarray(e * 2, e * 2 + 2));
  }
  const kept = reset.memory!.subarray(M, 2 * M), fresh = zero.memory!.subarray(M, 2 * M);
  assert.ok(kept.some((v, k) => Math.abs(v - fresh[k]!) > 1e-3), "env 1 keeps its state");
  ag.dispose();
});

Deno.test("truncated BPTT: stored states reproduce acting for any chunk, and chunk = T is the full unroll", async () => {
  const T = 6, E = 4;
  for (const chunk of [6, 3, 1]) {
    const ag = agents({ chunk });
    const r = await collect(ag, T, E);
    const tb = prepareBatch(ag, r);
    for (let i = 0; i < 2; i++) {
      const lp = tf.tidy(() => ag.evaluate(i, tb.agents[i]!, tb.u).logp.dataSync());
      // rows are chunk-major: row l C + c is step k L + l of env e, c = k E + e
      const C = (T * E) / chunk, want = new Float32Array(T * E);
      for (let l = 0; l < chunk; l++) {
        for (let c = 0; c < C; c++) {
          const k = Math.floor(c / E), e = c % E;
          want[l * C + c] = r.logp[((k * chunk + l) * E + e) * 2 + i]!;
        }
      }
      assertClose(lp, want, { atol: 1e-5 });
    }
    if (chunk === T) {
      // gradient of sum(logp) through the whole sequence, against one-step calls chained by hand
      const vars = ag.actorVars(0);
      const batchGrad = tf.variableGrads(
        () => tf.sum(ag.evaluate(0, tb.agents[0]!, tb.u).logp) as tf.Scalar,
        vars,
      ).grads;
      const handGrad = tf.variableGrads(() => {
        const b = tb.agents[0]!;
        let h = tf.zeros([E, ag.H]) as tf.Tensor2D;
        const parts: tf.Tensor[] = [];
        for (let t = 0; t < T; t++) {
          const rowsT = tf.tensor1d(Int32Array.from({ length: E }, (_, e) => t * E + e), "int32");
          const pick = <X extends tf.Tensor>(v: X) => tf.gather(v, rowsT) as X;
          const cond = ag.condInput(0, pick(tb.u));
          const f = ag.actorForward(0, pick(b.obs), cond, { h0: h, keep: pick(b.keep!), L: 1 });
          const lp = tf.sum(tf.mul(tf.logSoftmax(f.out), pick(b.act)), 1);
          parts.push(tf.sum(lp));
          h = f.last!;
        }
        return tf.addN(parts) as tf.Scalar;
      }, vars).grads;
      for (const v of vars) {
        assertClose(batchGrad[v.name]!.dataSync(), handGrad[v.name]!.dataSync(), {
          atol: 1e-4,
          rtol: 1e-3,
        });
      }
    }
    disposeBatch(tb);
    ag.dispose();
  }
});

for (const estimator of ["paper", "pathwise"]) {
  Deno.test(`GRU: --resume continues exactly where an uninterrupted run would be (bppo estimator=${estimator})`, async () => {
    const over = { recurrent: "gru", chunk: 6, epochs: 2, minibatches: 2, estimator };
    const base = {
      env: "test/remember",
      algo: "bppo",
      seed: 4,
      numEnvs: 4,
      rolloutLength: 30,
      evalEpisodes: 8,
      checkpointEvery: 1,
      algoOptions: { hidden: 8, ...over },
    };
    const env = rememberAlternating;
    const full = await smallConfig({ ...base, totalSteps: 480 });
    await train(full, { env, algo: algos.get("bppo") });
    const part = await smallConfig({ ...base, totalSteps: 240 });
    await train(part, { env, algo: algos.get("bppo") });
    const ck = await loadCheckpoint(part.out!);
    assert.ok(Object.keys(ck.algo.tensors).some((k) => k.includes("gru")), "GRU weights saved");
    if (estimator === "pathwise") {
      assert.ok(Object.keys(ck.algo.tensors).some((k) => k.startsWith("q/")), "Q critic saved");
    }
    await train({ ...part, totalSteps: 480 }, { env, algo: algos.get("bppo"), resume: ck });
    const rows = async (d: string) =>
      (await Deno.readTextFile(join(d, "metrics.jsonl"))).trim().split("\n").map((l) => {
        const r = JSON.parse(l);
        for (const k of Object.keys(r)) {
          if (["wall_s", "sps", "rollout_s", "update_s"].includes(k) || k.startsWith("time/")) {
            delete r[k];
          }
        }
        return r;
      });
    assert.deepEqual(await rows(part.out!), await rows(full.out!));
    for (const d of [full.out!, part.out!]) await Deno.remove(d, { recursive: true });
  });
}

Deno.test("GRU options: a chunk that does not divide the rollout is refused with a suggestion", async () => {
  const cfg = await smallConfig({
    env: "test/remember",
    algo: "mappo",
    rolloutLength: 30,
    totalSteps: 240,
    algoOptions: { recurrent: "gru", chunk: 7 },
  });
  await assert.rejects(
    train(cfg, { env: remember, algo: algos.get("mappo") }),
    /chunk=7: the truncated-BPTT chunk must divide --rollout-length 30 \(e\.g\. chunk=6\)/,
  );
});

Deno.test("BPPO's peer gradient through a GRU actor equals finite differences (paper estimator; input and recurrent weights)", async () => {
  await initBackend("cpu");
  const T = 4, E = 3, k = 0, tau = 0.7;
  const algo = new Bppo(spec, {
    options: bppoOptions.parse({ recurrent: "gru", hidden: 6, chunk: T, entropyCoef: 0 }),
    rng: new Rng(5),
  });
  const r = await collect(algo.agents, T, E);
  const tb = prepareBatch(algo.agents, r);
  const B = T * E, A = algo.agents.A, rng = new Rng(9);
  const g = tf.tensor2d(Float32Array.from({ length: B * A }, () => rng.normal()), [B, A]);
  const noise = tf.tensor2d(Float32Array.from({ length: B * A }, () => rng.gumbel()), [B, A]);
  const M = tf.ones([B]) as tf.Tensor1D;
  const rows = { ...tb.agents[k]!, adv: tf.zeros([B]) as tf.Tensor1D }; // own term off
  // the GRU's recurrent and input weights: the peer gradient must cross time steps
  const vars = algo.agents.actorVars(k).filter((v) => /gru\/(x_n|h_r|h_n)\/W/.test(v.name));
  assert.equal(vars.length, 3, `GRU variables: ${algo.agents.actorVars(k).map((v) => v.name)}`);
  const { grads } = tf.variableGrads(
    () => algo.actorLoss(k, rows, { u: tb.u, M, g, noise, tau }).loss,
    vars,
  );
  // oracle: -mean_q sum_c g[q,c] softmax((l + eps) / tau)[q,c] through the recurrent actor
  const f = () =>
    tf.tidy(() => {
      const { out } = algo.agents.evaluate(k, rows, tb.u);
      const y = tf.softmax(tf.div(tf.add(out, noise), tau));
      return -tf.mean(tf.sum(tf.mul(g, y), 1)).dataSync()[0]!;
    });
  let nonzero = false;
  for (const v of vars) {
    const v0 = v.dataSync().slice(), auto = grads[v.name]!.dataSync();
    const fd: number[] = [];
    const picks = Array.from(
      { length: Math.min(v0.length, 6) },
      (_, j) => Math.floor((j * v0.length) / Math.min(v0.length, 6)),
    ); // spread over the variable
    for (const c of picks) {
      const h = 1e-2, p = v0.slice(), m = v0.slice();
      p[c]! += h, m[c]! -= h;
      v.assign(tf.tensor(p, v.shape));
      const fp = f();
      v.assign(tf.tensor(m, v.shape));
      fd.push((fp - f()) / (2 * h));
    }
    v.assign(tf.tensor(v0, v.shape));
    assertClose(picks.map((c) => auto[c]!), fd, { atol: 2e-4, rtol: 3e-2 });
    nonzero ||= fd.some((x) => Math.abs(x) > 1e-4);
  }
  assert.ok(nonzero, "the peer gradient reaches the GRU's weights");
  tf.dispose([g, noise, M, rows.adv, ...Object.values(grads)]);
  disposeBatch(tb);
  algo.dispose();
});
