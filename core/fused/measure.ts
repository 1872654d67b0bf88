/**
 * `--backend auto` on a machine with a hardware GPU: whether WebGPU or the fused kernels train
 * Baton's policy network faster, measured rather than assumed (issue #30). One training step of
 * the LayerNorm'd 64-wide ReLU policy (64 inputs, 16 actions, batch 4096: forward, policy-gradient
 * loss, backward, Adam) on each, after one warm-up step, median of three.
 *
 * @module
 */
import { tf } from "../deps.ts";
import { Rng } from "../rng.ts";
import { dense, makeDense, makeMlpBase, mlpBase, mlpVars } from "../nets.ts";
import { Adam } from "../adam.ts";
import { categoricalLogp } from "../distributions.ts";
import { Kernels } from "./kernels.ts";
import { FActor, ParamGroup } from "./nets.ts";

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

/**
 * Times one policy training step on the current tfjs backend and on the fused kernels.
 * @param B batch rows (4096 for the decision; tests use fewer)
 * @returns milliseconds per step: `tfjs` (on `tf.getBackend()`) and `fused`
 */
export async function policyStepMs(B = 4096): Promise<{ tfjs: number; fused: number }> {
  tf.engine().startScope(); // every tensor made here (initial values included) goes at the end
  try {
    return await measure(B);
  } finally {
    tf.engine().endScope();
  }
}

async function measure(B: number): Promise<{ tfjs: number; fused: number }> {
  const rng = new Rng(0);
  const base = makeMlpBase("measure/base", {
    inDim: 64,
    hidden: 64,
    layers: 1,
    activation: "relu",
    featureNorm: true,
    rng,
  });
  const head = makeDense("measure/head", { inDim: 64, outDim: 16, gain: 0.01, rng });
  const vars = [...mlpVars(base), head.W, head.b];
  // tfjs on the current backend
  const opt = new Adam(vars, { lr: 5e-4, eps: 1e-5, maxGradNorm: 10 });
  const x = tf.randomNormal([B, 64], 0, 1, "float32", 1) as tf.Tensor2D;
  const onehot = tf.tidy(() =>
    tf.oneHot(tf.randomUniform([B], 0, 16, "int32", 2) as tf.Tensor1D, 16).toFloat()
  ) as tf.Tensor2D;
  const adv = tf.randomNormal([B], 0, 1, "float32", 3);
  const tfjsStep = async () => {
    const t0 = performance.now();
    const { value, grads } = tf.variableGrads(
      () =>
        tf.neg(
          tf.mean(tf.mul(categoricalLogp(dense(mlpBase(x, base), head), onehot), adv)),
        ) as tf.Scalar,
      vars,
    );
    const n = opt.step(vars.map((v) => grads[v.name]!));
    await n.data();
    tf.dispose([value, n, ...Object.values(grads)]);
    return performance.now() - t0;
  };
  // the fused kernels, same network
  const kern = new Kernels(), group = new ParamGroup(kern);
  const parts = { base, cond: null, fuseNorm: null, head };
  const net = new FActor(group, parts);
  group.build();
  group.readFrom(FActor.vars(parts));
  const mk0 = kern.mark();
  const fx = kern.scratch(B * 64), acts = kern.scratch(B), lsm = kern.scratch(B * 16);
  const probs = kern.scratch(B * 16), logp = kern.scratch(B), dlogp = kern.scratch(B);
  const dl = kern.scratch(B * 16);
  kern.f32(fx).set(x.dataSync() as Float32Array);
  kern.i32(acts).set(Int32Array.from({ length: B }, () => rng.int(16)));
  const a = adv.dataSync() as Float32Array;
  const fusedStep = () => {
    const t0 = performance.now(), mk = kern.mark();
    group.zeroGrad();
    const t = net.forward(fx, null, B);
    kern.k.cat_fwd(t.y.ptr, 0, acts.ptr, lsm.ptr, probs.ptr, logp.ptr, 0, B, 16);
    const d = kern.f32(dlogp);
    for (let q = 0; q < B; q++) d[q] = -a[q]! / B;
    kern.k.cat_bwd(lsm.ptr, probs.ptr, 0, acts.ptr, dlogp.ptr, 0, dl.ptr, B, 16);
    net.backward(t, dl, false);
    group.adamStep({ lr: 5e-4, eps: 1e-5, maxGradNorm: 10 });
    kern.release(mk);
    return performance.now() - t0;
  };
  try {
    await tfjsStep(), fusedStep(); // warm-up: shaders, kernels, memory
    const ts: number[] = [], fs: number[] = [];
    for (let r = 0; r < 3; r++) ts.push(await tfjsStep()), fs.push(fusedStep());
    return { tfjs: median(ts), fused: median(fs) };
  } finally {
    kern.release(mk0);
    opt.dispose();
    tf.dispose([x, onehot, adv, ...vars]);
  }
}
