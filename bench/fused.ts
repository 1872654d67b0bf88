/**
 * The fused kernels against tfjs-wasm on the actor update of BPPO's shapes (issue #30): per agent
 * and epoch, one forward pass of a conditioned actor over the whole batch, the PPO clipped
 * surrogate with entropy, the backward pass and Adam: tfjs autodiff (the trainer's path today) and
 * core/fused in alternating windows of one run, one thread each. Also the fused matmul's own
 * peak (its best GFLOP/s over cache-friendly large shapes) and the update's share of it.
 *
 * @module
 */
import { initBackend, Rng, tf } from "../mod.ts";
import {
  type Dense,
  dense,
  layerNorm,
  makeDense,
  makeMlpBase,
  makeNorm,
  type MlpBase,
  mlpBase,
  type Norm,
} from "../core/nets.ts";
import { Adam } from "../core/adam.ts";
import { categoricalEntropy, categoricalLogp } from "../core/distributions.ts";
import { type Buf, Kernels, rowsOf } from "../core/fused/kernels.ts";
import { FActor, ParamGroup } from "../core/fused/nets.ts";
import type { BenchOptions } from "./_opts.ts";

interface Shape {
  readonly label: string;
  readonly n: number;
  readonly A: number;
  readonly obsDim: number;
  readonly N: number;
  readonly layers: number;
  readonly epochs: number;
}

const SHAPES: Shape[] = [
  {
    label: "matrix reference (2 agents, 3 actions, obs 2, 10,000 rows, 15 epochs, 1 layer)",
    n: 2,
    A: 3,
    obsDim: 2,
    N: 10_000,
    layers: 1,
    epochs: 15,
  },
  {
    label: "protoss_5_vs_5 shape (5 agents, 11 actions, obs 92, 3,200 rows, 10 epochs, 2 layers)",
    n: 5,
    A: 11,
    obsDim: 92,
    N: 3_200,
    layers: 2,
    epochs: 10,
  },
];
const H = 64;
const CHUNK = 256;

interface Actor {
  base: MlpBase;
  cond: MlpBase;
  fuseNorm: Norm;
  head: Dense;
}

function flops(s: Shape): number {
  const mlp = (inp: number) => inp * H + (s.layers - 1) * H * H;
  return s.n * s.epochs * 3 * 2 * s.N * (mlp(s.obsDim) + mlp(s.n * s.A + s.n) + H * s.A);
}

/**
 * GFLOP/s of the fused gemm_nn on large shapes that fit its blocking (the best of three).
 * @param kern a kernels instance
 * @returns GFLOP/s on one thread
 */
export function fusedPeak(kern: Kernels): number {
  let best = 0;
  for (const [M, K, N] of [[4096, 256, 256], [2048, 512, 128], [8192, 64, 64]]) {
    const mk = kern.mark();
    const a = kern.scratch(M! * K!), b = kern.scratch(K! * N!), c = kern.scratch(M! * N!);
    kern.f32(a).fill(0.5), kern.f32(b).fill(0.25);
    kern.k.gemm_nn(a.ptr, b.ptr, c.ptr, 0, M!, K!, N!, 0, 0);
    const reps = 5, t0 = performance.now();
    for (let r = 0; r < reps; r++) kern.k.gemm_nn(a.ptr, b.ptr, c.ptr, 0, M!, K!, N!, 0, 0);
    const s = (performance.now() - t0) / 1000 / reps;
    best = Math.max(best, 2 * M! * K! * N! / s / 1e9);
    kern.release(mk);
  }
  return best;
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

/**
 * Runs this benchmark and prints its table.
 * @param o shared bench flags
 */
export async function run(o: BenchOptions): Promise<void> {
  await initBackend("wasm");
  const kern = new Kernels();
  const peak = fusedPeak(kern);
  const windows = o.quick ? 2 : 4;
  console.log(
    `\n## Fused kernels: the actor update (forward, PPO loss, backward, Adam), tfjs-wasm vs fused, one thread, alternating windows (${windows} each, median)`,
  );
  console.log(`fused gemm_nn peak on large shapes: ${peak.toFixed(1)} GFLOP/s`);
  console.log(
    "| shape | tfjs s | fused s | tfjs/fused time | fused update GFLOP/s | share of fused peak |",
  );
  console.log("|---|---:|---:|---:|---:|---:|");
  for (const s of SHAPES) {
    const rng = new Rng(0);
    const condIn = s.n * s.A + s.n;
    const net = {
      hidden: H,
      layers: s.layers,
      activation: "relu" as const,
      featureNorm: true,
      rng,
    };
    const actors: Actor[] = Array.from({ length: s.n }, (_, i) => ({
      base: makeMlpBase(`fb${i}/base`, { inDim: s.obsDim, ...net, inputNorm: s.obsDim >= 3 }),
      cond: makeMlpBase(`fb${i}/cond`, { inDim: condIn, ...net }),
      fuseNorm: makeNorm(`fb${i}/fuse`, H),
      head: makeDense(`fb${i}/head`, { inDim: H, outDim: s.A, gain: 0.01, rng }),
    }));
    const f = (len: number, sc = 1) => Float32Array.from({ length: len }, () => sc * rng.normal());
    const obs = f(s.N * s.obsDim), cond = f(s.N * condIn), adv = f(s.N);
    const acts = Int32Array.from({ length: s.N }, () => rng.int(s.A));
    const logpOld = new Float32Array(s.N).fill(-Math.log(s.A));
    const adamOpts = { lr: 5e-4, eps: 1e-5, maxGradNorm: 10 };

    // tfjs: the trainer's path (custom-gradient dense and LayerNorm, autodiff elsewhere)
    const tObs = tf.tensor2d(obs, [s.N, s.obsDim]), tCond = tf.tensor2d(cond, [s.N, condIn]);
    const tAdv = tf.tensor1d(adv), tOld = tf.tensor1d(logpOld);
    const onehot = tf.oneHot(tf.tensor1d(acts, "int32"), s.A).toFloat() as tf.Tensor2D;
    const tVars = actors.map((a) => [
      ...[a.base, a.cond].flatMap((
        m,
      ) => [...m.layers.flatMap((d) => [d.W, d.b]), ...m.norms.flatMap((p) => [p.g, p.b])]),
      a.fuseNorm.g,
      a.fuseNorm.b,
      a.head.W,
      a.head.b,
    ]);
    const tAdam = tVars.map((v) => new Adam(v, adamOpts));
    const tfjsUpdate = () => {
      const t0 = performance.now();
      for (let ep = 0; ep < s.epochs; ep++) {
        actors.forEach((a, i) => {
          const { value, grads } = tf.variableGrads(() => {
            const h = layerNorm(tf.add(mlpBase(tObs, a.base), mlpBase(tCond, a.cond)), a.fuseNorm);
            const logits = dense(h, a.head);
            const ratio = tf.exp(tf.sub(categoricalLogp(logits, onehot), tOld));
            const s1 = tf.mul(ratio, tAdv), s2 = tf.mul(tf.clipByValue(ratio, 0.95, 1.05), tAdv);
            const ent = tf.mean(categoricalEntropy(logits));
            return tf.sub(tf.neg(tf.mean(tf.minimum(s1, s2))), tf.mul(0.01, ent)) as tf.Scalar;
          }, tVars[i]);
          const norm = tAdam[i]!.step(tVars[i]!.map((v) => grads[v.name]!));
          norm.dataSync();
          tf.dispose([value, norm, ...Object.values(grads)]);
        });
      }
      return (performance.now() - t0) / 1000;
    };

    // fused: same networks, parameters copied in
    const groups = actors.map(() => new ParamGroup(kern));
    const fActors = actors.map((a, i) => new FActor(groups[i]!, a));
    groups.forEach((g, i) => {
      g.build();
      g.readFrom(FActor.vars(actors[i]!));
    });
    const fObs = kern.alloc(obs.length), fCond = kern.alloc(cond.length), fActs = kern.alloc(s.N);
    kern.f32(fObs).set(obs), kern.f32(fCond).set(cond), kern.i32(fActs).set(acts);
    const lsm = kern.alloc(s.N * s.A), probs = kern.alloc(s.N * s.A);
    const logp = kern.alloc(s.N), ent = kern.alloc(s.N), dlogp = kern.alloc(s.N);
    const dent = kern.alloc(s.N), fOld = kern.alloc(s.N), fAdv = kern.alloc(s.N);
    kern.f32(fOld).set(logpOld), kern.f32(fAdv).set(adv), kern.f32(dent).fill(-0.01 / s.N);
    const stats = kern.alloc(3);
    // forward, loss and backward in row chunks that stay in cache (the loss is per row, so a
    // chunk's gradient needs no other chunk), then one Adam step
    const fusedUpdate = (chunk = CHUNK) => {
      const t0 = performance.now();
      const k = kern.k, rows = (b: Buf, w: number, r0: number, c: number) => rowsOf(b, w, r0, c);
      for (let ep = 0; ep < s.epochs; ep++) {
        fActors.forEach((fa, i) => {
          const g = groups[i]!;
          g.zeroGrad();
          for (let r0 = 0; r0 < s.N; r0 += chunk) {
            const c = Math.min(chunk, s.N - r0);
            const mk = kern.mark();
            const t = fa.forward(rows(fObs, s.obsDim, r0, c), rows(fCond, condIn, r0, c), c);
            const [ls, pr, lp, en] = [
              rows(lsm, s.A, r0, c),
              rows(probs, s.A, r0, c),
              rows(logp, 1, r0, c),
              rows(ent, 1, r0, c),
            ];
            const ac = rows(fActs, 1, r0, c), dlp = rows(dlogp, 1, r0, c);
            k.cat_fwd(t.y.ptr, 0, ac.ptr, ls.ptr, pr.ptr, lp.ptr, en.ptr, c, s.A);
            k.ppo_clip_grad(
              lp.ptr,
              rows(fOld, 1, r0, c).ptr,
              rows(fAdv, 1, r0, c).ptr,
              0,
              dlp.ptr,
              0,
              stats.ptr,
              c,
              0.05,
              s.N,
              0,
            );
            const dl = kern.scratch(c * s.A);
            k.cat_bwd(
              ls.ptr,
              pr.ptr,
              en.ptr,
              ac.ptr,
              dlp.ptr,
              rows(dent, 1, r0, c).ptr,
              dl.ptr,
              c,
              s.A,
            );
            fa.backward(t, dl, false);
            kern.release(mk);
          }
          g.adamStep(adamOpts);
        });
      }
      return (performance.now() - t0) / 1000;
    };
    if (Deno.env.get("CHUNKS")) {
      for (const c of Deno.env.get("CHUNKS")!.split(",").map(Number)) {
        fusedUpdate(c);
        const xs = [fusedUpdate(c), fusedUpdate(c), fusedUpdate(c)];
        console.log(`chunk ${c}: ${median(xs).toFixed(3)} s`);
      }
    }
    tfjsUpdate(), fusedUpdate(); // warm-up
    const ts: number[] = [], fs: number[] = [];
    for (let w = 0; w < windows; w++) ts.push(tfjsUpdate()), fs.push(fusedUpdate());
    const [t, fz] = [median(ts), median(fs)];
    const gf = flops(s) / fz / 1e9;
    console.log(
      `| ${s.label} | ${t.toFixed(3)} | ${fz.toFixed(3)} | ${(t / fz).toFixed(2)}x | ${
        gf.toFixed(1)
      } | ${(100 * gf / peak).toFixed(0)}% |`,
    );
    tf.dispose([tObs, tCond, tAdv, tOld, onehot, ...tVars.flat()]);
    tAdam.forEach((a) => a.dispose());
  }
}

if (import.meta.main) await run({ quick: Deno.args.includes("--quick") } as BenchOptions);
