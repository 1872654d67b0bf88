/**
 * `deno task aggregate --from runs/`: gathers the `marl_eval.json` of every run below the given
 * folders (or marl-eval JSON files given directly), merges them into one marl-eval JSON, and
 * writes, per task and algorithm, the interquartile mean (IQM) over runs of each run's final
 * ("absolute") mean metric with an interval (the 95% percentile-bootstrap confidence interval from
 * 5 runs on, else the range of the runs, labelled so), permutation-test p-values between the
 * algorithms of each task, plus a performance
 * profile: for each algorithm, the fraction of (task, run) scores above a threshold tau, with
 * scores min-max normalised per task over every algorithm's runs (Agarwal et al. 2021, rliable;
 * Gorsane et al. 2022, marl-eval). Runs written by Baton are grouped by the options that differ
 * between them (and never pooled across budgets); the report says what each group pooled.
 * Outputs in the folder `--out`: `aggregate.json` (merged marl-eval data), `aggregate.md`,
 * `aggregate_profile.svg`.
 *
 * @module
 */
import { z } from "../core/deps.ts";
import { list, parseFlags } from "./_sweep.ts";
import { aggregate } from "./_aggregate.ts";

const flags = parseFlags(
  z.strictObject({
    from: z.string().default("runs").describe(
      "folders to search for marl_eval.json, or marl-eval JSON files (comma-separated)",
    ),
    metric: z.string().default("return").describe("metric to aggregate: return or win_rate"),
    out: z.string().default("reports/aggregate").describe(
      "output folder (aggregate.md, aggregate.json, aggregate_profile.svg)",
    ),
  }),
  {
    task: "aggregate",
    summary:
      "IQM with intervals (95% bootstrap CIs from 5 runs, else ranges), permutation tests and performance profiles over runs' marl_eval.json",
  },
);

try {
  const md = await aggregate({ from: list(flags.from), metric: flags.metric, out: flags.out });
  console.log(md.split("\n").filter((l) => l.startsWith("|")).join("\n"));
  console.error(`wrote ${flags.out}/aggregate.md, aggregate.json and aggregate_profile.svg`);
} catch (err) {
  console.error(`Error: ${(err as Error).message}`);
  Deno.exit(2);
}
