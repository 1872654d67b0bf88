/**
 * Recurrent policies and parameter sharing, priced (issue #17's targets):
 * - GRU (`recurrent=gru`, chunk 10) against the same MLP policy on smax/protoss_5_vs_5, for mappo
 *   and bppo: time per env step, GRU / MLP (target: at most 2.5);
 * - shared-parameter MAPPO (`share=true`) against per-agent MAPPO on smax/protoss_10_vs_10: time
 *   per env step, per-agent / shared (target: at least 2).
 *
 * Both sides of a row run in alternation (bench/_compare.ts), 16 envs x 200 steps, the trainer's
 * default threads.
 *
 * @module
 */
import { initBackend } from "../mod.ts";
import type { BenchOptions } from "./_opts.ts";
import { compare, rate, type Side } from "./_compare.ts";

const side = (env: string, algo: string, algoOptions: Record<string, unknown>): Side => ({
  env,
  algo,
  numEnvs: 16,
  rolloutLength: 200,
  algoOptions,
});

/**
 * Runs this benchmark and prints its tables.
 * @param o shared bench flags
 */
export async function run(o: BenchOptions): Promise<void> {
  await initBackend("wasm");
  const rounds = o.quick ? 1 : 2, iters = o.quick ? 1 : 2;
  const algos = o.algos ?? ["mappo", "bppo"];
  console.log(
    `\n## GRU vs MLP policies, smax/protoss_5_vs_5, 16 x 200 (${rounds} alternating runs each of ${iters} timed iterations)`,
  );
  console.log("| algorithm | GRU env-steps/s | MLP env-steps/s | GRU / MLP time (target <= 2.5) |");
  console.log("|---|---:|---:|---:|");
  for (const algo of algos) {
    const env = "smax/protoss_5_vs_5";
    const r = await compare(
      side(env, algo, { recurrent: "gru" }),
      side(env, algo, {}),
      rounds,
      iters,
    );
    console.log(`| ${algo} | ${rate(r.a)} | ${rate(r.b)} | ${r.timeRatio.toFixed(2)} |`);
  }
  console.log(
    `\n## Shared vs per-agent MAPPO, smax/protoss_10_vs_10, 16 x 200 (${rounds} alternating runs each of ${iters} timed iterations)`,
  );
  console.log(
    "| policy | shared env-steps/s | per-agent env-steps/s | per-agent / shared time (target >= 2) |",
  );
  console.log("|---|---:|---:|---:|");
  for (const recurrent of ["none", "gru"]) {
    const env = "smax/protoss_10_vs_10";
    const r = await compare(
      side(env, "mappo", { share: true, recurrent }),
      side(env, "mappo", { recurrent }),
      rounds,
      iters,
    );
    console.log(
      `| ${recurrent === "gru" ? "GRU" : "MLP"} | ${rate(r.a)} | ${rate(r.b)} | ${
        (1 / r.timeRatio).toFixed(2)
      } |`,
    );
  }
}
