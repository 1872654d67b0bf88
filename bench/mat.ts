/**
 * The Multi-Agent Transformer priced against MAPPO (issue 31): time per env step of `mat` and
 * `mappo` on smax/protoss_5_vs_5 (discrete, 5 agents) and mamujoco/HalfCheetah-6x1 (continuous,
 * 6 agents), both sides in alternating runs (bench/_compare.ts), 16 envs x 200 steps (HalfCheetah:
 * 40 x 100, the authors' batch), the trainer's default threads. MAT acts with one decoder pass
 * per agent and trains with one teacher-forced pass per minibatch; MAPPO with per-agent MLPs.
 *
 * @module
 */
import { initBackend } from "../mod.ts";
import type { BenchOptions } from "./_opts.ts";
import { compare, rate, type Side } from "./_compare.ts";

/**
 * Runs this benchmark and prints its table.
 * @param o shared bench flags
 */
export async function run(o: BenchOptions): Promise<void> {
  await initBackend("wasm");
  const rounds = o.quick ? 1 : 2, iters = o.quick ? 1 : 2;
  console.log(
    `\n## MAT vs MAPPO (${rounds} alternating runs each of ${iters} timed iterations)`,
  );
  console.log("| env | batch | MAT env-steps/s | MAPPO env-steps/s | MAT / MAPPO time |");
  console.log("|---|---|---:|---:|---:|");
  for (
    const [env, numEnvs, rolloutLength] of [
      ["smax/protoss_5_vs_5", 16, 200],
      ["mamujoco/HalfCheetah-6x1", 40, 100],
    ] as const
  ) {
    const side = (algo: string): Side => ({ env, algo, numEnvs, rolloutLength, algoOptions: {} });
    const r = await compare(side("mat"), side("mappo"), rounds, iters);
    console.log(
      `| ${env} | ${numEnvs} x ${rolloutLength} | ${rate(r.a)} | ${rate(r.b)} | ${
        r.timeRatio.toFixed(2)
      } |`,
    );
  }
}
