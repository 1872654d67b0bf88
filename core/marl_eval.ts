/**
 * Evaluation records a paper needs: every evaluation's per-episode returns (and win flags), greedy
 * and stochastic, in `evaluations.jsonl`, and at the end of a run `marl_eval.json` in the format
 * of InstaDeep's marl-eval (Gorsane et al. 2022, "Towards a Standardised Performance Evaluation
 * Protocol for Cooperative MARL"), which its and rliable's aggregation tools read:
 *
 *     { env: { task: { algorithm: { run_<seed>: {
 *         step_<k>: { step_count, return: [per episode], win_rate: [per episode, 0/1] },
 *         absolute_metrics: { return: [...], win_rate: [...] } } } } } }
 *
 * `env` is the env id's family (`smax`), `task` the rest (`3m`), `algorithm` the algorithm with the
 * options given on the command line (`bppo:estimator=reference`), the metrics are the greedy
 * evaluation's, and `absolute_metrics` is the last evaluation (marl-eval suggests ten times the
 * usual episodes for it: raise `--eval-episodes`).
 *
 * @module
 */
import { join } from "node:path";
import type { EvalPair } from "./evaluate.ts";

/** One line of `evaluations.jsonl`. */
export interface EvaluationRow {
  /** Iteration after which the policy was evaluated. */
  readonly iteration: number;
  /** Env steps trained by then. */
  readonly env_steps: number;
  /** Greedy evaluation: per-episode returns and win flags (null where wins are not reported). */
  readonly greedy: { returns: number[]; wins: number[] | null };
  /** Stochastic evaluation, on the same episodes. */
  readonly stochastic: { returns: number[]; wins: number[] | null };
}

/**
 * Appends one evaluation to the run's `evaluations.jsonl`.
 * @param dir the run directory
 * @param iteration the iteration
 * @param envSteps env steps so far
 * @param e the evaluation
 */
export async function appendEvaluation(
  dir: string,
  iteration: number,
  envSteps: number,
  e: EvalPair,
): Promise<void> {
  const row: EvaluationRow = {
    iteration,
    env_steps: envSteps,
    greedy: { returns: e.greedy.returns, wins: e.greedy.wins },
    stochastic: { returns: e.stochastic.returns, wins: e.stochastic.wins },
  };
  await Deno.writeTextFile(join(dir, "evaluations.jsonl"), JSON.stringify(row) + "\n", {
    append: true,
  });
}

/** One run in marl-eval's layout: `step_<k>` entries and `absolute_metrics`. */
export type MarlEvalRun = Record<string, Record<string, number | number[]>>;

/**
 * Builds the marl-eval JSON of a run from its `evaluations.jsonl`.
 * @param dir the run directory
 * @param run env id, algorithm and seed
 * @returns the nested record (also written to `marl_eval.json`)
 */
export async function writeMarlEval(
  dir: string,
  run: { env: string; algo: string; seed: number },
): Promise<Record<string, Record<string, Record<string, Record<string, MarlEvalRun>>>>> {
  let rows: EvaluationRow[] = [];
  try {
    rows = (await Deno.readTextFile(join(dir, "evaluations.jsonl"))).split("\n").filter(Boolean)
      .map((l) => JSON.parse(l));
  } catch { /* no evaluation: an empty run record */ }
  const metrics = (r: EvaluationRow) => ({
    return: r.greedy.returns,
    ...(r.greedy.wins ? { win_rate: r.greedy.wins } : {}),
  });
  const body: MarlEvalRun = {};
  rows.forEach((r, k) => (body[`step_${k}`] = { step_count: r.env_steps, ...metrics(r) }));
  if (rows.length) body.absolute_metrics = metrics(rows[rows.length - 1]!);
  const [family, ...rest] = run.env.split("/");
  const out = {
    [family!]: { [rest.join("/") || family!]: { [run.algo]: { [`run_${run.seed}`]: body } } },
  };
  await Deno.writeTextFile(join(dir, "marl_eval.json"), JSON.stringify(out) + "\n");
  return out;
}
