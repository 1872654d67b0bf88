/**
 * What the experiment scripts share: flags parsed from a zod schema (so a typo or a bad number
 * is one clear error, and `--help` lists every flag with its default), a job grid of conditions
 * x envs x seeds run as `train.ts` subprocesses, reading a finished run back, and the
 * statistics reports use (interquartile mean, bootstrap confidence interval).
 *
 * @module
 */
import { parseArgs } from "node:util";
import { join } from "node:path";
import { z } from "../core/deps.ts";
import { formatZodError } from "../core/errors.ts";
import { Rng } from "../core/rng.ts";
import { derived, trainConfig } from "../core/config.ts";
import { maxOf, minOf } from "../core/arrays.ts";

const kebab = (s: string) => s.replace(/[A-Z]/g, (c) => "-" + c.toLowerCase());

/**
 * Parses a script's flags against a schema: `--kebab-case` flags map onto camelCase fields,
 * numbers and booleans are coerced, `--help` prints the flags and exits 0, and a bad flag exits
 * 2 with one line naming it.
 * @param schema the flags (a strict object; `.describe()` gives each flag's help)
 * @param opts the task name and a one-line summary for `--help`; argv (default Deno.args)
 * @returns the parsed flags
 */
export function parseFlags<S extends z.ZodObject>(
  schema: S,
  opts: { task: string; summary: string; argv?: string[] },
): z.infer<S> {
  const js = z.toJSONSchema(schema, { io: "input", unrepresentable: "any" }) as {
    properties?: Record<string, { type?: string; description?: string; default?: unknown }>;
  };
  const props = Object.entries(js.properties ?? {});
  const options: Record<string, { type: "string" | "boolean" }> = { help: { type: "boolean" } };
  for (const [k, p] of props) {
    options[kebab(k)] = { type: p.type === "boolean" ? "boolean" : "string" };
  }
  const fail = (msg: string): never => {
    console.error(`Error: ${msg}; run with --help to see the flags`);
    Deno.exit(2);
  };
  let values: Record<string, unknown> = {};
  try {
    ({ values } = parseArgs({ args: opts.argv ?? Deno.args, options, strict: true }));
  } catch (err) {
    fail((err as Error).message.replace(/\. To specify.*$/s, ""));
  }
  if (values.help) {
    const rows = props.map(([k, p]) =>
      `  --${kebab(k).padEnd(18)} ${(p.type ?? "value").padEnd(8)} ${p.description ?? ""}${
        p.default !== undefined ? ` [default: ${JSON.stringify(p.default)}]` : ""
      }`
    );
    console.log(
      [`${opts.summary}`, "", `Usage: deno task ${opts.task} [flags]`, "", ...rows].join("\n"),
    );
    Deno.exit(0);
  }
  const raw: Record<string, unknown> = {};
  for (const [k, p] of props) {
    const v = values[kebab(k)];
    if (v === undefined) continue;
    if (p.type === "number" || p.type === "integer") {
      const num = Number(v);
      if (v === "" || Number.isNaN(num)) fail(`Invalid --${kebab(k)} "${v}": expected a number`);
      raw[k] = num;
    } else raw[k] = v;
  }
  const r = schema.safeParse(raw);
  if (!r.success) {
    fail(
      `Invalid flag ${
        formatZodError(r.error).replace(/(^|; )(\w+)/g, (_m, a, k) => `${a}--${kebab(k)}`)
      }`,
    );
  }
  return r.data as z.infer<S>;
}

/** `a,b,c` as a list (empty items dropped). */
export function list(s: string): string[] {
  return s.split(",").map((x) => x.trim()).filter(Boolean);
}

/**
 * An algorithm condition `name` or `name:key=value;key=value` as train.ts flags.
 * @param spec the condition
 * @returns `--algo name --algo-opt key=value ...`
 */
export function algoArgs(spec: string): string[] {
  const [name, opts] = spec.split(":");
  return ["--algo", name!, ...(opts ? opts.split(";").flatMap((kv) => ["--algo-opt", kv]) : [])];
}

/** One run of a grid. */
export interface Job<C, E> {
  readonly condition: C;
  readonly env: E;
  readonly seed: number;
  /** The run directory. */
  readonly dir: string;
}

/**
 * Every (condition, env, seed) combination, each with its run directory.
 * @param x conditions, envs, seeds and how to name a run directory
 * @returns the jobs, envs outermost
 */
export function grid<C, E>(x: {
  conditions: readonly C[];
  envs: readonly E[];
  seeds: readonly number[];
  dir: (c: C, e: E, seed: number) => string;
}): Job<C, E>[] {
  return x.envs.flatMap((env) =>
    x.conditions.flatMap((condition) =>
      x.seeds.map((seed) => ({ condition, env, seed, dir: x.dir(condition, env, seed) }))
    )
  );
}

/** A finished (or partly finished) run read back from its directory. */
export interface RunData {
  readonly rows: Record<string, number | null>[];
  readonly summary: Record<string, unknown> | null;
}

/**
 * Reads a run's `metrics.jsonl` and `summary.json` (null when the run has not finished).
 * @param dir the run directory
 * @returns its rows and summary, or null when it has no metrics
 */
export async function readRun(dir: string): Promise<RunData | null> {
  let text: string;
  try {
    text = await Deno.readTextFile(join(dir, "metrics.jsonl"));
  } catch {
    return null;
  }
  const rows = text.trim().split("\n").filter(Boolean).map((l) => JSON.parse(l));
  let summary: Record<string, unknown> | null = null;
  try {
    summary = JSON.parse(await Deno.readTextFile(join(dir, "summary.json")));
  } catch { /* unfinished */ }
  return { rows, summary };
}

/**
 * Interquartile mean: the mean of the middle half of the values (a quarter trimmed from each
 * end, fractional weights at the cut, as in Agarwal et al. 2021).
 * @param xs the values
 * @returns the IQM (NaN for none)
 */
export function iqm(xs: readonly number[]): number {
  if (!xs.length) return NaN;
  const s = [...xs].sort((a, b) => a - b);
  const n = s.length, lo = n / 4, hi = (3 * n) / 4;
  let sum = 0, w = 0;
  for (let i = 0; i < n; i++) {
    const wi = Math.max(0, Math.min(i + 1, hi) - Math.max(i, lo)); // overlap of [i, i+1) with [lo, hi)
    sum += wi * s[i]!;
    w += wi;
  }
  return sum / w;
}

/**
 * Percentile bootstrap confidence interval of a statistic over runs.
 * @param xs per-run values
 * @param stat the statistic (default the IQM)
 * @param opts resamples, level and seed
 * @returns [low, high]
 */
export function bootstrapCi(
  xs: readonly number[],
  stat: (v: readonly number[]) => number = iqm,
  opts: { resamples?: number; level?: number; seed?: number } = {},
): [number, number] {
  if (!xs.length) return [NaN, NaN];
  const B = opts.resamples ?? 2000, level = opts.level ?? 0.95;
  const rng = new Rng(opts.seed ?? 0);
  const stats = Array.from(
    { length: B },
    () => stat(Array.from({ length: xs.length }, () => xs[rng.int(xs.length)]!)),
  ).sort((a, b) => a - b);
  const at = (p: number) => stats[Math.min(B - 1, Math.max(0, Math.floor(p * B)))]!;
  return [at((1 - level) / 2), at(1 - (1 - level) / 2)];
}

/**
 * The gap `IQM(base) - IQM(est)` and its stratified-bootstrap CI (each group resampled with
 * replacement on its own).
 * @param base the baseline's per-seed values
 * @param est the estimator's per-seed values
 * @param opts resamples, level, seed
 * @returns the gap and [low, high]
 */
export function gapCi(
  base: readonly number[],
  est: readonly number[],
  opts: { resamples?: number; level?: number; seed?: number } = {},
): { gap: number; lo: number; hi: number } {
  const B = opts.resamples ?? 2000, level = opts.level ?? 0.95, rng = new Rng(opts.seed ?? 0);
  const draw = (xs: readonly number[]) =>
    Array.from({ length: xs.length }, () => xs[rng.int(xs.length)]!);
  const gaps = Array.from({ length: B }, () => iqm(draw(base)) - iqm(draw(est))).sort((a, b) =>
    a - b
  );
  const q = (p: number) => gaps[Math.min(B - 1, Math.max(0, Math.floor(p * B)))]!;
  return { gap: iqm(base) - iqm(est), lo: q((1 - level) / 2), hi: q(1 - (1 - level) / 2) };
}

/** Seeds below which an interval is the range of the seeds, not a 95% confidence interval. */
export const MIN_SEEDS_FOR_CI = 5;

/** An interval over seeds, and what it is. */
export interface SeedInterval {
  /** Low end. */
  readonly lo: number;
  /** High end. */
  readonly hi: number;
  /** "95% CI" (percentile bootstrap of the IQM) or "range of seeds" (min and max). */
  readonly kind: "95% CI" | "range of seeds";
}

/**
 * The interval a report shows for a statistic over seeds: with 5 or more seeds the 95%
 * percentile-bootstrap CI of the IQM; with fewer, the range of the seeds, labelled so (with 3 seeds
 * a bootstrap "95% CI" is always exactly the range, and has no 95% meaning).
 * @param xs per-seed values
 * @returns the interval and its kind
 */
export function seedInterval(xs: readonly number[]): SeedInterval {
  if (xs.length < MIN_SEEDS_FOR_CI) {
    return { lo: minOf(xs), hi: maxOf(xs), kind: "range of seeds" };
  }
  const [lo, hi] = bootstrapCi(xs);
  return { lo, hi, kind: "95% CI" };
}

/**
 * Two-sided permutation test of a difference in means between two groups of runs: the fraction
 * of relabellings whose |mean difference| is at least the observed one. Exact (every relabelling)
 * when there are at most 50,000 of them, else 20,000 random ones (seeded).
 * @param a one group's values
 * @param b the other's
 * @returns the p-value (1 when either group is empty)
 */
export function permutationP(a: readonly number[], b: readonly number[]): number {
  if (!a.length || !b.length) return 1;
  const all = [...a, ...b], n = all.length, k = a.length;
  const total = all.reduce((x, y) => x + y, 0);
  const diff = (sumA: number) => Math.abs(sumA / k - (total - sumA) / (n - k));
  const observed = diff(a.reduce((x, y) => x + y, 0)) - 1e-12;
  let count = 0, tried = 0;
  let comb = 1;
  for (let i = 0; i < k; i++) comb = (comb * (n - i)) / (i + 1);
  if (comb <= 50_000) {
    const pick = (start: number, left: number, sum: number): void => {
      if (left === 0) {
        tried++;
        if (diff(sum) >= observed) count++;
        return;
      }
      for (let i = start; i <= n - left; i++) pick(i + 1, left - 1, sum + all[i]!);
    };
    pick(0, k, 0);
  } else {
    const rng = new Rng(12345);
    const idx = all.map((_, i) => i);
    for (tried = 0; tried < 20_000; tried++) {
      for (let i = n - 1; i > 0; i--) {
        const j = rng.int(i + 1);
        [idx[i], idx[j]] = [idx[j]!, idx[i]!];
      }
      let sum = 0;
      for (let i = 0; i < k; i++) sum += all[idx[i]!]!;
      if (diff(sum) >= observed) count++;
    }
  }
  return count / tried;
}

/**
 * Whether a run trained its whole budget: its summary reports the env steps its config asks for
 * (a run stopped by a signal also writes a summary, at the step it stopped).
 * @param dir the run directory
 * @returns true when finished
 */
export async function finished(dir: string): Promise<boolean> {
  try {
    const s = JSON.parse(await Deno.readTextFile(join(dir, "summary.json")));
    const c = trainConfig.parse(
      Object.fromEntries(
        Object.entries(JSON.parse(await Deno.readTextFile(join(dir, "config.json"))))
          .filter(([k]) => k !== "meta" && k !== "backendUsed"),
      ),
    );
    const { iterations, stepsPerIter } = derived(c);
    return s.env_steps >= iterations * stepsPerIter;
  } catch {
    return false;
  }
}
