/**
 * Baton's command line: `deno task train [flags]`. Flags, help and validation come from the
 * zod schemas (`core/config.ts`, each env's and algorithm's options).
 *
 * Permissions: read and write of the run directory, read of plugins and of the tfjs wasm
 * binary in node_modules, run of a bridge interpreter; the task passes `-A` for simplicity.
 *
 * @module
 */
import { plural } from "./core/text.ts";
import { parseArgs } from "node:util";
import { dirname, join } from "node:path";
import { z } from "./core/deps.ts";
import { checkRunSize, defaultOut, derived, type TrainConfig, trainConfig } from "./core/config.ts";
import { formatZodError } from "./core/errors.ts";
import { defaultEnvRegistry } from "./envs/mod.ts";
import { defaultAlgoRegistry } from "./algos/mod.ts";
import { type AlgoRegistry, type EnvRegistry, parseOptions } from "./core/registry.ts";
import { loadConfiguredPlugins, type PluginSandbox } from "./plugins/sandbox.ts";
import { type Summary, train } from "./core/trainer.ts";
import { evaluateCheckpoint } from "./core/evaluate.ts";
import { loadCheckpoint } from "./core/checkpoint.ts";
import { initBackend } from "./core/backend.ts";
import { loadConfigFile, parseSeeds } from "./core/config_file.ts";

const SPECIAL = new Set(["envOptions", "algoOptions", "plugins", "trustPlugins", "pluginGrants"]);
const kebab = (s: string) => s.replace(/[A-Z]/g, (c) => "-" + c.toLowerCase());

type FieldInfo = { key: string; flag: string; type: string; description: string; def: unknown };

function schemaFields(schema: z.ZodObject): FieldInfo[] {
  return fieldsOf(z.toJSONSchema(schema, { io: "input", unrepresentable: "any" }));
}

const configFields = schemaFields(trainConfig).filter((f) => !SPECIAL.has(f.key));

function helpText(): string {
  const rows = configFields.map((f) =>
    `  --${f.flag.padEnd(18)} ${f.type.padEnd(22)} ${f.description}${
      f.def !== undefined ? ` [default: ${JSON.stringify(f.def)}]` : ""
    }`
  );
  return [
    "Baton: cooperative multi-agent RL (BPTA/BPPO) on Deno",
    "",
    "Usage: deno task train [flags]",
    "",
    "Flags:",
    ...rows,
    "  --env-opt key=value                       env option (repeatable; values are JSON or text)",
    "  --algo-opt key=value                      algorithm option (repeatable)",
    "  --plugin path|url                         load an env plugin module (repeatable), sandboxed:",
    "                                            it may read only its own directory",
    "  --plugin-allow-read|net|env|run|write=x   grant a sandboxed plugin more (repeatable)",
    "  --trust-plugin                            run plugins in-process, without the sandbox",
    "  --config run.json|run.yaml                the config from a file (keys as below in camelCase;",
    "                                            a run's config.json works); flags override it",
    "  --seeds 0-4 | 0,3,7                       one run per seed (out gets -s<seed>), then a table",
    "  --resume runs/<name>                      continue a run from its checkpoint",
    "  --eval-only --checkpoint <file|dir>       evaluate a checkpoint greedily and exit",
    "  --list                                    list envs and algorithms with their options",
    "  --dry-run                                 validate the config, plugins, ids and options; train nothing",
    "  --help                                    this text",
    "",
    "Example: deno task train --env matrix/penalty --env-opt k=100 --algo mappo --seed 1",
  ].join("\n");
}

function fieldsOf(js: any): FieldInfo[] {
  return Object.entries(js?.properties ?? {}).map(([key, p]: [string, any]) => ({
    key,
    flag: kebab(key),
    type: p.enum
      ? p.enum.join("|")
      : p.anyOf
      ? p.anyOf.map((a: any) => a.const ?? (a.type === "integer" ? "int" : a.type)).join("|")
      : (p.type === "integer" ? "int" : p.type ?? "value"),
    description: p.description ?? "",
    def: p.default,
  }));
}

function listText(envs: EnvRegistry, algos: AlgoRegistry): string {
  const opts = (schema: z.ZodType, jsonSchema?: unknown) => {
    const fs = jsonSchema !== undefined
      ? fieldsOf(jsonSchema)
      : schema instanceof z.ZodObject
      ? schemaFields(schema)
      : null;
    if (!fs) return ["    (options not listable)"];
    return fs.length
      ? fs.map((f) =>
        `    ${f.key.padEnd(14)} ${f.type.padEnd(10)} ${f.description}${
          f.def !== undefined ? ` [default: ${JSON.stringify(f.def)}]` : ""
        }`
      )
      : ["    (no options)"];
  };
  const out = ["Environments (--env <id>, --env-opt key=value):"];
  for (const e of envs.list()) {
    out.push(`  ${e.id}  ${e.description}`, ...opts(e.options, e.jsonSchema));
  }
  // options every algorithm takes alike (the PPO family's) are listed once, then each one's own
  const fieldsOfAlgo = algos.list().map((a) =>
    a.options instanceof z.ZodObject ? schemaFields(a.options as z.ZodObject) : []
  );
  const same = (f: FieldInfo, g: FieldInfo) => JSON.stringify(f) === JSON.stringify(g);
  const shared = (fieldsOfAlgo[0] ?? []).filter((f) =>
    fieldsOfAlgo.every((fs) => fs.some((g) => same(f, g)))
  );
  const line = (f: FieldInfo) =>
    `    ${f.key.padEnd(14)} ${f.type.padEnd(10)} ${f.description}${
      f.def !== undefined ? ` [default: ${JSON.stringify(f.def)}]` : ""
    }`;
  out.push("", "Algorithms (--algo <name>, --algo-opt key=value):");
  if (shared.length && algos.list().length > 1) {
    out.push("  Options every algorithm takes:", ...shared.map(line));
  }
  algos.list().forEach((a, k) => {
    const own = shared.length && algos.list().length > 1
      ? (fieldsOfAlgo[k] ?? []).filter((f) => !shared.some((g) => same(f, g)))
      : null;
    out.push(
      `  ${a.name}  ${a.description}`,
      ...(own ? (own.length ? own.map(line) : ["    (only the options above)"]) : opts(a.options)),
    );
  });
  return out.join("\n");
}

function parseKeyValues(items: string[], flag: string): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const item of items) {
    const eq = item.indexOf("=");
    if (eq <= 0) {
      throw new Error(`Invalid ${flag} "${item}": expected key=value, e.g. ${flag} k=100`);
    }
    const key = item.slice(0, eq), raw = item.slice(eq + 1);
    let value: unknown = raw;
    try {
      value = JSON.parse(raw);
    } catch (err) {
      if (/^\s*[[{]/.test(raw)) {
        throw new Error(
          `Invalid ${flag} ${key}=${raw}: the value looks like JSON but does not parse (${
            (err as Error).message
          }); check the brackets and quotes`,
        );
      }
      /* plain text */
    }
    out[key] = value;
  }
  return out;
}

/** Parses argv into a config (validated) plus the command-only flags. */
export function parseCli(argv: string[]): {
  raw: Record<string, unknown>;
  given: Set<string>;
  list: boolean;
  help: boolean;
  resume?: string;
  evalOnly: boolean;
  dryRun: boolean;
  checkpoint?: string;
  config?: string;
  seeds?: string;
} {
  const options: Record<string, { type: "string" | "boolean"; multiple?: boolean }> = {
    "env-opt": { type: "string", multiple: true },
    "algo-opt": { type: "string", multiple: true },
    plugin: { type: "string", multiple: true },
    list: { type: "boolean" },
    help: { type: "boolean" },
    resume: { type: "string" },
    "eval-only": { type: "boolean" },
    "dry-run": { type: "boolean" },
    checkpoint: { type: "string" },
    config: { type: "string" },
    seeds: { type: "string" },
    "trust-plugin": { type: "boolean" },
    "plugin-allow-read": { type: "string", multiple: true },
    "plugin-allow-net": { type: "string", multiple: true },
    "plugin-allow-env": { type: "string", multiple: true },
    "plugin-allow-run": { type: "string", multiple: true },
    "plugin-allow-write": { type: "string", multiple: true },
  };
  for (const f of configFields) {
    options[f.flag] = { type: f.type === "boolean" ? "boolean" : "string" };
  }
  // `--seed -1`: node's parser reads a value starting with "-" as a missing value; join a
  // negative number to its flag so validation can say what range the flag takes
  const args = argv.flatMap((a, i) =>
    /^-\d/.test(a) && /^--[a-z-]+$/.test(argv[i - 1] ?? "") &&
      options[argv[i - 1]!.slice(2)]?.type === "string"
      ? []
      : /^--[a-z-]+$/.test(a) && /^-\d/.test(argv[i + 1] ?? "") &&
          options[a.slice(2)]?.type === "string"
      ? [`${a}=${argv[i + 1]}`]
      : [a]
  );
  let values: Record<string, unknown>;
  try {
    ({ values } = parseArgs({ args, options, strict: true, allowPositionals: false }));
  } catch (err) {
    throw new Error(
      `${
        (err as Error).message.replace(/\. To specify.*$/s, "")
      }; run with --help to see the flags`,
    );
  }
  const raw: Record<string, unknown> = {};
  const given = new Set<string>();
  for (const f of configFields) {
    const v = values[f.flag];
    if (v === undefined) continue;
    given.add(f.key);
    if (f.type === "int" || f.type === "number") {
      const num = Number(v);
      if (v === "" || Number.isNaN(num)) {
        throw new Error(`Invalid --${f.flag} "${v}": expected a number`);
      }
      raw[f.key] = num;
    } else if (
      /(^|\|)int(\||$)/.test(f.type) && String(v).trim() !== "" && Number.isFinite(Number(v))
    ) {
      raw[f.key] = Number(v); // a union such as auto|int: a number when it is one
    } else raw[f.key] = v;
  }
  raw.envOptions = parseKeyValues((values["env-opt"] as string[]) ?? [], "--env-opt");
  raw.algoOptions = parseKeyValues((values["algo-opt"] as string[]) ?? [], "--algo-opt");
  raw.plugins = (values.plugin as string[]) ?? [];
  raw.trustPlugins = Boolean(values["trust-plugin"]);
  raw.pluginGrants = Object.fromEntries(
    ["read", "net", "env", "run", "write"].map((
      p,
    ) => [p, (values[`plugin-allow-${p}`] as string[]) ?? []]),
  );
  return {
    raw,
    given,
    list: Boolean(values.list),
    help: Boolean(values.help),
    resume: values.resume as string | undefined,
    evalOnly: Boolean(values["eval-only"]),
    dryRun: Boolean(values["dry-run"]),
    checkpoint: values.checkpoint as string | undefined,
    config: values.config as string | undefined,
    seeds: values.seeds as string | undefined,
  };
}

/** Validates a raw config, naming the flag in errors. */
export function validateConfig(raw: Record<string, unknown>): TrainConfig {
  const r = trainConfig.safeParse(raw);
  if (!r.success) {
    const msg = formatZodError(r.error).replace(/(^|; )(\w+)/g, (_m, p, k) => `${p}--${kebab(k)}`);
    throw new Error(`Invalid flag ${msg}`);
  }
  checkRunSize(r.data);
  return r.data;
}

/** What makes a run the run it is: a checkpoint resumes only into the same. */
const IDENTITY = ["env", "algo", "seed", "envOptions", "algoOptions"] as const;

const sameJson = (a: unknown, b: unknown) => JSON.stringify(a) === JSON.stringify(b);
const shown = (x: unknown) => typeof x === "string" ? x : JSON.stringify(x);

/** A config read from a file a run wrote, its errors naming the file and the field (not a flag). */
function savedConfig(raw: Record<string, unknown>, what: string): TrainConfig {
  const r = trainConfig.safeParse(raw);
  if (!r.success) {
    throw new Error(
      `Cannot use ${what}: its config has ${
        formatZodError(r.error)
      } (the file was edited or written by another Baton version)`,
    );
  }
  return r.data;
}

/**
 * Refuses a checkpoint that belongs to another run than the directory it would resume into
 * (whose config.json names env, algorithm, seed and options): nothing there is changed.
 */
async function checkSameRun(
  dir: string,
  saved: TrainConfig,
  ckFile: string,
  algos: AlgoRegistry,
): Promise<void> {
  const path = join(dir, "config.json");
  let text: string;
  try {
    text = await Deno.readTextFile(path);
  } catch {
    return; // a checkpoint on its own (copied without its run): nothing to compare with
  }
  let theirs: Record<string, unknown>;
  try {
    theirs = JSON.parse(text);
  } catch (err) {
    throw new Error(
      `Cannot resume ${dir}: ${path} is not valid JSON (${
        (err as Error).message
      }); restore it or resume into a fresh --out`,
    );
  }
  // config.json holds the algorithm's options resolved (defaults filled in): so compare those
  const resolved = (o: unknown) => {
    try {
      const given = (o ?? {}) as Record<string, unknown>;
      return parseOptions(algos.get(saved.algo).options, given, `algorithm ${saved.algo}`);
    } catch {
      return o;
    }
  };
  const ours: Record<string, unknown> = { ...saved, algoOptions: resolved(saved.algoOptions) };
  for (const k of IDENTITY) {
    const t = theirs[k] ?? trainConfig.shape[k].parse(undefined);
    if (!sameJson(k === "algoOptions" ? resolved(t) : t, ours[k])) {
      throw new Error(
        `Cannot resume ${dir}: ${ckFile} is from another run (${k} ${
          shown(saved[k])
        }; ${path} says ${
          shown(theirs[k])
        }); resume the checkpoint's own run directory, or pass --out for a new one`,
      );
    }
  }
}

/** The files a run directory holds, for the last line of the summary. */
async function runFiles(dir: string): Promise<string> {
  const names: string[] = [];
  try {
    for await (const e of Deno.readDir(dir)) if (e.isFile) names.push(e.name);
  } catch {
    return "";
  }
  names.sort();
  // metrics.jsonl and metrics.csv read as one entry; TensorBoard's file by its prefix
  const shown = names.filter((n) => n !== "metrics.csv" && !n.endsWith(".tmp")).map((n) =>
    n === "metrics.jsonl" && names.includes("metrics.csv")
      ? "metrics.jsonl/.csv"
      : n.startsWith("events.out.tfevents.")
      ? "events.out.tfevents.* (TensorBoard)"
      : n
  );
  return shown.join(", ");
}

async function printSummary(s: Summary): Promise<void> {
  const f = (x: number | null | undefined) => (x === null || x === undefined ? "-" : x.toFixed(2));
  const where = s.kernels === "fused" ? `${s.backend}, fused kernels` : s.backend;
  const head = s.stopped
    ? `Stopped: ${s.algo} on ${s.env}, seed ${s.seed}, after ${
      plural(s.iterations, "iteration")
    } of ${s.planned_iterations} (${plural(s.env_steps, "env step")}, ${s.wall_s}s, ${where})`
    : `Done: ${s.algo} on ${s.env}, seed ${s.seed}: ${
      plural(s.env_steps, "env step")
    } in ${s.wall_s}s (${where})`;
  const lines = [
    head,
    `  train return ${f(s.final_train_return)} | greedy eval return ${f(s.final_eval_return)}${
      s.optimal_return !== undefined ? ` | optimum ${s.optimal_return}` : ""
    }${s.eval_win_rate !== undefined ? ` | win rate ${f(s.eval_win_rate)}` : ""}`,
  ];
  if (s.greedy_joint_action) {
    const reached = s.final_eval_return !== null && s.optimal_return !== undefined &&
      Math.abs(s.final_eval_return - s.optimal_return) < 1e-6;
    lines.push(
      `  greedy joint action [${s.greedy_joint_action.join(", ")}] ${
        reached ? "reaches" : "misses"
      } the optimum`,
    );
  }
  lines.push(`  run directory: ${s.out} (${await runFiles(s.out)})`);
  if (s.stopped) lines.push(`  continue it with: deno task train --resume ${s.out}`);
  console.log(lines.join("\n"));
}

/** One line per seed and the mean, after `--seeds`. */
function printSeedTable(ss: Summary[]): void {
  const f = (x: number | null | undefined) => (x === null || x === undefined ? "-" : x.toFixed(2));
  const mean = (xs: (number | null | undefined)[]) => {
    const v = xs.filter((x): x is number => typeof x === "number");
    return v.length ? v.reduce((a, b) => a + b, 0) / v.length : null;
  };
  const rows = ss.map((s) =>
    `| ${s.seed} | ${f(s.final_train_return)} | ${f(s.final_eval_return)} | ${
      f(s.eval_win_rate)
    } | ${s.out} |`
  );
  console.log(
    [
      "\n| seed | train return | greedy eval return | win rate | run directory |",
      "|---:|---:|---:|---:|---|",
      ...rows,
      `| mean | ${f(mean(ss.map((s) => s.final_train_return)))} | ${
        f(mean(ss.map((s) => s.final_eval_return)))
      } | ${f(mean(ss.map((s) => s.eval_win_rate)))} | ${ss.length} seeds |`,
    ].join("\n"),
  );
}

/**
 * The config a `--config` file and the flags make together: flags override the file; env and
 * algorithm options merge key by key; plugins from the flags replace the file's.
 * @param file the file's fields
 * @param cli the parsed flags
 * @returns the raw config
 */
function withConfigFile(
  file: Record<string, unknown>,
  cli: ReturnType<typeof parseCli>,
): Record<string, unknown> {
  const raw: Record<string, unknown> = { ...file };
  for (const k of cli.given) raw[k] = cli.raw[k];
  const obj = (x: unknown) => (x && typeof x === "object" ? x as Record<string, unknown> : {});
  raw.envOptions = { ...obj(file.envOptions), ...obj(cli.raw.envOptions) };
  raw.algoOptions = { ...obj(file.algoOptions), ...obj(cli.raw.algoOptions) };
  const plugins = cli.raw.plugins as string[];
  if (plugins.length || !file.plugins) raw.plugins = plugins;
  raw.trustPlugins = Boolean(cli.raw.trustPlugins) || Boolean(file.trustPlugins);
  const grants = obj(file.pluginGrants), flagGrants = obj(cli.raw.pluginGrants);
  raw.pluginGrants = Object.fromEntries(
    ["read", "net", "env", "run", "write"].map((p) => [p, [
      ...((grants[p] as string[]) ?? []),
      ...((flagGrants[p] as string[]) ?? []),
    ]]),
  );
  return raw;
}

const sandboxes: PluginSandbox[] = [];

async function main(argv: string[]): Promise<number> {
  const cli = parseCli(argv);
  const envs = defaultEnvRegistry();
  const algos = defaultAlgoRegistry();
  if (cli.help) {
    console.log(helpText());
    return 0;
  }
  let cfg = validateConfig(
    cli.config ? withConfigFile(await loadConfigFile(cli.config), cli) : cli.raw,
  );
  const seeds = cli.seeds ? parseSeeds(cli.seeds) : null;
  if (seeds && (cli.resume || cli.evalOnly || cli.given.has("seed"))) {
    throw new Error(
      `Invalid flag --seeds: it starts one new run per seed; it does not go with ${
        cli.resume ? "--resume" : cli.evalOnly ? "--eval-only" : "--seed"
      }`,
    );
  }
  let resume;
  if (cli.resume || (cli.evalOnly && cli.checkpoint)) {
    const where = (cli.resume ?? cli.checkpoint)!;
    resume = await loadCheckpoint(where);
    const ckFile = (await Deno.stat(where)).isDirectory ? join(where, "checkpoint.json") : where;
    const saved = savedConfig(resume.config, `checkpoint ${ckFile}`);
    const overrides = Object.fromEntries([...cli.given].map((k) => [k, (cfg as any)[k]]));
    for (const k of IDENTITY) {
      if (cli.given.has(k) && !sameJson(cfg[k], saved[k])) {
        throw new Error(
          `Cannot resume ${where} with --${kebab(k)} ${shown(cfg[k])}: the checkpoint trained --${
            kebab(k)
          } ${shown(saved[k])}; start a new run with another --out instead`,
        );
      }
    }
    // a resumed run continues in the directory it was pointed at (a copy stays a copy)
    const pointed = cli.resume
      ? ((await Deno.stat(cli.resume)).isDirectory ? cli.resume : dirname(cli.resume))
      : undefined;
    cfg = {
      ...saved,
      ...overrides,
      out: overrides.out ?? pointed ?? saved.out ?? defaultOut(saved),
    };
    if (cli.resume) await checkSameRun(cfg.out!, saved, ckFile, algos);
  } else if (cli.evalOnly) {
    throw new Error("Invalid flag --eval-only: it needs --checkpoint runs/<name>/checkpoint.json");
  }
  await loadConfiguredPlugins(envs, cfg, sandboxes);
  if (cli.list) {
    console.log(listText(envs, algos));
    return 0;
  }
  const envEntry = envs.get(cfg.env); // fail early with the list of known ids
  const algoEntry = algos.get(cfg.algo);
  parseOptions(algoEntry.options, cfg.algoOptions, `algorithm ${cfg.algo}`);
  parseOptions(envEntry.options, cfg.envOptions, `env ${cfg.env}`); // errors before the banner
  if (cli.dryRun) { // everything above validated: the config, plugins, ids and options
    console.log(
      `ok: ${cfg.algo} on ${cfg.env} (seed ${cfg.seed}), ${cfg.totalSteps} env steps, ${
        cfg.numEnvs * cfg.rolloutLength
      } per iteration`,
    );
    return 0;
  }
  // a finished run (its summary written) has nothing to resume; one killed between its last
  // checkpoint and its summary goes on, evaluates and writes the summary
  const finishedRun = cli.resume && resume && resume.iteration >= derived(cfg).iterations &&
    await Deno.stat(join(cfg.out!, "summary.json")).then(() => true, () => false);
  if (finishedRun) {
    console.error(
      `Nothing to do: ${cfg.out} already finished ${
        plural(resume!.envSteps, "env step")
      } (--total-steps ${cfg.totalSteps}); pass a larger --total-steps to train on`,
    );
    return 0;
  }
  const backend = await initBackend(cfg.backend);
  if (backend.warning) console.error(`Warning: ${backend.warning}`);
  if (cli.evalOnly) {
    const r = await evaluateCheckpoint(cfg, resume!, { env: envEntry, algo: algoEntry });
    console.log(JSON.stringify(
      {
        checkpoint: cli.checkpoint,
        env: cfg.env,
        algo: cfg.algo,
        env_steps: r.envSteps,
        eval_episodes: r.episodes,
        eval_return: r.meanReturn,
        eval_return_std: r.std,
        eval_return_ci95: r.ci95,
        eval_win_rate: r.winRate,
        eval_win_rate_ci95: r.winRateCi95,
        eval_stochastic_return: r.stochastic.meanReturn,
        eval_stochastic_return_ci95: r.stochastic.ci95,
        eval_stochastic_win_rate: r.stochastic.winRate,
        // a joint action means something only in one-step games with a known optimum
        ...(r.optimalReturn !== undefined && r.optimalReturn !== null
          ? { greedy_joint_action: r.firstJointAction, optimal_return: r.optimalReturn }
          : {}),
      },
      null,
      2,
    ));
    return 0;
  }
  const { iterations, stepsPerIter } = derived(cfg);
  if (iterations * stepsPerIter !== cfg.totalSteps) {
    console.error(
      `Note: --total-steps ${cfg.totalSteps} is not a whole number of iterations of ${stepsPerIter} env steps (--num-envs ${cfg.numEnvs} x --rollout-length ${cfg.rolloutLength}); training runs ${iterations} iteration${
        iterations > 1 ? "s" : ""
      } = ${(iterations * stepsPerIter).toLocaleString("en-US")} env steps`,
    );
  }
  if (!cfg.quiet) {
    console.error(
      `Baton: ${cfg.algo} on ${cfg.env} (seed ${cfg.seed}), ${plural(iterations, "iteration")} x ${
        plural(stepsPerIter, "env step")
      }, backend ${backend.name} (${backend.reason})`,
    );
  }
  // Ctrl-C, SIGTERM and SIGHUP all finish the iteration, write a checkpoint, close every env
  // and exit with 128 + the signal's number; a second one exits at once.
  const ac = new AbortController();
  let exitCode = 0;
  const signals = [["SIGINT", 130], ["SIGTERM", 143], ["SIGHUP", 129]] as const;
  const handlers = signals.map(([sig, code]) => {
    const h = () => {
      console.error(
        `\nInterrupted (${sig}): finishing this iteration and writing a checkpoint (send it again to kill)`,
      );
      if (ac.signal.aborted) Deno.exit(code);
      exitCode = code;
      ac.abort();
    };
    Deno.addSignalListener(sig, h);
    return [sig, h] as const;
  });
  try {
    const runs = seeds
      ? seeds.map((seed) => ({ ...cfg, seed, out: cfg.out ? `${cfg.out}-s${seed}` : undefined }))
      : [cfg];
    const summaries: Summary[] = [];
    for (const c of runs) {
      if (ac.signal.aborted) break;
      const summary = await train(c, {
        env: envEntry,
        algo: algoEntry,
        resume,
        signal: ac.signal,
        backend,
      });
      await printSummary(summary);
      summaries.push(summary);
    }
    if (seeds) printSeedTable(summaries);
  } finally {
    for (const [sig, h] of handlers) Deno.removeSignalListener(sig, h);
  }
  return exitCode;
}

if (import.meta.main) {
  // past a file-size limit (ulimit -f) a write then fails with EFBIG and is reported in one line
  // (the checkpoint's temporary file removed, the previous checkpoint kept) instead of the
  // signal's default, which kills the process mid-write
  Deno.addSignalListener("SIGXFSZ", () => {});
  try {
    const code = await main(Deno.args);
    for (const s of sandboxes) s.terminate();
    Deno.exit(code);
  } catch (err) {
    for (const s of sandboxes) s.terminate();
    console.error(`Error: ${(err as Error).message}`);
    Deno.exit(2);
  }
}
