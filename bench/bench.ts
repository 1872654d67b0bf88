/**
 * `deno task bench`: speed figures measured side by side in one run (never a test).
 *
 * 1. End to end: env-steps/s and seconds per update for each algorithm on matrix/climbing
 *    with the reference configuration (50 envs x 200 steps, 15 epochs, 1 minibatch).
 * 2. The policy network (LayerNorm'd 64-wide ReLU MLP, 64 inputs, 16 actions): forward and
 *    forward+backward+Adam at batch 1, 32, 1024, 4096 on tfjs wasm and cpu, next to PyTorch
 *    (Debian python3-torch, 1 thread) on the same CPU when it is installed.
 *
 * 3. The subprocess bridge: steps/s of a trivial Python env at E = 1, 8, 64 envs and W = 1, 2
 *    children, next to the raw round-trip rate of the same payload over the same kind of pipe.
 *
 * 4. Native battles: env steps/s and agent-steps/s of `smax/*` at E = 1, 64, 1024, one core.
 *
 * 5. MA-MuJoCo: HalfCheetah-2x3 env steps/s at E = 1, 16, 128 and the physics of the same
 *    models in wasm next to Debian's native libmujoco (C driver built here).
 *
 * Flags: `--quick` (fewer iterations), `--algos mappo,ippo`,
 * `--only networks,bridge,smax,mamujoco,e2e`.
 *
 * @module
 */
import { parseArgs } from "node:util";
import { dirname, fromFileUrl } from "./_path.ts";
import {
  defaultAlgoRegistry,
  defaultEnvRegistry,
  initBackend,
  Rng,
  tf,
  train,
  trainConfig,
} from "../mod.ts";
import { dense, makeDense, makeMlpBase, mlpBase, mlpVars } from "../core/nets.ts";
import { Adam } from "../core/adam.ts";
import { categoricalLogp } from "../core/distributions.ts";

const { values } = parseArgs({
  args: Deno.args,
  options: { quick: { type: "boolean" }, algos: { type: "string" }, only: { type: "string" } },
});
const quick = Boolean(values.quick);
const BATCHES = [1, 32, 1024, 4096];

async function endToEnd(): Promise<void> {
  await initBackend("wasm");
  const algos = defaultAlgoRegistry();
  const names = values.algos ? values.algos.split(",") : algos.list().map((a) => a.name);
  const iters = quick ? 2 : 4;
  const rows = new Map<string, number>();
  console.log(
    `\n## End to end: matrix/climbing, 50 envs x 200 steps, 15 epochs, 1 minibatch (${iters} iterations, first dropped)`,
  );
  console.log(
    "| algo | env-steps/s | rollout s/iter | update s/iter | iteration s | sequential per-agent updates (share of iteration) | feedback s |",
  );
  console.log("|---|---:|---:|---:|---:|---:|---:|");
  for (const algo of names) {
    const recs: Record<string, number | null>[] = [];
    const out = await Deno.makeTempDir({ prefix: "baton_bench_" });
    await train(
      trainConfig.parse({
        env: "matrix/climbing",
        algo,
        numEnvs: 50,
        rolloutLength: 200,
        totalSteps: 10_000 * iters,
        evalEvery: 0,
        evalEpisodes: 10,
        quiet: true,
        out,
      }),
      {
        envs: defaultEnvRegistry(),
        algos,
        hooks: [{ onIteration: (r) => void recs.push(r) }],
      },
    );
    await Deno.remove(out, { recursive: true });
    const rs = recs.slice(1);
    rows.set(
      algo,
      10_000 / (rs.reduce((s, r) => s + (r.rollout_s ?? 0) + (r.update_s ?? 0), 0) / rs.length),
    );
    const avg = (k: string) => rs.reduce((s, r) => s + (r[k] ?? 0), 0) / rs.length;
    const it = avg("rollout_s") + avg("update_s");
    const seq = rs[0]!["time/sequential_s"] !== undefined
      ? `${avg("time/sequential_s").toFixed(2)} s (${
        (100 * avg("time/sequential_s") / it).toFixed(0)
      }%)`
      : "-";
    const fb = rs[0]!["time/feedback_s"] !== undefined ? avg("time/feedback_s").toFixed(3) : "-";
    console.log(
      `| ${algo} | ${Math.round(10_000 / it)} | ${avg("rollout_s").toFixed(3)} | ${
        avg("update_s").toFixed(3)
      } | ${it.toFixed(2)} | ${seq} | ${fb} |`,
    );
  }
  const bppo = rows.get("bppo");
  if (bppo) {
    console.log(
      `\nBPPO vs the authors' PyTorch BPPO (same matrix settings, ~310 env-steps/s measured on this machine type, spec §4b): ${
        (bppo / 310).toFixed(1)
      }x faster per iteration.`,
    );
  }
  console.log(
    "For context: the BPTA authors' PyTorch BPPO with the same matrix settings made ~310 env-steps/s (~32 s per 10,000-step iteration) on this kind of machine (spec §4b).",
  );
}

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

async function networks(): Promise<void> {
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

/** A child that answers each length-prefixed request with `replyBytes` zero bytes (echo.py). */
class RawPipe {
  readonly #child: Deno.ChildProcess;
  readonly #w: WritableStreamDefaultWriter<Uint8Array>;
  readonly #r: ReadableStreamDefaultReader<Uint8Array>;
  readonly #req: Uint8Array;

  constructor(reqBytes: number, readonly replyBytes: number) {
    this.#child = new Deno.Command("/usr/bin/python3", {
      args: ["-u", fromFileUrl(new URL("./echo.py", import.meta.url)), String(replyBytes)],
      stdin: "piped",
      stdout: "piped",
    }).spawn();
    this.#w = this.#child.stdin.getWriter();
    this.#r = this.#child.stdout.getReader();
    this.#req = new Uint8Array(4 + reqBytes);
    new DataView(this.#req.buffer).setUint32(0, reqBytes, true);
  }

  /** @returns round trips done in about `ms` milliseconds */
  async run(ms: number): Promise<number> {
    let n = 0;
    const t0 = performance.now();
    while (performance.now() - t0 < ms) {
      await this.#w.write(this.#req);
      let pending = 4 + this.replyBytes;
      while (pending > 0) pending -= (await this.#r.read()).value!.length;
      n++;
    }
    return n;
  }

  async close(): Promise<void> {
    await this.#w.close();
    await this.#r.cancel();
    await this.#child.status;
  }
}

async function bridges(): Promise<void> {
  const { BridgeVecEnv } = await import("../envs/bridge/client.ts");
  const { encodeFrame } = await import("../envs/bridge/protocol.ts");
  const stubs = fromFileUrl(new URL("../tests/bridge_stubs", import.meta.url));
  const here = fromFileUrl(new URL(".", import.meta.url));
  // bridge and raw pipe are timed in alternating windows, so a shared, noisy machine slows both
  const rounds = quick ? 2 : 6, windowMs = quick ? 250 : 300;
  console.log(
    "\n## Bridge: trivial Python env (3 agents, 4 actions) through the subprocess bridge",
  );
  console.log(
    "| env | E | W | bridge steps/s | env-steps/s | raw round trips/s (same payload, 1 pipe) | bridge / raw |",
  );
  console.log("|---|---:|---:|---:|---:|---:|---:|");
  const kinds = [
    ["trivial, batched (bridge/vector)", "vector", { factory: "trivial_vec:make", kwargs: {} }],
    ["coop task, batched (bridge/vector)", "vector", { factory: "vec_coop:make", kwargs: {} }],
    ["coop task, per env (PettingZoo)", "pettingzoo", {
      factory: "pz_coop:make_env",
      kwargs: {},
      episodeLimit: 1000,
    }],
  ] as const;
  for (const [label, adapter, options] of kinds) {
    for (const E of [1, 8, 64]) {
      let raw: RawPipe | null = null;
      for (const W of [1, 2]) {
        const env = await BridgeVecEnv.start({
          python: "/usr/bin/python3",
          adapter,
          options,
          env: { PYTHONPATH: `${stubs}:${here}` },
        }, { numEnvs: E, workers: W });
        const s0 = await env.reset(0);
        const actions = new Int32Array(E * 3);
        if (!raw) {
          const reqBytes = encodeFrame({ t: "step" }, { actions }).length - 4;
          const replyBytes = encodeFrame({ t: "obs" }, {
            obs: s0.obs,
            state: s0.state,
            reward: s0.reward,
            done: s0.done,
            truncated: s0.truncated,
            avail: s0.availActions!,
            ep_return: s0.reward,
            ep_length: new Int32Array(E),
            ep_won: new Int8Array(E),
          }).length - 4;
          raw = new RawPipe(reqBytes, replyBytes);
          await raw.run(100); // warm up
        }
        for (let i = 0; i < 50; i++) await env.step(actions); // warm up
        let steps = 0, stepMs = 0, trips = 0, tripMs = 0;
        for (let round = 0; round < rounds; round++) {
          const t0 = performance.now();
          while (performance.now() - t0 < windowMs) {
            await env.step(actions);
            steps++;
          }
          const t1 = performance.now();
          trips += await raw.run(windowMs);
          stepMs += t1 - t0;
          tripMs += performance.now() - t1;
        }
        const rate = steps / (stepMs / 1000), rawRate = trips / (tripMs / 1000);
        await env.close();
        console.log(
          `| ${label} | ${E} | ${W} | ${Math.round(rate)} | ${Math.round(rate * E)} | ${
            Math.round(rawRate)
          } | ${(rate / rawRate).toFixed(2)} |`,
        );
      }
      await raw!.close();
    }
  }
  console.log(
    `(Bridge and raw pipe alternate in ${rounds} windows of ${windowMs} ms each, so load on a shared machine hits both. The bridge rows include the Python env's own work for E envs per step: none for the trivial env (the target: bridge / raw >= 0.7 at E = 64), numpy work for the batched coop task, a Python loop over E PettingZoo envs for the per-env adapter; the raw row moves the same bytes and does nothing else.)`,
  );
}

/**
 * Native battles: env steps/s of `smax/*` at E = 1, 64, 1024 on one core (this process),
 * with a cheap scripted policy (attack the first available target, else walk east) whose
 * time is not counted. Agent-steps/s = env-steps/s x agents.
 */
async function smax(): Promise<void> {
  const { SmaxVecEnv } = await import("../envs/smax/smax.ts");
  const { SmaxReferenceEnv } = await import("../envs/smax/reference.ts");
  const { layoutOf } = await import("../envs/smax/layout.ts");
  const { SCENARIOS } = await import("../envs/smax/units.ts");
  const { fromScalarEnv } = await import("../core/vec_env.ts");
  const seconds = quick ? 0.5 : 2;
  console.log("\n## Native battles (smax), one core, env.step only");
  console.log("| scenario | E | env steps/s | agent-steps/s | us per env step |");
  console.log("|---|---:|---:|---:|---:|");
  const cases: [string, number, boolean][] = [];
  for (const scenario of ["protoss_5_vs_5", "protoss_20_vs_20", "3m"]) {
    for (const E of [1, 64, 1024]) cases.push([scenario, E, false]);
  }
  cases.push(["protoss_5_vs_5", 64, true], ["protoss_20_vs_20", 64, true]);
  for (const [scenario, E, reference] of cases) {
    {
      const env = reference
        ? fromScalarEnv(
          new SmaxVecEnv(scenario, 1).spec,
          E,
          () => new SmaxReferenceEnv(layoutOf(SCENARIOS[scenario]!)),
        )
        : new SmaxVecEnv(scenario, E);
      const A = layoutOf(SCENARIOS[scenario]!).nActions;
      const n = env.spec.numAgents;
      let s = await env.reset(0);
      const acts = new Int32Array(E * n);
      let envTime = 0, steps = 0;
      const t0 = performance.now();
      while (performance.now() - t0 < seconds * 1000) {
        const av = s.availActions!;
        for (let i = 0; i < E * n; i++) {
          let a = av[i * A] ? 0 : av[i * A + 4] ? 4 : 1;
          for (let k = 6; k < A; k++) {
            if (av[i * A + k]) {
              a = k;
              break;
            }
          }
          acts[i] = a;
        }
        const t1 = performance.now();
        s = await env.step(acts);
        envTime += performance.now() - t1;
        steps++;
      }
      const rate = (steps * E) / (envTime / 1000);
      console.log(
        `| ${scenario}${reference ? " (scalar reference, objects)" : ""} | ${E} | ${
          Math.round(rate).toLocaleString("en-US")
        } | ${Math.round(rate * n).toLocaleString("en-US")} | ${(1e6 / rate).toFixed(1)} |`,
      );
    }
  }
  console.log(
    "Target (issue #5): >= 200,000 agent-steps/s for protoss_5_vs_5 at E = 1024 on one core.",
  );
}

const MUJOCO_DRIVER = `#include <mujoco/mujoco.h>
#include <stdio.h>
#include <stdlib.h>
#include <math.h>
#include <time.h>
/* argv: model.xml steps frame_skip. Prints physics steps per second (sin controls). */
int main(int argc, char** argv) {
  char err[1000];
  mjModel* m = mj_loadXML(argv[1], 0, err, 1000);
  if (!m) { fprintf(stderr, "%s\\n", err); return 1; }
  mjData* d = mj_makeData(m);
  long n = atol(argv[2]); int skip = atoi(argv[3]);
  struct timespec t0, t1; double acc = 0;
  clock_gettime(CLOCK_MONOTONIC, &t0);
  for (long i = 0; i < n; i++) {
    for (int u = 0; u < m->nu; u++) d->ctrl[u] = sin(0.01 * i + u);
    for (int k = 0; k < skip; k++) mj_step(m, d);
    acc += d->qpos[0] + d->qvel[0];
    if (i % 1000 == 999) mj_resetData(m, d);
  }
  clock_gettime(CLOCK_MONOTONIC, &t1);
  double s = (t1.tv_sec - t0.tv_sec) + 1e-9 * (t1.tv_nsec - t0.tv_nsec);
  printf("%f %f %s\\n", n * skip / s, acc, mj_version() ? "ok" : "");
  return 0;
}
`;

/**
 * MA-MuJoCo: HalfCheetah-2x3 env steps/s at E = 1, 16, 128 (mujoco-js wasm, this process),
 * and the physics alone (mj_step with controls written, same model) in wasm next to Debian's
 * native libmujoco (a C driver compiled here with gcc; `apt-get install libmujoco-dev`).
 */
async function mamujoco(): Promise<void> {
  const { loadMujoco, compileModel, MamujocoVecEnv } = await import(
    "../envs/mamujoco/mamujoco.ts"
  );
  const { ROBOTS } = await import("../envs/mamujoco/robots.ts");
  const mj = await loadMujoco();
  const seconds = quick ? 0.5 : 2;
  console.log("\n## MA-MuJoCo (mujoco-js 3.3.8 wasm vs native libmujoco), one core");
  console.log("| robot | physics steps/s wasm | native (Debian libmujoco) | wasm / native |");
  console.log("|---|---:|---:|---:|");
  const dir = await Deno.makeTempDir({ prefix: "baton_mj_bench_" });
  let driver: string | null = null;
  try {
    await Deno.writeTextFile(`${dir}/step.c`, MUJOCO_DRIVER);
    const cc = await new Deno.Command("gcc", {
      args: ["-O2", `${dir}/step.c`, "-o", `${dir}/step`, "-lmujoco", "-lm"],
      stderr: "piped",
    }).output();
    if (cc.code === 0) driver = `${dir}/step`;
    else {console.log(
        `(native driver not built: ${
          new TextDecoder().decode(cc.stderr).split("\n")[0]
        }; apt-get install libmujoco-dev gcc)`,
      );}
  } catch (err) {
    console.log(`(native driver not built: ${(err as Error).message})`);
  }
  let nativeCheetah = NaN;
  for (const name of ["HalfCheetah", "Hopper", "Ant"]) {
    const r = ROBOTS[name]!;
    const m = compileModel(mj, r.xml, name), d = new mj.MjData(m);
    const nu = m.nu as number;
    let steps = 0, acc = 0;
    const ctrl = d.ctrl as Float64Array, qpos = d.qpos as Float64Array; // views, fetched once
    const t0 = performance.now();
    while (performance.now() - t0 < seconds * 1000) {
      for (let i = 0; i < 100; i++, steps++) {
        for (let u = 0; u < nu; u++) ctrl[u] = Math.sin(0.01 * steps + u);
        for (let k = 0; k < r.frameSkip; k++) mj.mj_step(m, d);
        acc += qpos[0]!;
        if (steps % 1000 === 999) mj.mj_resetData(m, d);
      }
    }
    const wasm = (steps * r.frameSkip) / ((performance.now() - t0) / 1000);
    d.delete();
    m.delete();
    let native = NaN;
    if (driver) {
      await Deno.writeTextFile(`${dir}/${name}.xml`, r.xml);
      const n = Math.max(1000, Math.round((wasm / r.frameSkip) * seconds * 2));
      const out = await new Deno.Command(driver, {
        args: [`${dir}/${name}.xml`, String(n), String(r.frameSkip)],
        stdout: "piped",
        stderr: "piped",
      }).output();
      if (out.code === 0) native = Number(new TextDecoder().decode(out.stdout).split(" ")[0]);
      else console.log(`(native ${name}: ${new TextDecoder().decode(out.stderr).trim()})`);
    }
    if (name === "HalfCheetah") nativeCheetah = native;
    console.log(
      `| ${name} | ${Math.round(wasm).toLocaleString("en-US")} | ${
        Number.isFinite(native) ? Math.round(native).toLocaleString("en-US") : "-"
      } | ${Number.isFinite(native) ? (wasm / native).toFixed(2) : "-"} |`,
    );
    if (!Number.isFinite(acc)) console.log("(wasm state diverged)");
  }
  console.log(
    "\n| env | E | env steps/s | physics steps/s inside env.step (x5) | / native physics |",
  );
  console.log("|---|---:|---:|---:|---:|");
  for (const E of [1, 16, 128]) {
    const env = new MamujocoVecEnv(mj, "HalfCheetah", "2x3", E, {
      obsk: 1,
      episodeLimit: 1000,
      obs: "local",
    });
    await env.reset(0);
    const a = new Float32Array(E * 6);
    let steps = 0, envMs = 0;
    const t0 = performance.now();
    while (performance.now() - t0 < seconds * 1000) {
      for (let i = 0; i < a.length; i++) a[i] = Math.sin(0.1 * steps + i);
      const t1 = performance.now();
      await env.step(a);
      envMs += performance.now() - t1;
      steps++;
    }
    const rate = (steps * E) / (envMs / 1000);
    await env.close();
    console.log(
      `| mamujoco/HalfCheetah-2x3 | ${E} | ${Math.round(rate).toLocaleString("en-US")} | ${
        Math.round(rate * 5).toLocaleString("en-US")
      } | ${Number.isFinite(nativeCheetah) ? ((rate * 5) / nativeCheetah).toFixed(2) : "-"} |`,
    );
  }
  console.log(
    "Target (issue #6): the wasm env within 2x of native physics speed (last column >= 0.5).",
  );
  await Deno.remove(dir, { recursive: true });
}

const only = values.only?.split(",");
if (!only || only.includes("networks")) await networks();
if (!only || only.includes("bridge")) await bridges();
if (!only || only.includes("smax")) await smax();
if (!only || only.includes("mamujoco")) await mamujoco();
if (!only || only.includes("e2e")) await endToEnd();
