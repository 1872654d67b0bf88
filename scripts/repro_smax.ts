/**
 * `deno task repro:smax`: BPPO and MAPPO on the native StarCraft-style battles `smax/3m` and
 * `smax/protoss_5_vs_5` over several seeds (each run a `train.ts` subprocess, `--workers` at
 * a time). Writes `reports/smax.md`, `reports/smax.csv` and one SVG of greedy-evaluation win
 * rate per scenario, next to the win rate of a uniformly random (available-action) policy
 * measured in the same script.
 *
 * Flags: `--steps N` or `--steps 3m=N,protoss_5_vs_5=M` (default 1,000,000 on 3m and 300,000
 * on protoss_5_vs_5), `--seeds N` (3), `--workers N` (2),
 * `--algos bppo,mappo`, `--scenarios 3m,protoss_5_vs_5`, `--num-envs N` (16),
 * `--rollout-length N` (200), `--eval-episodes N` (64), `--policies mlp,gru` (mlp: the
 * feed-forward policy; gru: `--algo-opt recurrent=gru`, chunk 10), `--quick` (1 seed, 30,000
 * steps: a smoke test of the pipeline, not evidence), `--report-only` (rebuild from
 * `runs/repro-smax/`).
 *
 * PPO settings for all runs: 2 hidden layers of 64, 10 epochs, 1 minibatch, lr 5e-4, clip 0.2,
 * entropy 0.01 (algorithm defaults otherwise); the GRU sits after the MLP base, hidden 64.
 *
 * @module
 */
import { appendAll, maxOf } from "../core/arrays.ts";
import { z } from "../core/deps.ts";
import { parseFlags } from "./_sweep.ts";
import { join } from "node:path";
import { lineChart, type Series } from "./_plot.ts";
import { Rng } from "../core/rng.ts";
import { SmaxVecEnv } from "../envs/smax/smax.ts";
import { bandSeries, pool, stat, trainRun } from "./_repro.ts";

const values = parseFlags(
  z.strictObject({
    quick: z.boolean().default(false).describe("1 seed x 30,000 steps"),
    seeds: z.int().min(1).optional().describe("seeds 0..N-1 (default 3, quick 1)"),
    steps: z.string().optional().describe(
      "N, or scenario=N,... (default 3m=1000000,protoss_5_vs_5=300000)",
    ),
    workers: z.int().min(1).default(2).describe("runs at a time"),
    algos: z.string().default("bppo,mappo").describe("algorithms"),
    policies: z.string().default("mlp").describe("policy networks: mlp, gru or mlp,gru"),
    scenarios: z.string().default("3m,protoss_5_vs_5").describe("smax scenarios"),
    numEnvs: z.int().positive().default(16).describe("parallel envs"),
    rolloutLength: z.int().positive().default(200).describe("steps per iteration"),
    evalEpisodes: z.int().positive().default(64).describe("episodes per evaluation"),
    out: z.string().default("reports").describe("report directory"),
    reportOnly: z.boolean().default(false).describe("rebuild the report from runs on disk"),
  }),
  {
    task: "repro:smax",
    summary: "BPPO vs MAPPO on native SMACv2-style battles; writes reports/smax.md",
  },
);
const quick = values.quick;
const reportOnly = values.reportOnly;
const seeds = values.seeds ?? (quick ? 1 : 3);
const stepsFor = (scenario: string): number => {
  const spec = values.steps ?? (quick ? "30000" : "3m=1000000,protoss_5_vs_5=300000");
  if (/^\d+$/.test(spec)) return Number(spec);
  const kv = Object.fromEntries(spec.split(",").map((p) => p.split("=")));
  if (!kv[scenario]) throw new Error(`--steps ${spec} names no budget for ${scenario}`);
  return Number(kv[scenario]);
};
const workers = values.workers;
const numEnvs = values.numEnvs;
const rolloutLength = values.rolloutLength;
const evalEpisodes = values.evalEpisodes;
const algos = values.algos.split(",");
const policies = values.policies.split(",");
for (const p of policies) {
  if (p !== "mlp" && p !== "gru") {
    console.error(`Error: --policies ${values.policies}: each must be mlp or gru`);
    Deno.exit(2);
  }
}
const scenarios = values.scenarios.split(",");
const outDir = values.out;
const ALGO_OPTS = ["layers=2", "epochs=10"];

interface Job {
  scenario: string;
  algo: string;
  policy: string;
  seed: number;
  dir: string;
}
/** A job's row label: the algorithm, and the policy network when it is a GRU. */
const label = (j: { algo: string; policy: string }) =>
  j.policy === "gru" ? `${j.algo} (GRU)` : j.algo;
interface Result {
  job: Job;
  finalWin: number;
  finalStochWin: number;
  finalReturn: number;
  bestWin: number;
  envSteps: number;
  wall: number;
  curve: { steps: number; win: number }[];
}

async function trainJob(job: Job): Promise<void> {
  const steps = stepsFor(job.scenario);
  const evalEvery = Math.max(1, Math.round(steps / (numEnvs * rolloutLength) / 25));
  const args = [
    ...["--env", `smax/${job.scenario}`, "--algo", job.algo, "--seed", String(job.seed)],
    ...[...ALGO_OPTS, ...(job.policy === "gru" ? ["recurrent=gru"] : [])]
      .flatMap((o) => ["--algo-opt", o]),
    ...["--total-steps", String(steps), "--num-envs", String(numEnvs)],
    ...["--rollout-length", String(rolloutLength), "--eval-every", String(evalEvery)],
    ...["--eval-episodes", String(evalEpisodes), "--out", job.dir],
  ];
  await trainRun(args, job.dir);
}

async function readResult(job: Job): Promise<Result> {
  const summary = JSON.parse(await Deno.readTextFile(join(job.dir, "summary.json")));
  const curve = (await Deno.readTextFile(join(job.dir, "metrics.jsonl"))).trim().split("\n")
    .map((l) => JSON.parse(l))
    .filter((r) => r.eval_win_rate !== null)
    .map((r) => ({ steps: r.env_steps as number, win: r.eval_win_rate as number }));
  return {
    job,
    finalWin: summary.eval_win_rate,
    finalStochWin: summary.eval?.stochastic?.win_rate ?? NaN,
    finalReturn: summary.final_eval_return,
    bestWin: maxOf(curve.map((c) => c.win)),
    envSteps: summary.env_steps,
    wall: summary.wall_s,
    curve,
  };
}

async function runJob(job: Job): Promise<Result> {
  if (!reportOnly) {
    await Deno.remove(job.dir, { recursive: true }).catch(() => {});
    await trainJob(job);
  }
  return await readResult(job);
}

/** Win rate and mean return of the uniformly random available-action policy. */
async function randomPolicy(scenario: string, episodes: number): Promise<[number, number]> {
  const env = new SmaxVecEnv(scenario, 64);
  const rng = new Rng(7);
  const n = env.spec.numAgents, A = env.l.nActions;
  let s = await env.reset(7);
  const wins: number[] = [], rets: number[] = [];
  const act = new Int32Array(64 * n);
  while (wins.length < episodes) {
    for (let i = 0; i < 64 * n; i++) {
      const ok: number[] = [];
      for (let a = 0; a < A; a++) if (s.availActions![i * A + a]) ok.push(a);
      act[i] = ok[rng.int(ok.length)]!;
    }
    s = await env.step(act);
    appendAll(wins, s.episodes.wins);
    appendAll(rets, s.episodes.returns);
  }
  const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;
  return [mean(wins), mean(rets)];
}

const pct = (v: number) => `${(100 * v).toFixed(0)}%`;
/** The last evaluated win rate at or before `steps` env steps. */
const winAt = (r: Result, steps: number) =>
  r.curve.filter((c) => c.steps <= steps).at(-1)?.win ?? NaN;

const jobs: Job[] = scenarios.flatMap((scenario) =>
  algos.flatMap((algo) =>
    policies.flatMap((policy) =>
      Array.from({ length: seeds }, (_, seed) => ({
        scenario,
        algo,
        policy,
        seed,
        dir: join(
          "runs",
          "repro-smax",
          `${scenario}-${algo}${policy === "gru" ? "-gru" : ""}-s${seed}`,
        ),
      }))
    )
  )
);
console.error(
  `repro:smax: ${jobs.length} runs (${
    scenarios.map((s) => `${s}: ${stepsFor(s).toLocaleString("en-US")}`).join(", ")
  } env steps), ${workers} workers`,
);
const t0 = performance.now();
const results = await pool(jobs, workers, runJob);
const totalWall = (performance.now() - t0) / 1000;

await Deno.mkdir(outDir, { recursive: true });
const csv = [
  "scenario,algo,policy,seed,final_win_rate,final_stochastic_win_rate,best_win_rate,final_return,env_steps,wall_s",
];
for (const r of results) {
  csv.push(
    [
      r.job.scenario,
      r.job.algo,
      r.job.policy,
      r.job.seed,
      r.finalWin,
      r.finalStochWin,
      r.bestWin,
      r.finalReturn,
      r.envSteps,
      r.wall,
    ].join(","),
  );
}
await Deno.writeTextFile(join(outDir, "smax.csv"), csv.join("\n") + "\n");

const md: string[] = [
  `# Native SMACv2-style battles: ${algos.map((a) => a.toUpperCase()).join(" and ")}${
    policies.includes("gru") ? ", MLP and GRU policies" : ""
  }`,
  "",
  `Generated by \`deno task repro:smax${Deno.args.length ? " " + Deno.args.join(" ") : ""}\` on ${
    new Date().toISOString().slice(0, 10)
  }: ${seeds} seeds, ${
    scenarios.map((s) => `${stepsFor(s).toLocaleString("en-US")} env steps per run on ${s}`).join(
      ", ",
    )
  }, ${numEnvs} envs x ${rolloutLength} ` +
  `steps per iteration, PPO with 2 x 64 hidden layers${
    policies.includes("gru") ? " (GRU policies: a GRU of 64 after them, BPTT chunks of 10)" : ""
  }, 10 epochs, 1 minibatch, lr 5e-4. ` +
  `Win rates are evaluations over the same ${evalEpisodes} episodes against the scripted AI, greedy and stochastic (sampled actions). ` +
  `Training took ${(results.reduce((a, r) => a + r.wall, 0) / 60).toFixed(1)} min summed over runs${
    reportOnly ? "" : ` (${(totalWall / 60).toFixed(1)} min wall, ${workers} runs in parallel)`
  } on this machine's CPU (tfjs-wasm).`,
  "",
];
for (const scenario of scenarios) {
  const [randWin, randRet] = await randomPolicy(scenario, 1000);
  md.push(`## smax/${scenario}`, "", `![${scenario}](smax_${scenario}.svg)`, "");
  md.push(
    `Random policy (uniform over available actions, 1000 episodes): win rate ${
      pct(randWin)
    }, return ${randRet.toFixed(2)}.`,
    "",
  );
  md.push(
    `| algorithm | final greedy win rate (mean ± std) | per seed | stochastic win rate (mean, per seed) | greedy win rate at ${
      (stepsFor(scenario) / 2).toLocaleString("en-US")
    } steps (mean, per seed) | best eval win rate (mean) | final return | env steps | wall s / run |`,
  );
  md.push("|---|---:|---|---|---|---:|---:|---:|---:|");
  const series: Series[] = [];
  for (const algo of algos.flatMap((algo) => policies.map((policy) => ({ algo, policy })))) {
    const rs = results.filter((r) =>
      r.job.scenario === scenario && r.job.algo === algo.algo && r.job.policy === algo.policy
    );
    if (!rs.length) continue;
    const st = rs.map((r) => r.finalStochWin);
    const w = stat(rs.map((r) => r.finalWin));
    const half = rs.map((r) => winAt(r, stepsFor(scenario) / 2));
    md.push(
      `| ${label(algo)} | ${pct(w.m)} ± ${pct(w.sd)} | ${
        rs.map((r) => pct(r.finalWin)).join(", ")
      } | ${pct(stat(st).m)} (${st.map(pct).join(", ")}) | ${pct(stat(half).m)} (${
        half.map(pct).join(", ")
      }) | ${pct(stat(rs.map((r) => r.bestWin)).m)} | ${
        stat(rs.map((r) => r.finalReturn)).m.toFixed(2)
      } | ${rs[0]!.envSteps.toLocaleString("en-US")} | ${
        stat(rs.map((r) => r.wall)).m.toFixed(0)
      } |`,
    );
    series.push(bandSeries(label(algo), rs.map((r) => r.curve.map((c) => [c.steps, c.win]))));
  }
  md.push("");
  await Deno.writeTextFile(
    join(outDir, `smax_${scenario}.svg`),
    lineChart(series, {
      title: `smax/${scenario}`,
      xLabel: "env steps",
      yLabel: "greedy eval win rate (mean, min-max band)",
      hline: { y: randWin, label: `random policy ${pct(randWin)}` },
    }),
  );
}
try {
  md.push(await Deno.readTextFile(join(outDir, "smax_findings.md")));
} catch { /* no hand-written findings */ }
await Deno.writeTextFile(join(outDir, "smax.md"), md.join("\n"));
console.log(md.join("\n"));
console.error(`wrote ${join(outDir, "smax.md")}, smax.csv and ${scenarios.length} SVG figures`);
