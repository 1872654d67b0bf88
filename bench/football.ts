/**
 * The native football academy's speed: env steps per second on one core at E = 1024 envs with
 * the scripted opponent (issue #18's targets: >= 200,000 on academy_3_vs_1_with_keeper, >= 50,000
 * on academy_counterattack_hard with 22 players; the GRF engine makes about 50 per core), and the
 * per-step cost split into decisions (actions, the scripted players) and physics and rules.
 * Uniformly random actions, drawn before timing.
 *
 * @module
 */
import { FootballVecEnv } from "../envs/football/football.ts";
import { Rng } from "../core/rng.ts";
import type { BenchOptions } from "./_opts.ts";

const SCENARIOS = [
  ["academy_3_vs_1_with_keeper", 200_000],
  ["academy_counterattack_hard", 50_000],
  ["academy_pass_and_shoot_with_keeper", 0],
] as const;

/**
 * Runs this benchmark and prints its table.
 * @param o shared bench flags
 */
export async function run(o: BenchOptions): Promise<void> {
  const E = 1024, steps = o.quick ? 100 : 400;
  console.log(`\n## Native football, E = ${E}, one core (${steps} timed steps after 50 warm-up)`);
  console.log(
    "| scenario | players | env steps/s | target | us per env step: decisions | physics and rules |",
  );
  console.log("|---|---:|---:|---:|---:|---:|");
  for (const [name, target] of SCENARIOS) {
    const env = new FootballVecEnv(name, E);
    const n = env.spec.numAgents, rng = new Rng(1);
    const actions = Array.from(
      { length: 16 },
      () => Int32Array.from({ length: E * n }, () => rng.int(19)),
    );
    await env.reset(1);
    for (let t = 0; t < 50; t++) await env.step(actions[t % 16]!);
    env.time.decide = env.time.physics = 0;
    const t0 = performance.now();
    for (let t = 0; t < steps; t++) await env.step(actions[t % 16]!);
    const ms = performance.now() - t0, per = 1000 / (steps * E);
    console.log(
      `| ${name} | ${env.P} | ${Math.round((steps * E) / (ms / 1000)).toLocaleString("en-US")} | ${
        target ? target.toLocaleString("en-US") : "-"
      } | ${(env.time.decide * per).toFixed(2)} | ${(env.time.physics * per).toFixed(2)} |`,
    );
    await env.close();
  }
}
