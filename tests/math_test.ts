import assert from "node:assert/strict";
import { gae, initBackend, normalizePerAgent, Rng, tf, ValueNorm } from "../mod.ts";
import {
  categoricalEntropy,
  categoricalLogp,
  gaussianEntropy,
  gaussianLogp,
  maskLogits,
  sampleCategorical,
} from "../core/distributions.ts";
import { Adam } from "../core/adam.ts";
import { dense, layerNorm, makeDense, makeNorm, orthogonal } from "../core/nets.ts";
import { assertClose } from "./_helpers.ts";
import { bootstrapCi, iqm, permutationP, seedInterval } from "../scripts/_sweep.ts";

// Plain recursive GAE, the oracle: A_t = sum_l (gamma lambda)^l delta_{t+l}, cut at episode ends.
function gaeOracle(r: number[], v: number[], last: number, d: number[], g: number, l: number) {
  const T = r.length, A: number[] = [];
  for (let t = 0; t < T; t++) {
    let a = 0, c = 1;
    for (let k = t; k < T; k++) {
      const vNext = k === T - 1 ? last : v[k + 1]!;
      a += c * (r[k]! + g * vNext * (1 - d[k]!) - v[k]!);
      if (d[k]) break;
      c *= g * l;
    }
    A.push(a);
  }
  return A;
}

for (const [gamma, lambda] of [[0.99, 0.95], [1, 1], [0.9, 0]]) {
  Deno.test(`gae matches the direct sum with episode ends (gamma ${gamma}, lambda ${lambda})`, () => {
    const rng = new Rng(3);
    const T = 7;
    const r = Array.from({ length: T }, () => rng.normal());
    const v = Array.from({ length: T }, () => rng.normal());
    const d = [0, 0, 1, 0, 0, 0, 1].slice(0, T);
    const last = 0.7;
    const out = gae({
      rewards: Float32Array.from(r),
      values: Float32Array.from(v),
      lastValues: Float32Array.from([last]),
      dones: Uint8Array.from(d),
      T,
      E: 1,
      n: 1,
    }, { gamma, lambda });
    const expected = gaeOracle(r, v, last, d, gamma, lambda);
    assertClose(out.advantages, expected, { atol: 1e-5 });
    assertClose(out.returns, expected.map((a, t) => a + v[t]!), { atol: 1e-5 });
  });
}

Deno.test("gae keeps agents and envs apart in the [T, E, n] layout", () => {
  // E = 2 envs, n = 2 agents, T = 2; agent values differ, rewards are per env.
  const out = gae({
    rewards: Float32Array.from([1, 2, 3, 4]),
    values: Float32Array.from([0, 1, 0, 0, 0, 0, 0, 0]),
    lastValues: Float32Array.from([0, 0, 0, 0]),
    dones: Uint8Array.from([0, 0, 1, 1]),
    T: 2,
    E: 2,
    n: 2,
  }, { gamma: 1, lambda: 1 });
  // env 0 agent 0: 1 + 3 = 4; agent 1: 4 - 1 = 3; env 1: 2 + 4 = 6 for both
  assertClose(out.advantages.slice(0, 4), [4, 3, 6, 6]);
});

Deno.test("normalizePerAgent gives each agent zero mean and unit std", () => {
  const x = Float32Array.from([1, 10, 2, 20, 3, 30]);
  const y = normalizePerAgent(x, 2);
  assertClose([y[0]!, y[2]!, y[4]!], [-1, 0, 1], { atol: 1e-4 });
  assertClose([y[1]!, y[3]!, y[5]!], [-1, 0, 1], { atol: 1e-4 });
});

Deno.test("ValueNorm tracks debiased running moments", () => {
  const beta = 0.9;
  const vn = new ValueNorm(2, { beta });
  const batches = [[1, 5, 3, 7], [2, 2, 4, 4]];
  let m = [0, 0], sq = [0, 0], deb = 0;
  for (const b of batches) {
    vn.update(Float32Array.from(b));
    for (const i of [0, 1]) {
      const xs = [b[i]!, b[i + 2]!];
      m[i] = beta * m[i]! + (1 - beta) * (xs[0]! + xs[1]!) / 2;
      sq[i] = beta * sq[i]! + (1 - beta) * (xs[0]! ** 2 + xs[1]! ** 2) / 2;
    }
    deb = beta * deb + (1 - beta);
  }
  m = m.map((x) => x / deb);
  sq = sq.map((x) => x / deb);
  assertClose([vn.mean(0), vn.mean(1)], m, { atol: 1e-9 });
  assertClose(
    [vn.std(0), vn.std(1)],
    [0, 1].map((i) => Math.sqrt(Math.max(sq[i]! - m[i]! ** 2, 1e-2))),
    {
      atol: 1e-9,
    },
  );
  const x = Float32Array.from([3, 4]);
  vn.denormalize(vn.normalize(x));
  assertClose(x, [3, 4], { atol: 1e-5 });
});

Deno.test("categorical log-prob and entropy match closed forms, with masks", async () => {
  await initBackend("cpu");
  const logits = [[1, 2, 3], [0, 0, 5]];
  const avail = [[1, 1, 1], [1, 1, 0]];
  const onehot = [[0, 0, 1], [1, 0, 0]];
  tf.tidy(() => {
    const l = maskLogits(tf.tensor2d(logits), tf.tensor2d(avail));
    const lp = categoricalLogp(l, tf.tensor2d(onehot)).arraySync();
    const z0 = Math.log(Math.exp(1) + Math.exp(2) + Math.exp(3));
    assertClose(lp, [3 - z0, Math.log(0.5)]);
    const p0 = [1, 2, 3].map((x) => Math.exp(x - z0));
    const h0 = -p0.reduce((s, p) => s + p * Math.log(p), 0);
    assertClose(categoricalEntropy(l).arraySync(), [h0, Math.log(2)], { atol: 1e-5 });
  });
});

Deno.test("Gaussian log-prob and entropy match closed forms", async () => {
  await initBackend("cpu");
  tf.tidy(() => {
    const mean = tf.tensor2d([[0, 1]]), logStd = tf.tensor1d([0, Math.log(2)]);
    const a = tf.tensor2d([[1, 2]]);
    const expected = (-0.5 - 0.5 * Math.log(2 * Math.PI)) +
      (-0.5 * 0.25 - Math.log(2) - 0.5 * Math.log(2 * Math.PI));
    assertClose(gaussianLogp(mean, logStd, a).arraySync(), [expected]);
    const h = 2 * 0.5 * (1 + Math.log(2 * Math.PI)) + Math.log(2);
    assertClose([gaussianEntropy(logStd).arraySync() as number], [h]);
  });
});

Deno.test("sampleCategorical follows the softmax and never picks unavailable actions", () => {
  const rng = new Rng(1);
  const counts = [0, 0, 0];
  const logits = Float32Array.from([0, Math.log(3), 10]);
  for (let k = 0; k < 20000; k++) {
    counts[
      sampleCategorical(logits, { avail: Uint8Array.from([1, 1, 0]), rng, greedy: false }).a
    ]!++;
  }
  assert.equal(counts[2], 0);
  assertClose([counts[1]! / 20000], [0.75], { atol: 0.015 });
  const g = sampleCategorical(logits, { avail: Uint8Array.from([1, 1, 0]), rng, greedy: true });
  assert.equal(g.a, 1);
  assertClose([g.logp], [Math.log(0.75)]);
});

Deno.test("Adam follows PyTorch's update and clips the global grad norm", async () => {
  await initBackend("cpu");
  const w = tf.variable(tf.tensor1d([1, -2]));
  const opt = new Adam([w], { lr: 0.1, eps: 1e-8, maxGradNorm: 1 });
  const g = [3, 4]; // norm 5 -> clipped to [0.6, 0.8]
  let m = [0, 0], v = [0, 0];
  const x = [1, -2];
  for (let t = 1; t <= 3; t++) {
    const n = opt.step([tf.tensor1d(g)]);
    assertClose([n.dataSync()[0]!], [5]);
    n.dispose();
    const gc = g.map((x) => x / 5);
    m = m.map((mi, i) => 0.9 * mi + 0.1 * gc[i]!);
    v = v.map((vi, i) => 0.999 * vi + 0.001 * gc[i]! ** 2);
    for (const i of [0, 1]) {
      x[i]! -= (0.1 / (1 - 0.9 ** t)) * m[i]! /
        (Math.sqrt(v[i]!) / Math.sqrt(1 - 0.999 ** t) + 1e-8);
    }
  }
  assertClose(w.dataSync(), x, { atol: 1e-6 });
  opt.dispose();
  w.dispose();
});

for (const activation of [undefined, "relu"] as const) {
  Deno.test(`wasm's fused custom-gradient dense layer (${activation ?? "linear"}) equals autodiff on cpu`, async () => {
    const rng = new Rng(2);
    const xs = Float32Array.from({ length: 5 * 4 }, () => rng.normal());
    const run = async (backend: "cpu" | "wasm") => {
      await initBackend(backend);
      const d = makeDense("t_dense_" + backend, { inDim: 4, outDim: 3, gain: 1, rng: new Rng(9) });
      d.b.assign(tf.tensor1d([0.3, -0.2, 0.1]));
      const { value, grads } = tf.variableGrads(
        () => tf.sum(tf.square(dense(tf.tensor2d(xs, [5, 4]), d, activation))) as tf.Scalar,
        [d.W, d.b],
      );
      const y = dense(tf.tensor2d(xs, [5, 4]), d, activation);
      const out = [
        ...y.dataSync(),
        value.dataSync()[0]!,
        ...grads[d.W.name]!.dataSync(),
        ...grads[d.b.name]!.dataSync(),
      ];
      tf.dispose([value, ...Object.values(grads), d.W, d.b]);
      return out;
    };
    const cpu = await run("cpu"), wasm = await run("wasm");
    assertClose(wasm, cpu, { atol: 1e-4, rtol: 1e-4 });
    if (activation) assert.ok(cpu.slice(0, 15).some((v) => v === 0), "some ReLU units are off");
  });
}

Deno.test("LayerNorm's hand-written gradient equals autodiff of the plain formula and finite differences", async () => {
  await initBackend("cpu");
  const rng = new Rng(4);
  const B = 6, d = 5;
  const xs = Float32Array.from({ length: B * d }, () => rng.normal() * 2 + 0.5);
  const w = tf.tensor2d(Float32Array.from({ length: B * d }, () => rng.normal()), [B, d]);
  const p = makeNorm("t_ln", d);
  p.g.assign(tf.tensor1d(Float32Array.from({ length: d }, () => 1 + 0.3 * rng.normal())));
  p.b.assign(tf.tensor1d(Float32Array.from({ length: d }, () => 0.2 * rng.normal())));
  // the loss sum(w * LN(x)) is linear in the output, so its gradient is the full Jacobian product
  const plain = (x: tf.Tensor2D, g: tf.Tensor, b: tf.Tensor) => {
    const { mean, variance } = tf.moments(x, -1, true);
    return tf.add(tf.mul(tf.div(tf.sub(x, mean), tf.sqrt(tf.add(variance, 1e-5))), g), b);
  };
  const grads = (f: (x: tf.Tensor2D, g: tf.Tensor, b: tf.Tensor) => tf.Tensor) =>
    tf.grads((x: tf.Tensor, g: tf.Tensor, b: tf.Tensor) =>
      tf.sum(tf.mul(w, f(x as tf.Tensor2D, g, b)))
    )([tf.tensor2d(xs, [B, d]), p.g, p.b]).map((t) => Array.from(t.dataSync()));
  const ours = grads((x, g, b) => layerNorm(x, { g, b } as never));
  const auto = grads(plain);
  for (let k = 0; k < 3; k++) assertClose(ours[k]!, auto[k]!, { atol: 1e-5, rtol: 1e-4 });
  // the forward value is the plain formula's, bit for bit
  assert.deepEqual(
    Array.from(layerNorm(tf.tensor2d(xs, [B, d]), p).dataSync()),
    Array.from(plain(tf.tensor2d(xs, [B, d]), p.g, p.b).dataSync()),
  );
  // and the input gradient matches central finite differences (float64 oracle)
  const f64 = (x: Float64Array) => {
    let total = 0;
    const g = p.g.dataSync(), bb = p.b.dataSync(), ww = w.dataSync();
    for (let r = 0; r < B; r++) {
      const row = x.subarray(r * d, (r + 1) * d);
      const m = row.reduce((a, v) => a + v, 0) / d;
      const v = row.reduce((a, q) => a + (q - m) ** 2, 0) / d;
      for (let c = 0; c < d; c++) {
        total += ww[r * d + c]! * ((row[c]! - m) / Math.sqrt(v + 1e-5) * g[c]! + bb[c]!);
      }
    }
    return total;
  };
  const x64 = Float64Array.from(xs), h = 1e-4, fd: number[] = [];
  for (let q = 0; q < B * d; q++) {
    const a = x64.slice(), b = x64.slice();
    a[q]! += h;
    b[q]! -= h;
    fd.push((f64(a) - f64(b)) / (2 * h));
  }
  assertClose(ours[0]!, fd, { atol: 2e-3, rtol: 2e-3 });
  tf.dispose([w, p.g, p.b]);
});

Deno.test("orthogonal init gives orthonormal columns times the gain", () => {
  const W = orthogonal(new Rng(5), { rows: 6, cols: 3, gain: 2 });
  for (let a = 0; a < 3; a++) {
    for (let b = 0; b < 3; b++) {
      let d = 0;
      for (let r = 0; r < 6; r++) d += W[r * 3 + a]! * W[r * 3 + b]!;
      assertClose([d], [a === b ? 4 : 0], { atol: 1e-5 });
    }
  }
});

Deno.test("--backend auto picks wasm without a hardware GPU and says why", async () => {
  const info = await initBackend("auto");
  assert.equal(info.name, "wasm");
  assert.match(info.reason, /software GPU adapter|no GPU adapter|no GPU device on this machine/);
  assert.equal(tf.getBackend(), "wasm");
});

Deno.test("interquartile mean and bootstrap confidence interval of the experiment scripts", () => {
  assert.equal(iqm([1, 2, 3, 4]), 2.5); // middle half: 2, 3
  assertClose([iqm([0, 1, 2, 3, 100])], [2]); // [1.25, 3.75): 0.75*1 + 2 + 0.75*3 over 2.5
  assert.equal(iqm([7]), 7);
  const [lo, hi] = bootstrapCi([1, 2, 3, 4, 5, 6, 7, 8], iqm, { seed: 1 });
  assert.ok(
    lo < iqm([1, 2, 3, 4, 5, 6, 7, 8]) && hi > iqm([1, 2, 3, 4, 5, 6, 7, 8]),
    `${lo} ${hi}`,
  );
  assert.deepEqual(bootstrapCi([3, 3, 3]), [3, 3]);
});

Deno.test("intervals over fewer than 5 seeds are their range, labelled so; permutation p-values are exact", () => {
  assert.deepEqual(seedInterval([3, 1, 2]), { lo: 1, hi: 3, kind: "range of seeds" });
  assert.equal(seedInterval([1, 2, 3, 4, 5]).kind, "95% CI");
  // 3 vs 3 fully separated: of C(6, 3) = 20 relabellings only the two extreme ones are as far
  assert.equal(permutationP([1, 2, 3], [4, 5, 6]), 0.1);
  assert.equal(permutationP([1, 2, 3], [1, 2, 3]), 1);
  // 5 vs 5 separated: 2 of C(10, 5) = 252
  assert.ok(Math.abs(permutationP([1, 2, 3, 4, 5], [6, 7, 8, 9, 10]) - 2 / 252) < 1e-12);
  // beyond 50,000 relabellings a seeded random sample: 20 vs 20 separated gives p ~ 0
  const lo = Array.from({ length: 20 }, (_, i) => i), hi = lo.map((x) => x + 100);
  assert.ok(permutationP(lo, hi) < 0.001);
  assert.equal(permutationP(lo, hi), permutationP(lo, hi), "seeded: the same p each time");
});
