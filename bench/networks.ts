/**
 * The policy network (LayerNorm'd 64-wide ReLU MLP, 64 inputs, 16 actions): forward and
 * forward+backward+Adam at batch 1, 32, 1024, 4096 on the fused kernels, tfjs wasm, cpu and
 * WebGPU (when an adapter exists), next to PyTorch
 * (Debian python3-torch, 1 thread) on the same CPU when it is installed.
 *
 * @module
 */
import { dirname, fromFileUrl } from "./_path.ts";
import { initBackend, Rng, tf } from "../mod.ts";
import { dense, mlpBase } from "../core/nets.ts";
import { Adam } from "../core/adam.ts";
import type { BenchOptions } from "./_opts.ts";
import { Kernels } from "../core/fused/kernels.ts";
import { fusedPolicy, measuredPolicy, tfjsPolicyStep } from "../core/fused/measure.ts";

const BATCHES = [1, 32, 1024, 4096];

async function timeMs(f: () => Promise<void>, reps: number): Promise<number> {
  for (let i = 0; i < 2; i++) await f();
  const t0 = performance.now();
  for (let i = 0; i < reps; i++) await f();
  return (performance.now() - t0) / reps;
}

async function mlp(
  backend: "wasm" | "cpu" | "webgpu",
): Promise<{ fwd: number[]; train: number[] }> {
  await initBackend(backend);
  const p = measuredPolicy(`bench_${backend}`, new Rng(0));
  const opt = new Adam(p.vars, { lr: 5e-4, eps: 1e-5, maxGradNorm: 10 });
  const fwd: number[] = [], trn: number[] = [];
  for (const B of BATCHES) {
    const x = tf.randomNormal([B, 64]) as tf.Tensor2D;
    const onehot = tf.oneHot(tf.randomUniform([B], 0, 16, "int32") as tf.Tensor1D, 16)
      .toFloat() as tf.Tensor2D;
    const adv = tf.randomNormal([B]);
    const reps = backend === "webgpu" ? 3 : Math.max(5, Math.min(200, Math.floor(20_000 / B)));
    fwd.push(
      await timeMs(async () => {
        const y = tf.tidy(() => dense(mlpBase(x, p.base), p.head));
        await y.data();
        y.dispose();
      }, reps),
    );
    trn.push(
      await timeMs(() => tfjsPolicyStep(p, opt, x, onehot, adv), reps),
    );
    tf.dispose([x, onehot, adv]);
  }
  opt.dispose();
  tf.dispose(p.vars);
  return { fwd, train: trn };
}

/** The same network, forward and training step, on the fused kernels (core/fused). */
function fusedMlp(): { fwd: number[]; train: number[] } {
  const rng = new Rng(0), kern = new Kernels();
  const p = measuredPolicy("bench_fused", rng), { net, step } = fusedPolicy(p, kern);
  const fwd: number[] = [], trn: number[] = [];
  const time = (f: () => void, reps: number) => {
    for (let i = 0; i < 2; i++) f();
    const t0 = performance.now();
    for (let i = 0; i < reps; i++) f();
    return (performance.now() - t0) / reps;
  };
  for (const B of BATCHES) {
    const reps = Math.max(5, Math.min(400, Math.floor(40_000 / B)));
    const mk0 = kern.mark();
    const x = kern.scratch(B * 64), acts = kern.scratch(B), adv = kern.scratch(B);
    kern.f32(x).forEach((_, i, a) => a[i] = rng.normal());
    kern.i32(acts).forEach((_, i, a) => a[i] = rng.int(16));
    kern.f32(adv).forEach((_, i, a) => a[i] = rng.normal());
    fwd.push(time(() => {
      const mk = kern.mark();
      net.forward(x, null, B);
      kern.release(mk);
    }, reps));
    const a = kern.f32(adv).slice();
    trn.push(time(() => step(x, acts, a, B), reps));
    kern.release(mk0);
  }
  tf.dispose(p.vars);
  return { fwd, train: trn };
}

async function torchMlp(): Promise<{ fwd: number[]; train: number[]; version: string } | string> {
  const script = fromFileUrl(new URL("./torch_mlp.py", import.meta.url));
  try {
    const out = await new Deno.Command("/usr/bin/python3", {
      args: [script, BATCHES.join(",")],
      stdout: "piped",
      stderr: "piped",
      cwd: dirname(script),
    }).output();
    if (out.code !== 0) {
      return new TextDecoder().decode(out.stderr).trim().split("\n").pop() ?? "failed";
    }
    const r = JSON.parse(new TextDecoder().decode(out.stdout));
    return {
      version: r.torch,
      fwd: BATCHES.map((b) => r.forward_ms[b]),
      train: BATCHES.map((b) => r.train_ms[b]),
    };
  } catch (err) {
    return (err as Error).message;
  }
}

async function adapterName(): Promise<string | null> {
  const a = await (globalThis.navigator as any)?.gpu?.requestAdapter?.().catch(() => null);
  if (!a) return null;
  const info = a.info ?? {};
  return `${info.description || info.vendor || "unknown"}${
    info.isFallbackAdapter ? " (software/fallback adapter)" : ""
  }`;
}

/**
 * Runs this benchmark and prints its table.
 * @param o shared bench flags
 */
export async function run(_o: BenchOptions): Promise<void> {
  const wasm = await mlp("wasm");
  const cpu = await mlp("cpu");
  const adapter = await adapterName();
  const gpu = adapter ? await mlp("webgpu") : null;
  await initBackend("wasm");
  const fused = fusedMlp();
  const torch = await torchMlp();
  const t = typeof torch === "string" ? null : torch;
  console.log("\n## Policy network 64-64-16 (LayerNorm, ReLU), ms per call, single thread");
  console.log(
    t
      ? `(PyTorch ${t.version}, 1 thread, same CPU, same run)`
      : `(PyTorch not measured: ${torch}; install Debian's python3-torch to compare)`,
  );
  console.log(`(WebGPU adapter: ${adapter ?? "none found"})`);
  console.log(
    "| batch | fused fwd | wasm fwd | cpu fwd | webgpu fwd | torch fwd | fused train | wasm train | cpu train | webgpu train | torch train | wasm/fused train | torch/fused train |",
  );
  console.log("|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|");
  const f = (x: number | undefined) => (x === undefined ? "-" : x.toFixed(3));
  BATCHES.forEach((B, k) => {
    const cells = [
      B,
      f(fused.fwd[k]),
      f(wasm.fwd[k]),
      f(cpu.fwd[k]),
      f(gpu?.fwd[k]),
      f(t?.fwd[k]),
      f(fused.train[k]),
      f(wasm.train[k]),
      f(cpu.train[k]),
      f(gpu?.train[k]),
      f(t?.train[k]),
      (wasm.train[k]! / fused.train[k]!).toFixed(1),
      t ? (t.train[k]! / fused.train[k]!).toFixed(2) : "-",
    ];
    console.log(`| ${cells.join(" | ")} |`);
  });
  console.log(
    "\nOn a machine with a hardware GPU, `deno task bench` names that adapter here and the webgpu columns show whether it beats the fused kernels at batch 4096; `deno task train --backend auto` picks webgpu on a hardware adapter, and `--kernels auto` then keeps tfjs (on WebGPU): where the fused columns win, pass `--backend wasm` (the fused path does not use the tfjs backend for its arithmetic).",
  );
}
