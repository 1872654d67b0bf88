/**
 * `deno task repro:ablation`: where does backpropagation through agents help? Runs BPPO with
 * the paper's estimator next to its controls on the same envs and seeds, and writes
 * `reports/bpta_ablation.md` with a CSV and SVG learning curves.
 *
 * Conditions (default): `bppo` (paper estimator), `bppo:estimator=reference` (the authors' code),
 * `bppo:peerWeight=0` (sequential updates and factor, no peer term), `armappo` (conditioning
 * only), `mappo`, `happo`. Suites: `matrix` (climbing, penalty k=100, permutation n=8, and two
 * games designed for this ablation, `climb3` and `relay4`), `smax` (3m, 2s3z), `mamujoco`
 * (HalfCheetah-6x1, HalfCheetah-2x3), `football` (academy 3-vs-1 with keeper, counter-attack
 * hard). Runs already finished in `runs/repro-ablation/` are kept, so an interrupted sweep resumes
 * where it stopped; `--report-only` rebuilds the report. `deno task repro:football` is this
 * script on the football suite with BPPO, AR-MAPPO, MAPPO and HAPPO, writing
 * `reports/football.md`.
 *
 * @module
 */
import { minOf } from "../core/arrays.ts";
import { join } from "node:path";
import { z } from "../core/deps.ts";
import { lineChart, type Series } from "./_plot.ts";
import { bandSeries, pool, trainRun } from "./_repro.ts";
import {
  algoArgs,
  finished,
  grid,
  iqm,
  type Job,
  list,
  parseFlags,
  permutationP,
  readRun,
  seedInterval,
} from "./_sweep.ts";

const flags = parseFlags(
  z.strictObject({
    suites: z.string().default("matrix").describe("matrix,smax,mamujoco,football,chain"),
    conditions: z.string().default(
      "bppo,bppo:estimator=reference,bppo:peerWeight=0,armappo,mappo,happo",
    ).describe("algorithms (name or name:key=value;key=value)"),
    envs: z.string().optional().describe("env keys to run (default: every env of the suites)"),
    seeds: z.string().regex(/^(\d+|[\w.-]+=\d+(,[\w.-]+=\d+)*)$/, "N, or env=N,... (e.g. cah=6)")
      .optional().describe(
        "seeds 0..N-1: N for every env, or env=N,... per env key (default: matrix 5, others 3)",
      ),
    steps: z.int().positive().optional().describe("env steps per run (default: per suite)"),
    workers: z.int().min(1).default(2).describe("runs at a time"),
    out: z.string().default("reports").describe("report directory"),
    name: z.string().default("bpta_ablation").describe("report file name (no extension)"),
    title: z.string().default("Backpropagation through agents: the ablation").describe(
      "the report's heading",
    ),
    reportOnly: z.boolean().default(false).describe("rebuild the report from runs on disk"),
    baseline: z.string().optional().describe(
      "the condition every other is tested against (permutation test; default the first)",
    ),
    fromCsv: z.boolean().default(false).describe(
      "rebuild the report's tables from its CSV (every seed's numbers) when the runs are gone; curves are kept as drawn",
    ),
  }),
  {
    task: "repro:ablation",
    summary: "BPPO (paper estimator) against its controls; writes a report",
  },
);

/** A metric of a run's metrics.jsonl rows. */
type Metric = "eval_return" | "eval_win_rate" | "eval_stochastic_win_rate" | "train_win_rate";

/** What a metric's column says. */
const METRIC_NAME: Record<Metric, string> = {
  eval_return: "greedy evaluation return",
  eval_win_rate: "greedy evaluation win rate",
  eval_stochastic_win_rate: "stochastic evaluation win rate",
  train_win_rate: "training win rate (final: mean of the last 5 iterations)",
};

/** One env of the ablation with its training configuration. */
interface EnvCase {
  readonly key: string;
  readonly suite: string;
  readonly env: string;
  readonly envOpts: string[];
  readonly title: string;
  /** Return (or win rate) counted as "reached". */
  readonly threshold: number;
  /**
   * What the threshold, the final value and the curve measure: an evaluation (its last value is
   * "final"), or the training episodes' win rate (the poster's football metric; "final" is the
   * mean of the last 5 iterations).
   */
  readonly metric: Metric;
  /** Further metrics shown as "final" columns (football: the stochastic and greedy evaluations). */
  readonly also?: readonly Metric[];
  readonly numEnvs: number;
  readonly rolloutLength: number;
  readonly steps: number;
  readonly evalEpisodes: number;
  readonly algoOpts: string[];
}

/**
 * `climb3`: three agents, three actions. All play 2: 11; some but not all play 2: -30; all play
 * 1: 7; all play 0: 5; any other mix of 0 and 1: 0. Climbing's trap for a chain of three: an agent
 * that alone moves to 2 is punished, so independent learners settle on 7 or 5.
 */
function climb3(): unknown {
  const r = (a: number[]) => {
    const twos = a.filter((x) => x === 2).length;
    if (twos === 3) return 11;
    if (twos > 0) return -30;
    if (a.every((x) => x === 1)) return 7;
    if (a.every((x) => x === 0)) return 5;
    return 0;
  };
  return [0, 1, 2].map((i) => [0, 1, 2].map((j) => [0, 1, 2].map((k) => r([i, j, k]))));
}

/**
 * `relay4`: four agents, two actions. All play 1: 10; otherwise 2 - 3 * (agents playing 1), so the
 * safe joint action is all 0 (2) and each single step towards the optimum costs 3.
 */
function relay4(): unknown {
  const r = (a: number[]) => {
    const ones = a.reduce((s, x) => s + x, 0);
    return ones === 4 ? 10 : 2 - 3 * ones;
  };
  const b = [0, 1];
  return b.map((i) => b.map((j) => b.map((k) => b.map((l) => r([i, j, k, l])))));
}

const MATRIX = { numEnvs: 20, rolloutLength: 50, steps: 60_000, evalEpisodes: 10, algoOpts: [] };
const SMAX = {
  numEnvs: 16,
  rolloutLength: 200,
  steps: 200_000,
  evalEpisodes: 32,
  algoOpts: ["layers=2", "epochs=10"],
};
const MUJOCO = {
  numEnvs: 40,
  rolloutLength: 100,
  steps: 200_000,
  evalEpisodes: 8,
  algoOpts: ["layers=2", "epochs=5", "entropyCoef=0"],
};
/** Football runs with smax's settings (16 x 200, 200k steps, layers=2 epochs=10). */
const FOOTBALL = SMAX;
/** The chain games (reports/bpta_verdict_plan.md): one-step episodes, 50 x 20 per iteration. */
const CHAIN = { numEnvs: 50, rolloutLength: 20, steps: 48_000, evalEpisodes: 100, algoOpts: [] };
/** The team-size scan: chain/relay (k = 4) and chain/relay-continuous at n = 2, 4, 8, 16. */
const CHAIN_CASES: EnvCase[] = [2, 4, 8, 16].flatMap((n) => [
  {
    key: `relay-n${n}`,
    suite: "chain",
    env: "chain/relay",
    envOpts: [`agents=${n}`, "symbols=4"],
    title: `chain/relay, n = ${n}, k = 4 (optimum 1, chance 0.25)`,
    threshold: 0.9,
    metric: "eval_return" as Metric,
    ...CHAIN,
  },
  {
    key: `relayc-n${n}`,
    suite: "chain",
    env: "chain/relay-continuous",
    envOpts: [`agents=${n}`],
    title: `chain/relay-continuous, n = ${n} (optimum 1)`,
    threshold: 0.9,
    metric: "eval_return" as Metric,
    ...CHAIN,
  },
]);
const ALL: EnvCase[] = [
  {
    key: "climbing",
    suite: "matrix",
    env: "matrix/climbing",
    envOpts: [],
    title: "climbing (optimum 11)",
    threshold: 11,
    metric: "eval_return",
    ...MATRIX,
  },
  {
    key: "penalty",
    suite: "matrix",
    env: "matrix/penalty",
    envOpts: ["k=100"],
    title: "penalty k=100 (optimum 10)",
    threshold: 10,
    metric: "eval_return",
    ...MATRIX,
  },
  {
    key: "climb3",
    suite: "matrix",
    env: "matrix/custom",
    envOpts: [`payoff=${JSON.stringify(climb3())}`],
    title: "climb3: 3 agents (optimum 11, trap -30)",
    threshold: 11,
    metric: "eval_return",
    ...MATRIX,
  },
  {
    key: "relay4",
    suite: "matrix",
    env: "matrix/custom",
    envOpts: [`payoff=${JSON.stringify(relay4())}`],
    title: "relay4: 4 agents (optimum 10, safe 2)",
    threshold: 10,
    metric: "eval_return",
    ...MATRIX,
  },
  {
    key: "perm8",
    suite: "matrix",
    env: "matrix/permutation",
    envOpts: ["n=8"],
    title: "permutation n=8 (optimum 1)",
    threshold: 1,
    metric: "eval_return",
    ...MATRIX,
  },
  {
    key: "3m",
    suite: "smax",
    env: "smax/3m",
    envOpts: [],
    title: "smax/3m (win rate)",
    threshold: 0.8,
    metric: "eval_win_rate",
    ...SMAX,
  },
  {
    key: "2s3z",
    suite: "smax",
    env: "smax/2s3z",
    envOpts: [],
    title: "smax/2s3z (win rate)",
    threshold: 0.5,
    metric: "eval_win_rate",
    ...SMAX,
  },
  {
    key: "3v1",
    suite: "football",
    env: "football/academy_3_vs_1_with_keeper",
    envOpts: [],
    title: "football/academy_3_vs_1_with_keeper (win rate)",
    threshold: 0.5,
    metric: "train_win_rate",
    also: ["eval_stochastic_win_rate", "eval_win_rate"],
    ...FOOTBALL,
  },
  {
    key: "cah",
    suite: "football",
    env: "football/academy_counterattack_hard",
    envOpts: [],
    title: "football/academy_counterattack_hard (win rate)",
    threshold: 0.3,
    metric: "train_win_rate",
    also: ["eval_stochastic_win_rate", "eval_win_rate"],
    ...FOOTBALL,
  },
  {
    key: "hc6x1",
    suite: "mamujoco",
    env: "mamujoco/HalfCheetah-6x1",
    envOpts: [],
    title: "HalfCheetah-6x1 (return)",
    threshold: 1000,
    metric: "eval_return",
    ...MUJOCO,
  },
  {
    key: "hc2x3",
    suite: "mamujoco",
    env: "mamujoco/HalfCheetah-2x3",
    envOpts: [],
    title: "HalfCheetah-2x3 (return)",
    threshold: 1000,
    metric: "eval_return",
    ...MUJOCO,
  },
  ...CHAIN_CASES,
];

const suites = list(flags.suites);
const wanted = flags.envs ? list(flags.envs) : null;
const cases = ALL.filter((c) => suites.includes(c.suite) && (!wanted || wanted.includes(c.key)))
  .map((c) => ({ ...c, steps: flags.steps ?? c.steps }));
if (!cases.length) {
  console.error(`Error: no env matches --suites ${flags.suites} --envs ${flags.envs ?? ""}`);
  Deno.exit(2);
}
const conditions = list(flags.conditions);
/** The condition the others are tested against (`--baseline`, default the first). */
const baseline = flags.baseline ?? conditions[0]!;
if (!conditions.includes(baseline)) {
  console.error(`Error: --baseline ${baseline} is not one of --conditions ${flags.conditions}`);
  Deno.exit(2);
}
const RUNS = "runs/repro-ablation";
const slug = (s: string) => s.replace(/[^A-Za-z0-9=._-]+/g, "_");
const seedsOf = (c: EnvCase): number => {
  const fallback = c.suite === "matrix" ? 5 : 3;
  if (!flags.seeds) return fallback;
  if (/^\d+$/.test(flags.seeds)) return Number(flags.seeds);
  const kv = Object.fromEntries(flags.seeds.split(",").map((p) => p.split("=")));
  return kv[c.key] !== undefined ? Number(kv[c.key]) : fallback;
};
const jobs: Job<string, EnvCase>[] = cases.flatMap((c) =>
  grid({
    conditions,
    envs: [c],
    seeds: Array.from({ length: seedsOf(c) }, (_, s) => s),
    dir: (cond, e, seed) => join(RUNS, `${e.key}-${e.steps}`, `${slug(cond)}-s${seed}`),
  })
);

async function runJob(job: Job<string, EnvCase>): Promise<void> {
  if (await finished(job.dir)) return; // finished earlier: keep it (a stopped one resumes)
  const c = job.env;
  const iters = Math.ceil(c.steps / (c.numEnvs * c.rolloutLength));
  const checkpoint = join(job.dir, "checkpoint.json");
  const resumable = await Deno.stat(checkpoint).then(() => true, () => false);
  if (!resumable) await Deno.remove(job.dir, { recursive: true }).catch(() => {});
  await trainRun(
    resumable ? ["--resume", job.dir, "--out", job.dir] : [
      "--env",
      c.env,
      ...c.envOpts.flatMap((o) => ["--env-opt", o]),
      ...algoArgs(job.condition),
      ...c.algoOpts.flatMap((o) => ["--algo-opt", o]),
      "--seed",
      String(job.seed),
      "--total-steps",
      String(c.steps),
      "--num-envs",
      String(c.numEnvs),
      "--rollout-length",
      String(c.rolloutLength),
      "--eval-every",
      String(Math.max(1, Math.round(iters / 20))),
      "--eval-episodes",
      String(c.evalEpisodes),
      "--checkpoint-every",
      "5",
      "--out",
      job.dir,
    ],
    `${job.condition} on ${c.key} seed ${job.seed}`,
  );
}

if (!flags.reportOnly && !flags.fromCsv) {
  console.error(`repro:ablation: ${jobs.length} runs, ${flags.workers} at a time, in ${RUNS}/`);
  await pool(jobs, flags.workers, runJob);
}

// ------------------------------------------------------------------------------- the report

interface Outcome {
  job: Job<string, EnvCase>;
  finished: boolean;
  envSteps: number;
  final: number;
  auc: number;
  reachedAt: number | null;
  wall: number;
  ratio: number | null;
  curve: [number, number][];
  /** The final value of each of the case's `also` metrics. */
  also: number[];
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2;
}

/** A metric's curve in a run's rows and its final value (see {@link EnvCase.metric}). */
function curveOf(rows: Record<string, number | null>[], m: Metric) {
  const evals = rows.filter((r) => r[m] !== null && r[m] !== undefined);
  const curve = evals.map((r) => [r.env_steps!, r[m]!] as [number, number]);
  const ys = curve.map((p) => p[1]);
  const tail = m.startsWith("train_") ? ys.slice(-5) : ys.slice(-1);
  const final = tail.length ? tail.reduce((a, b) => a + b, 0) / tail.length : NaN;
  return { curve, ys, final };
}

function outcome(job: Job<string, EnvCase>, rows: Record<string, number | null>[]): Outcome {
  const { curve, ys, final } = curveOf(rows, job.env.metric);
  const hit = curve.find((p) => p[1] >= job.env.threshold - 1e-9);
  const ratios = rows.map((r) => r["bppo/grad_peer_over_own"]).filter((v): v is number =>
    typeof v === "number"
  );
  return {
    job,
    finished: false,
    envSteps: rows.at(-1)?.env_steps ?? 0,
    final,
    auc: ys.length ? ys.reduce((a, b) => a + b, 0) / ys.length : NaN,
    reachedAt: hit ? hit[0] : null,
    wall: rows.at(-1)?.wall_s ?? 0,
    ratio: ratios.length ? median(ratios) : null,
    curve,
    also: (job.env.also ?? []).map((m) => curveOf(rows, m).final),
  };
}

const outcomes: Outcome[] = [];
if (flags.fromCsv) outcomes.push(...await outcomesFromCsv(join(flags.out, `${flags.name}.csv`)));
else {
  for (const job of jobs) {
    const run = await readRun(job.dir);
    if (run && run.rows.length) {
      outcomes.push({ ...outcome(job, run.rows), finished: await finished(job.dir) });
    }
  }
}

/** The outcomes a report's CSV records (no curves: those stay as drawn). */
async function outcomesFromCsv(path: string): Promise<Outcome[]> {
  const [head, ...lines] = (await Deno.readTextFile(path)).trim().split("\n");
  const col = head!.split(",");
  const at = (row: string[], name: string) => row[col.indexOf(name)] ?? "";
  const num = (v: string) => (v === "" ? null : Number(v));
  return lines.map((l) => l.split(",")).flatMap((row) => {
    const job = jobs.find((j) =>
      j.env.key === at(row, "env") && j.condition === at(row, "condition") &&
      j.seed === Number(at(row, "seed"))
    );
    if (!job) return [];
    const also = Object.fromEntries(
      at(row, "also").split(";").filter(Boolean).map((kv) => kv.split("=")),
    );
    return [{
      job,
      finished: at(row, "finished") === "true",
      envSteps: Number(at(row, "env_steps")),
      final: Number(at(row, "final")),
      auc: Number(at(row, "auc")),
      reachedAt: num(at(row, "reached_at")),
      wall: Number(at(row, "wall_s")),
      ratio: num(at(row, "peer_over_own")),
      curve: [],
      also: (job.env.also ?? []).map((m) => Number(also[m])),
    }];
  });
}

const fmt = (x: number | null, d = 2) => (x === null || !Number.isFinite(x) ? "-" : x.toFixed(d));
/** IQM over seeds and its interval (a 95% CI from 5 seeds on, else the range of the seeds). */
const ci = (xs: number[]) => {
  const { lo, hi } = seedInterval(xs);
  return `${fmt(iqm(xs))} [${fmt(lo)}, ${fmt(hi)}]`;
};
const intervalKind = (n: number) => {
  const k = seedInterval(Array(n).fill(0)).kind;
  return k === "95% CI" ? `95% CI (${n} seeds)` : `range of ${n} seeds`;
};
const pValue = (p: number) => (p < 0.001 ? "<0.001" : p.toFixed(3));
const md: string[] = [
  `# ${flags.title}`,
  "",
  `Generated by \`deno task repro:ablation${
    Deno.args.length ? " " + Deno.args.join(" ") : ""
  }\` on ${new Date().toISOString().slice(0, 10)}; ${
    outcomes.filter((o) => o.finished).length
  } of ${jobs.length} runs finished.`,
  "",
  "Per condition: the interquartile mean (IQM) over seeds with an interval: with 5 or more seeds",
  "the 95% percentile-bootstrap confidence interval (2,000 resamples, over seeds); with fewer,",
  "the range of the seeds (min, max), labelled so, because a bootstrap over 3 seeds is always",
  "exactly their range and has no 95% meaning. The interval is given for the final value of each env's metric",
  "(named under its heading) and of the area under its curve (mean over the curve's points),",
  "how many seeds reached the threshold",
  "and after how many env steps (median over the seeds that reached it), mean wall time per run,",
  "and the peer/own actor-gradient-norm ratio (BPPO only; the median over iterations of each run,",
  "then the median over runs; measured on the last epoch's first minibatch of each agent that received feedback).",
  "`p vs` is the two-sided permutation test of the difference in mean final value between the",
  "condition and the baseline named in the column (exact over every relabelling of the seeds; with 3 seeds a side the",
  "smallest possible p is 0.1). Every seed is listed in the CSV.",
  "",
  `What the numbers say, written by hand: [${flags.name}_findings.md](${flags.name}_findings.md).`,
  "",
];
await Deno.mkdir(flags.out, { recursive: true });
const csv = [
  "env,condition,seed,finished,env_steps,metric,final,auc,reached_at,wall_s,peer_over_own,also",
];
for (const c of cases) {
  const here = outcomes.filter((o) => o.job.env.key === c.key);
  if (!here.length) continue;
  md.push(
    `## ${c.title}`,
    "",
    `${c.env}${
      c.envOpts.length && c.key !== "climb3" && c.key !== "relay4" ? " " + c.envOpts.join(" ") : ""
    }, ${c.numEnvs} envs x ${c.rolloutLength} steps, budget ${
      c.steps.toLocaleString("en-US")
    } env steps, ${seedsOf(c)} seeds, metric: ${
      METRIC_NAME[c.metric]
    } (\`${c.metric}\`), threshold ${c.threshold}, algorithm options ${
      c.algoOpts.join(" ") || "defaults"
    }.${
      c.also?.length
        ? ` Also shown: the final ${c.also.map((m) => METRIC_NAME[m]).join(" and ")}.`
        : ""
    }`,
    "",
    `| condition | runs (finished) | interval | final, IQM [interval] | p vs ${baseline} (final) | AUC, IQM [interval] | reached | median steps to reach | steps to reach, IQM (unreached = budget) | p vs ${baseline} (steps) | wall s/run | peer/own grad ratio | final per seed |${
      (c.also ?? []).map((m) => ` ${m}, IQM [interval] | per seed |`).join("")
    }`,
    `|---|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|${
      (c.also ?? []).map(() => "---:|---|").join("")
    }`,
  );
  const series: Series[] = [];
  for (const cond of conditions) {
    const os = here.filter((o) => o.job.condition === cond);
    if (!os.length) continue;
    const reached = os.filter((o) => o.reachedAt !== null).map((o) => o.reachedAt!).sort((a, b) =>
      a - b
    );
    const ratios = os.map((o) => o.ratio).filter((r): r is number => r !== null);
    const base = here.filter((o) => o.job.condition === baseline);
    const test = (f: (o: Outcome) => number) =>
      cond === baseline || !base.length ? "-" : pValue(permutationP(os.map(f), base.map(f)));
    const p = test((o) => o.final);
    // steps to the threshold, a run that never reached it counted at the budget (censored)
    const toReach = (o: Outcome) => o.reachedAt ?? c.steps;
    const pReach = test(toReach);
    md.push(
      `| ${cond} | ${os.length} (${os.filter((o) => o.finished).length}) | ${
        intervalKind(os.length)
      } | ${ci(os.map((o) => o.final))} | ${p} | ${
        ci(os.map((o) => o.auc))
      } | ${reached.length}/${os.length} | ${
        reached.length
          ? reached[Math.floor((reached.length - 1) / 2)]!.toLocaleString("en-US")
          : "-"
      } | ${Math.round(iqm(os.map(toReach))).toLocaleString("en-US")} | ${pReach} | ${
        fmt(os.reduce((a, o) => a + o.wall, 0) / os.length, 0)
      } | ${ratios.length ? median(ratios).toExponential(1) : "-"} | ${
        os.map((o) => fmt(o.final)).join(", ")
      } |${
        (c.also ?? []).map((_, k) =>
          ` ${ci(os.map((o) => o.also[k]!))} | ${os.map((o) => fmt(o.also[k]!)).join(", ")} |`
        ).join("")
      }`,
    );
    for (const o of os) {
      csv.push(
        [
          c.key,
          cond,
          o.job.seed,
          o.finished,
          o.envSteps,
          c.metric,
          o.final,
          o.auc,
          o.reachedAt ?? "",
          o.wall,
          o.ratio ?? "",
          (c.also ?? []).map((m, k) => `${m}=${o.also[k]}`).join(";"),
        ].join(","),
      );
    }
    const curves = os.filter((o) => o.curve.length).map((o) => o.curve);
    const len = minOf(curves.map((cv) => cv.length));
    if (curves.length && len > 0) {
      series.push(bandSeries(cond, curves.map((cv) => cv.slice(0, len))));
    }
  }
  const svg = `${flags.name}_${c.key}.svg`;
  if (series.length) {
    await Deno.writeTextFile(
      join(flags.out, svg),
      lineChart(series, { title: c.title, xLabel: "env steps", yLabel: c.metric }),
    );
    md.push("", `![${c.title}](${svg})`, "");
  } else if (await Deno.stat(join(flags.out, svg)).then(() => true, () => false)) {
    md.push("", `![${c.title}](${svg})`, ""); // drawn from the runs earlier (--from-csv)
  }
}
await Deno.writeTextFile(join(flags.out, `${flags.name}.md`), md.join("\n") + "\n");
await Deno.writeTextFile(join(flags.out, `${flags.name}.csv`), csv.join("\n") + "\n");
console.error(`wrote ${join(flags.out, flags.name)}.md and .csv`);
