/**
 * BPPO's two estimators side by side (docs/bpta.md §4c): env-steps/s of `bppo` (paper: stores
 * the sampling noise, full feedback vectors, per-sample clipping) against
 * `bppo estimator=reference`, in alternating short training runs (paper, reference, paper, ...),
 * each run's first iteration dropped, on the matrix reference configuration and on
 * smax/protoss_5_vs_5 (16 envs x 200 steps, layers=2, epochs=10).
 *
 * @module
 */
import {
  defaultAlgoRegistry,
  defaultEnvRegistry,
  initBackend,
  train,
  trainConfig,
} from "../mod.ts";
import type { BenchOptions } from "./_opts.ts";

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

/** Seconds per iteration (rollout + update) of a short run, its first iteration dropped. */
async function iterationSeconds(c: Case, estimator: string, iters: number): Promise<number[]> {
  const out = await Deno.makeTempDir({ prefix: "baton_bench_est_" });
  const secs: number[] = [];
  const cfg = trainConfig.parse({
    env: c.env,
    algo: "bppo",
    algoOptions: { ...c.algoOptions, estimator },
    numEnvs: c.numEnvs,
    rolloutLength: c.rolloutLength,
    totalSteps: c.numEnvs * c.rolloutLength * (iters + 1),
    evalEvery: 0,
    evalEpisodes: 1,
    quiet: true,
    out,
  });
  await train(cfg, {
    env: defaultEnvRegistry().get(c.env),
    algo: defaultAlgoRegistry().get("bppo"),
    hooks: [{ onIteration: (r) => void secs.push((r.rollout_s ?? 0) + (r.update_s ?? 0)) }],
  });
  await Deno.remove(out, { recursive: true });
  return secs.slice(1);
}

/**
 * Runs this benchmark and prints its table.
 * @param o shared bench flags
 */
export async function run(o: BenchOptions): Promise<void> {
  await initBackend("wasm");
  const rounds = o.quick ? 1 : 2, iters = o.quick ? 1 : 2;
  console.log(
    `\n## BPPO estimators: paper vs reference (${rounds} alternating runs each of ${iters} timed iterations)`,
  );
  console.log(
    "| configuration | paper env-steps/s | reference env-steps/s | paper / reference time |",
  );
  console.log("|---|---:|---:|---:|");
  for (const c of CASES) {
    const t = { paper: [] as number[], reference: [] as number[] };
    for (let r = 0; r < rounds; r++) {
      for (const est of ["paper", "reference"] as const) {
        t[est].push(...(await iterationSeconds(c, est, iters)));
      }
    }
    const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;
    const steps = c.numEnvs * c.rolloutLength;
    console.log(
      `| ${c.label} | ${Math.round(steps / mean(t.paper)).toLocaleString("en-US")} | ${
        Math.round(steps / mean(t.reference)).toLocaleString("en-US")
      } | ${(mean(t.paper) / mean(t.reference)).toFixed(2)} |`,
    );
  }
}
