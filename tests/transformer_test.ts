// The transformer blocks of core/transformer.ts (for MAT): attention against a loop-by-loop
// reference, the causal mask (a position never sees a later one), GELU's known values, and the
// gradients of whole encoder and decoder blocks against finite differences.
import assert from "node:assert/strict";
import { initBackend, Rng, tf } from "../mod.ts";
import {
  attention,
  decodeBlock,
  decodeBlockVars,
  encodeBlock,
  encodeBlockVars,
  gelu,
  makeAttention,
  makeDecodeBlock,
  makeEncodeBlock,
} from "../core/transformer.ts";
import { assertClose } from "./_helpers.ts";

/** Gives every variable random values of a useful size (the initial gains are tiny). */
function randomise(vars: tf.Variable[], rng: Rng, scale = 0.5): void {
  for (const v of vars) {
    v.assign(tf.tensor(Float32Array.from({ length: v.size }, () => scale * rng.normal()), v.shape));
  }
}

const rand3 = (rng: Rng, B: number, L: number, D: number) =>
  tf.tensor3d(Float32Array.from({ length: B * L * D }, () => rng.normal()), [B, L, D]);

Deno.test("GELU is x Phi(x): known values", async () => {
  await initBackend("cpu");
  const y = gelu(tf.tensor1d([-1, 0, 1, 2])).dataSync();
  assertClose(y, [-0.15865525, 0, 0.84134475, 1.95449974], { atol: 1e-6 });
});

Deno.test("attention equals a loop-by-loop reference (2 heads, with and without the causal mask)", async () => {
  await initBackend("cpu");
  const rng = new Rng(3);
  const B = 2, L = 3, D = 4, H = 2, hs = D / H;
  const p = makeAttention("t_att", { dim: D, heads: H, rng });
  randomise([p.q, p.k, p.v, p.o].flatMap((d) => [d.W, d.b]), rng);
  const xq = rand3(rng, B, L, D), xk = rand3(rng, B, L, D), xv = rand3(rng, B, L, D);
  const W = (d: { W: tf.Variable; b: tf.Variable }) => ({ W: d.W.dataSync(), b: d.b.dataSync() });
  const [q, k, v, o] = [p.q, p.k, p.v, p.o].map(W);
  const lin = (x: ArrayLike<number>, m: { W: ArrayLike<number>; b: ArrayLike<number> }) =>
    Array.from({ length: D }, (_, c) => {
      let s = m.b[c]!;
      for (let r = 0; r < D; r++) s += x[r]! * m.W[r * D + c]!;
      return s;
    });
  for (const causal of [false, true]) {
    const got = attention(xq, xk, xv, p, causal).dataSync();
    const [aq, ak, av] = [xq, xk, xv].map((t) => t.dataSync());
    const want: number[] = [];
    for (let b = 0; b < B; b++) {
      const row = (a: Float32Array | Int32Array | Uint8Array, i: number) =>
        a.slice((b * L + i) * D, (b * L + i + 1) * D);
      const Q = Array.from({ length: L }, (_, i) => lin(row(aq!, i), q!));
      const K = Array.from({ length: L }, (_, i) => lin(row(ak!, i), k!));
      const V = Array.from({ length: L }, (_, i) => lin(row(av!, i), v!));
      for (let i = 0; i < L; i++) {
        const joined = new Array(D).fill(0);
        for (let h = 0; h < H; h++) {
          const js = Array.from({ length: causal ? i + 1 : L }, (_, j) => j);
          const s = js.map((j) => {
            let dot = 0;
            for (let c = 0; c < hs; c++) dot += Q[i]![h * hs + c]! * K[j]![h * hs + c]!;
            return dot / Math.sqrt(hs);
          });
          const mx = Math.max(...s), e = s.map((x) => Math.exp(x - mx));
          const z = e.reduce((a, c) => a + c, 0);
          js.forEach((j, n) => {
            for (let c = 0; c < hs; c++) joined[h * hs + c] += (e[n]! / z) * V[j]![h * hs + c]!;
          });
        }
        want.push(...lin(joined, o!));
      }
    }
    assertClose(got, want, { atol: 1e-4, rtol: 1e-4 });
  }
});

Deno.test("decoder block: position i does not change when anything at a later position does", async () => {
  await initBackend("cpu");
  const rng = new Rng(5);
  const B = 2, L = 4, D = 8;
  const blk = makeDecodeBlock("t_dec_causal", { dim: D, heads: 2, rng });
  randomise(decodeBlockVars(blk), rng);
  const x = rand3(rng, B, L, D), rep = rand3(rng, B, L, D);
  const base = decodeBlock(x, rep, blk).arraySync();
  for (const j of [1, 2, 3]) {
    // change position j of both the action embeddings and the representation
    const bump = tf.tensor3d(
      Float32Array.from({ length: B * L * D }, (_, k) => (Math.floor(k / D) % L === j ? 3 : 0)),
      [B, L, D],
    );
    const moved = decodeBlock(tf.add(x, bump), tf.add(rep, bump), blk).arraySync();
    for (let b = 0; b < B; b++) {
      for (let i = 0; i < L; i++) {
        const d = Math.max(...moved[b]![i]!.map((m, c) => Math.abs(m - base[b]![i]![c]!)));
        if (i < j) assert.ok(d < 1e-5, `position ${i} moved by ${d} when ${j} changed`);
        else if (i === j) assert.ok(d > 1e-3, `position ${j} itself should move (${d})`);
      }
    }
  }
  // the encoder block is not causal: an earlier position sees a later one
  const enc = makeEncodeBlock("t_enc_all", { dim: D, heads: 2, rng });
  randomise(encodeBlockVars(enc), rng);
  const e0 = encodeBlock(x, enc).arraySync();
  const bump3 = tf.tensor3d(
    Float32Array.from({ length: B * L * D }, (_, k) => (Math.floor(k / D) % L === 3 ? 3 : 0)),
    [B, L, D],
  );
  const e1 = encodeBlock(tf.add(x, bump3), enc).arraySync();
  assert.ok(Math.abs(e1[0]![0]![0]! - e0[0]![0]![0]!) > 1e-4, "encoder position 0 sees position 3");
});

Deno.test("encoder and decoder blocks: gradients (weights, LayerNorms, inputs) equal finite differences", async () => {
  await initBackend("cpu");
  const rng = new Rng(11);
  const B = 2, L = 3, D = 4;
  const enc = makeEncodeBlock("t_enc_fd", { dim: D, heads: 2, rng });
  const dec = makeDecodeBlock("t_dec_fd", { dim: D, heads: 2, rng });
  randomise([...encodeBlockVars(enc), ...decodeBlockVars(dec)], rng);
  const obs = tf.variable(rand3(rng, B, L, D), true, "t_fd_obs");
  const act = tf.variable(rand3(rng, B, L, D), true, "t_fd_act");
  const R = rand3(rng, B, L, D);
  // a scalar through both blocks, as MAT's decoder reads the encoder's representation
  const loss = () =>
    tf.tidy(() => tf.sum(tf.mul(decodeBlock(act, encodeBlock(obs, enc), dec), R)) as tf.Scalar);
  const vars = [
    enc.attn.q.W,
    enc.ln1.g,
    enc.mlp[0].W,
    dec.attn1.k.W,
    dec.attn2.v.W,
    dec.attn2.q.b,
    dec.ln2.b,
    dec.ln3.g,
    obs,
    act,
  ];
  const { grads } = tf.variableGrads(loss, vars);
  const eps = 1e-2;
  for (const v of vars) {
    const base = v.dataSync().slice();
    const fd: number[] = [];
    for (let k = 0; k < Math.min(base.length, 6); k++) {
      const at = (d: number) => {
        const p = base.slice();
        p[k]! += d;
        v.assign(tf.tensor(p, v.shape));
        return loss().dataSync()[0]!;
      };
      fd.push((at(eps) - at(-eps)) / (2 * eps));
    }
    v.assign(tf.tensor(base, v.shape));
    assert.ok(Math.max(...fd.map(Math.abs)) > 1e-3, `${v.name}: a gradient worth checking`);
    assertClose(grads[v.name]!.dataSync().slice(0, fd.length), fd, { atol: 2e-3, rtol: 2e-2 });
  }
});
