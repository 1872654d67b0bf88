// The Multi-Agent Transformer on the fused kernels (core/fused/transformer.ts, algos/mat/fused.ts)
// against the tfjs path: GELU and attention kernels against tfjs autodiff, the encoder's and
// decoder's outputs, whole updates (every parameter, Adam slot and metric), acting, and a loaded
// checkpoint reaching the fused copy.
import assert from "node:assert/strict";
import { box, discrete, type EnvSpec, initBackend, Rng, tf } from "../mod.ts";
import { type Buf, Kernels } from "../core/fused/kernels.ts";
import { ParamGroup } from "../core/fused/nets.ts";
import { FAttention } from "../core/fused/transformer.ts";
import { FusedMat } from "../algos/mat/fused.ts";
import { attention, attentionVars, gelu, makeAttention } from "../core/transformer.ts";
import { Mat, matOptions } from "../algos/mat/mat.ts";
import type { Rollout } from "../core/algorithm.ts";
import { assertClose } from "./_helpers.ts";

const rand = (rng: Rng, n: number, s = 1) =>
  Float32Array.from({ length: n }, () => s * rng.normal());

function put(kern: Kernels, x: Float32Array): Buf {
  const b = kern.scratch(x.length);
  kern.f32(b).set(x);
  return b;
}

for (const variant of ["relaxed", "baseline"] as const) {
  Deno.test(`fused MAT (${variant}): GELU and its gradient equal tfjs autodiff`, async () => {
    await initBackend("cpu");
    const kern = new Kernels(variant), mk = kern.mark(), rng = new Rng(1);
    for (const n of [1, 3, 4, 7, 200]) {
      const x = rand(rng, n, 3), dy = rand(rng, n);
      const xb = put(kern, x), y = kern.scratch(n), dyb = put(kern, dy), dx = kern.scratch(n);
      kern.k.gelu_fwd(xb.ptr, y.ptr, n);
      kern.k.gelu_bwd(dyb.ptr, xb.ptr, dx.ptr, n);
      const [want, grad] = tf.tidy(() => {
        const xt = tf.tensor1d(x), dyt = tf.tensor1d(dy);
        const g = tf.grad((v: tf.Tensor) => tf.sum(tf.mul(gelu(v), dyt)))(xt);
        return [gelu(xt).dataSync(), g.dataSync()];
      });
      assertClose(kern.f32(y), want!, { atol: 2e-6, rtol: 1e-5 });
      assertClose(kern.f32(dx), grad!, { atol: 2e-6, rtol: 1e-5 });
    }
    kern.release(mk);
  });

  for (const [B, L, D, H] of [[3, 4, 8, 2], [2, 5, 6, 2], [1, 1, 4, 1], [4, 10, 64, 1]]) {
    for (const causal of [false, true]) {
      Deno.test(`fused MAT (${variant}): attention B=${B} L=${L} D=${D} heads=${H}${causal ? " causal" : ""} and its gradients equal tfjs`, async () => {
        await initBackend("cpu");
        const rng = new Rng(B * 100 + L * 10 + D + H), kern = new Kernels(variant);
        const p = makeAttention(`t_fatt_${variant}_${B}_${L}_${D}_${causal}`, {
          dim: D,
          heads: H,
          rng,
        });
        const vars = attentionVars(p);
        for (const v of vars) v.assign(tf.tensor(rand(rng, v.size, 1.5 / Math.sqrt(D)), v.shape));
        const g = new ParamGroup(kern), fa = new FAttention(g, D, H);
        g.build();
        g.readFrom(vars);
        const q = rand(rng, B * L * D), kv = rand(rng, B * L * D), dy = rand(rng, B * L * D);
        // tfjs: query q, key = value = kv (the decoder's cross-attention shape)
        const want = tf.tidy(() => {
          const qt = tf.tensor3d(q, [B, L, D]), kt = tf.tensor3d(kv, [B, L, D]);
          const dyt = tf.tensor3d(dy, [B, L, D]);
          const f = (a: tf.Tensor, b: tf.Tensor) =>
            tf.sum(
              tf.mul(
                attention(a as tf.Tensor3D, b as tf.Tensor3D, b as tf.Tensor3D, p, causal),
                dyt,
              ),
            );
          const y = attention(qt, kt, kt, p, causal).dataSync();
          const [dq, dk] = tf.grads(f)([qt, kt]).map((t) => t.dataSync());
          const { grads } = tf.variableGrads(() => f(qt, kt) as tf.Scalar, vars);
          return { y, dq: dq!, dkv: dk!, dw: vars.map((v) => grads[v.name]!.dataSync()) };
        });
        const mk = kern.mark();
        const qb = put(kern, q), kb = put(kern, kv);
        const t = fa.forward(qb, kb, kb, B, L, causal);
        assertClose(kern.f32(t.y), want.y, { atol: 1e-5, rtol: 1e-4 });
        g.zeroGrad();
        const d = fa.backward(t, put(kern, dy));
        assertClose(kern.f32(d.dq), want.dq, { atol: 1e-5, rtol: 1e-4 });
        const dkv = kern.f32(d.dk).map((x, i) => x + kern.f32(d.dv)[i]!);
        assertClose(dkv, want.dkv, { atol: 1e-5, rtol: 1e-4 });
        g.params.forEach((pp, k) =>
          assertClose(g.grad(pp), want.dw[k]!, { atol: 1e-5, rtol: 1e-4 })
        );
        if (causal && L > 1) { // the saved probabilities are 0 above the diagonal
          const P = kern.f32(t.P);
          assert.equal(P[1], 0);
        }
        kern.release(mk);
        tf.dispose(vars);
      });
    }
  }
}

const spec = (kind: "discrete" | "box", n = 3): EnvSpec => ({
  numAgents: n,
  obsDim: 5,
  stateDim: 5,
  actionSpace: kind === "discrete" ? discrete(4) : box(2),
  episodeLimit: 10,
});

/** Twin MATs, tfjs and fused, with the same (enlarged: the initial gains are tiny) weights. */
function twins(kind: "discrete" | "box", over: Record<string, unknown> = {}, n = 3) {
  const s = spec(kind, n);
  // non-default loss coefficients, so a coefficient dropped on one path shows
  const o = matOptions.parse({
    embed: 8,
    heads: 2,
    blocks: 2,
    epochs: 2,
    valueCoef: 0.5,
    entropyCoef: 0.05,
    ...over,
  });
  const make = (kernels: "tfjs" | "fused") => {
    const m = new Mat(s, { ...o, rng: new Rng(5), kernels });
    const r = new Rng(6);
    // weights of a useful size (the initial gains are tiny by design): W ~ N(0, 1 / fan-in),
    // biases N(0, 0.1^2), LayerNorm gains and shifts as made (1, 0), so attention is not flat
    for (const v of m.model.variables()) {
      if (/\/(g|log_std)$/.test(v.name) || /norm\/b$|ln\d\/b$/.test(v.name)) continue;
      const sd = v.name.endsWith("/W") ? 1 / Math.sqrt(v.shape[0]!) : 0.1;
      v.assign(tf.tensor(rand(r, v.size, sd), v.shape));
    }
    return m;
  };
  return { s, a: make("tfjs"), b: make("fused") };
}

async function rollout(m: Mat, s: EnvSpec, rng: Rng, T: number, E: number, masked: boolean) {
  const n = s.numAgents, A = s.actionSpace.kind === "discrete" ? s.actionSpace.n : 2;
  const parts: Record<string, Float32Array[]> = {};
  const push = (k: string, x: Float32Array) => (parts[k] ??= []).push(x);
  const avails: Uint8Array[] = [];
  for (let t = 0; t < T; t++) {
    const obs = rand(rng, E * n * s.obsDim);
    const avail = masked
      ? Uint8Array.from(
        { length: E * n * A },
        (_, i) => (i % A === 0 || rng.uniform() < 0.6 ? 1 : 0),
      )
      : null;
    const out = await m.act({ obs, state: new Float32Array(E * s.stateDim), avail, E }, {
      rng,
      greedy: false,
    });
    push("obs", obs);
    push("actionVecs", out.actionVecs);
    push("logp", out.logp);
    push("values", out.values!);
    if (avail) avails.push(avail);
  }
  const cat = (k: string) => {
    const xs = parts[k]!, out = new Float32Array(xs.reduce((a, x) => a + x.length, 0));
    let o = 0;
    for (const x of xs) out.set(x, o), o += x.length;
    return out;
  };
  const N = T * E;
  const actions = new Int32Array(N * n);
  const r: Rollout = {
    T,
    E,
    n,
    obs: cat("obs"),
    state: new Float32Array(N * s.stateDim),
    avail: masked ? Uint8Array.from(avails.flatMap((x) => Array.from(x))) : null,
    actions,
    actionVecs: cat("actionVecs"),
    logp: cat("logp"),
    values: cat("values"),
    rewards: new Float32Array(N),
    dones: new Uint8Array(N),
    advantages: rand(rng, N * n),
    returns: rand(rng, N * n, 2),
  };
  return r;
}

for (const kind of ["discrete", "box"] as const) {
  for (const over of [{}, { minibatches: 2, order: "random" }] as Record<string, unknown>[]) {
    const label = JSON.stringify(over);
    Deno.test(`fused MAT (${kind}, ${label}): acting, values and whole updates equal the tfjs path`, async () => {
      await initBackend("cpu");
      const { s, a, b } = twins(kind, over);
      assert.equal(a.kernels, "tfjs");
      assert.equal(b.kernels, "fused");
      for (let it = 0; it < 2; it++) {
        a.beginIteration(new Rng(40 + it)), b.beginIteration(new Rng(40 + it));
        const ra = await rollout(a, s, new Rng(7 + it), 4, 6, kind === "discrete");
        const rb = await rollout(b, s, new Rng(7 + it), 4, 6, kind === "discrete");
        if (kind === "discrete") assert.deepEqual(rb.actionVecs, ra.actionVecs);
        // (after an update the parameters agree to ~1e-5, Adam's rounding)
        else assertClose(rb.actionVecs, ra.actionVecs, { atol: 1e-4, rtol: 1e-3 });
        assertClose(rb.logp, ra.logp, { atol: 1e-4, rtol: 1e-3 });
        assertClose(rb.values, ra.values, { atol: 1e-4, rtol: 1e-3 });
        const ma = await a.update(ra, { rng: new Rng(11 + it), progress: 0 });
        const mb = await b.update(ra, { rng: new Rng(11 + it), progress: 0 });
        for (const [k, v] of Object.entries(ma)) {
          assertClose([mb[k]!], [v!], { atol: 2e-5, rtol: 2e-3 });
        }
        const sa = await a.getState(), sb = await b.getState();
        for (const key of Object.keys(sa.tensors)) {
          const tol = key.startsWith("adam")
            ? { atol: 2e-5, rtol: 3e-3 }
            : { atol: 2e-5, rtol: 1e-3 };
          assertClose(sb.tensors[key]!.data, sa.tensors[key]!.data, tol);
        }
      }
      a.dispose(), b.dispose();
    });
  }
}

for (
  const [kind, extra] of [
    ["discrete", {}],
    ["box", {}],
    ["discrete", { obsNorm: "none", blocks: 1, heads: 1 }],
  ] as const
) {
  Deno.test(
    `fused MAT (${kind}${
      Object.keys(extra).length ? `, ${JSON.stringify(extra)}` : ""
    }): every parameter's gradient equals tfjs autodiff's`,
    async () => {
      // the first Adam step is lr sign(g) in the values (the slots carry g); with lr = eps = 1e3
      // the step is lr g / (|g| + eps) ~ g: one step changes each parameter by its gradient
      await initBackend("cpu");
      const { s, a, b } = twins(kind, {
        epochs: 1,
        lr: 1e3,
        adamEps: 1e3,
        maxGradNorm: 0,
        ...extra,
      });
      const r = await rollout(a, s, new Rng(7), 3, 5, kind === "discrete");
      const before = (await a.getState()).tensors;
      await a.update(r, { rng: new Rng(11), progress: 0 });
      await b.update(r, { rng: new Rng(11), progress: 0 });
      const ta = (await a.getState()).tensors, tb = (await b.getState()).tensors;
      let checked = 0;
      for (const key of Object.keys(before)) {
        if (key.startsWith("adam")) continue;
        const w0 = before[key]!.data;
        const da = ta[key]!.data.map((x, i) => x - w0[i]!);
        const db = tb[key]!.data.map((x, i) => x - w0[i]!);
        const scale = da.reduce((m, x) => Math.max(m, Math.abs(x)), 0);
        // a key projection's bias adds q . b to every score of a row: softmax ignores it
        if (/attn\d?\/k\/b$/.test(key)) {
          assert.ok(db.every((x) => Math.abs(x) < 1e-6), `${key}: ${db}`);
          continue;
        }
        assert.ok(scale > 0, `${key}: no gradient`);
        try {
          assertClose(db, da, { atol: 2e-3 * scale, rtol: 2e-3 });
        } catch (e) {
          throw new Error(`${key}: ${(e as Error).message}`);
        }
        checked++;
      }
      assert.ok(checked >= 20, `${checked} parameters`);
      a.dispose(), b.dispose();
    },
  );
}

Deno.test("fused MAT: a loaded checkpoint reaches the fused copy (acting reads it)", async () => {
  await initBackend("cpu");
  const { s, a, b } = twins("discrete");
  const other = twins("discrete").a;
  for (const v of other.model.variables()) v.assign(tf.mul(v, -1.5));
  await b.values({
    obs: rand(new Rng(1), 2 * 3 * 5),
    state: new Float32Array(10),
    avail: null,
    E: 2,
  });
  const st = await other.getState();
  await a.setState(st), await b.setState(st);
  const x = { obs: rand(new Rng(2), 4 * 3 * 5), state: new Float32Array(20), avail: null, E: 4 };
  assertClose(await b.values(x), await a.values(x), { atol: 1e-5, rtol: 1e-4 });
  const ya = await a.act(x, { rng: new Rng(3), greedy: false });
  const yb = await b.act(x, { rng: new Rng(3), greedy: false });
  assertClose(yb.logp, ya.logp, { atol: 1e-5, rtol: 1e-4 });
  void s;
  a.dispose(), b.dispose(), other.dispose();
});

Deno.test("fused MAT: --kernels fused refuses more than 256 actions by name; auto falls back", async () => {
  await initBackend("cpu");
  const s = { ...spec("discrete"), actionSpace: discrete(300) };
  const o = matOptions.parse({ embed: 8 });
  const before = tf.memory().numTensors;
  assert.throws(
    () => new Mat(s, { ...o, rng: new Rng(1), kernels: "fused" }),
    /256 actions.*--kernels tfjs/,
  );
  assert.equal(tf.memory().numTensors, before, "the refusal leaves no tensor behind");
  const m = new Mat(s, { ...o, rng: new Rng(1), kernels: "auto" });
  assert.equal(m.kernels, "tfjs");
  m.dispose();
  const f = new Mat(spec("box"), { ...o, rng: new Rng(1), kernels: "auto" });
  assert.equal(f.kernels, "fused");
  f.dispose();
  void box;
});

Deno.test("fused kernels: a batch beyond WebAssembly's memory is one clear error naming the fix", () => {
  const kern = new Kernels(), mk = kern.mark();
  assert.throws(
    () => kern.scratch(1.1e9),
    /more than WebAssembly's 4 GiB.*minibatches=.*--kernels tfjs/,
  );
  kern.release(mk);
  const b = kern.scratch.bind(kern); // the arena still works after the refusal
  const m2 = kern.mark();
  assert.equal(b(16).n, 16);
  kern.release(m2);
});

Deno.test("fused MAT: concurrent calls of two MATs on one thread's kernels do not share scratch", async () => {
  await initBackend("cpu");
  const ts = twins("discrete", {}, 2), tl = twins("discrete", {}, 6); // 2 and 6 agents
  const short = ts.b, long = tl.b;
  const x = (seed: number, n: number, E: number) => ({
    obs: rand(new Rng(seed), E * n * 5),
    state: new Float32Array(E * 5),
    avail: null,
    E,
  });
  const one = () => short.act(x(1, 2, 2), { rng: new Rng(5), greedy: false });
  const two = () => long.act(x(3, 6, 64), { rng: new Rng(6), greedy: false });
  const three = () => long.values(x(2, 6, 8));
  const alone = { p: await one(), q: await two(), v: await three() };
  // the short chain ends first; the long one's scratch lies above it and must survive that
  const [p, q, v] = await Promise.all([one(), two(), three()]);
  assert.deepEqual(p.logp, alone.p.logp);
  assert.deepEqual(q.logp, alone.q.logp);
  assert.deepEqual(q.values, alone.q.values);
  assert.deepEqual(v, alone.v);
  for (const m of [ts.a, ts.b, tl.a, tl.b]) m.dispose();
});

for (const kind of ["discrete", "box"] as const) {
  Deno.test(`fused MAT (${kind}): acting's decoder, position by position from its key-value cache, equals the teacher-forced pass`, async () => {
    await initBackend("cpu");
    const n = 6, E = 3, { a } = twins(kind, {}, n), m = a.model;
    const f = new FusedMat(m, { heads: 2, kern: new Kernels("relaxed") });
    f.group.readFrom(m.variables());
    const kern = f.group.kern, rng = new Rng(3);
    const obs = rand(rng, E * n * f.obsDim), shifted = rand(rng, E * n * f.slot);
    const mk = kern.mark();
    const te = f.encode(put(kern, obs), E);
    const full = kern.f32(f.decode(put(kern, shifted), te.rep, E).y).slice();
    kern.release(mk);
    const act = f.acting(obs, E);
    for (let i = 0; i < n; i++) {
      const row = new Float32Array(E * f.slot);
      for (let e = 0; e < E; e++) {
        row.set(shifted.subarray((e * n + i) * f.slot, (e * n + i + 1) * f.slot), e * f.slot);
      }
      const got = act.decodeAt(i, row);
      const want = new Float32Array(E * f.A);
      for (let e = 0; e < E; e++) {
        want.set(full.subarray((e * n + i) * f.A, (e * n + i + 1) * f.A), e * f.A);
      }
      assert.ok(want.some((x) => Math.abs(x) > 1e-2), "outputs of a useful size");
      assertClose(got, want, { atol: 1e-5, rtol: 1e-4 });
    }
    assert.throws(() => act.decodeAt(2, new Float32Array(E * f.slot)), /position 2, expected 6/);
    act.done();
    a.dispose();
  });
}
