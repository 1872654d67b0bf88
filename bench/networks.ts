/**
 * The policy network (LayerNorm'd 64-wide ReLU MLP, 64 inputs, 16 actions): forward and
 * forward+backward+Adam at batch 1, 32, 1024, 4096 on tfjs wasm and cpu, next to PyTorch
 * (Debian python3-torch, 1 thread) on the same CPU when it is installed.
 *
 * @module
 */
import { dirname, fromFileUrl } from "./_path.ts";
import { initBackend, Rng, tf } from "../mod.ts";
import { dense, makeDense, makeMlpBase, mlpBase, mlpVars } from "../core/nets.ts";
import { Adam } from "../core/adam.ts";
import { categoricalLogp } from "../core/distributions.ts";
import type { BenchOptions } from "./_opts.ts";

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
  const rng = new Rng(0);
  const base = makeMlpBase(`bench_${backend}`, {
    inDim: 64,
    hidden: 64,
    layers: 1,
    activation: "relu",
    featureNorm: true,
    rng,
  });
  const head = makeDense(`bench_${backend}/head`, { inDim: 64, outDim: 16, gain: 0.01, rng });
  const vars = [...mlpVars(base), head.W, head.b];
  const opt = new Adam(vars, { lr: 5e-4, eps: 1e-5, maxGradNorm: 10 });
  const fwd: number[] = [], trn: number[] = [];
  for (const B of BATCHES) {
    const x = tf.randomNormal([B, 64]) as tf.Tensor2D;
    const onehot = tf.oneHot(tf.randomUniform([B], 0, 16, "int32") as tf.Tensor1D, 16)
      .toFloat() as tf.Tensor2D;
    const adv = tf.randomNormal([B]);
    const reps = backend === "webgpu" ? 3 : Math.max(5, Math.min(200, Math.floor(20_000 / B)));
    fwd.push(
      await timeMs(async () => {
        const y = tf.tidy(() => dense(mlpBase(x, base), head));
        await y.data();
        y.dispose();
      }, reps),
    );
    trn.push(
      await timeMs(async () => {
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
      }, reps),
    );
    tf.dispose([x, onehot, adv]);
  }
  opt.dispose();
  tf.dispose(vars);
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
    "| batch | wasm fwd | cpu fwd | webgpu fwd | torch fwd | wasm train | cpu train | webgpu train | torch train | cpu/wasm train | torch/wasm train |",
  );
  console.log("|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|");
  const f = (x: number | undefined) => (x === undefined ? "-" : x.toFixed(3));
  BATCHES.forEach((B, k) => {
    const cells = [
      B,
      f(wasm.fwd[k]),
      f(cpu.fwd[k]),
      f(gpu?.fwd[k]),
      f(t?.fwd[k]),
      f(wasm.train[k]),
      f(cpu.train[k]),
      f(gpu?.train[k]),
      f(t?.train[k]),
      (cpu.train[k]! / wasm.train[k]!).toFixed(1),
      t ? (t.train[k]! / wasm.train[k]!).toFixed(2) : "-",
    ];
    console.log(`| ${cells.join(" | ")} |`);
  });
  console.log(
    "\nOn a machine with a hardware GPU, `deno task bench` names that adapter here and the webgpu columns show whether it is the fastest at batch 4096; `deno task train --backend auto` then picks webgpu.",
  );
}
