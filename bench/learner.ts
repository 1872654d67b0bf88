/**
 * The learner, side by side with PyTorch: one BPPO iteration's learner work (acting for a
 * rollout of T x E steps, then the update) in Baton and in a PyTorch implementation of the same
 * networks, batch, epochs and update (bench/torch_bppo.py, Debian python3-torch, its default
 * thread count), on random inputs of the same shapes, in alternating windows of one run.
 * Env stepping is not timed on either side (the matrix env is free; smax steps at >1M agent-steps/s).
 *
 * Also: the achieved GFLOP/s of Baton's update (matmul FLOPs of forward and backward, counted
 * from the layer sizes) next to the backend's own large-matmul GFLOP/s measured in the same run.
 *
 * @module
 */
import { dirname, fromFileUrl } from "./_path.ts";
import { initBackend, Rng, type Rollout, tf } from "../mod.ts";
import type { EnvSpec } from "../core/vec_env.ts";
import { discrete } from "../core/spaces.ts";
import { Bppo, bppoOptions } from "../algos/bppo.ts";
import type { BenchOptions } from "./_opts.ts";
import { Kernels } from "../core/fused/kernels.ts";
import { fusedPeak as fusedGflops } from "./fused.ts";

interface Shape {
  readonly label: string;
  readonly n: number;
  readonly A: number;
  readonly obsDim: number;
  readonly stateDim: number;
  readonly E: number;
  readonly T: number;
  readonly layers: number;
  readonly epochs: number;
}

const SHAPES: Shape[] = [
  {
    label: "matrix reference (2 agents, 3 actions, 50 x 200, 15 epochs, 1 layer)",
    n: 2,
    A: 3,
    obsDim: 2,
    stateDim: 2,
    E: 50,
    T: 200,
    layers: 1,
    epochs: 15,
  },
  {
    label:
      "smax/protoss_5_vs_5 shape (5 agents, 11 actions, obs 92, state 130, 16 x 200, 10 epochs, 2 layers)",
    n: 5,
    A: 11,
    obsDim: 92,
    stateDim: 130,
    E: 16,
    T: 200,
    layers: 2,
    epochs: 10,
  },
];

const HIDDEN = 64;

/** The Baton rows of each shape: tfjs and fused kernels, each at every thread count. */
const KERNEL_ROWS = (threads: number[]) =>
  (["tfjs", "fused"] as const).flatMap((k) => threads.map((t) => [k, t] as const));

function randomRollout(s: Shape, rng: Rng): Rollout {
  const { n, A, T, E } = s, N = T * E;
  const actionVecs = new Float32Array(N * n * A);
  const actions = new Int32Array(N * n);
  for (let q = 0; q < N * n; q++) {
    actions[q] = rng.int(A);
    actionVecs[q * A + actions[q]!] = 1;
  }
  const f = (len: number, g: () => number) => Float32Array.from({ length: len }, g);
  return {
    T,
    E,
    n,
    obs: f(N * n * s.obsDim, () => rng.normal()),
    state: f(N * s.stateDim, () => rng.normal()),
    avail: null,
    actions,
    actionVecs,
    logp: new Float32Array(N * n).fill(-Math.log(A)),
    values: f(N * n, () => rng.normal()),
    rewards: new Float32Array(N),
    dones: new Uint8Array(N),
    advantages: f(N * n, () => rng.normal()),
    returns: f(N * n, () => rng.normal()),
    noise: f(N * n * A, () => rng.gumbel()),
  };
}

/** Matmul FLOPs (2 per multiply-add) of one BPPO update of this shape, forward and backward. */
export function updateFlops(s: Shape): number {
  const N = s.T * s.E, h = HIDDEN;
  const mlp = (inp: number) => inp * h + (s.layers - 1) * h * h;
  const actorFwd = 2 * N * (mlp(s.obsDim) + mlp(s.n * s.A + s.n) + h * s.A);
  const criticFwd = 2 * N * (mlp(s.stateDim) + h);
  // per agent: epochs of forward+backward (3x forward), log-probs before and after (2 forwards);
  // agents with successors' feedback also run 2 diagnostic forward+backward passes; agents with
  // predecessors one forward+backward for the feedback.
  let actors = 0;
  for (let k = 0; k < s.n; k++) {
    actors += (s.epochs * 3 + 2) * actorFwd;
    if (k < s.n - 1) actors += 2 * 3 * actorFwd;
    if (k > 0) actors += 3 * actorFwd;
  }
  return actors + s.n * s.epochs * 3 * criticFwd;
}

function matmulGflops(): number {
  const a = tf.randomNormal([1024, 1024]) as tf.Tensor2D;
  const b = tf.randomNormal([1024, 1024]) as tf.Tensor2D;
  for (let i = 0; i < 2; i++) tf.matMul(a, b).dataSync();
  const reps = 10, t0 = performance.now();
  for (let i = 0; i < reps; i++) {
    const c = tf.matMul(a, b);
    c.dataSync();
    c.dispose();
  }
  const s = (performance.now() - t0) / 1000 / reps;
  tf.dispose([a, b]);
  return 2 * 1024 ** 3 / s / 1e9;
}

/** A persistent PyTorch child that runs one phase per request. */
class Torch {
  readonly #child: Deno.ChildProcess;
  readonly #w: WritableStreamDefaultWriter<Uint8Array>;
  readonly #lines: AsyncIterator<string>;
  constructor(s: Shape) {
    const script = fromFileUrl(new URL("./torch_bppo.py", import.meta.url));
    this.#child = new Deno.Command("/usr/bin/python3", {
      args: [
        script,
        JSON.stringify({ ...s, N: s.T * s.E, hidden: HIDDEN }),
      ],
      stdin: "piped",
      stdout: "piped",
      stderr: "piped",
      cwd: dirname(script),
    }).spawn();
    this.#w = this.#child.stdin.getWriter();
    this.#lines = this.#child.stdout.pipeThrough(new TextDecoderStream()).pipeThrough(
      new TransformStream<string, string>(
        {
          buf: "",
          transform(chunk, c) {
            const parts = ((this as any).buf + chunk).split("\n");
            (this as any).buf = parts.pop();
            for (const p of parts) if (p.trim()) c.enqueue(p);
          },
        } as Transformer<string, string> & { buf: string },
      ),
    )[Symbol.asyncIterator]();
  }
  async line(): Promise<Record<string, unknown>> {
    const r = await this.#lines.next();
    if (r.done) {
      const err = await new Response(this.#child.stderr).text();
      throw new Error(err.trim().split("\n").pop() ?? "PyTorch child ended");
    }
    return JSON.parse(r.value);
  }
  async run(what: "act" | "update"): Promise<number> {
    await this.#w.write(new TextEncoder().encode(what + "\n"));
    return (await this.line()).seconds as number;
  }
  async close(): Promise<void> {
    await this.#w.close().catch(() => {});
    await this.#child.status;
    await this.#child.stderr.cancel().catch(() => {});
  }
}

async function torchAvailable(): Promise<string | null> {
  try {
    const out = await new Deno.Command("/usr/bin/python3", {
      args: ["-c", "import torch"],
      stderr: "null",
      stdout: "null",
    }).output();
    return out.code === 0 ? null : "python3-torch is not installed (apt-get install python3-torch)";
  } catch {
    return "no /usr/bin/python3 (apt-get install python3 python3-torch)";
  }
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

/**
 * Runs this benchmark and prints its table.
 * @param o shared bench flags
 */
export async function run(o: BenchOptions): Promise<void> {
  await initBackend("wasm");
  const threadsList = [1, Math.max(2, navigator.hardwareConcurrency || 2)];
  const gflopsPeak = matmulGflops();
  const fusedPeak = fusedGflops(new Kernels());
  const noTorch = await torchAvailable();
  const windows = o.quick ? 2 : 4;
  console.log(
    `\n## Learner: one BPPO iteration (acting T x E, then the update), Baton vs PyTorch, alternating windows (${windows} each, median)`,
  );
  console.log(
    `backend wasm; its own 1024^3 matmul: ${
      gflopsPeak.toFixed(1)
    } GFLOP/s (one thread); the fused kernels' matmul: ${
      fusedPeak.toFixed(1)
    } GFLOP/s (one thread; the share column of a row divides by its own kernels' peak)`,
  );
  if (noTorch) console.log(`PyTorch side skipped: ${noTorch}`);
  console.log(
    "| shape | Baton kernels | Baton threads | Baton act s | Baton update s | PyTorch act s | PyTorch update s | Baton env-steps/s | PyTorch env-steps/s | PyTorch/Baton time | update GFLOP/s (wall) | update GFLOP/s per busy thread | share of matmul peak |",
  );
  console.log("|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|");
  for (const s of SHAPES) {
    const torch = noTorch ? null : new Torch(s);
    let torchInfo = "";
    if (torch) {
      const hello = await torch.line();
      torchInfo = `torch ${hello.torch}, ${hello.threads} threads`;
    }
    try {
      for (const [kernels, threads] of KERNEL_ROWS(threadsList)) {
        const spec: EnvSpec = {
          numAgents: s.n,
          obsDim: s.obsDim,
          stateDim: s.stateDim,
          actionSpace: discrete(s.A),
          episodeLimit: s.T,
        } as EnvSpec;
        const rng = new Rng(0);
        const algo = new Bppo(spec, {
          options: bppoOptions.parse({ layers: s.layers, epochs: s.epochs, hidden: HIDDEN }),
          rng,
          threads,
          kernels,
        });
        const r = randomRollout(s, rng);
        const obs = r.obs.subarray(0, s.E * s.n * s.obsDim);
        const state = r.state.subarray(0, s.E * s.stateDim);
        const act = async () => {
          const t0 = performance.now();
          algo.beginIteration(rng);
          for (let t = 0; t < s.T; t++) {
            await algo.act({ obs, state, avail: null, E: s.E }, { rng, greedy: false });
          }
          return (performance.now() - t0) / 1000;
        };
        const upd = async () => {
          const t0 = performance.now();
          const m = await algo.update(r, { rng, progress: 0 });
          return [(performance.now() - t0) / 1000, m] as const;
        };
        await act(); // warm-up: workers, kernels
        await upd();
        if (torch) {
          await torch.run("act");
          await torch.run("update");
        }
        const bA: number[] = [], bU: number[] = [], tA: number[] = [], tU: number[] = [];
        let busy = 0;
        for (let w = 0; w < windows; w++) {
          bA.push(await act());
          const [u, m] = await upd();
          bU.push(u);
          busy += (m["time/sequential_s"] ?? 0) + (m["time/critic_s"] ?? 0);
          if (torch) {
            tA.push(await torch.run("act"));
            tU.push(await torch.run("update"));
          }
        }
        algo.dispose();
        const N = s.T * s.E, flops = updateFlops(s);
        const ba = median(bA), bu = median(bU);
        const ta = tA.length ? median(tA) : NaN, tu = tU.length ? median(tU) : NaN;
        const f = (x: number, d = 2) => Number.isFinite(x) ? x.toFixed(d) : "-";
        const wall = flops / bu / 1e9, perThread = flops / (busy / windows) / 1e9;
        console.log(
          `| ${s.label} | ${kernels} | ${threads} | ${f(ba)} | ${f(bu)} | ${f(ta)} | ${f(tu)} | ${
            Math.round(N / (ba + bu))
          } | ${Number.isFinite(ta) ? Math.round(N / (ta + tu)) : "-"} | ${
            f((ta + tu) / (ba + bu))
          } | ${f(wall, 1)} | ${f(perThread, 1)} | ${
            f(100 * perThread / (kernels === "fused" ? fusedPeak : gflopsPeak), 0)
          }% |`,
        );
      }
    } finally {
      await torch?.close();
    }
    if (torchInfo) console.log(`(${s.label.split(" (")[0]}: ${torchInfo})`);
  }
  console.log(
    "\nBaton kernels = `--kernels`: tfjs (autodiff on tfjs-wasm) or fused (core/fused: acting and the actor and critic updates as SIMD WebAssembly kernels). Baton threads = learner threads (`--threads`): 1 runs everything on one thread; more put the critics' epochs on Workers beside the actor chain (algos/ppo/critic_pool.ts). GFLOP/s per busy thread divides the update's matmul FLOPs by the actor-chain seconds plus the critic seconds.",
  );
}
