/**
 * Baton's command line: `deno task train [flags]`. Flags, help and validation come from the
 * zod schemas (`core/config.ts`, each env's and algorithm's options).
 *
 * Permissions: read and write of the run directory, read of plugins and of the tfjs wasm
 * binary in node_modules, run of a bridge interpreter; the task passes `-A` for simplicity.
 *
 * @module
 */
import { parseArgs } from "node:util";
import { z } from "./core/deps.ts";
import { defaultOut, derived, type TrainConfig, trainConfig } from "./core/config.ts";
import { formatZodError } from "./core/errors.ts";
import { defaultEnvRegistry } from "./envs/mod.ts";
import { type AlgoRegistry, defaultAlgoRegistry } from "./algos/mod.ts";
import type { EnvRegistry } from "./core/registry.ts";
import { parseOptions } from "./core/registry.ts";
import { loadPlugin } from "./plugins/loader.ts";
import { loadSandboxedPlugin, type PluginSandbox } from "./plugins/sandbox.ts";
import { evaluate, type Summary, train } from "./core/trainer.ts";
import { loadCheckpoint } from "./core/checkpoint.ts";
import { initBackend } from "./core/backend.ts";
import { Rng } from "./core/rng.ts";

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
    "  --resume runs/<name>                      continue a run from its checkpoint",
    "  --eval-only --checkpoint <file|dir>       evaluate a checkpoint greedily and exit",
    "  --list                                    list envs and algorithms with their options",
    "  --help                                    this text",
    "",
    "Example: deno task train --env matrix/penalty --env-opt k=100 --algo mappo --seed 1",
  ].join("\n");
}

function fieldsOf(js: any): FieldInfo[] {
  return Object.entries(js?.properties ?? {}).map(([key, p]: [string, any]) => ({
    key,
    flag: kebab(key),
    type: p.enum ? p.enum.join("|") : (p.type === "integer" ? "int" : p.type ?? "value"),
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
  out.push("", "Algorithms (--algo <name>, --algo-opt key=value):");
  for (const a of algos.list()) out.push(`  ${a.name}  ${a.description}`, ...opts(a.options));
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
    } catch { /* plain text */ }
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
  checkpoint?: string;
} {
  const options: Record<string, { type: "string" | "boolean"; multiple?: boolean }> = {
    "env-opt": { type: "string", multiple: true },
    "algo-opt": { type: "string", multiple: true },
    plugin: { type: "string", multiple: true },
    list: { type: "boolean" },
    help: { type: "boolean" },
    resume: { type: "string" },
    "eval-only": { type: "boolean" },
    checkpoint: { type: "string" },
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
  let values: Record<string, unknown>;
  try {
    ({ values } = parseArgs({ args: argv, options, strict: true, allowPositionals: false }));
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
    checkpoint: values.checkpoint as string | undefined,
  };
}

/** Validates a raw config, naming the flag in errors. */
export function validateConfig(raw: Record<string, unknown>): TrainConfig {
  const r = trainConfig.safeParse(raw);
  if (!r.success) {
    const msg = formatZodError(r.error).replace(/(^|; )(\w+)/g, (_m, p, k) => `${p}--${kebab(k)}`);
    throw new Error(`Invalid flag ${msg}`);
  }
  return r.data;
}

function printSummary(s: Summary): void {
  const f = (x: number | null | undefined) => (x === null || x === undefined ? "-" : x.toFixed(2));
  const lines = [
    `Done: ${s.algo} on ${s.env}, seed ${s.seed}: ${
      s.env_steps.toLocaleString("en-US")
    } env steps in ${s.wall_s}s (${s.backend})`,
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
  lines.push(
    `  run directory: ${s.out} (config.json, metrics.jsonl, metrics.csv, summary.json, checkpoint.json)`,
  );
  console.log(lines.join("\n"));
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
  let cfg = validateConfig(cli.raw);
  let resume;
  if (cli.resume || (cli.evalOnly && cli.checkpoint)) {
    resume = await loadCheckpoint((cli.resume ?? cli.checkpoint)!);
    const saved = validateConfig(resume.config);
    const overrides = Object.fromEntries([...cli.given].map((k) => [k, (cfg as any)[k]]));
    cfg = { ...saved, ...overrides, out: saved.out ?? defaultOut(saved) };
  } else if (cli.evalOnly) {
    throw new Error("Invalid flag --eval-only: it needs --checkpoint runs/<name>/checkpoint.json");
  }
  for (const p of cfg.plugins) {
    if (cfg.trustPlugins) await loadPlugin(envs, p);
    else sandboxes.push(await loadSandboxedPlugin(envs, p, { grants: cfg.pluginGrants }));
  }
  if (cli.list) {
    console.log(listText(envs, algos));
    return 0;
  }
  envs.get(cfg.env); // fail early with the list of known ids
  const algoEntry = algos.get(cfg.algo);
  parseOptions(algoEntry.options, cfg.algoOptions, `algorithm ${cfg.algo}`);
  const backend = await initBackend(cfg.backend);
  if (cli.evalOnly) {
    const env = await envs.make(cfg.env, {
      options: cfg.envOptions,
      numEnvs: Math.min(cfg.evalEpisodes, 100),
      python: cfg.python,
      bridgeWorkers: cfg.bridgeWorkers,
    });
    const algo = algoEntry.create(env.spec, {
      options: parseOptions(algoEntry.options, cfg.algoOptions, `algorithm ${cfg.algo}`),
      rng: new Rng(cfg.seed),
    });
    await algo.setState(resume!.algo);
    const r = await evaluate(algo, env, { episodes: cfg.evalEpisodes, seed: cfg.seed + 1_000_003 });
    await env.close();
    console.log(JSON.stringify(
      {
        checkpoint: cli.checkpoint,
        env: cfg.env,
        algo: cfg.algo,
        env_steps: resume!.envSteps,
        eval_episodes: cfg.evalEpisodes,
        eval_return: r.meanReturn,
        eval_win_rate: r.winRate,
        greedy_joint_action: r.firstJointAction,
        optimal_return: env.spec.optimalReturn,
      },
      null,
      2,
    ));
    return 0;
  }
  const { iterations, stepsPerIter } = derived(cfg);
  if (!cfg.quiet) {
    console.error(
      `Baton: ${cfg.algo} on ${cfg.env} (seed ${cfg.seed}), ${iterations} iterations x ${stepsPerIter} env steps, backend ${backend.name} (${backend.reason})`,
    );
  }
  const ac = new AbortController();
  const onSig = () => {
    console.error(
      "\nInterrupted: finishing this iteration and writing a checkpoint (Ctrl-C again to kill)",
    );
    if (ac.signal.aborted) Deno.exit(130);
    ac.abort();
  };
  Deno.addSignalListener("SIGINT", onSig);
  try {
    const summary = await train(cfg, { envs, algos, resume, signal: ac.signal, backend });
    printSummary(summary);
  } finally {
    Deno.removeSignalListener("SIGINT", onSig);
  }
  return ac.signal.aborted ? 130 : 0;
}

if (import.meta.main) {
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
