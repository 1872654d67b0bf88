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
import {
  type Dense,
  dense,
  makeDense,
  makeMlpBase,
  type MlpBase,
  mlpBase,
  mlpVars,
} from "../nets.ts";
import { Adam } from "../adam.ts";
import { categoricalLogp } from "../distributions.ts";
import { type Buf, Kernels } from "./kernels.ts";
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

/** The measured policy network's tfjs parts (see {@link measuredPolicy}). */
export interface MeasuredPolicy {
  /** The LayerNorm'd 64-wide ReLU MLP base (64 inputs, one layer). */
  readonly base: MlpBase;
  /** The 16-action output layer. */
  readonly head: Dense;
  /** Every variable, in FActor.vars order. */
  readonly vars: tf.Variable[];
}

/**
 * The policy network the decision and bench/networks.ts time: a LayerNorm'd 64-wide ReLU MLP
 * (64 inputs, one layer) and a 16-action head.
 * @param name variable name prefix
 * @param rng initial weights
 * @returns its parts
 */
export function measuredPolicy(name: string, rng: Rng): MeasuredPolicy {
  const base = makeMlpBase(name, {
    inDim: 64,
    hidden: 64,
    layers: 1,
    activation: "relu",
    featureNorm: true,
    rng,
  });
  const head = makeDense(`${name}/head`, { inDim: 64, outDim: 16, gain: 0.01, rng });
  return { base, head, vars: [...mlpVars(base), head.W, head.b] };
}

/**
 * One tfjs training step of the policy: forward, `-mean(log pi(a) A)`, backward, Adam.
 * @param p the network
 * @param opt its optimiser
 * @param x `[B, 64]` inputs
 * @param onehot `[B, 16]` the actions
 * @param adv `[B]` advantages
 */
export async function tfjsPolicyStep(
  p: MeasuredPolicy,
  opt: Adam,
  x: tf.Tensor2D,
  onehot: tf.Tensor2D,
  adv: tf.Tensor,
): Promise<void> {
  const { value, grads } = tf.variableGrads(
    () =>
      tf.neg(
        tf.mean(tf.mul(categoricalLogp(dense(mlpBase(x, p.base), p.head), onehot), adv)),
      ) as tf.Scalar,
    p.vars,
  );
  const n = opt.step(p.vars.map((v) => grads[v.name]!));
  await n.data();
  tf.dispose([value, n, ...Object.values(grads)]);
}

/**
 * The same network on the fused kernels, with its values copied from the tfjs parts.
 * @param p the network
 * @param kern the kernels instance
 * @returns the parameters, the network, and one training step on B rows (inputs `x [B, 64]`,
 *   actions `acts [B]` in the kernels' memory, advantages `adv [B]`)
 */
export function fusedPolicy(p: MeasuredPolicy, kern: Kernels): {
  group: ParamGroup;
  net: FActor;
  step: (x: Buf, acts: Buf, adv: Float32Array, B: number) => void;
} {
  const group = new ParamGroup(kern),
    parts = { base: p.base, cond: null, fuseNorm: null, head: p.head };
  const net = new FActor(group, parts);
  group.build();
  group.readFrom(FActor.vars(parts));
  const step = (x: Buf, acts: Buf, adv: Float32Array, B: number) => {
    const mk = kern.mark();
    group.zeroGrad();
    const t = net.forward(x, null, B);
    const lsm = kern.scratch(B * 16), probs = kern.scratch(B * 16), logp = kern.scratch(B);
    const dlogp = kern.scratch(B), dl = kern.scratch(B * 16);
    kern.k.cat_fwd(t.y.ptr, 0, acts.ptr, lsm.ptr, probs.ptr, logp.ptr, 0, B, 16);
    const d = kern.f32(dlogp);
    for (let q = 0; q < B; q++) d[q] = -adv[q]! / B; // -mean(logp A)
    kern.k.cat_bwd(lsm.ptr, probs.ptr, 0, acts.ptr, dlogp.ptr, 0, dl.ptr, B, 16);
    net.backward(t, dl, false);
    group.adamStep({ lr: 5e-4, eps: 1e-5, maxGradNorm: 10 });
    kern.release(mk);
  };
  return { group, net, step };
}

async function measure(B: number): Promise<{ tfjs: number; fused: number }> {
  const rng = new Rng(0), p = measuredPolicy("measure/base", rng);
  // tfjs on the current backend
  const opt = new Adam(p.vars, { lr: 5e-4, eps: 1e-5, maxGradNorm: 10 });
  const x = tf.randomNormal([B, 64], 0, 1, "float32", 1) as tf.Tensor2D;
  const onehot = tf.tidy(() =>
    tf.oneHot(tf.randomUniform([B], 0, 16, "int32", 2) as tf.Tensor1D, 16).toFloat()
  ) as tf.Tensor2D;
  const adv = tf.randomNormal([B], 0, 1, "float32", 3);
  const tfjsStep = async () => {
    const t0 = performance.now();
    await tfjsPolicyStep(p, opt, x, onehot, adv);
    return performance.now() - t0;
  };
  // the fused kernels, same network
  const kern = new Kernels(), f = fusedPolicy(p, kern);
  const mk0 = kern.mark();
  const fx = kern.scratch(B * 64), acts = kern.scratch(B);
  kern.f32(fx).set(x.dataSync() as Float32Array);
  kern.i32(acts).set(Int32Array.from({ length: B }, () => rng.int(16)));
  const a = adv.dataSync() as Float32Array;
  const fusedStep = () => {
    const t0 = performance.now();
    f.step(fx, acts, a, B);
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
    tf.dispose([x, onehot, adv, ...p.vars]);
  }
}
