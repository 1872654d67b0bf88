/**
 * The training configuration: one zod schema, the single source of the CLI's flags, their
 * help text, defaults and validation.
 *
 * @module
 */
import { z } from "./deps.ts";

/**
 * The ranges sizes and times must lie in, checked before anything is allocated. Timeouts stop
 * at what a JavaScript timer can hold (2^31 - 1 ms); one iteration's buffers hold at most
 * `maxStepsPerIteration` env steps.
 */
export const LIMITS = {
  seed: 2 ** 31 - 1,
  numEnvs: 1_000_000,
  rolloutLength: 1_000_000,
  maxStepsPerIteration: 20_000_000,
  totalSteps: 1e15,
  evalEpisodes: 10_000_000,
  threads: 1024,
  pluginMemory: 1 << 20,
  rolloutChunks: 100_000,
  timeoutSeconds: Math.floor((2 ** 31 - 1) / 1000),
} as const;

/** A whole number in [lo, hi], whose error says the range. */
const intIn = (lo: number, hi: number) =>
  z.int(`expected a whole number from ${lo} to ${hi}`).min(lo, `must be from ${lo} to ${hi}`)
    .max(hi, `must be from ${lo} to ${hi}`);

/** Seconds in (0, hi], whose error says the range. */
const secondsUpTo = (hi: number) =>
  z.number().positive(`must be more than 0 and at most ${hi} seconds`).max(
    hi,
    `must be at most ${hi} seconds (what a timer can hold)`,
  );

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
  seed: intIn(0, LIMITS.seed).default(0).describe("random seed (same seed, same run)"),
  totalSteps: intIn(1, LIMITS.totalSteps).default(150_000).describe(
    "env steps to train for (one step of one env counts once)",
  ),
  numEnvs: intIn(1, LIMITS.numEnvs).default(50).describe("parallel environments E"),
  rolloutLength: intIn(1, LIMITS.rolloutLength).default(200).describe(
    "steps per env per iteration T",
  ),
  gamma: z.number().min(0).max(1).default(0.99).describe("discount"),
  gaeLambda: z.number().min(0).max(1).default(0.95).describe("GAE lambda"),
  evalEvery: z.union([z.literal("auto"), z.int().min(0)], {
    error: "expected auto or a whole number of iterations (0 = only at the end)",
  }).default("auto").describe(
    "evaluate every N iterations (0 = only at the end; auto = up to 20 times, evaluation " +
      "kept near a quarter of the training env steps)",
  ),
  evalEpisodes: z.union([z.literal("auto"), intIn(1, LIMITS.evalEpisodes)], {
    error: `expected auto or a whole number of episodes from 1 to ${LIMITS.evalEpisodes}`,
  }).default("auto")
    .describe(
      "episodes per evaluation, greedy and again sampled (auto = 10,000 env steps' worth of the " +
        "episode limit, 10 to 100)",
    ),
  checkpointEvery: z.int().min(1).default(5).describe("write a checkpoint every N iterations"),
  backend: z.enum(["auto", "wasm", "cpu", "webgpu"]).default("auto").describe(
    "tfjs backend: auto = WebGPU on a hardware adapter, else wasm",
  ),
  kernels: z.enum(["auto", "tfjs", "fused"]).default("auto").describe(
    "where acting and updates run: auto = fused where the algorithm supports it and the " +
      "backend is not WebGPU, else tfjs; tfjs (autodiff on the backend); fused (core/fused: SIMD " +
      "WebAssembly, gradients written out: acting, actors and critics of BPPO (every estimator), " +
      "MAPPO, IPPO, AR-MAPPO and HAPPO with MLP or GRU networks; not MAT or shared networks)",
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
  pluginTimeout: secondsUpTo(LIMITS.timeoutSeconds).default(60).describe(
    "seconds a sandboxed plugin may take to answer one request (make, reset, step; load: at least 30)",
  ),
  log: z.enum(["jsonl", "tensorboard"]).default("jsonl").describe(
    "metric logs: jsonl (metrics.jsonl, metrics.csv) or tensorboard (those and an event file)",
  ),
  threads: intIn(0, LIMITS.threads).default(0).describe(
    "learner threads, this one included (0 = one per core; 1 = no worker threads)",
  ),
  pluginMemory: intIn(16, LIMITS.pluginMemory).default(1024).describe(
    "megabytes of memory a sandboxed plugin may use (its JS heap, and growth in one request)",
  ),
  quiet: z.boolean().default(false).describe("no progress line"),
  rollout: z.string().regex(
    /^rediss?:\/\/[^\s]+$/,
    "expected redis://host:port or rediss://host:port",
  )
    .optional().describe(
      "collect rollouts on workers through Redis (redis://host:port, rediss:// for TLS); start workers with deno task worker; both need the same BATON_ROLLOUT_SECRET",
    ),
  rolloutRun: z.string().regex(/^[A-Za-z0-9._-]{1,64}$/, "letters, digits, . _ - (1-64)")
    .default("baton").describe("Redis key namespace of this run (workers pass the same --run)"),
  rolloutChunks: intIn(1, LIMITS.rolloutChunks).default(1).describe(
    "chunks per iteration: num-envs split into this many worker tasks",
  ),
  rolloutQuorum: z.number().gt(0).max(1).default(1).describe(
    "fraction of chunks that lets an iteration proceed once rollout-timeout has passed",
  ),
  rolloutTimeout: secondsUpTo(LIMITS.timeoutSeconds).default(600).describe(
    "seconds to wait for all chunks of an iteration before settling for the quorum (else fail)",
  ),
  rolloutClaim: secondsUpTo(LIMITS.timeoutSeconds).default(30).describe(
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
 * Checks what one field's range cannot: one iteration's size (`numEnvs x rolloutLength`), before
 * anything is allocated.
 * @param c the config
 * @throws one line naming the flags and the limit
 */
export function checkRunSize(c: Pick<TrainConfig, "numEnvs" | "rolloutLength">): void {
  const { numEnvs: E, rolloutLength: T } = c;
  if (E * T <= LIMITS.maxStepsPerIteration) return;
  const n = (x: number) => x.toLocaleString("en-US");
  throw new Error(
    `Invalid flag --num-envs: ${n(E)} x --rollout-length ${n(T)} = ${
      n(E * T)
    } env steps per iteration, more than the ${
      n(LIMITS.maxStepsPerIteration)
    } one iteration may hold: lower either`,
  );
}

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
export function derived(
  c: Pick<TrainConfig, "numEnvs" | "rolloutLength" | "totalSteps">,
): { stepsPerIter: number; iterations: number } {
  const stepsPerIter = c.numEnvs * c.rolloutLength;
  return { stepsPerIter, iterations: Math.max(1, Math.ceil(c.totalSteps / stepsPerIter)) };
}

/**
 * The evaluation schedule a run uses: `evalEvery` and `evalEpisodes` as given, or resolved from
 * the episode limit when `auto`. Auto episodes: 10,000 env steps' worth of whole episodes (100 for
 * one-step games, 10 for 1000-step ones). Auto period: as many evaluations as fit in a quarter of
 * the training budget (each plays its episodes greedily and again sampled, counted at full
 * length), at most 20, at least the one at the end.
 * @param c the run's config
 * @param episodeLimit the env's episode limit
 * @returns the period in iterations (0 = only at the end) and the episodes per evaluation
 */
export function evalSchedule(
  c: Pick<TrainConfig, "evalEvery" | "evalEpisodes" | "numEnvs" | "rolloutLength" | "totalSteps">,
  episodeLimit: number,
): { every: number; episodes: number } {
  const limit = Math.max(1, episodeLimit);
  const episodes = c.evalEpisodes === "auto"
    ? Math.min(100, Math.max(10, Math.ceil(10_000 / limit)))
    : c.evalEpisodes;
  if (c.evalEvery !== "auto") return { every: c.evalEvery, episodes };
  const { iterations } = derived(c);
  const perEval = 2 * episodes * limit;
  const count = Math.min(20, Math.floor((0.25 * c.totalSteps) / perEval));
  return { every: count <= 1 ? 0 : Math.ceil(iterations / count), episodes };
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
 * and the values of `BATON_REDIS_PASSWORD` and `BATON_ROLLOUT_SECRET` (where env access allows
 * reading them).
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
  for (const name of ["BATON_REDIS_PASSWORD", "BATON_ROLLOUT_SECRET"]) {
    try {
      const env = Deno.env.get(name);
      if (env) found.add(env);
    } catch { /* no env permission: nothing to redact from there */ }
  }
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
