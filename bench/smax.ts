/**
 * Native battles: env steps/s and agent-steps/s of `smax/*` at E = 1, 64, 1024, one core.
 *
 * @module
 */
import type { BenchOptions } from "./_opts.ts";

/**
 * Runs this benchmark and prints its table.
 * @param o shared bench flags
 */
export async function run(o: BenchOptions): Promise<void> {
  const { SmaxVecEnv } = await import("../envs/smax/smax.ts");
  const { SmaxReferenceEnv } = await import("../envs/smax/reference.ts");
  const { layoutOf } = await import("../envs/smax/layout.ts");
  const { SCENARIOS } = await import("../envs/smax/units.ts");
  const { fromScalarEnv } = await import("../core/vec_env.ts");
  const seconds = o.quick ? 0.5 : 2;
  console.log("\n## Native battles (smax), one core, env.step only");
  console.log("| scenario | E | env steps/s | agent-steps/s | us per env step |");
  console.log("|---|---:|---:|---:|---:|");
  const cases: [string, number, boolean][] = [];
  for (const scenario of ["protoss_5_vs_5", "protoss_20_vs_20", "3m"]) {
    for (const E of [1, 64, 1024]) cases.push([scenario, E, false]);
  }
  cases.push(["protoss_5_vs_5", 64, true], ["protoss_20_vs_20", 64, true]);
  for (const [scenario, E, reference] of cases) {
    {
      const env = reference
        ? fromScalarEnv(
          new SmaxVecEnv(scenario, 1).spec,
          E,
          () => new SmaxReferenceEnv(layoutOf(SCENARIOS[scenario]!)),
        )
        : new SmaxVecEnv(scenario, E);
      const A = layoutOf(SCENARIOS[scenario]!).nActions;
      const n = env.spec.numAgents;
      let s = await env.reset(0);
      const acts = new Int32Array(E * n);
      let envTime = 0, steps = 0;
      const t0 = performance.now();
      while (performance.now() - t0 < seconds * 1000) {
        const av = s.availActions!;
        for (let i = 0; i < E * n; i++) {
          let a = av[i * A] ? 0 : av[i * A + 4] ? 4 : 1;
          for (let k = 6; k < A; k++) {
            if (av[i * A + k]) {
              a = k;
              break;
            }
          }
          acts[i] = a;
        }
        const t1 = performance.now();
        s = await env.step(acts);
        envTime += performance.now() - t1;
        steps++;
      }
      const rate = (steps * E) / (envTime / 1000);
      console.log(
        `| ${scenario}${reference ? " (scalar reference, objects)" : ""} | ${E} | ${
          Math.round(rate).toLocaleString("en-US")
        } | ${Math.round(rate * n).toLocaleString("en-US")} | ${(1e6 / rate).toFixed(1)} |`,
      );
    }
  }
  console.log(
    "Target (issue #5): >= 200,000 agent-steps/s for protoss_5_vs_5 at E = 1024 on one core.",
  );
}
