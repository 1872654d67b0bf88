/**
 * `deno task bench`: speed figures measured side by side in one run (never a test). One file per
 * benchmark, each printing a table:
 *
 * - `networks` (bench/networks.ts): the policy network's forward and training step on tfjs wasm
 *   and cpu next to PyTorch on the same CPU;
 * - `bridge` (bench/bridge.ts): the subprocess bridge next to a raw pipe;
 * - `smax` (bench/smax.ts): native battles, env steps/s;
 * - `mamujoco` (bench/mamujoco.ts): MuJoCo in wasm next to native libmujoco;
 * - `e2e` (bench/e2e.ts): end-to-end training speed of every algorithm on the matrix reference
 *   configuration;
 * - `estimators` (bench/estimators.ts): BPPO's paper estimator next to the reference one, in
 *   alternating runs, on the matrix reference configuration and smax/protoss_5_vs_5;
 * - `learner` (bench/learner.ts): one BPPO iteration's learner work next to a PyTorch BPPO of the
 *   same networks and update, with 1 and all learner threads, and the update's GFLOP/s next to
 *   the backend's large-matmul GFLOP/s;
 * - `fused` (bench/fused.ts): the actor update (forward, PPO loss, backward, Adam) of BPPO's
 *   conditioned actors on tfjs-wasm and on the fused kernels, and the fused update's share of the
 *   fused matmul's own peak;
 * - `recurrent` (bench/recurrent.ts): GRU against MLP policies on smax/protoss_5_vs_5, and
 *   shared-parameter against per-agent MAPPO on smax/protoss_10_vs_10;
 * - `mat` (bench/mat.ts): the Multi-Agent Transformer against MAPPO on smax/protoss_5_vs_5 and
 *   mamujoco/HalfCheetah-6x1, time per env step in alternating runs;
 * - `football` (bench/football.ts): the native football academy's env steps/s at E = 1024;
 * - `distributed` (bench/distributed.ts): rollout workers through Redis, 1, 2 and 4 workers on
 *   an env of 5 ms per step, and the broker's cost per chunk next to raw Redis.
 *
 * @module
 */
import { z } from "../core/deps.ts";
import { list, parseFlags } from "../scripts/_sweep.ts";
import type { BenchOptions } from "./_opts.ts";

const BENCHES = [
  "networks",
  "bridge",
  "smax",
  "mamujoco",
  "e2e",
  "estimators",
  "learner",
  "fused",
  "recurrent",
  "mat",
  "football",
  "distributed",
] as const;

const flags = parseFlags(
  z.strictObject({
    quick: z.boolean().default(false).describe("fewer iterations and shorter windows"),
    only: z.string().default(BENCHES.join(",")).describe(`benchmarks to run: ${BENCHES.join(",")}`),
    algos: z.string().optional().describe("algorithms of the e2e table (default: all)"),
  }),
  { task: "bench", summary: "Baton's benchmarks: ratios measured side by side in one run" },
);
const only = list(flags.only);
const unknown = only.filter((b) => !(BENCHES as readonly string[]).includes(b));
if (unknown.length) {
  console.error(`Error: unknown --only ${unknown.join(",")}: choose from ${BENCHES.join(",")}`);
  Deno.exit(2);
}
const o: BenchOptions = { quick: flags.quick, algos: flags.algos ? list(flags.algos) : null };
for (const name of BENCHES) {
  if (only.includes(name)) await (await import(`./${name}.ts`)).run(o);
}
