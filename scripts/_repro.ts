/**
 * Shared pieces of the `repro:*` scripts: a worker pool, mean/std, and a `train.ts` run in a
 * subprocess.
 *
 * @module
 */
import { maxOf, minOf } from "../core/arrays.ts";
import type { Series } from "./_plot.ts";

/**
 * Maps `f` over `items` with at most `n` in flight, printing progress to stderr.
 * @param items the work
 * @param n parallel workers
 * @param f the job
 * @returns results in input order
 */
export async function pool<T, R>(items: T[], n: number, f: (t: T) => Promise<R>): Promise<R[]> {
  // the cores are shared among the runs at a time: each run's learner gets its share (--threads)
  runThreads = Math.max(1, Math.floor(cores() / Math.max(1, Math.min(n, items.length))));
  return await poolQuiet(items, n, f);
}

/** {@link pool} without setting the runs' thread share (the caller passes `--threads`). */
async function poolQuiet<T, R>(items: T[], n: number, f: (t: T) => Promise<R>): Promise<R[]> {
  const out: R[] = new Array(items.length);
  let next = 0, done = 0;
  const t0 = performance.now();
  await Promise.all(Array.from({ length: Math.min(n, items.length) }, async () => {
    while (next < items.length) {
      const k = next++;
      out[k] = await f(items[k]!);
      done++;
      const el = (performance.now() - t0) / 1000;
      console.error(
        `[${done}/${items.length}] ${el.toFixed(0)}s elapsed, ETA ${
          ((el / done) * (items.length - done)).toFixed(0)
        }s`,
      );
    }
  }));
  return out;
}

/**
 * A learning-curve series: mean over runs with a min-max band, at the first run's x values.
 * @param label legend label
 * @param curves one curve per run, each `[x, y]` points
 * @returns the series for `lineChart`
 */
export function bandSeries(label: string, curves: [number, number][][]): Series {
  const xs = curves[0]!.map((c) => c[0]);
  const at = (i: number) => curves.map((c) => c[i]?.[1] ?? NaN);
  return {
    label,
    x: xs,
    y: xs.map((_, i) => stat(at(i)).m),
    lo: xs.map((_, i) => minOf(at(i))),
    hi: xs.map((_, i) => maxOf(at(i))),
  };
}

/** Mean and sample standard deviation. */
export function stat(xs: number[]): { m: number; sd: number } {
  const m = xs.reduce((a, b) => a + b, 0) / xs.length;
  const sd = Math.sqrt(xs.reduce((a, b) => a + (b - m) ** 2, 0) / Math.max(1, xs.length - 1));
  return { m, sd };
}

const cores = () => navigator.hardwareConcurrency || 1;
const children = new Set<Deno.ChildProcess>();
let forwarding = false;

/**
 * Ctrl-C, SIGTERM or SIGHUP to a script reach every training run it started: each writes its
 * checkpoint and exits (train.ts), then the script exits with 128 + the signal's number, leaving no
 * orphaned run behind; running the script again continues (finished runs are kept).
 */
function forwardSignals(): void {
  if (forwarding) return;
  forwarding = true;
  for (const [sig, code] of [["SIGINT", 130], ["SIGTERM", 143], ["SIGHUP", 129]] as const) {
    Deno.addSignalListener(sig, () => {
      console.error(`\n${sig}: stopping ${children.size} run(s) after their checkpoints`);
      const running = [...children];
      for (const c of running) {
        try {
          c.kill(sig);
        } catch { /* already gone */ }
      }
      Promise.allSettled(running.map((c) => c.status)).then(() => Deno.exit(code));
    });
  }
}
let runThreads = 0;

/**
 * Runs `train.ts` with `args` in a subprocess (quiet), with its share of the cores as `--threads`
 * when started from {@link pool}; throws with the tail of its stderr.
 * @param args train.ts flags, including `--out`
 * @param what names the run in errors
 */
export async function trainRun(args: string[], what: string): Promise<void> {
  forwardSignals();
  const child = new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      "-A",
      new URL("../train.ts", import.meta.url).pathname,
      ...args,
      ...(runThreads > 0 && !args.includes("--threads") ? ["--threads", String(runThreads)] : []),
      "--quiet",
    ],
    stdout: "piped",
    stderr: "piped",
    env: { NO_COLOR: "1", RUST_BACKTRACE: "0" },
  }).spawn();
  children.add(child);
  const out = await child.output().finally(() => children.delete(child));
  if (out.code !== 0) {
    throw new Error(
      `Run ${what} failed (exit ${out.code}): ${
        new TextDecoder().decode(out.stderr).trim().slice(-500)
      }`,
    );
  }
}

/** What {@link calibrateWorkers} measured and chose. */
export interface Calibration {
  /** Runs at a time chosen. */
  readonly workers: number;
  /** Env steps per second of `cores` single-thread runs side by side (summed). */
  readonly parallel: number;
  /** Env steps per second of one run with `cores` learner threads. */
  readonly threaded: number;
  /** Cores, and the calibration budget per run. */
  readonly cores: number;
  readonly steps: number;
}

/**
 * Measures, on the first run of a grid, whether `cores` single-thread runs side by side beat one
 * run with `cores` learner threads (each run's env steps over its own training wall time, from
 * its summary.json), and chooses the runs at a time accordingly.
 * @param args train.ts flags of a run (no `--out`, `--threads`, `--total-steps`)
 * @param steps env steps per calibration run (a few iterations)
 * @returns the measurement and the choice
 */
export async function calibrateWorkers(args: string[], steps: number): Promise<Calibration> {
  const n = cores();
  const dir = await Deno.makeTempDir({ prefix: "baton_calibrate_" });
  const rate = async (out: string) => {
    const s = JSON.parse(await Deno.readTextFile(`${out}/summary.json`));
    return s.env_steps / Math.max(s.wall_s, 1e-9);
  };
  const run = (name: string, threads: number) =>
    trainRun([
      ...args,
      "--total-steps",
      String(steps),
      "--threads",
      String(threads),
      "--out",
      `${dir}/${name}`,
    ], `calibration ${name}`)
      .then(() => rate(`${dir}/${name}`));
  try {
    const threaded = await run("threaded", n);
    const parallel = (await poolQuiet(
      Array.from({ length: n }, (_, i) => i),
      n,
      (i) => run(`p${i}`, 1),
    ))
      .reduce((a, b) => a + b, 0);
    return { workers: parallel >= threaded ? n : 1, parallel, threaded, cores: n, steps };
  } finally {
    await Deno.remove(dir, { recursive: true }).catch(() => {});
  }
}
