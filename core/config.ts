/**
 * The training configuration: one zod schema, the single source of the CLI's flags, their
 * help text, defaults and validation.
 *
 * @module
 */
import { z } from "./deps.ts";

/** The run configuration (`train.ts` flags map onto these fields in kebab-case). */
export const trainConfig = z.strictObject({
  env: z.string().default("matrix/climbing").describe("environment id (see --list)"),
  envOptions: z.record(z.string(), z.unknown()).default({}).describe(
    "env options, given as --env-opt key=value (repeatable)",
  ),
  algo: z.string().default("bppo").describe("algorithm (see --list)"),
  algoOptions: z.record(z.string(), z.unknown()).default({}).describe(
    "algorithm options, given as --algo-opt key=value (repeatable)",
  ),
  seed: z.int().min(0).default(0).describe("random seed (same seed, same run)"),
  totalSteps: z.int().positive().default(150_000).describe(
    "env steps to train for (one step of one env counts once)",
  ),
  numEnvs: z.int().positive().default(50).describe("parallel environments E"),
  rolloutLength: z.int().positive().default(200).describe("steps per env per iteration T"),
  gamma: z.number().min(0).max(1).default(0.99).describe("discount"),
  gaeLambda: z.number().min(0).max(1).default(0.95).describe("GAE lambda"),
  evalEvery: z.int().min(0).default(1).describe(
    "evaluate greedily every N iterations (0 = only at the end)",
  ),
  evalEpisodes: z.int().positive().default(100).describe("episodes per evaluation"),
  checkpointEvery: z.int().min(1).default(5).describe("write a checkpoint every N iterations"),
  backend: z.enum(["auto", "wasm", "cpu", "webgpu"]).default("auto").describe(
    "tfjs backend: auto = WebGPU on a hardware adapter, else wasm",
  ),
  out: z.string().optional().describe("run directory (default runs/<env>-<algo>-s<seed>)"),
  plugins: z.array(z.string()).default([]).describe(
    "plugin modules to load (--plugin path|url, repeatable); sandboxed unless trustPlugins",
  ),
  trustPlugins: z.boolean().default(false).describe(
    "run plugins in-process with the trainer's permissions instead of the sandbox",
  ),
  pluginGrants: z.strictObject({
    read: z.array(z.string()).default([]),
    net: z.array(z.string()).default([]),
    env: z.array(z.string()).default([]),
    run: z.array(z.string()).default([]),
    write: z.array(z.string()).default([]),
  }).default({ read: [], net: [], env: [], run: [], write: [] }).describe(
    "extra sandbox permissions (--plugin-allow-read=path etc.)",
  ),
  quiet: z.boolean().default(false).describe("no progress line"),
  python: z.string().default("python3").describe("Python interpreter for bridge/* envs"),
  bridgeWorkers: z.int().min(1).default(1).describe(
    "child processes a bridge/* env spreads --num-envs over",
  ),
});

/** A parsed, resolved config. */
export type TrainConfig = z.infer<typeof trainConfig>;

/**
 * Derived quantities; never written back into the config.
 * @param c the config
 * @returns steps per iteration and the number of iterations
 */
export function derived(c: TrainConfig): { stepsPerIter: number; iterations: number } {
  const stepsPerIter = c.numEnvs * c.rolloutLength;
  return { stepsPerIter, iterations: Math.max(1, Math.ceil(c.totalSteps / stepsPerIter)) };
}

/** @returns the default run directory of a config */
export function defaultOut(c: Pick<TrainConfig, "env" | "algo" | "seed">): string {
  return `runs/${c.env.replace(/\//g, "_")}-${c.algo}-s${c.seed}`;
}
