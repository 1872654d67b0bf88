/**
 * `deno task runs:table`: a campaign's table straight from its run folders, finished or not (the
 * verdict campaign's part B and the MAT results, issues 31 and 33). For every run below `--from`
 * (a folder with `config.json` and `evaluations.jsonl`) it reads the last evaluation: the env steps
 * it reached and the greedy and stochastic means of `--metric` (`win_rate`, `return`, or `auto`,
 * the default: `win_rate` where the env reports wins, else `return`, so one call covers a campaign
 * of smax and MuJoCo envs). Per env and condition (the sweep's run folder name without `-s<seed>`):
 *
 * - the env steps each run reached (so a partial chunk says how far it got);
 * - final greedy and stochastic metric: IQM over seeds with an interval (95% bootstrap CI from 5
 *   runs, else the range of the runs, labelled so), every seed listed;
 * - the greedy metric at the budget every run of the env reached (the last evaluation at or below
 *   it), so runs stopped at different budgets are compared at the same one;
 * - the area under the greedy and stochastic curves up to that budget (the mean of the evaluations,
 *   part A's definition);
 * - permutation p-values against `--baseline` (when given) on that matched value and on the greedy
 *   area, and each condition's difference to the baseline (IQM minus the baseline's IQM) with a
 *   stratified-bootstrap 95% CI (from 5 seeds a side): by how much, not only whether;
 * - one SVG of the greedy curves per env (mean over seeds, min-max band), and with a baseline one
 *   chart of every condition's difference to it per env (dot and 95% CI);
 * - with more than one env, a summary table first: condition by env, the finished runs' values;
 * - a CSV beside the report with one line per run (every seed of every cell), with its wall time;
 * - with `--diagnostics` (training metrics of `metrics.jsonl`, e.g.
 *   `bppo/grad_peer_over_own,losses/clip_frac,losses/approx_kl`), a table per env of each
 *   condition's wall time per run and each metric's mean over a run's iterations, then over its
 *   seeds (with the seeds' range), so a report says how hard each learner pushed, not only where
 *   it got; the per-run means go in the CSV too.
 *
 * @module
 */
import { basename, dirname, join } from "node:path";
import { z } from "../core/deps.ts";
import {
  finished,
  gapCi,
  iqm,
  list,
  MIN_SEEDS_FOR_CI,
  parseFlags,
  permutationP,
  seedInterval,
} from "./_sweep.ts";
import { forestChart, type ForestRow, lineChart, type Series } from "./_plot.ts";
import { maxOf, minOf } from "../core/arrays.ts";

/** One run's evaluations. */
export interface RunEvals {
  readonly env: string;
  readonly condition: string;
  readonly seed: number;
  /** Whether it reached its whole budget (scripts/_sweep.ts `finished`, as a sweep decides). */
  readonly finished: boolean;
  /** The metric read: `win_rate` or `return` (`auto` resolved per run). */
  readonly metric: "win_rate" | "return";
  /** `[env steps, greedy mean, stochastic mean]` per evaluation, in order. */
  readonly points: [number, number, number][];
  /** Wall seconds to the last recorded iteration (resumed runs count every stretch; NaN: none). */
  readonly wallS: number;
  /** Per requested training metric, its mean over the run's iterations (NaN where never logged). */
  readonly diagnostics: Readonly<Record<string, number>>;
}

/**
 * The records of a JSON-lines file a live run may be appending to: a last line without its newline
 * that does not parse yet is left out (the next read gets it); any other bad line is an error
 * naming the file and line.
 * @param text the file's text
 * @param file its path, for the error
 * @returns the records
 */
export function jsonLines(text: string, file: string): Record<string, unknown>[] {
  const lines = text.split("\n"), out: Record<string, unknown>[] = [];
  for (let i = 0; i < lines.length; i++) {
    if (!lines[i]!.trim()) continue;
    try {
      out.push(JSON.parse(lines[i]!));
    } catch {
      if (i === lines.length - 1) break; // being written
      throw new Error(`${file} line ${i + 1} is not JSON: the run folder is damaged`);
    }
  }
  return out;
}

/**
 * A run's training diagnostics from its `metrics.jsonl`: the wall seconds of the last iteration
 * and each key's mean over the iterations that logged a finite value.
 * @param text the file's text ("" when absent)
 * @param keys the metrics to average
 * @param file its path, for errors
 * @returns wall seconds and the means
 */
export function diagnosticsOf(
  text: string,
  keys: readonly string[],
  file = "metrics.jsonl",
): { wallS: number; diagnostics: Record<string, number> } {
  const sums = keys.map(() => 0), counts = keys.map(() => 0);
  let wallS = NaN;
  for (const rec of jsonLines(text, file)) {
    if (typeof rec.wall_s === "number") wallS = rec.wall_s;
    keys.forEach((key, i) => {
      const v = rec[key];
      if (typeof v === "number" && Number.isFinite(v)) (sums[i]! += v), counts[i]!++;
    });
  }
  return {
    wallS,
    diagnostics: Object.fromEntries(
      keys.map((key, i) => [key, counts[i] ? sums[i]! / counts[i]! : NaN]),
    ),
  };
}

/**
 * The condition of a sweep's run folder: its name without `-s<seed>`, with the sweep's `_`
 * between an algorithm and its first option put back to `:` (`bppo_estimator=pathwise`).
 * @param dir the run folder's name
 * @returns condition and seed
 */
export function conditionOf(dir: string): { condition: string; seed: number } {
  const m = /^(.*)-s(\d+)$/.exec(dir);
  const base = m ? m[1]! : dir;
  return {
    condition: base.replace(/^([a-z0-9]+)_([A-Za-z]+=)/, "$1:$2"),
    seed: m ? Number(m[2]) : 0,
  };
}

/**
 * Reads every run below the folders.
 * @param roots folders to search
 * @param metric `win_rate`, `return`, or `auto` (`win_rate` where the evaluations carry wins)
 * @param diagnostics training metrics of `metrics.jsonl` to average per run
 * @returns the runs with at least one evaluation
 */
export async function readRuns(
  roots: readonly string[],
  metric: "win_rate" | "return" | "auto",
  diagnostics: readonly string[] = [],
): Promise<RunEvals[]> {
  const out: RunEvals[] = [];
  const walk = async (d: string): Promise<void> => {
    const names: string[] = [];
    for await (const e of Deno.readDir(d)) names.push(e.name);
    if (names.includes("evaluations.jsonl") && names.includes("config.json")) {
      const cfg = JSON.parse(await Deno.readTextFile(join(d, "config.json")));
      const evals = join(d, "evaluations.jsonl");
      // deno-lint-ignore no-explicit-any
      const rows = jsonLines(await Deno.readTextFile(evals), evals) as any[];
      const m = metric !== "auto"
        ? metric
        : rows.some((r) => Array.isArray(r.greedy?.wins) && r.greedy.wins.length)
        ? "win_rate"
        : "return";
      const mean = (e: { returns: number[]; wins: number[] | null }) => {
        const xs = m === "win_rate" ? e.wins ?? [] : e.returns;
        return xs.length ? xs.reduce((a, b) => a + b, 0) / xs.length : NaN;
      };
      if (rows.length) {
        const mf = join(d, "metrics.jsonl");
        const metrics = names.includes("metrics.jsonl") ? await Deno.readTextFile(mf) : "";
        out.push({
          ...diagnosticsOf(metrics, diagnostics, mf),
          env: String(cfg.env),
          ...conditionOf(basename(d)),
          // a summary of the whole budget (a stopped run's summary is of where it stopped)
          finished: await finished(d),
          metric: m,
          points: rows.map((r) => [r.env_steps, mean(r.greedy), mean(r.stochastic)]),
        });
      }
      return;
    }
    for (const n of names.sort()) {
      const p = join(d, n);
      if ((await Deno.stat(p)).isDirectory) await walk(p);
    }
  };
  for (const r of roots) await walk(r);
  return out;
}

/**
 * The area under a run's evaluation curve up to `steps`: the mean of its evaluations at or below
 * it (part A's definition, scripts/repro_ablation.ts), greedy (`col` 1) or stochastic (2).
 */
function auc(r: RunEvals, steps: number, col: 1 | 2): number {
  const ys = r.points.filter((p) => p[0] <= steps).map((p) => p[col]);
  return ys.length ? ys.reduce((a, b) => a + b, 0) / ys.length : NaN;
}

/** The greedy value of a run at the last evaluation at or below `steps`. */
function at(r: RunEvals, steps: number): number {
  let v = NaN;
  for (const [s, g] of r.points) if (s <= steps) v = g;
  return v;
}

/** A number formatter for one env's values: whole units where they reach 100 (MuJoCo returns). */
const fmtFor = (rs: readonly RunEvals[]) => {
  const whole = rs.some((r) => r.points.some((p) => Math.abs(p[1]) >= 100));
  return (x: number) => (!Number.isFinite(x) ? "-" : x.toFixed(whole ? 0 : 2));
};
const pv = (p: number) => (p < 0.001 ? "<0.001" : p.toFixed(3));
const k = (s: number) =>
  s >= 1e6 ? `${+(s / 1e6).toFixed(2)}M` : s >= 1e4 ? `${Math.round(s / 1e3)}k` : `${s}`;

/**
 * One table over envs (a campaign's headline): per condition and env, the final greedy metric of
 * the finished runs (those that reached their whole budget; runs in flight are counted, not
 * pooled), IQM over seeds with its interval, and the permutation p against the baseline's
 * finished runs.
 */
function summary(runs: readonly RunEvals[], envs: readonly string[], baseline?: string): string[] {
  const conds = [...new Set(runs.map((r) => r.condition))];
  const cols = envs.map((env) => {
    const rs = runs.filter((r) => r.env === env), done = rs.filter((r) => r.finished);
    const steps = done.map((r) => r.points.at(-1)![0]);
    const budget = !steps.length
      ? "none finished"
      : minOf(steps) === maxOf(steps)
      ? k(steps[0]!)
      : `${k(minOf(steps))}-${k(maxOf(steps))}`;
    const vals = (c: string) =>
      done.filter((r) => r.condition === c).map((r) => r.points.at(-1)![1]);
    const all = (c: string) => rs.filter((r) => r.condition === c).length;
    const metric = [...new Set(rs.map((r) => r.metric))].join(" and ");
    return { env, vals, all, budget, metric, f2: fmtFor(rs) };
  });
  const out = [
    "## Summary",
    "",
    `Final greedy metric of the finished runs: IQM over seeds [interval] (finished of all runs)${
      baseline ? `, and p against ${baseline}'s finished runs` : ""
    }; the env steps the finished runs reached are in each column's head.`,
    "",
    `| condition | ${cols.map((c) => `${c.env} (${c.metric}, ${c.budget})`).join(" | ")} |`,
    `|---|${cols.map(() => "---:").join("|")}|`,
  ];
  for (const c of conds) {
    const cells = cols.map((col) => {
      const xs = col.vals(c), n = col.all(c);
      if (!n) return "-";
      if (!xs.length) return `- (0 of ${n})`;
      const i = seedInterval(xs), base = baseline ? col.vals(baseline) : [];
      const p = baseline && c !== baseline && base.length
        ? `, p ${pv(permutationP(xs, base))}`
        : "";
      const f2 = col.f2;
      return `${f2(iqm(xs))} [${f2(i.lo)}, ${f2(i.hi)}]${
        i.kind === "95% CI" ? "" : " (range)"
      } (${xs.length} of ${n})${p}`;
    });
    out.push(`| ${c} | ${cells.join(" | ")} |`);
  }
  out.push("");
  return out;
}

/**
 * A condition's difference to the baseline: IQM minus IQM, with a stratified-bootstrap 95% CI
 * from 5 seeds a side (NaN bounds below that).
 */
function diff(xs: readonly number[], bs: readonly number[]): Omit<ForestRow, "label"> {
  if (xs.length < MIN_SEEDS_FOR_CI || bs.length < MIN_SEEDS_FOR_CI) {
    return { est: iqm(xs) - iqm(bs), lo: NaN, hi: NaN };
  }
  const g = gapCi(xs, bs);
  return { est: g.gap, lo: g.lo, hi: g.hi };
}

/** Three significant digits, no trailing zeros (diagnostics span 1e-4 to 1e2). */
const sig = (x: number) => (Number.isFinite(x) ? String(Number(x.toPrecision(3))) : "-");

/**
 * One env's training diagnostics: per condition, the wall time per run and each metric's mean over
 * its runs (each run's mean over its iterations), with the runs' range.
 */
function diagnosticsTable(
  rs: readonly RunEvals[],
  conds: readonly string[],
  keys: readonly string[],
): string[] {
  const cell = (xs: number[]) => {
    const v = xs.filter(Number.isFinite);
    if (!v.length) return "-";
    const mean = v.reduce((a, b) => a + b, 0) / v.length;
    return v.length > 1 ? `${sig(mean)} [${sig(minOf(v))}, ${sig(maxOf(v))}]` : sig(mean);
  };
  const out = [
    "",
    "Training diagnostics: mean over runs [the runs' range] of each run's mean over its iterations (`metrics.jsonl`); wall time per run to its last iteration, in seconds (context, not a benchmark: the runs shared the machine with whatever else ran):",
    "",
    `| condition | wall s per run | ${keys.map((key) => `\`${key}\``).join(" | ")} |`,
    `|---|---:|${keys.map(() => "---:").join("|")}|`,
  ];
  for (const c of conds) {
    const cr = rs.filter((r) => r.condition === c);
    const wall = cr.map((r) => r.wallS).filter(Number.isFinite);
    const w = wall.length
      ? `${Math.round(wall.reduce((a, b) => a + b, 0) / wall.length)} [${
        Math.round(minOf(wall))
      }, ${Math.round(maxOf(wall))}]`
      : "-";
    out.push(
      `| ${c} | ${w} | ${
        keys.map((key) => cell(cr.map((r) => r.diagnostics[key] ?? NaN))).join(" | ")
      } |`,
    );
  }
  return out;
}

/**
 * Every run as one CSV line: env, condition, seed, whether it finished, the env steps it reached,
 * the metric, its final greedy and stochastic values, and at the budget every run of its env
 * reached: that budget, the greedy value there and the greedy and stochastic areas to it; then its
 * wall seconds and its training diagnostics (means over its iterations), when read.
 * @param runs the runs
 * @returns the CSV text
 */
export function runsCsv(runs: readonly RunEvals[]): string {
  const keys = [...new Set(runs.flatMap((r) => Object.keys(r.diagnostics)))];
  const head =
    "env,condition,seed,finished,env_steps,metric,final_greedy,final_stochastic,matched_steps,greedy_at_matched,greedy_auc,stochastic_auc,wall_s" +
    keys.map((key) => `,${key}`).join("");
  const common = new Map<string, number>();
  for (const r of runs) {
    common.set(r.env, Math.min(common.get(r.env) ?? Infinity, r.points.at(-1)![0]));
  }
  const rows = [...runs].sort((a, b) =>
    a.env.localeCompare(b.env) || a.condition.localeCompare(b.condition) || a.seed - b.seed
  ).map((r) => {
    const [steps, g, st] = r.points.at(-1)!, m = common.get(r.env)!;
    return [
      r.env,
      r.condition,
      r.seed,
      r.finished,
      steps,
      r.metric,
      g,
      st,
      m,
      at(r, m),
      auc(r, m, 1),
      auc(r, m, 2),
      r.wallS,
      ...keys.map((key) => r.diagnostics[key] ?? NaN),
    ].join(",");
  });
  return [head, ...rows].join("\n") + "\n";
}

/**
 * The tables (and curves) of a set of runs.
 * @param runs the runs
 * @param o baseline condition, the plot file name of an env (each env's metric is its runs') and
 *   the training metrics to tabulate per condition (read by `readRuns`)
 * @returns markdown and SVGs by file name
 */
export function runsTable(
  runs: readonly RunEvals[],
  o: { baseline?: string; svgName: (env: string) => string; diagnostics?: readonly string[] },
): { md: string; svgs: Record<string, string> } {
  const lines: string[] = [], svgs: Record<string, string> = {};
  const envs = [...new Set(runs.map((r) => r.env))].sort();
  if (envs.length > 1) lines.push(...summary(runs, envs, o.baseline));
  const headAt = lines.length; // the differences chart goes after the summary
  const panels: { title: string; rows: ForestRow[] }[] = [];
  for (const env of envs) {
    const rs = runs.filter((r) => r.env === env), f2 = fmtFor(rs);
    const metric = [...new Set(rs.map((r) => r.metric))].join(" and ");
    const common = minOf(rs.map((r) => r.points.at(-1)![0]));
    const conds = [...new Set(rs.map((r) => r.condition))];
    const base = o.baseline ? rs.filter((r) => r.condition === o.baseline) : [];
    lines.push(
      `## ${env}`,
      "",
      `Metric: ${metric} (mean over each evaluation's episodes). Matched budget: ${
        k(common)
      } env steps, the most every run below reached.`,
      "",
      `| condition | runs (finished) | env steps reached | final greedy, IQM [interval] | final stochastic, IQM [interval] | greedy at ${
        k(common)
      }, IQM [interval] |${
        o.baseline ? ` p vs ${o.baseline} (at ${k(common)}) |` : ""
      } greedy AUC to ${k(common)}, IQM [interval] | stochastic AUC to ${
        k(common)
      }, IQM [interval] |${
        o.baseline ? ` p vs ${o.baseline} (greedy AUC) |` : ""
      } final greedy per seed (steps) |`,
      `|---|---:|---|---:|---:|---:|${o.baseline ? "---:|" : ""}---:|---:|${
        o.baseline ? "---:|" : ""
      }---|`,
    );
    for (const c of conds) {
      const cr = rs.filter((r) => r.condition === c).sort((a, b) => a.seed - b.seed);
      const last = cr.map((r) => r.points.at(-1)!);
      const iv = (xs: number[]) => {
        const i = seedInterval(xs);
        return `${f2(iqm(xs))} [${f2(i.lo)}, ${f2(i.hi)}]${i.kind === "95% CI" ? "" : " (range)"}`;
      };
      const matched = cr.map((r) => at(r, common));
      const aucG = cr.map((r) => auc(r, common, 1)), aucS = cr.map((r) => auc(r, common, 2));
      const pOf = (xs: number[], f: (r: RunEvals) => number) =>
        o.baseline
          ? ` ${c === o.baseline || !base.length ? "-" : pv(permutationP(xs, base.map(f)))} |`
          : "";
      const steps = last.map((p) => p[0]);
      lines.push(
        `| ${c} | ${cr.length} (${cr.filter((r) => r.finished).length}) | ${
          minOf(steps) === maxOf(steps) ? k(steps[0]!) : `${k(minOf(steps))}-${k(maxOf(steps))}`
        } | ${iv(last.map((p) => p[1]))} | ${iv(last.map((p) => p[2]))} | ${iv(matched)} |${
          pOf(matched, (r) => at(r, common))
        } ${iv(aucG)} | ${iv(aucS)} |${pOf(aucG, (r) => auc(r, common, 1))} ${
          cr.map((r, q) => `s${r.seed} ${f2(last[q]![1])} (${k(last[q]![0])})`).join(", ")
        } |`,
      );
    }
    if (o.baseline && base.length) {
      const gap = (xs: number[], bs: number[]) => {
        const g = diff(xs, bs);
        return Number.isFinite(g.lo)
          ? `${f2(g.est)} [${f2(g.lo)}, ${f2(g.hi)}]`
          : `${f2(g.est)} (no CI under ${MIN_SEEDS_FOR_CI} seeds a side)`;
      };
      lines.push(
        "",
        `Differences to ${o.baseline} (IQM of the condition minus the baseline's; positive: the condition is higher), stratified-bootstrap 95% CI (seeds resampled within each side):`,
        "",
        `| condition | greedy at ${k(common)} | greedy AUC to ${k(common)} | stochastic AUC to ${
          k(common)
        } |`,
        "|---|---:|---:|---:|",
      );
      const forest: ForestRow[] = [];
      for (const c of conds.filter((c) => c !== o.baseline)) {
        const cr = rs.filter((r) => r.condition === c);
        const of = (f: (r: RunEvals) => number) => gap(cr.map(f), base.map(f));
        const matched = (r: RunEvals) => at(r, common);
        forest.push({ label: c, ...diff(cr.map(matched), base.map(matched)) });
        lines.push(
          `| ${c} | ${of((r) => at(r, common))} | ${of((r) => auc(r, common, 1))} | ${
            of((r) => auc(r, common, 2))
          } |`,
        );
      }
      panels.push({ title: `${env} (${metric}, ${k(common)})`, rows: forest });
    }
    if (o.diagnostics?.length) lines.push(...diagnosticsTable(rs, conds, o.diagnostics));
    const series: Series[] = conds.map((c) => {
      const cr = rs.filter((r) => r.condition === c);
      const xs = [...new Set(cr.flatMap((r) => r.points.map((p) => p[0])))].sort((a, b) => a - b)
        .filter((x) => x <= common);
      const ys = xs.map((x) => cr.map((r) => at(r, x)).filter(Number.isFinite));
      return {
        label: c,
        x: xs,
        y: ys.map((v) => v.reduce((a, b) => a + b, 0) / Math.max(1, v.length)),
        lo: ys.map((v) => minOf(v)),
        hi: ys.map((v) => maxOf(v)),
      };
    });
    const file = o.svgName(env);
    svgs[file] = lineChart(series, {
      title: `${env}: greedy ${metric} (mean over seeds, min-max band)`,
      xLabel: "env steps",
      yLabel: metric,
      ...(metric === "win_rate" ? { yRange: [0, 1] as [number, number] } : {}),
    });
    lines.push("", `![${env}](${file})`, "");
  }
  if (panels.some((p) => p.rows.length)) {
    // every panel lists the same conditions, in one order (a missing one plots nothing)
    const labels = [...new Set(panels.flatMap((p) => p.rows.map((r) => r.label)))];
    const none = { est: NaN, lo: NaN, hi: NaN };
    const file = o.svgName("differences");
    svgs[file] = forestChart(
      panels.map((p) => ({
        title: p.title,
        rows: labels.map((l) => p.rows.find((r) => r.label === l) ?? { label: l, ...none }),
      })),
      {
        title: `Difference to ${o.baseline} at the matched budget (IQM gap, 95% CI)`,
        xLabel: "greedy metric of the condition minus the baseline's (0: no difference)",
      },
    );
    lines.splice(
      headAt,
      0,
      `Differences to ${o.baseline} at each env's matched budget, greedy (dot: IQM of the condition minus the baseline's; bar: stratified-bootstrap 95% CI, drawn from 5 seeds a side):`,
      "",
      `![differences to ${o.baseline}](${file})`,
      "",
    );
  }
  return { md: lines.join("\n"), svgs };
}

if (import.meta.main) {
  const flags = parseFlags(
    z.strictObject({
      from: z.string().describe("run folders to search, comma-separated"),
      metric: z.enum(["win_rate", "return", "auto"]).default("auto").describe(
        "the metric: win_rate, return, or auto (win_rate where the env reports wins, else return)",
      ),
      baseline: z.string().optional().describe("condition the others are tested against"),
      out: z.string().describe("the markdown report (its CSV of every run and SVGs beside it)"),
      title: z.string().default("Runs").describe("the report's title"),
      diagnostics: z.string().default("").describe(
        "training metrics of metrics.jsonl to average per condition, comma-separated (e.g. bppo/grad_peer_over_own,losses/clip_frac)",
      ),
    }),
    {
      task: "runs:table",
      summary:
        "a campaign's table from its run folders, finished or not: budget reached, greedy and stochastic IQMs, matched-budget tests, curves",
    },
  );
  const diagnostics = list(flags.diagnostics);
  for (const root of list(flags.from)) {
    if (!(await Deno.stat(root).then((st) => st.isDirectory, () => false))) {
      console.error(`Error: --from ${root} is not a folder; pass the campaign's run folders`);
      Deno.exit(2);
    }
  }
  const runs = await readRuns(list(flags.from), flags.metric, diagnostics).catch((e: Error) => {
    console.error(`Error: ${e.message}`);
    return Deno.exit(2);
  });
  if (!runs.length) {
    console.error(`Error: no runs with evaluations below --from ${flags.from}`);
    Deno.exit(2);
  }
  const conditions = [...new Set(runs.map((r) => r.condition))].sort();
  if (flags.baseline && !conditions.includes(flags.baseline)) {
    console.error(
      `Error: --baseline ${flags.baseline} is not a condition of these runs; use one of: ${
        conditions.join(", ")
      }`,
    );
    Deno.exit(2);
  }
  const dir = dirname(flags.out), stem = basename(flags.out).replace(/\.md$/, "");
  const { md, svgs } = runsTable(runs, {
    baseline: flags.baseline,
    svgName: (env) => `${stem}_${env.replace(/[^A-Za-z0-9]+/g, "_")}.svg`,
    diagnostics,
  });
  const head = [
    `# ${flags.title}`,
    "",
    `Generated by \`deno task runs:table --from ${flags.from} --metric ${flags.metric}${
      flags.baseline ? ` --baseline ${flags.baseline}` : ""
    }${diagnostics.length ? ` --diagnostics ${diagnostics.join(",")}` : ""}\` on ${
      new Date().toISOString().slice(0, 10)
    }: ${runs.length} runs, ${
      runs.filter((r) => r.finished).length
    } finished. Each run's last evaluation; intervals are 95% percentile-bootstrap CIs of the IQM over seeds from 5 runs on, else the range of the runs; p: two-sided permutation tests (uncorrected).`,
    "",
  ];
  const csv = join(dir, `${stem}.csv`);
  head.push(`Every run: [${stem}.csv](${stem}.csv).`, "");
  await Deno.writeTextFile(flags.out, head.join("\n") + "\n" + md + "\n");
  await Deno.writeTextFile(csv, runsCsv(runs));
  for (const [f, svg] of Object.entries(svgs)) await Deno.writeTextFile(join(dir, f), svg);
  console.log(`wrote ${flags.out}, ${csv} (${Object.keys(svgs).length} plots)`);
}
