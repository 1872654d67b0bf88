/**
 * BPPO's estimators side by side (docs/bpta.md §4c, §4d): env-steps/s of `bppo` (paper: stores
 * the sampling noise, full feedback vectors, per-sample clipping) against
 * `bppo estimator=reference`, and `estimator=pathwise` (an action-value critic and the chain of
 * successors' actions; target: at most 1.5x the paper's time) against the paper's, in
 * alternating short training runs (paper, reference, paper, ...),
 * each run's first iteration dropped, on the matrix reference configuration and on
 * smax/protoss_5_vs_5 (16 envs x 200 steps, layers=2, epochs=10).
 *
 * @module
 */
import { initBackend } from "../mod.ts";
import type { BenchOptions } from "./_opts.ts";
import { compare, rate } from "./_compare.ts";

interface Case {
  readonly label: string;
  readonly env: string;
  readonly numEnvs: number;
  readonly rolloutLength: number;
  readonly algoOptions: Record<string, unknown>;
}

const CASES: Case[] = [
  {
    label: "matrix/climbing, 50 x 200, 15 epochs",
    env: "matrix/climbing",
    numEnvs: 50,
    rolloutLength: 200,
    algoOptions: {},
  },
  {
    label: "smax/protoss_5_vs_5, 16 x 200, layers=2 epochs=10",
    env: "smax/protoss_5_vs_5",
    numEnvs: 16,
    rolloutLength: 200,
    algoOptions: { layers: 2, epochs: 10 },
  },
];

/**
 * Runs this benchmark and prints its table.
 * @param o shared bench flags
 */
export async function run(o: BenchOptions): Promise<void> {
  await initBackend("wasm");
  const rounds = o.quick ? 1 : 2, iters = o.quick ? 1 : 2;
  console.log(
    `\n## BPPO estimators: paper vs reference, pathwise vs paper (${rounds} alternating runs each of ${iters} timed iterations)`,
  );
  console.log(
    "| configuration | paper env-steps/s | reference env-steps/s | paper / reference time | pathwise env-steps/s | pathwise / paper time |",
  );
  console.log("|---|---:|---:|---:|---:|---:|");
  for (const c of CASES) {
    const side = (estimator: string) => ({
      ...c,
      algo: "bppo",
      algoOptions: { ...c.algoOptions, estimator },
    });
    const r = await compare(side("paper"), side("reference"), rounds, iters);
    const pw = await compare(side("pathwise"), side("paper"), rounds, iters);
    console.log(
      `| ${c.label} | ${rate(r.a)} | ${rate(r.b)} | ${r.timeRatio.toFixed(2)} | ${rate(pw.a)} | ${
        pw.timeRatio.toFixed(2)
      } |`,
    );
  }
}
