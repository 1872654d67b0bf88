// The fused kernels (core/fused/) against tfjs autodiff and plain loops: values and gradients to
// float tolerance over random shapes, the tails of every SIMD block, masks, and determinism.
import assert from "node:assert/strict";
import { initBackend, Rng, tf } from "../mod.ts";
import { ACT, bestVariant, type Buf, Kernels } from "../core/fused/kernels.ts";
import { FGru, FMlp, ParamGroup, ppoClipGrad } from "../core/fused/nets.ts";
import { KERNELS_SOURCE_SHA256 } from "../core/fused/kernels_wasm.ts";
import { gruSeq, gruVars, makeGru, makeMlpBase, mlpBase, mlpVars } from "../core/nets.ts";
import { Adam } from "../core/adam.ts";
import { categoricalEntropy, categoricalLogp, maskLogits } from "../core/distributions.ts";
import { assertClose } from "./_helpers.ts";
import { ratioStats } from "../algos/ppo/metrics.ts";

const rand = (rng: Rng, n: number, s = 1) =>
  Float32Array.from({ length: n }, () => s * rng.normal());

function put(kern: Kernels, x: Float32Array | Int32Array): Buf {
  const b = kern.scratch(x.length);
  if (x instanceof Int32Array) kern.i32(b).set(x);
  else kern.f32(b).set(x);
  return b;
}

Deno.test("fused: the committed binary was built from the committed kernels.c", async () => {
  const src = await Deno.readFile(new URL("../core/fused/kernels.c", import.meta.url));
  const d = new Uint8Array(await crypto.subtle.digest("SHA-256", src));
  const hex = Array.from(d, (b) => b.toString(16).padStart(2, "0")).join("");
  assert.equal(hex, KERNELS_SOURCE_SHA256, "run `deno task kernels` after editing kernels.c");
});

const SHAPES = [[1, 1, 1], [3, 2, 5], [4, 7, 8], [9, 5, 11], [33, 64, 64], [17, 92, 64], [
  6,
  64,
  3,
]];

const MLPS = [
  { inDim: 2, hidden: 64, layers: 1, activation: "relu", featureNorm: true, inputNorm: false },
  { inDim: 5, hidden: 8, layers: 2, activation: "tanh", featureNorm: true, inputNorm: true },
  { inDim: 92, hidden: 64, layers: 2, activation: "relu", featureNorm: true, inputNorm: true },
  { inDim: 3, hidden: 7, layers: 2, activation: "relu", featureNorm: false, inputNorm: false },
  { inDim: 1, hidden: 5, layers: 1, activation: "tanh", featureNorm: false, inputNorm: true },
] as const;

const VARIANTS = ["relaxed", "baseline"] as const;

for (const variant of VARIANTS) {
  Deno.test(`fused (${variant}): exp, log and tanh match Math to float precision`, () => {
    const kern = new Kernels(variant);
    const mk = kern.mark();
    const xs = Float32Array.from({ length: 2001 }, (_, i) => (i - 1000) / 50); // -20 .. 20
    const t = put(kern, xs), e = put(kern, xs);
    kern.k.tanh_inplace(t.ptr, xs.length);
    kern.k.exp_inplace(e.ptr, xs.length);
    assertClose(kern.f32(t), Array.from(xs, Math.tanh), { atol: 2e-7, rtol: 2e-6 });
    assertClose(kern.f32(e), Array.from(xs, Math.exp), { atol: 0, rtol: 3e-7 * 10 });
    const pos = Float32Array.from({ length: 1000 }, (_, i) => Math.fround(10 ** (i / 50 - 10)));
    const l = put(kern, pos);
    kern.k.log_inplace(l.ptr, pos.length);
    assertClose(kern.f32(l), Array.from(pos, Math.log), { atol: 1e-6, rtol: 1e-6 });
    kern.release(mk);
  });

  Deno.test(`fused (${variant}): gemm_nn (bias, activations, accumulate) equals the plain triple loop on every tail`, () => {
    const kern = new Kernels(variant), rng = new Rng(1);
    for (const [M, K, N] of SHAPES) {
      for (const act of [0, 1, 2]) {
        for (const withBias of [false, true]) {
          const mk = kern.mark();
          const A = rand(rng, M! * K!), B = rand(rng, K! * N!), bias = rand(rng, N!);
          const C0 = rand(rng, M! * N!);
          const ref = new Float64Array(M! * N!);
          for (let i = 0; i < M!; i++) {
            for (let j = 0; j < N!; j++) {
              let s = withBias ? bias[j]! : 0;
              for (let k = 0; k < K!; k++) s += A[i * K! + k]! * B[k * N! + j]!;
              ref[i * N! + j] = act === 1 ? Math.max(s, 0) : act === 2 ? Math.tanh(s) : s;
            }
          }
          const [a, b, bb] = [put(kern, A), put(kern, B), put(kern, bias)];
          const c = kern.scratch(M! * N!);
          kern.k.gemm_nn(a.ptr, b.ptr, c.ptr, withBias ? bb.ptr : 0, M!, K!, N!, 0, act);
          assertClose(kern.f32(c), ref, { atol: 1e-5, rtol: 1e-5 });
          if (act === 0 && !withBias) { // accumulate: C0 + A B
            const c2 = put(kern, C0);
            kern.k.gemm_nn(a.ptr, b.ptr, c2.ptr, 0, M!, K!, N!, 1, 0);
            assertClose(kern.f32(c2), Array.from(ref, (r, q) => r + C0[q]!), { atol: 1e-5 });
          }
          kern.release(mk);
        }
      }
    }
  });

  Deno.test(`fused (${variant}): gemm_tn (x^T dz over row chunks) and transpose equal plain loops`, () => {
    const kern = new Kernels(variant), rng = new Rng(2);
    for (const [M, K, N] of [[1, 1, 1], [5, 3, 9], [300, 5, 11], [600, 64, 64], [257, 2, 3]]) {
      const mk = kern.mark();
      const A = rand(rng, M! * K!), B = rand(rng, M! * N!), C0 = rand(rng, K! * N!);
      const ref = new Float64Array(K! * N!);
      for (let m = 0; m < M!; m++) {
        for (let k = 0; k < K!; k++) {
          for (let j = 0; j < N!; j++) ref[k * N! + j]! += A[m * K! + k]! * B[m * N! + j]!;
        }
      }
      const [a, b, c] = [put(kern, A), put(kern, B), put(kern, C0)];
      kern.k.gemm_tn(a.ptr, b.ptr, c.ptr, M!, K!, N!, 1);
      assertClose(kern.f32(c), Array.from(ref, (r, q) => r + C0[q]!), { atol: 1e-4, rtol: 1e-5 });
      kern.k.gemm_tn(a.ptr, b.ptr, c.ptr, M!, K!, N!, 0);
      assertClose(kern.f32(c), ref, { atol: 1e-4, rtol: 1e-5 });
      const t = kern.scratch(M! * K!);
      kern.k.transpose(a.ptr, t.ptr, M!, K!);
      const tv = kern.f32(t);
      for (let m = 0; m < M!; m++) {
        for (let k = 0; k < K!; k++) assert.equal(tv[k * M! + m], A[m * K! + k]);
      }
      kern.release(mk);
    }
  });

  Deno.test(`fused (${variant}): LayerNorm forward and backward equal tfjs autodiff`, async () => {
    await initBackend("cpu");
    const kern = new Kernels(variant), rng = new Rng(3);
    for (const [M, N] of [[1, 2], [5, 3], [7, 64], [3, 13]]) {
      for (const affine of [true, false]) {
        const mk = kern.mark();
        const X = rand(rng, M! * N!, 2),
          G = rand(rng, N!),
          Bv = rand(rng, N!),
          R = rand(rng, M! * N!);
        const f = (x: tf.Tensor2D, g: tf.Tensor1D, b: tf.Tensor1D) => {
          const { mean, variance } = tf.moments(x, -1, true);
          const y = tf.div(tf.sub(x, mean), tf.sqrt(tf.add(variance, 1e-5)));
          return tf.sum(tf.mul(affine ? tf.add(tf.mul(y, g), b) : y, tf.tensor2d(R, [M!, N!])));
        };
        const [x, g, b] = [tf.tensor2d(X, [M!, N!]), tf.tensor1d(G), tf.tensor1d(Bv)];
        const grads = affine
          ? tf.grads(f as never)([x, g, b])
          : [tf.grad((xx) => f(xx as tf.Tensor2D, g, b))(x)];
        const yRef = tf.tidy(() => {
          const { mean, variance } = tf.moments(x, -1, true);
          const y = tf.div(tf.sub(x, mean), tf.sqrt(tf.add(variance, 1e-5)));
          return (affine ? tf.add(tf.mul(y, g), b) : y).dataSync();
        });
        const [px, pg, pb] = [put(kern, X), put(kern, G), put(kern, Bv)];
        const y = kern.scratch(M! * N!), xhat = kern.scratch(M! * N!), rstd = kern.scratch(M!);
        kern.k.layernorm_fwd(
          px.ptr,
          affine ? pg.ptr : 0,
          affine ? pb.ptr : 0,
          y.ptr,
          xhat.ptr,
          rstd.ptr,
          M!,
          N!,
        );
        assertClose(kern.f32(y), yRef, { atol: 1e-5, rtol: 1e-4 });
        const dy = put(kern, R), dg = kern.scratch(N!), db = kern.scratch(N!);
        kern.k.layernorm_bwd(
          dy.ptr,
          xhat.ptr,
          rstd.ptr,
          affine ? pg.ptr : 0,
          dy.ptr,
          dg.ptr,
          db.ptr,
          M!,
          N!,
          0,
        );
        assertClose(kern.f32(dy), grads[0]!.dataSync(), { atol: 1e-4, rtol: 1e-3 });
        if (affine) {
          assertClose(kern.f32(dg), grads[1]!.dataSync(), { atol: 1e-4, rtol: 1e-4 });
          assertClose(kern.f32(db), grads[2]!.dataSync(), { atol: 1e-4, rtol: 1e-4 });
        }
        tf.dispose([x, g, b, ...grads]);
        kern.release(mk);
      }
    }
  });

  Deno.test(`fused (${variant}): categorical log-prob, entropy and their gradients equal tfjs autodiff, with masks`, async () => {
    await initBackend("cpu");
    const kern = new Kernels(variant), rng = new Rng(4);
    for (const [M, A] of [[1, 2], [6, 3], [9, 11]]) {
      for (const masked of [false, true]) {
        const mk = kern.mark();
        const L = rand(rng, M! * A!, 3), wl = rand(rng, M!), we = rand(rng, M!);
        const avail = new Float32Array(M! * A!).fill(1);
        const acts = new Int32Array(M!);
        for (let m = 0; m < M!; m++) {
          if (masked) {
            for (let j = 0; j < A!; j++) {
              avail[m * A! + j] = rng.uniform() < 0.4 ? 0 : 1;
            }
          }
          const ok = Array.from({ length: A! }, (_, j) => j).filter((j) => avail[m * A! + j]);
          if (!ok.length) avail[m * A!] = 1, ok.push(0);
          acts[m] = ok[rng.int(ok.length)]!;
        }
        const onehot = tf.oneHot(tf.tensor1d(acts, "int32"), A!).toFloat() as tf.Tensor2D;
        const av = tf.tensor2d(avail, [M!, A!]);
        const f = (l: tf.Tensor2D) => {
          const ml = maskLogits(l, masked ? av : null);
          return tf.add(
            tf.sum(tf.mul(categoricalLogp(ml, onehot), tf.tensor1d(wl))),
            tf.sum(tf.mul(categoricalEntropy(ml), tf.tensor1d(we))),
          );
        };
        const l = tf.tensor2d(L, [M!, A!]);
        const dl = tf.grad(f as never)(l);
        const ml = maskLogits(l, masked ? av : null);
        const [lp, en] = [
          categoricalLogp(ml, onehot).dataSync(),
          categoricalEntropy(ml).dataSync(),
        ];
        const [pl, pa, pact] = [put(kern, L), put(kern, avail), put(kern, acts)];
        const lsm = kern.scratch(M! * A!), probs = kern.scratch(M! * A!);
        const logp = kern.scratch(M!), ent = kern.scratch(M!);
        kern.k.cat_fwd(
          pl.ptr,
          masked ? pa.ptr : 0,
          pact.ptr,
          lsm.ptr,
          probs.ptr,
          logp.ptr,
          ent.ptr,
          M!,
          A!,
        );
        assertClose(kern.f32(logp), lp, { atol: 1e-5, rtol: 1e-5 });
        assertClose(kern.f32(ent), en, { atol: 1e-5, rtol: 1e-5 });
        const [dwl, dwe, dout] = [put(kern, wl), put(kern, we), kern.scratch(M! * A!)];
        kern.k.cat_bwd(lsm.ptr, probs.ptr, ent.ptr, pact.ptr, dwl.ptr, dwe.ptr, dout.ptr, M!, A!);
        assertClose(kern.f32(dout), dl.dataSync(), { atol: 1e-5, rtol: 1e-4 });
        tf.dispose([onehot, av, l, dl, ml]);
        kern.release(mk);
      }
    }
  });

  for (const [c, cfg] of MLPS.entries()) {
    Deno.test(`fused (${variant}): MLP base ${c} (${cfg.activation}, ${cfg.layers} layer(s), norms ${cfg.inputNorm}/${cfg.featureNorm}) forward and gradients equal tfjs`, async () => {
      await initBackend("cpu");
      const rng = new Rng(10 + c), kern = new Kernels(variant);
      const base = makeMlpBase("fz", { ...cfg, rng });
      const vars = mlpVars(base);
      // move the LayerNorm gains and biases off 1 and 0, so their gradients matter
      for (const v of vars) {
        if (v.shape.length === 1) v.assign(tf.add(v, tf.tensor1d(rand(rng, v.size, 0.3))));
      }
      for (const M of [1, 6, 37]) {
        const X = rand(rng, M * cfg.inDim, 1.5), R = rand(rng, M * cfg.hidden);
        const x = tf.tensor2d(X, [M, cfg.inDim]), r = tf.tensor2d(R, [M, cfg.hidden]);
        const yRef = tf.tidy(() => mlpBase(x, base).dataSync());
        const { grads } = tf.variableGrads(() => tf.sum(tf.mul(mlpBase(x, base), r)), vars);
        const dxRef = tf.grad((xx) => tf.sum(tf.mul(mlpBase(xx as tf.Tensor2D, base), r)))(x);

        const group = new ParamGroup(kern);
        const net = new FMlp(group, base);
        group.build();
        group.readFrom(FMlp.vars(base));
        const mk = kern.mark();
        group.zeroGrad();
        const tape = net.forward(put(kern, X), M);
        assertClose(kern.f32(tape.y), yRef, { atol: 1e-5, rtol: 1e-4 });
        const dx = net.backward(tape, put(kern, R), true)!;
        assertClose(kern.f32(dx), dxRef.dataSync(), { atol: 1e-4, rtol: 1e-3 });
        FMlp.vars(base).forEach((v, k) => {
          assertClose(group.grad(group.params[k]!), grads[v.name]!.dataSync(), {
            atol: 1e-4,
            rtol: 1e-3,
          });
        });
        kern.release(mk);
        tf.dispose([x, r, dxRef, ...Object.values(grads)]);
      }
      tf.dispose(vars);
    });
  }

  for (const featureNorm of [true, false]) {
    Deno.test(`fused (${variant}): GRU over L steps (resets, norm ${featureNorm}) and its BPTT equal tfjs`, async () => {
      await initBackend("cpu");
      const rng = new Rng(21), kern = new Kernels(variant);
      const [L, C, inDim, H] = [5, 3, 6, 8];
      const gru = makeGru("fg", { inDim, hidden: H, featureNorm, rng });
      const vars = gruVars(gru);
      for (const v of vars) v.assign(tf.add(v, tf.tensor(rand(rng, v.size, 0.2), v.shape)));
      const X = rand(rng, L * C * inDim), H0 = rand(rng, C * H, 0.5), R = rand(rng, L * C * H);
      const keep = Float32Array.from({ length: L * C }, (_, q) => (q === 4 || q === 9 ? 0 : 1));
      const [x, h0, k] = [
        tf.tensor2d(X, [L * C, inDim]),
        tf.tensor2d(H0, [C, H]),
        tf.tensor1d(keep),
      ];
      const f = (xx: tf.Tensor2D) =>
        tf.sum(tf.mul(gruSeq(xx, h0, k, L, gru).out, tf.tensor2d(R, [L * C, H])));
      const yRef = tf.tidy(() => gruSeq(x, h0, k, L, gru).out.dataSync());
      const lastRef = tf.tidy(() => gruSeq(x, h0, k, L, gru).last.dataSync());
      const { grads } = tf.variableGrads(() => f(x) as tf.Scalar, vars);
      const dxRef = tf.grad((xx) => f(xx as tf.Tensor2D))(x);
      const group = new ParamGroup(kern), net = new FGru(group, gru);
      group.build();
      group.readFrom(FGru.vars(gru));
      const mk = kern.mark();
      group.zeroGrad();
      const t = net.forward(put(kern, X), { h0: put(kern, H0), keep: put(kern, keep), L });
      assertClose(kern.f32(t.y), yRef, { atol: 2e-5, rtol: 1e-4 });
      assertClose(kern.f32(t.last), lastRef, { atol: 2e-5, rtol: 1e-4 });
      const dx = net.backward(t, put(kern, R), true)!;
      assertClose(kern.f32(dx), dxRef.dataSync(), { atol: 1e-4, rtol: 1e-3 });
      FGru.vars(gru).forEach((v, q) => {
        assertClose(group.grad(group.params[q]!), grads[v.name]!.dataSync(), {
          atol: 1e-4,
          rtol: 1e-3,
        });
      });
      kern.release(mk);
      tf.dispose([x, h0, k, dxRef, ...Object.values(grads), ...vars]);
    });
  }

  Deno.test(`fused (${variant}): Adam with clipping follows core/adam.ts over several steps`, async () => {
    await initBackend("cpu");
    const rng = new Rng(5), kern = new Kernels(variant);
    const base = makeMlpBase("fa", {
      inDim: 3,
      hidden: 6,
      layers: 1,
      activation: "relu",
      featureNorm: true,
      rng,
    });
    const vars = mlpVars(base);
    const opts = { lr: 0.01, eps: 1e-5, maxGradNorm: 0.5 };
    const adam = new Adam(vars, opts);
    const group = new ParamGroup(kern);
    new FMlp(group, base);
    group.build();
    group.readFrom(FMlp.vars(base));
    for (let s = 0; s < 4; s++) {
      const gs = vars.map((v) => rand(rng, v.size, 2));
      FMlp.vars(base).forEach((v, k) => group.grad(group.params[k]!).set(gs[vars.indexOf(v)]!));
      const nf = group.adamStep(opts);
      const nt = adam.step(vars.map((v, k) => tf.tensor(gs[k]!, v.shape)));
      assertClose([nf], [nt.dataSync()[0]!], { rtol: 1e-5 });
      nt.dispose();
    }
    FMlp.vars(base).forEach((v, k) => {
      assertClose(group.value(group.params[k]!), v.dataSync(), { atol: 1e-6, rtol: 1e-5 });
    });
    adam.dispose();
    tf.dispose(vars);
  });

  Deno.test(`fused (${variant}): the PPO clipped-surrogate gradient equals tfjs autodiff, ties and clips included`, async () => {
    await initBackend("cpu");
    const rng = new Rng(6), clip = 0.2, kern = new Kernels(variant);
    for (const B of [64, 7]) { // the 4-lane body and the scalar tail
      const logp = rand(rng, B, 0.3), logpOld = rand(rng, B, 0.3), adv = rand(rng, B);
      logpOld.set(logp.subarray(0, 3), 0); // rho = 1 exactly: the tie between the two terms
      adv[4] = 0;
      const mk = kern.mark();
      const b = {
        logp: put(kern, logp),
        logpOld: put(kern, logpOld),
        adv: put(kern, adv),
        dlogp: kern.scratch(B),
      };
      const out = ppoClipGrad(kern, b, clip);
      const parts = (lp: tf.Tensor1D) => {
        const ratio = tf.exp(tf.sub(lp, tf.tensor1d(logpOld)));
        const a = tf.tensor1d(adv);
        const loss = tf.neg(
          tf.mean(
            tf.minimum(tf.mul(ratio, a), tf.mul(tf.clipByValue(ratio, 1 - clip, 1 + clip), a)),
          ),
        );
        return { loss, ratio };
      };
      const g = tf.grad((lp) => parts(lp as tf.Tensor1D).loss)(tf.tensor1d(logp));
      assertClose(kern.f32(b.dlogp), g.dataSync(), { atol: 1e-7, rtol: 1e-5 });
      const { loss, ratio } = parts(tf.tensor1d(logp));
      const stats = ratioStats(tf.tensor1d(logp), tf.tensor1d(logpOld), clip);
      assertClose([out.pgLoss, out.clipFrac, out.approxKl], [
        loss.dataSync()[0]!,
        stats.clipFrac.dataSync()[0]!,
        stats.approxKl.dataSync()[0]!,
      ], { atol: 1e-6, rtol: 1e-5 });
      assert.ok(
        out.clipFrac > 0 && out.clipFrac < 1,
        `a case with some clipped rows (${out.clipFrac})`,
      );
      tf.dispose([g, loss, ratio]);
      kern.release(mk);
    }
  });

  Deno.test(`fused (${variant}): a forward and backward pass is bit-identical run to run`, async () => {
    await initBackend("cpu");
    const rng = new Rng(7);
    const base = makeMlpBase("fd", {
      inDim: 11,
      hidden: 64,
      layers: 2,
      activation: "tanh",
      featureNorm: true,
      rng,
    });
    const X = rand(rng, 300 * 11), R = rand(rng, 300 * 64);
    const run = () => {
      const kern = new Kernels(variant), group = new ParamGroup(kern), net = new FMlp(group, base);
      group.build();
      group.readFrom(FMlp.vars(base));
      const mk = kern.mark();
      const t = net.forward(put(kern, X), 300);
      net.backward(t, put(kern, R), false);
      const out = [kern.f32(t.y).slice(), kern.f32(group.buffers.g).slice()];
      kern.release(mk);
      return out;
    };
    const [a, b] = [run(), run()];
    assert.deepEqual(a[0], b[0]);
    assert.deepEqual(a[1], b[1]);
    assert.ok(ACT.tanh === 2);
    tf.dispose(mlpVars(base));
  });
}

Deno.test("fused: Deno compiles the relaxed-SIMD build (the one Baton uses by default)", () => {
  assert.equal(bestVariant(), "relaxed");
  assert.equal(new Kernels().variant, "relaxed");
});

Deno.test("fused: freed parameter buffers are reused, merged with their neighbours, and lower the top", () => {
  const kern = new Kernels();
  const top = kern.used;
  const a = kern.alloc(100), b = kern.alloc(50), c = kern.alloc(7);
  kern.f32(b).fill(3);
  kern.free(b); // a hole in the middle: reused first fit, and zeroed
  const d = kern.alloc(20);
  assert.equal(d.ptr, b.ptr);
  assert.ok(kern.f32(d).every((x) => x === 0), "a reused buffer is zeroed");
  const e = kern.alloc(30); // the rest of b's hole (50 -> 52 floats: 20 + 32)
  assert.equal(e.ptr, b.ptr + 80);
  const high = kern.used;
  kern.free(c); // the top block: the arena shrinks
  assert.ok(kern.used < high);
  for (const x of [d, e, a]) kern.free(x); // every hole merged with the top: back to the start
  assert.equal(kern.used, top);
  // freed while another pass's scratch is live (a mark open): kept for later, the top untouched
  const f = kern.alloc(16), g = kern.alloc(16), atTop = kern.used;
  const m = kern.mark();
  kern.scratch(64);
  kern.free(g);
  kern.free(f);
  kern.release(m);
  assert.equal(kern.used, atTop, "no lowering under a mark");
  assert.equal(kern.alloc(8).ptr, f.ptr, "the next alloc reuses the freed space");
  assert.equal(kern.used, f.ptr + 32, "and lowers the top over the rest first");
});

Deno.test("fused: unwind frees every mark an error left open, so parameters can be allocated again", () => {
  const kern = new Kernels();
  const top = kern.used;
  const m1 = kern.mark();
  kern.scratch(1000);
  kern.mark(); // an inner mark a failed pass never released
  kern.scratch(1000);
  assert.throws(() => kern.alloc(10), /inside a scratch mark/);
  kern.unwind(m1);
  assert.equal(kern.used, top);
  assert.ok(kern.alloc(10).ptr >= top);
});
