/**
 * `deno task repro:matrix`: the paper's matrix-game comparison. Runs each algorithm on
 * climbing, penalty (k = 100), nonmonotonic and permutation (n = 3, 5, 8) over several seeds
 * (each run a `train.ts` subprocess, `--workers` at a time) and writes `reports/matrix.md`,
 * `reports/matrix.csv` and one SVG learning-curve figure per game.
 *
 * Flags:
 * - `--quick`: 3 seeds x 15,000 env steps with 20 envs x 50 steps per iteration (under 10 min
 *   on 2 cores); default: 5 seeds x 1e6 env steps with the reference's 50 envs x 200 steps.
 * - `--seeds N`, `--steps N`, `--num-envs N`, `--rollout-length N`, `--workers N`.
 * - `--algos bppo,armappo,happo,mappo`; a variant is `name:key=value;key=value` (algo options)
 *   and is reported under its full spec, e.g. `bppo:peerScale=sum`.
 * - `--games climbing,penalty,nonmonotonic,perm3,perm5,perm8`, `--out reports`.
 * - `--name matrix`: report file names; `--report-only`: rebuild the report from the runs
 *   already in `runs/repro-matrix/` (same flags) without training.
 *
 * @module
 */
import { z } from "../core/deps.ts";
import { parseFlags } from "./_sweep.ts";
import { join } from "node:path";
import { lineChart, type Series } from "./_plot.ts";
import { bandSeries, pool, stat, trainRun } from "./_repro.ts";

const values = parseFlags(
  z.strictObject({
    quick: z.boolean().default(false).describe("3 seeds x 15,000 steps, 20 envs x 50 steps"),
    seeds: z.int().min(1).optional().describe("seeds 0..N-1 (default 5, quick 3)"),
    steps: z.int().positive().optional().describe("env steps per run (default 1e6, quick 15,000)"),
    numEnvs: z.int().positive().optional().describe("parallel envs (default 50, quick 20)"),
    rolloutLength: z.int().positive().optional().describe(
      "steps per iteration (default 200, quick 50)",
    ),
    workers: z.int().min(1).default(2).describe("runs at a time"),
    algos: z.string().default("bppo,armappo,happo,mappo").describe(
      "algorithms or name:key=value;...",
    ),
    games: z.string().optional().describe("climbing,penalty,nonmonotonic,perm3,perm5,perm8"),
    out: z.string().default("reports").describe("report directory"),
    reportOnly: z.boolean().default(false).describe("rebuild the report from runs on disk"),
    name: z.string().default("matrix").describe("report file name"),
  }),
  {
    task: "repro:matrix",
    summary: "The matrix-game comparison: algorithms x games x seeds; writes reports/matrix.md",
  },
);
const reportOnly = values.reportOnly;
const reportName = values.name;
const quick = values.quick;
const seeds = values.seeds ?? (quick ? 3 : 5);
const steps = values.steps ?? (quick ? 15_000 : 1_000_000);
const numEnvs = values.numEnvs ?? (quick ? 20 : 50);
const rolloutLength = values.rolloutLength ?? (quick ? 50 : 200);
const workers = values.workers;
const outDir = values.out;
const algoSpecs = values.algos.split(",");

interface Game {
  key: string;
  env: string;
  opts: string[];
  title: string;
}
const ALL_GAMES: Game[] = [
  { key: "climbing", env: "matrix/climbing", opts: [], title: "climbing (optimum 11)" },
  { key: "penalty", env: "matrix/penalty", opts: ["k=100"], title: "penalty k=100 (optimum 10)" },
  { key: "nonmonotonic", env: "matrix/nonmonotonic", opts: [], title: "nonmonotonic (optimum 8)" },
  { key: "perm3", env: "matrix/permutation", opts: ["n=3"], title: "permutation n=3 (optimum 1)" },
  { key: "perm5", env: "matrix/permutation", opts: ["n=5"], title: "permutation n=5 (optimum 1)" },
  { key: "perm8", env: "matrix/permutation", opts: ["n=8"], title: "permutation n=8 (optimum 1)" },
];
const gameKeys = values.games ? values.games.split(",") : ALL_GAMES.map((g) => g.key);
const games = ALL_GAMES.filter((g) => gameKeys.includes(g.key));

interface Job {
  game: Game;
  algoSpec: string;
  seed: number;
  dir: string;
}

interface Result {
  job: Job;
  finalReturn: number;
  optimum: number;
  reached: boolean;
  envSteps: number;
  wall: number;
  curve: { steps: number; ret: number }[];
  /** Env steps after which every evaluation was at the optimum (null if never). */
  stepsToOptimum: number | null;
}

function algoArgs(spec: string): string[] {
  const [name, opts] = spec.split(":");
  const args = ["--algo", name!];
  for (const kv of opts ? opts.split(";") : []) args.push("--algo-opt", kv);
  return args;
}

async function runJob(job: Job): Promise<Result> {
  if (!reportOnly) {
    await Deno.remove(job.dir, { recursive: true }).catch(() => {});
    await trainJob(job);
  }
  return await readResult(job);
}

async function trainJob(job: Job): Promise<void> {
  const evalEvery = Math.max(1, Math.round(steps / (numEnvs * rolloutLength) / 20));
  const args = [
    "--env",
    job.game.env,
    ...job.game.opts.flatMap((o) => ["--env-opt", o]),
    ...algoArgs(job.algoSpec),
    "--seed",
    String(job.seed),
    "--total-steps",
    String(steps),
    "--num-envs",
    String(numEnvs),
    "--rollout-length",
    String(rolloutLength),
    "--eval-every",
    String(evalEvery),
    "--eval-episodes",
    "100",
    "--checkpoint-every",
    "1000000",
    "--out",
    job.dir,
  ];
  await trainRun(args, job.dir);
}

async function readResult(job: Job): Promise<Result> {
  const summary = JSON.parse(await Deno.readTextFile(join(job.dir, "summary.json")));
  const curve = (await Deno.readTextFile(join(job.dir, "metrics.jsonl"))).trim().split("\n")
    .map((l) => JSON.parse(l))
    .filter((r) => r.eval_return !== null)
    .map((r) => ({ steps: r.env_steps as number, ret: r.eval_return as number }));
  const opt = summary.optimal_return as number;
  let stepsToOptimum: number | null = null;
  for (let i = curve.length - 1; i >= 0 && Math.abs(curve[i]!.ret - opt) < 1e-6; i--) {
    stepsToOptimum = curve[i]!.steps;
  }
  return {
    job,
    stepsToOptimum,
    finalReturn: summary.final_eval_return,
    optimum: summary.optimal_return,
    reached: Math.abs(summary.final_eval_return - summary.optimal_return) < 1e-6,
    envSteps: summary.env_steps,
    wall: summary.wall_s,
    curve,
  };
}

function median(xs: (number | null)[]): string {
  const v = xs.filter((x): x is number => x !== null).sort((a, b) => a - b);
  if (!v.length) return "-";
  const m = v.length % 2 ? v[(v.length - 1) / 2]! : (v[v.length / 2 - 1]! + v[v.length / 2]!) / 2;
  return `${m.toLocaleString("en-US")}${v.length < xs.length ? ` (${v.length} seeds)` : ""}`;
}

const jobs: Job[] = [];
for (const game of games) {
  for (const algoSpec of algoSpecs) {
    for (let seed = 0; seed < seeds; seed++) {
      const tag = algoSpec.replace(/[^A-Za-z0-9=.-]+/g, "_");
      jobs.push({
        game,
        algoSpec,
        seed,
        dir: join("runs", "repro-matrix", `${game.key}-${tag}-s${seed}`),
      });
    }
  }
}
console.error(
  `repro:matrix: ${jobs.length} runs (${games.length} games x ${algoSpecs.length} algos x ${seeds} seeds), ${
    steps.toLocaleString("en-US")
  } env steps each (${numEnvs} envs x ${rolloutLength} steps per iteration), ${workers} workers`,
);
const t0 = performance.now();
const results = await pool(jobs, workers, runJob);
const totalWall = (performance.now() - t0) / 1000;

await Deno.mkdir(outDir, { recursive: true });
const csv = [
  "game,algo,seed,final_greedy_return,optimum,reached_optimum,steps_to_optimum,env_steps,wall_s",
];
for (const r of results) {
  csv.push(
    [
      r.job.game.key,
      `"${r.job.algoSpec}"`,
      r.job.seed,
      r.finalReturn,
      r.optimum,
      r.reached ? 1 : 0,
      r.stepsToOptimum ?? "",
      r.envSteps,
      r.wall,
    ]
      .join(","),
  );
}
await Deno.writeTextFile(join(outDir, `${reportName}.csv`), csv.join("\n") + "\n");

const md: string[] = [
  "# Matrix games: BPPO and baselines",
  "",
  `Generated by \`deno task repro:matrix${quick ? " --quick" : ""}\` on ${
    new Date().toISOString().slice(0, 10)
  }: ` +
  `${seeds} seeds (0-${seeds - 1}), ${
    steps.toLocaleString("en-US")
  } env steps per run, ${numEnvs} envs x ${rolloutLength} ` +
  `steps per iteration, the reference's PPO settings (15 epochs, 1 minibatch, lr 5e-4, clip 0.2, entropy 0.01). ` +
  `"Final" is the greedy (argmax, chain-order) evaluation over 100 episodes at the end of training. ` +
  `Training took ${(results.reduce((a, r) => a + r.wall, 0) / 60).toFixed(1)} min summed over runs${
    reportOnly ? "" : ` (${(totalWall / 60).toFixed(1)} min wall with ${workers} parallel runs)`
  }.`,
  "",
];
for (const game of games) {
  md.push(`## ${game.title}`, "", `![${game.key}](${reportName}_${game.key}.svg)`, "");
  md.push(
    "| algorithm | final greedy return (mean ± std) | seeds at optimum | per-seed | env steps to optimum (median) | env steps | wall s / run |",
  );
  md.push("|---|---:|---:|---|---:|---:|---:|");
  const series: Series[] = [];
  for (const algoSpec of algoSpecs) {
    const rs = results.filter((r) => r.job.game === game && r.job.algoSpec === algoSpec);
    if (!rs.length) continue;
    const { m, sd } = stat(rs.map((r) => r.finalReturn));
    md.push(
      `| ${algoSpec} | ${m.toFixed(2)} ± ${sd.toFixed(2)} | ${
        rs.filter((r) => r.reached).length
      }/${rs.length} | ${rs.map((r) => +r.finalReturn.toFixed(2)).join(", ")} | ${
        median(rs.map((r) => r.stepsToOptimum))
      } | ${rs[0]!.envSteps.toLocaleString("en-US")} | ${
        stat(rs.map((r) => r.wall)).m.toFixed(1)
      } |`,
    );
    series.push(bandSeries(algoSpec, rs.map((r) => r.curve.map((c) => [c.steps, c.ret]))));
  }
  md.push("");
  const optimum = results.find((r) => r.job.game === game)!.optimum;
  await Deno.writeTextFile(
    join(outDir, `${reportName}_${game.key}.svg`),
    lineChart(series, {
      title: game.title,
      xLabel: "env steps",
      yLabel: "greedy eval return (mean, min-max band)",
      hline: { y: optimum, label: `optimum ${optimum}` },
    }),
  );
}
try {
  md.push(await Deno.readTextFile(join(outDir, `${reportName}_findings.md`)));
} catch { /* no hand-written findings for this report */ }
await Deno.writeTextFile(join(outDir, `${reportName}.md`), md.join("\n"));
console.log(md.join("\n"));
console.error(
  `wrote ${join(outDir, `${reportName}.md`)}, matrix.csv and ${games.length} SVG figures`,
);
