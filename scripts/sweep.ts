/**
 * `deno task sweep`: a grid of runs, algorithms x envs x seeds (each algorithm and env may carry
 * options: `bppo:epochs=5;estimator=reference`, `matrix/penalty:k=100`), on a pool of `train.ts`
 * processes sized to the cores, on top of an optional base `--config` file and plugins. It is
 * resumable: a run whose `summary.json` reports its whole budget is done and kept, a run with a
 * checkpoint continues from it (`--resume`), a run that left neither starts again. Ctrl-C or
 * SIGTERM stops every running run after its checkpoint (scripts/_repro.ts). At the end it writes one table over every
 * run (`deno task aggregate`'s: IQM with bootstrap CIs, every seed, a performance profile) to
 * `<out>/sweep.md` (with `sweep.json`, the merged marl-eval data, and `sweep_profile.svg`). A run
 * that fails is reported and the others go on; the sweep then exits 1 (run it again to retry).
 *
 * Example: `deno task sweep --algos bppo,mappo --envs matrix/climbing,matrix/penalty:k=100
 * --seeds 0-4 --out runs/sweep-matrix`
 *
 * @module
 */
import { join } from "node:path";
import { z } from "../core/deps.ts";
import { parseSeeds } from "../core/config_file.ts";
import { algoArgs, finished, grid, list, parseFlags } from "./_sweep.ts";
import { calibrateWorkers, type Calibration, pool, trainRun } from "./_repro.ts";
import { aggregate } from "./_aggregate.ts";

const flags = parseFlags(
  z.strictObject({
    algos: z.string().default("bppo").describe(
      "algorithms, comma-separated; each may carry options: name:key=value;key=value",
    ),
    envs: z.string().default("matrix/climbing").describe(
      "env ids, comma-separated; each may carry options: id:key=value;key=value",
    ),
    seeds: z.string().default("0-2").describe("seeds: a range 0-4 or a list 0,3,7"),
    config: z.string().optional().describe("base config file (JSON or YAML) for every run"),
    plugin: z.string().optional().describe("plugin modules for every run, comma-separated"),
    trustPlugin: z.boolean().default(false).describe("run the plugins in-process"),
    totalSteps: z.int().positive().optional().describe("env steps per run (else config/default)"),
    workers: z.union([z.literal("auto"), z.coerce.number().int().min(1)]).default("auto").describe(
      "runs at a time, each with cores / workers learner threads; auto: measured on the first " +
        "run (one run per core with 1 thread each, or one run with every core), kept in calibration.json",
    ),
    metric: z.string().default("return").describe(
      "metric of the summary table: return or win_rate",
    ),
    out: z.string().default("runs/sweep").describe("folder of the sweep's runs and summary"),
  }),
  { task: "sweep", summary: "A resumable grid of training runs and one summary table" },
);

const slug = (s: string) => s.replace(/[^A-Za-z0-9_.=-]+/g, "_");
const envArgs = (spec: string) => {
  const [id, opts] = spec.split(":");
  return ["--env", id!, ...(opts ? opts.split(";").flatMap((kv) => ["--env-opt", kv]) : [])];
};
let seeds: number[];
try {
  seeds = parseSeeds(flags.seeds);
} catch (err) {
  console.error(`Error: ${(err as Error).message}`);
  Deno.exit(2);
}
const jobs = grid({
  conditions: list(flags.algos),
  envs: list(flags.envs),
  seeds,
  dir: (algo, env, seed) => join(flags.out, slug(env), `${slug(algo)}-s${seed}`),
});
const common = [
  ...(flags.config ? ["--config", flags.config] : []),
  ...(flags.plugin ? list(flags.plugin).flatMap((p) => ["--plugin", p]) : []),
  ...(flags.trustPlugin ? ["--trust-plugin"] : []),
  ...(flags.totalSteps ? ["--total-steps", String(flags.totalSteps)] : []),
];
// every algorithm and env of the grid (with its options, the base config and the plugins) is
// validated by train.ts --dry-run before any run starts: a typo fails the sweep in seconds, not
// after the first runs of a long grid
const checks = list(flags.algos).flatMap((algo) => list(flags.envs).map((env) => ({ algo, env })));
const problems: string[] = [];
let perIteration = 0; // env steps per iteration of the first combination (from its dry run)
await pool(checks, Math.max(1, navigator.hardwareConcurrency || 1), async ({ algo, env }) => {
  const r = await new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", "train.ts", ...common, ...envArgs(env), ...algoArgs(algo), "--dry-run"],
    stdout: "piped",
    stderr: "piped",
  }).output();
  if (r.code !== 0) {
    const line = new TextDecoder().decode(r.stderr).trim().split("\n").filter(Boolean).pop() ?? "";
    problems.push(`${algo} on ${env}: ${line.replace(/^Error: /, "")}`);
  } else if (algo === checks[0]!.algo && env === checks[0]!.env) {
    const m = new TextDecoder().decode(r.stdout).match(/(\d+) per iteration/);
    perIteration = m ? Number(m[1]) : 0;
  }
});
if (problems.length) {
  for (const p of problems) console.error(`Error: ${p}`);
  console.error(
    `sweep: nothing started (${problems.length} of ${checks.length} combinations invalid)`,
  );
  Deno.exit(2);
}
const exists = (p: string) => Deno.stat(p).then(() => true, () => false);

/**
 * `--workers auto`: one run per core with one learner thread each, or one run at a time with
 * every core, whichever the first run of the grid measures faster over four iterations; the
 * measurement is kept in calibration.json, so a resumed sweep reuses it.
 */
async function autoWorkers(): Promise<number> {
  const cores = Math.max(1, navigator.hardwareConcurrency || 1);
  if (cores < 2 || jobs.length < 2 || !perIteration) return 1;
  const file = join(flags.out, "calibration.json");
  let c: Calibration;
  try {
    c = JSON.parse(await Deno.readTextFile(file));
  } catch {
    const job = jobs[0]!;
    const args = [
      ...common.filter((a, i, all) => a !== "--total-steps" && all[i - 1] !== "--total-steps"),
      ...envArgs(job.env),
      ...algoArgs(job.condition),
      "--seed",
      String(job.seed),
    ];
    console.error(
      `sweep: measuring ${cores} runs x 1 thread against 1 run x ${cores} threads on ${job.condition} / ${job.env} (${
        4 * perIteration
      } env steps each)`,
    );
    c = await calibrateWorkers(args, 4 * perIteration);
    await Deno.writeTextFile(file, JSON.stringify(c, null, 2) + "\n");
  }
  console.error(
    `sweep: ${c.cores} runs x 1 thread: ${
      Math.round(c.parallel)
    } env-steps/s in all; 1 run x ${c.cores} threads: ${
      Math.round(c.threaded)
    }; running ${c.workers} at a time`,
  );
  return c.workers;
}
let done = 0, resumed = 0;
const failed: string[] = [];
await Deno.mkdir(flags.out, { recursive: true });
const workers = flags.workers === "auto" ? await autoWorkers() : flags.workers;
console.error(
  `sweep: ${jobs.length} runs (${list(flags.algos).length} algorithms x ${
    list(flags.envs).length
  } envs x ${seeds.length} seeds), ${workers} at a time, in ${flags.out}`,
);
await pool(jobs, workers, async (job) => {
  try {
    if (await finished(job.dir)) return void done++;
    if (await exists(join(job.dir, "checkpoint.json"))) {
      resumed++;
      await trainRun(["--resume", job.dir], job.dir);
      return;
    }
    await Deno.remove(job.dir, { recursive: true }).catch(() => {}); // left before a checkpoint
    await Deno.mkdir(join(job.dir, ".."), { recursive: true });
    await trainRun([
      ...common,
      ...envArgs(job.env),
      ...algoArgs(job.condition),
      "--seed",
      String(job.seed),
      "--out",
      job.dir,
    ], job.dir);
  } catch (err) {
    failed.push(job.dir);
    console.error(`Error: ${(err as Error).message}`);
  }
});
if (done || resumed) console.error(`(${done} runs were already done, ${resumed} resumed)`);
if (failed.length < jobs.length) {
  const md = await aggregate({
    from: [flags.out],
    metric: flags.metric,
    out: flags.out,
    name: "sweep",
  });
  console.log(md.split("\n").filter((l) => l.startsWith("|")).join("\n"));
  console.error(`wrote ${join(flags.out, "sweep")}.md, .json and _profile.svg`);
}
if (failed.length) {
  console.error(
    `${failed.length} of ${jobs.length} runs failed: ${
      failed.join(", ")
    }; run the sweep again to retry them`,
  );
  Deno.exit(1);
}
