/**
 * `deno task verdict:chain`: joins the verdict campaign's part A chunks (issue 33; the per-seed
 * CSVs `reports/bpta_verdict_chain_*.csv` that `repro:ablation --name ...` writes) into one report
 * across team sizes, as `reports/bpta_verdict_plan.md` specifies:
 *
 * - per game and size n, each condition's final return and steps to 0.9 (censored runs counted at
 *   the budget): IQM over seeds with a 95% bootstrap CI, and permutation p-values against
 *   `bppo:peerWeight=0`;
 * - the gap `steps(peerWeight=0) - steps(estimator)` per size: the difference of the two IQMs,
 *   with a stratified-bootstrap 95% CI (seeds resampled within each condition and size), one plot
 *   per game of the gap against n;
 * - the plan's decision rules H1-H3, evaluated on the sizes present (a rule that needs a missing
 *   size says "pending").
 *
 * A seed that appears in several CSVs (a partial chunk and its completion) is taken from the row
 * with the most env steps. Outputs: `--out` (markdown) and one SVG per game beside it.
 *
 * @module
 */
import { z } from "../core/deps.ts";
import { bootstrapCi, gapCi, iqm, parseFlags, permutationP } from "./_sweep.ts";

export { gapCi };
import { lineChart, type Series } from "./_plot.ts";

/** One run of a chunk's CSV. */
export interface ChainRun {
  readonly env: string;
  readonly condition: string;
  readonly seed: number;
  readonly finished: boolean;
  readonly envSteps: number;
  readonly final: number;
  /** Env steps at the first evaluation at or above the threshold, or null. */
  readonly reachedAt: number | null;
}

/** The baseline every estimator is compared with. */
export const BASELINE = "bppo:peerWeight=0";
/** The reaction-following estimators the decision rules are about. */
export const ESTIMATORS = ["bppo", "bppo:estimator=pathwise"] as const;

/**
 * Parses a chunk's CSV (`repro:ablation`'s columns).
 * @param text the CSV
 * @returns its runs
 */
export function parseChainCsv(text: string): ChainRun[] {
  const [head, ...lines] = text.trim().split("\n");
  const cols = head!.split(",");
  const at = (name: string) => {
    const i = cols.indexOf(name);
    if (i < 0) throw new Error(`CSV without a ${name} column`);
    return i;
  };
  const c = {
    env: at("env"),
    condition: at("condition"),
    seed: at("seed"),
    finished: at("finished"),
    steps: at("env_steps"),
    final: at("final"),
    reached: at("reached_at"),
  };
  return lines.filter((l) => l.trim()).map((l) => {
    const f = l.split(",");
    return {
      env: f[c.env]!,
      condition: f[c.condition]!,
      seed: Number(f[c.seed]),
      finished: f[c.finished] === "true",
      envSteps: Number(f[c.steps]),
      final: Number(f[c.final]),
      reachedAt: f[c.reached] ? Number(f[c.reached]) : null,
    };
  });
}

/**
 * One row per (env, condition, seed): the one with the most env steps.
 * @param runs runs from every CSV
 * @returns the runs, deduplicated
 */
export function latest(runs: readonly ChainRun[]): ChainRun[] {
  const by = new Map<string, ChainRun>();
  for (const r of runs) {
    const k = `${r.env}|${r.condition}|${r.seed}`;
    const old = by.get(k);
    if (!old || r.envSteps > old.envSteps) by.set(k, r);
  }
  return [...by.values()];
}

/** A game of part A and its sizes' keys (`relay-n8`, `relayc-n8`). */
const GAMES = [
  { prefix: "relay-n", name: "chain/relay (discrete)", file: "relay" },
  { prefix: "relayc-n", name: "chain/relay-continuous", file: "relayc" },
] as const;
const SIZES = [2, 4, 8, 16];

const fmt = (x: number, d = 2) => (Number.isFinite(x) ? x.toFixed(d) : "-");
const steps = (x: number) => (Number.isFinite(x) ? Math.round(x).toLocaleString("en-US") : "-");
const pv = (p: number) => (p < 0.001 ? "<0.001" : p.toFixed(3));

/**
 * Builds the report.
 * @param runs every run (deduplicated)
 * @param svgName file name of a game's gap plot
 * @returns markdown, and the SVGs by file name
 */
export function chainReport(
  runs: readonly ChainRun[],
  svgName: (game: string) => string,
): { md: string; svgs: Record<string, string> } {
  const out: string[] = [], svgs: Record<string, string> = {};
  const conditions = [...new Set(runs.map((r) => r.condition))];
  const rules: string[] = [];
  for (const g of GAMES) {
    const cells = SIZES.map((n) => ({
      n,
      runs: runs.filter((r) => r.env === `${g.prefix}${n}`),
    })).filter((c) => c.runs.length);
    if (!cells.length) continue;
    out.push(`## ${g.name}`, "");
    out.push(
      "| n | condition | seeds finished (of those started) | final, IQM [95% CI] | p final | steps to 0.9, IQM (unreached = budget) | reached | p steps |",
      "|---:|---|---:|---:|---:|---:|---:|---:|",
    );
    const budgetOf = (rs: readonly ChainRun[]) => Math.max(...rs.map((r) => r.envSteps));
    const stepsOf = (rs: readonly ChainRun[], budget: number) =>
      rs.map((r) => r.reachedAt ?? budget);
    const gapRows: {
      n: number;
      est: string;
      gap: number;
      lo: number;
      hi: number;
      p: number;
      faster: boolean;
    }[] = [];
    for (const cell of cells) {
      const budget = budgetOf(cell.runs);
      // statistics over finished runs only (a run still in flight has no final value yet)
      const of = (c: string) =>
        cell.runs.filter((r) => r.condition === c && r.finished).sort((a, b) => a.seed - b.seed);
      const present = (c: string) => cell.runs.filter((r) => r.condition === c).length;
      const base = of(BASELINE);
      for (const c of conditions) {
        const rs = of(c);
        if (!rs.length) continue;
        const fin = rs.map((r) => r.final), st = stepsOf(rs, budget);
        const [lo, hi] = bootstrapCi(fin);
        const isBase = c === BASELINE || !base.length;
        out.push(
          `| ${cell.n} | ${c} | ${rs.length} of ${present(c)} | ${fmt(iqm(fin))} [${fmt(lo)}, ${
            fmt(hi)
          }] | ${isBase ? "-" : pv(permutationP(fin, base.map((r) => r.final)))} | ${
            steps(iqm(st))
          } | ${rs.filter((r) => r.reachedAt !== null).length}/${rs.length} | ${
            isBase ? "-" : pv(permutationP(st, stepsOf(base, budget)))
          } |`,
        );
      }
      for (const e of ESTIMATORS) {
        const rs = of(e);
        if (!rs.length || !base.length) continue;
        const bs = stepsOf(base, budget), es = stepsOf(rs, budget);
        const { gap, lo, hi } = gapCi(bs, es, { seed: cell.n });
        const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;
        gapRows.push({
          n: cell.n,
          est: e,
          gap,
          lo,
          hi,
          p: permutationP(es, bs),
          faster: mean(es) < mean(bs),
        });
        // H2 also reads the final return
        if (e === "bppo") {
          const pf = permutationP(rs.map((r) => r.final), base.map((r) => r.final));
          const better = mean(rs.map((r) => r.final)) > mean(base.map((r) => r.final));
          if (pf < 0.05 && better) {
            rules.push(`${g.file}|H2|n=${cell.n}: paper better on the final return (p ${pv(pf)})`);
          }
        }
      }
    }
    out.push(
      "",
      `### The gap: steps to 0.9 of \`${BASELINE}\` minus the estimator's (positive: the estimator is faster)`,
      "",
    );
    out.push(
      "| n | estimator | gap, IQM difference [stratified-bootstrap 95% CI] | permutation p (steps) |",
      "|---:|---|---:|---:|",
    );
    for (const r of gapRows) {
      out.push(
        `| ${r.n} | ${r.est} | ${steps(r.gap)} [${steps(r.lo)}, ${steps(r.hi)}] | ${pv(r.p)} |`,
      );
    }
    const series: Series[] = ESTIMATORS.map((e) => {
      const rs = gapRows.filter((r) => r.est === e);
      return {
        label: e,
        x: rs.map((r) => r.n),
        y: rs.map((r) => r.gap),
        lo: rs.map((r) => r.lo),
        hi: rs.map((r) => r.hi),
      };
    }).filter((s) => s.x.length);
    const file = svgName(g.file);
    svgs[file] = lineChart(series, {
      title: `${g.name}: gap in steps to 0.9 vs peerWeight=0`,
      xLabel: "team size n",
      yLabel: "env steps saved (IQM difference)",
      hline: { y: 0, label: "no gap" },
    });
    out.push("", `![gap against n, ${g.name}](${file})`, "");
    // the decision rules (reports/bpta_verdict_plan.md), on the sizes present
    const have = cells.map((c) => c.n), all = SIZES.every((n) => have.includes(n));
    const pw = gapRows.filter((r) => r.est === "bppo:estimator=pathwise");
    const pwWins = pw.filter((r) => r.faster && r.p < 0.05).length;
    const pwLoses = pw.filter((r) => !r.faster && r.p < 0.05).length;
    const h1 = pwLoses > 0
      ? `does not hold (pathwise significantly slower at ${pwLoses} size(s))`
      : pwWins >= 2
      ? "holds"
      : all
      ? `does not hold (significantly faster at ${pwWins} of 4 sizes; the rule needs 2)`
      : `pending (faster with p < 0.05 at ${pwWins} of the ${have.length} sizes run; needs 2 of 4)`;
    const paper = gapRows.filter((r) => r.est === "bppo");
    const paperBetter = paper.filter((r) => r.faster && r.p < 0.05).map((r) =>
      `n = ${r.n} (steps, p ${pv(r.p)})`
    );
    paperBetter.push(
      ...rules.filter((x) => x.startsWith(`${g.file}|H2|`)).map((x) => x.split("|")[2]!),
    );
    const h2 = paperBetter.length
      ? `does not hold: the paper estimator is significantly better than peerWeight=0 at ${
        paperBetter.join(", ")
      }`
      : all
      ? "holds (nowhere significantly better)"
      : "holds so far (nowhere significantly better on the sizes run)";
    const h3 = ESTIMATORS.map((e) => {
      const rs = gapRows.filter((r) => r.est === e).sort((a, b) => a.n - b.n);
      const rising = rs.every((r, i) => i === 0 || r.gap > rs[i - 1]!.gap);
      const at16 = rs.find((r) => r.n === 16);
      const sign = rs.every((r) => r.gap < 0) ? ", every gap below 0" : "";
      if (!at16) {
        return `${e}: pending (n = 16 not run; gap ${rising ? "rising" : "not rising"} over n = ${
          rs.map((r) => r.n).join(", ")
        }${sign})`;
      }
      const excl = at16.lo > 0;
      return `${e}: ${rising && excl ? "holds" : "does not hold"} (gap ${
        rising ? "rises" : "does not rise"
      } with n; n = 16 CI ${excl ? "excludes" : "includes"} 0)`;
    });
    out.push(
      "### The plan's decision rules on this game",
      "",
      `- **H1** (pathwise faster than peerWeight=0 with p < 0.05 at 2+ sizes, never significantly slower): ${h1}.`,
      `- **H2** (the paper estimator nowhere significantly better than peerWeight=0): ${h2}.`,
      `- **H3** (the gap rises with n, and its n = 16 CI excludes 0): ${h3.join("; ")}.`,
      "",
    );
  }
  return { md: out.join("\n"), svgs };
}

if (import.meta.main) {
  const flags = parseFlags(
    z.strictObject({
      csv: z.string().default("").describe(
        "chunk CSVs, comma-separated (default: every reports/bpta_verdict_chain_*.csv)",
      ),
      out: z.string().default("reports/bpta_verdict_chain.md").describe(
        "the report (SVGs beside it)",
      ),
    }),
    {
      task: "verdict:chain",
      summary: "joins part A's chunk CSVs across team sizes: gaps, plots, decision rules",
    },
  );
  const files = flags.csv
    ? flags.csv.split(",")
    : [...Deno.readDirSync("reports")].map((e) => e.name)
      .filter((f) => /^bpta_verdict_chain_.*\.csv$/.test(f)).sort().map((f) => `reports/${f}`);
  if (!files.length) {
    console.error("Error: no chunk CSVs (--csv, or reports/bpta_verdict_chain_*.csv)");
    Deno.exit(2);
  }
  const runs = latest(files.flatMap((f) => parseChainCsv(Deno.readTextFileSync(f))));
  const dir = flags.out.includes("/") ? flags.out.slice(0, flags.out.lastIndexOf("/") + 1) : "";
  const base = flags.out.slice(dir.length).replace(/\.md$/, "");
  const { md, svgs } = chainReport(runs, (g) => `${base}_gap_${g}.svg`);
  const head = [
    "# Verdict campaign part A: the chain games across team sizes",
    "",
    `Generated by \`deno task verdict:chain\` on ${new Date().toISOString().slice(0, 10)} from ${
      files.map((f) => `[${f.replace(/^reports\//, "")}](${f.replace(/^reports\//, "")})`).join(
        ", ",
      )
    } (${runs.length} runs; a seed present in several CSVs is taken from its longest run). Plan: [bpta_verdict_plan.md](bpta_verdict_plan.md); findings by hand: [bpta_verdict_chain_findings.md](bpta_verdict_chain_findings.md).`,
    "",
    "IQM over seeds; 95% intervals are percentile bootstraps (2,000 resamples; for the gap, seeds resampled within each condition and size); p: two-sided permutation tests against `bppo:peerWeight=0` (uncorrected, read as evidence). Steps to 0.9 count a run that never reached 0.9 at its budget.",
    "",
  ];
  await Deno.writeTextFile(flags.out, head.join("\n") + "\n" + md + "\n");
  for (const [f, svg] of Object.entries(svgs)) await Deno.writeTextFile(dir + f, svg);
  console.log(`wrote ${flags.out} and ${Object.keys(svgs).map((f) => dir + f).join(", ")}`);
}
