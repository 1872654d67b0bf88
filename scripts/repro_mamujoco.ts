/**
 * `deno task repro:mamujoco`: BPPO, HAPPO and MAPPO on native `mamujoco/HalfCheetah-2x3`
 * (MuJoCo 3.3.8 wasm) over several seeds, each run a `train.ts` subprocess, `--workers` at a
 * time. Writes `reports/mamujoco.md`, `reports/mamujoco.csv` and an SVG of greedy-evaluation
 * return, next to a uniformly random policy's return measured in the same script.
 *
 * Flags: `--steps N` (1,000,000), `--seeds N` (3), `--workers N` (2), `--algos bppo,happo,mappo`,
 * `--env mamujoco/HalfCheetah-2x3`, `--num-envs N` (40), `--rollout-length N` (100, as the BPTA
 * MuJoCo scripts), `--extend N` with `--extend-algos bppo,...` (after the main budget, resume
 * those algorithms' runs from their checkpoints up to N env steps; the report then shows the
 * return at the main budget and at N), `--quick` (1 seed, 20,000 steps: a smoke test),
 * `--report-only` (rebuild from `runs/repro-mamujoco/`).
 *
 * PPO settings for all runs: 2 x 64 hidden layers, 5 epochs, 1 minibatch, lr 5e-4, clip 0.2,
 * no entropy bonus, Gaussian policy (initial log std -0.5); MA-MuJoCo's local observations
 * (obsk 1) and the global state for the critic.
 *
 * @module
 */
import { appendAll, maxOf } from "../core/arrays.ts";
import { z } from "../core/deps.ts";
import { parseFlags } from "./_sweep.ts";
import { join } from "node:path";
import { lineChart, type Series } from "./_plot.ts";
import { defaultEnvRegistry } from "../envs/mod.ts";
import { bandSeries, pool, stat, trainRun } from "./_repro.ts";

const values = parseFlags(
  z.strictObject({
    quick: z.boolean().default(false).describe("1 seed x 20,000 steps"),
    seeds: z.int().min(1).optional().describe("seeds 0..N-1 (default 3, quick 1)"),
    steps: z.int().positive().optional().describe("env steps per run (default 1e6, quick 20,000)"),
    workers: z.int().min(1).default(2).describe("runs at a time"),
    algos: z.string().default("bppo,happo,mappo").describe("algorithms"),
    env: z.string().default("mamujoco/HalfCheetah-2x3").describe("the mamujoco env"),
    numEnvs: z.int().positive().default(40).describe("parallel envs"),
    rolloutLength: z.int().positive().default(100).describe("steps per iteration"),
    out: z.string().default("reports").describe("report directory"),
    reportOnly: z.boolean().default(false).describe("rebuild the report from runs on disk"),
    extend: z.int().positive().optional().describe("resume the runs to this longer budget"),
    extendAlgos: z.string().optional().describe("algorithms to extend (default: all)"),
  }),
  {
    task: "repro:mamujoco",
    summary: "BPPO, HAPPO and MAPPO on native MA-MuJoCo; writes reports/mamujoco.md",
  },
);
const quick = values.quick;
const reportOnly = values.reportOnly;
const seeds = values.seeds ?? (quick ? 1 : 3);
const steps = values.steps ?? (quick ? 20_000 : 1_000_000);
const workers = values.workers;
const numEnvs = values.numEnvs;
const rolloutLength = values.rolloutLength;
const algos = values.algos.split(",");
const extendTo = values.extend ?? 0;
const extendAlgos = (values.extendAlgos ?? algos.join(",")).split(",");
if (extendTo && !(extendTo > steps)) {
  throw new Error(`--extend ${values.extend} must exceed the main budget of ${steps} env steps`);
}
const envId = values.env;
const outDir = values.out;
const ALGO_OPTS = ["layers=2", "epochs=5", "entropyCoef=0"];
const EVAL_EPISODES = 4;

interface Job {
  algo: string;
  seed: number;
  dir: string;
}
interface Result {
  job: Job;
  finalReturn: number;
  bestReturn: number;
  envSteps: number;
  wall: number;
  curve: { steps: number; ret: number }[];
}

async function runJob(job: Job): Promise<Result> {
  if (!reportOnly) {
    await Deno.remove(job.dir, { recursive: true }).catch(() => {});
    const evalEvery = Math.max(1, Math.round(steps / (numEnvs * rolloutLength) / 25));
    await trainRun([
      ...["--env", envId, "--algo", job.algo, "--seed", String(job.seed)],
      ...ALGO_OPTS.flatMap((o) => ["--algo-opt", o]),
      ...["--total-steps", String(steps), "--num-envs", String(numEnvs)],
      ...["--rollout-length", String(rolloutLength), "--eval-every", String(evalEvery)],
      ...["--eval-episodes", String(EVAL_EPISODES), "--out", job.dir],
    ], job.dir);
    if (extendTo && extendAlgos.includes(job.algo)) {
      await trainRun(["--resume", job.dir, "--total-steps", String(extendTo)], job.dir);
    }
  }
  const summary = JSON.parse(await Deno.readTextFile(join(job.dir, "summary.json")));
  const curve = (await Deno.readTextFile(join(job.dir, "metrics.jsonl"))).trim().split("\n")
    .map((l) => JSON.parse(l))
    .filter((r) => r.eval_return !== null)
    .map((r) => ({ steps: r.env_steps as number, ret: r.eval_return as number }));
  return {
    job,
    finalReturn: summary.final_eval_return,
    bestReturn: maxOf(curve.map((c) => c.ret)),
    envSteps: summary.env_steps,
    wall: summary.wall_s,
    curve,
  };
}

/** Mean return of uniformly random actions over `episodes` full episodes. */
async function randomReturn(episodes: number): Promise<number> {
  const env = await defaultEnvRegistry().make(envId, { numEnvs: episodes });
  const D = (env.spec.actionSpace as { dim: number }).dim, n = env.spec.numAgents;
  await env.reset(7);
  let seed = 1;
  const rand = () => ((seed = (seed * 16807) % 2147483647) / 2147483647) * 2 - 1;
  const a = new Float32Array(episodes * n * D);
  const rets: number[] = [];
  while (rets.length < episodes) {
    for (let i = 0; i < a.length; i++) a[i] = rand();
    appendAll(rets, (await env.step(a)).episodes.returns);
  }
  await env.close();
  return stat(rets.slice(0, episodes)).m;
}

const tag = envId.replace(/^mamujoco\//, "");
const jobs: Job[] = algos.flatMap((algo) =>
  Array.from({ length: seeds }, (_, seed) => ({
    algo,
    seed,
    dir: join("runs", "repro-mamujoco", `${tag}-${algo}-s${seed}`),
  }))
);
console.error(
  `repro:mamujoco: ${jobs.length} runs on ${envId}, ${
    steps.toLocaleString("en-US")
  } env steps each, ${workers} workers`,
);
const t0 = performance.now();
const results = await pool(jobs, workers, runJob);
const totalWall = (performance.now() - t0) / 1000;
const random = await randomReturn(10);

await Deno.mkdir(outDir, { recursive: true });
const csv = ["env,algo,seed,final_return,best_return,env_steps,wall_s"];
for (const r of results) {
  csv.push(
    [envId, r.job.algo, r.job.seed, r.finalReturn, r.bestReturn, r.envSteps, r.wall].join(","),
  );
}
await Deno.writeTextFile(join(outDir, "mamujoco.csv"), csv.join("\n") + "\n");

const md: string[] = [
  `# Native MA-MuJoCo: ${
    algos.map((a) => a.toUpperCase()).join(", ").replace(/, ([^,]*)$/, " and $1")
  }`,
  "",
  `Generated by \`deno task repro:mamujoco${
    Deno.args.length ? " " + Deno.args.join(" ") : ""
  }\` on ${
    new Date().toISOString().slice(0, 10)
  }: \`${envId}\` (MuJoCo 3.3.8 wasm, Gymnasium v5 rules, ` +
  `obsk 1), ${seeds} seeds, ${steps.toLocaleString("en-US")} env steps per run${
    extendTo
      ? ` (${extendAlgos.join(", ")} resumed from their checkpoints to ${
        extendTo.toLocaleString("en-US")
      })`
      : ""
  }, ${numEnvs} envs x ` +
  `${rolloutLength} steps per iteration, PPO with 2 x 64 hidden layers, 5 epochs, 1 minibatch, ` +
  `lr 5e-4, no entropy bonus. Returns are greedy (mean action) evaluations over ${EVAL_EPISODES} ` +
  `episodes of 1,000 steps. Training took ${
    (results.reduce((a, r) => a + r.wall, 0) / 60).toFixed(1)
  } min summed over runs${
    reportOnly ? "" : ` (${(totalWall / 60).toFixed(1)} min wall, ${workers} runs in parallel)`
  } on this machine's CPU.`,
  "",
  `![${tag}](mamujoco_${tag}.svg)`,
  "",
  `Random policy (uniform actions in [-1, 1], 10 episodes): return ${random.toFixed(1)}.`,
  "",
  `| algorithm | return at ${
    steps.toLocaleString("en-US")
  } steps (mean ± std, per seed) | final return (mean ± std) | per seed | best eval (mean) | env steps | wall s / run |`,
  "|---|---|---:|---|---:|---:|---:|",
];
const series: Series[] = [];
for (const algo of algos) {
  const rs = results.filter((r) => r.job.algo === algo);
  const f = stat(rs.map((r) => r.finalReturn));
  const main = rs.map((r) => r.curve.filter((c) => c.steps <= steps).at(-1)?.ret ?? NaN);
  const m = stat(main);
  md.push(
    `| ${algo} | ${m.m.toFixed(0)} ± ${m.sd.toFixed(0)} (${
      main.map((v) => v.toFixed(0)).join(", ")
    }) | ${f.m.toFixed(0)} ± ${f.sd.toFixed(0)} | ${
      rs.map((r) => r.finalReturn.toFixed(0)).join(", ")
    } | ${stat(rs.map((r) => r.bestReturn)).m.toFixed(0)} | ${
      rs[0]!.envSteps.toLocaleString("en-US")
    } | ${stat(rs.map((r) => r.wall)).m.toFixed(0)} |`,
  );
  series.push(bandSeries(algo, rs.map((r) => r.curve.map((c) => [c.steps, c.ret]))));
}
md.push("");
await Deno.writeTextFile(
  join(outDir, `mamujoco_${tag}.svg`),
  lineChart(series, {
    title: envId,
    xLabel: "env steps",
    yLabel: "greedy eval return (mean, min-max band)",
    hline: { y: random, label: `random policy ${random.toFixed(0)}` },
  }),
);
try {
  md.push(await Deno.readTextFile(join(outDir, "mamujoco_findings.md")));
} catch { /* no hand-written findings */ }
await Deno.writeTextFile(join(outDir, "mamujoco.md"), md.join("\n"));
console.log(md.join("\n"));
console.error(`wrote ${join(outDir, "mamujoco.md")}, mamujoco.csv and an SVG figure`);
