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
  pluginTimeout: z.number().positive().default(60).describe(
    "seconds a sandboxed plugin may take to answer one request (make, reset, step; load: at least 30)",
  ),
  log: z.enum(["jsonl", "tensorboard"]).default("jsonl").describe(
    "metric logs: jsonl (metrics.jsonl, metrics.csv) or tensorboard (those and an event file)",
  ),
  threads: z.int().min(0).default(0).describe(
    "learner threads, this one included (0 = one per core; 1 = no worker threads)",
  ),
  pluginMemory: z.int().min(16).default(1024).describe(
    "megabytes of memory a sandboxed plugin may use (its JS heap, and growth in one request)",
  ),
  quiet: z.boolean().default(false).describe("no progress line"),
  rollout: z.string().regex(
    /^rediss?:\/\/[^\s]+$/,
    "expected redis://host:port or rediss://host:port",
  )
    .optional().describe(
      "collect rollouts on workers through Redis (redis://host:port, rediss:// for TLS); start workers with deno task worker",
    ),
  rolloutRun: z.string().regex(/^[A-Za-z0-9._-]{1,64}$/, "letters, digits, . _ - (1-64)")
    .default("baton").describe("Redis key namespace of this run (workers pass the same --run)"),
  rolloutChunks: z.int().positive().default(1).describe(
    "chunks per iteration: num-envs split into this many worker tasks",
  ),
  rolloutQuorum: z.number().gt(0).max(1).default(1).describe(
    "fraction of chunks that lets an iteration proceed once rollout-timeout has passed",
  ),
  rolloutTimeout: z.number().positive().default(600).describe(
    "seconds to wait for all chunks of an iteration before settling for the quorum (else fail)",
  ),
  rolloutClaim: z.number().positive().default(30).describe(
    "seconds a task may stay unfinished before an idle worker takes it over",
  ),
  rolloutLag: z.int().min(0).max(1).default(0).describe(
    "1: workers collect the next batch while the learner updates (one update behind, corrected by the PPO ratio against the behaviour policy)",
  ),
  rolloutEnv: z.enum(["local", "workers"]).default("local").describe(
    "where the learner's env spec and evaluations come from: its own env, or env sessions on rollout workers (the learner never makes the env)",
  ),
  rolloutTlsCa: z.string().optional().describe(
    "CA certificate file (PEM) that the Redis server's TLS certificate must chain to",
  ),
});

/**
 * The learner threads a run uses: `threads`, or one per core when it is 0.
 * @param c the config
 * @returns at least 1
 */
export function learnerThreads(c: Pick<TrainConfig, "threads">): number {
  return c.threads > 0 ? c.threads : Math.max(1, navigator.hardwareConcurrency || 1);
}

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

/**
 * The seed of every greedy evaluation of a run (training, end of run, `--eval-only`).
 * @param seed the run's seed
 * @returns the evaluation seed
 */
export function evalSeed(seed: number): number {
  return seed + 1_000_003;
}

/**
 * A Redis URL without its credentials, for what a run writes to disk (config.json,
 * checkpoints): a password belongs in `BATON_REDIS_PASSWORD` or the command line, not in files.
 * @param url the URL
 * @returns the URL with user and password removed
 */
export function redactUrl(url: string): string {
  return url.replace(/^(rediss?:\/\/)[^@/]*@/, "$1");
}

/**
 * The secrets a run must never write: the password of every URL among `args`, raw and decoded,
 * and the value of `BATON_REDIS_PASSWORD` (where env access allows reading it).
 * @param args command-line arguments (default: this process's)
 * @returns the secrets, longest first
 */
export function knownSecrets(args: readonly string[] = Deno.args): string[] {
  const found = new Set<string>();
  for (const a of args) {
    for (const m of a.matchAll(/[a-z][a-z0-9+.-]*:\/\/([^@/\s]*)@/gi)) {
      const cred = m[1]!, pw = cred.includes(":") ? cred.slice(cred.indexOf(":") + 1) : cred;
      if (pw) found.add(pw);
      try {
        if (pw) found.add(decodeURIComponent(pw));
      } catch { /* not percent-encoded */ }
    }
  }
  try {
    const env = Deno.env.get("BATON_REDIS_PASSWORD");
    if (env) found.add(env);
  } catch { /* no env permission: nothing to redact from there */ }
  return [...found].sort((a, b) => b.length - a.length);
}

/**
 * Removes credentials from text a run writes: every URL's `user:password@` part, then every
 * known secret wherever it appears (replaced by `***`).
 * @param text the text (a command-line argument, a JSON document)
 * @param secrets the secrets to remove (default {@link knownSecrets})
 * @returns the text without them
 */
export function redactSecrets(text: string, secrets: readonly string[] = knownSecrets()): string {
  let out = text.replace(/([a-z][a-z0-9+.-]*:\/\/)[^@/\s"]*@/gi, "$1");
  for (const s of secrets) out = out.split(s).join("***");
  return out;
}

/**
 * {@link redactSecrets} over every string in a JSON value (numbers and keys are left alone, so
 * the document stays valid whatever the secret is).
 * @param value a JSON value
 * @param secrets the secrets to remove (default {@link knownSecrets})
 * @returns a copy without them
 */
export function redactDeep<T>(value: T, secrets: readonly string[] = knownSecrets()): T {
  const walk = (v: unknown): unknown =>
    typeof v === "string"
      ? redactSecrets(v, secrets)
      : Array.isArray(v)
      ? v.map(walk)
      : v && typeof v === "object"
      ? Object.fromEntries(Object.entries(v).map(([k, x]) => [k, walk(x)]))
      : v;
  return walk(value) as T;
}

/** @returns the default run directory of a config */
export function defaultOut(c: Pick<TrainConfig, "env" | "algo" | "seed">): string {
  return `runs/${c.env.replace(/\//g, "_")}-${c.algo}-s${c.seed}`;
}
