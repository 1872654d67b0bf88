/**
 * A rollout worker for a learner started with `--rollout redis://...`:
 * `deno task worker --redis redis://host:port [--run baton]`. Start any number, on any host
 * that reaches Redis; each takes chunk tasks, steps its envs and sends trajectory chunks back.
 * See docs/distributed.md.
 *
 * @module
 */
import { parseArgs } from "node:util";
import { hostname } from "node:os";
import { z } from "./core/deps.ts";
import { formatZodError } from "./core/errors.ts";
import { initBackend } from "./core/backend.ts";
import { defaultEnvRegistry } from "./envs/mod.ts";
import { defaultAlgoRegistry } from "./algos/mod.ts";
import { loadConfiguredPlugins, type PluginSandbox } from "./plugins/sandbox.ts";
import { runWorker } from "./distributed/worker.ts";

/** Seconds a signalled worker has to finish stopping before it exits regardless. */
const STOP_GRACE_S = 5;

const flags = z.strictObject({
  redis: z.string().regex(/^rediss?:\/\/\S+$/, "expected redis://host:port or rediss://host:port"),
  run: z.string().regex(/^[A-Za-z0-9._-]{1,64}$/, "letters, digits, . _ - (1-64)").default(
    "baton",
  ),
  id: z.string().regex(/^[\w.:-]{1,100}$/).optional(),
  backend: z.enum(["auto", "wasm", "cpu", "webgpu"]).default("wasm"),
  threads: z.int().positive().default(1),
  tlsCa: z.string().optional(),
  idleExit: z.number().min(0).default(0),
  maxTasks: z.int().min(0).default(0),
  envOpt: z.array(z.string()).default([]),
  plugin: z.array(z.string()).default([]),
  trustPlugin: z.boolean().default(false),
  pluginAllowRead: z.array(z.string()).default([]),
  pluginAllowRun: z.array(z.string()).default([]),
  quiet: z.boolean().default(false),
});

const HELP = `Baton rollout worker

Usage: deno task worker --redis redis://host:port [flags]

  --redis URL          the learner's --rollout URL (password: BATON_REDIS_PASSWORD or in the URL;
                       rediss:// for TLS)
  --run NAME           the learner's --rollout-run [default: baton]
  --id NAME            this worker's name, unique per run [default: <hostname>-<pid>]
  --backend NAME       auto|wasm|cpu|webgpu for acting [default: wasm]
  --threads N          acting threads [default: 1]
  --tls-ca FILE        CA certificate (PEM) the server's certificate must chain to
  --env-opt key=value  env options of this host (repeatable), e.g. python=/opt/sc2/bin/python;
                       python, pythonPath and factory are taken only from here, never from Redis
  --plugin path|url    env plugin to load (repeatable; sandboxed unless --trust-plugin)
  --plugin-allow-read=x, --plugin-allow-run=x   grant a sandboxed plugin more
  --idle-exit S        exit after S seconds without a task (0: never) [default: 0]
  --max-tasks N        exit after N chunks (0: never) [default: 0]
  --quiet              no log lines
  --help               this text

Environment: BATON_ROLLOUT_SECRET (required) the run's secret, the same as the learner's: every
message through Redis is signed with it; BATON_REDIS_PASSWORD the Redis password.`;

async function main(argv: string[]): Promise<number> {
  let values: Record<string, unknown>;
  try {
    ({ values } = parseArgs({
      args: argv,
      strict: true,
      options: {
        redis: { type: "string" },
        run: { type: "string" },
        id: { type: "string" },
        backend: { type: "string" },
        threads: { type: "string" },
        "tls-ca": { type: "string" },
        "idle-exit": { type: "string" },
        "max-tasks": { type: "string" },
        "env-opt": { type: "string", multiple: true },
        plugin: { type: "string", multiple: true },
        "trust-plugin": { type: "boolean" },
        "plugin-allow-read": { type: "string", multiple: true },
        "plugin-allow-run": { type: "string", multiple: true },
        quiet: { type: "boolean" },
        help: { type: "boolean" },
      },
    }));
  } catch (err) {
    throw new Error(`${(err as Error).message.replace(/\. To specify.*$/s, "")}; see --help`);
  }
  if (values.help) {
    console.log(HELP);
    return 0;
  }
  const num = (x: unknown) => (x === undefined ? undefined : Number(x));
  const parsed = flags.safeParse({
    redis: values.redis,
    run: values.run,
    id: values.id,
    backend: values.backend,
    threads: num(values.threads),
    tlsCa: values["tls-ca"],
    idleExit: num(values["idle-exit"]),
    maxTasks: num(values["max-tasks"]),
    envOpt: values["env-opt"],
    plugin: values.plugin,
    trustPlugin: values["trust-plugin"],
    pluginAllowRead: values["plugin-allow-read"],
    pluginAllowRun: values["plugin-allow-run"],
    quiet: values.quiet,
  });
  if (!parsed.success) {
    throw new Error(
      `Invalid flag ${
        formatZodError(parsed.error).replace(
          /(^|; )(\w+)/g,
          (_m, p, k) => `${p}--${k.replace(/[A-Z]/g, (c: string) => "-" + c.toLowerCase())}`,
        )
      }`,
    );
  }
  const f = parsed.data;
  const envOptions: Record<string, unknown> = {};
  for (const item of f.envOpt) {
    const eq = item.indexOf("=");
    if (eq <= 0) throw new Error(`Invalid --env-opt "${item}": expected key=value`);
    const raw = item.slice(eq + 1);
    try {
      envOptions[item.slice(0, eq)] = JSON.parse(raw);
    } catch {
      envOptions[item.slice(0, eq)] = raw;
    }
  }
  await initBackend(f.backend);
  const envs = defaultEnvRegistry();
  const sandboxes: PluginSandbox[] = [];
  await loadConfiguredPlugins(envs, {
    plugins: f.plugin,
    trustPlugins: f.trustPlugin,
    pluginGrants: { read: f.pluginAllowRead, net: [], env: [], run: f.pluginAllowRun, write: [] },
    pluginTimeout: 60,
    pluginMemory: 1024,
  }, sandboxes);
  const stop = new AbortController();
  // The first signal stops the worker (every wait ends at once); should anything still hold it
  // after STOP_GRACE_S, or on a second signal, the process exits anyway: a worker always stops.
  const onSignal = () => {
    if (stop.signal.aborted) Deno.exit(130);
    stop.abort();
    Deno.unrefTimer(setTimeout(() => {
      console.error(`worker did not stop within ${STOP_GRACE_S}s of the signal: exiting`);
      Deno.exit(130);
    }, STOP_GRACE_S * 1000));
  };
  Deno.addSignalListener("SIGINT", onSignal);
  Deno.addSignalListener("SIGTERM", onSignal);
  const id = f.id ?? `${hostname()}-${Deno.pid}`;
  const log = f.quiet ? () => {} : (l: string) => console.error(l);
  log(`[${id}] worker for run ${f.run}; waiting for tasks`);
  try {
    const rep = await runWorker({
      redis: f.redis,
      run: f.run,
      id,
      tlsCa: f.tlsCa,
      threads: f.threads,
      envOptions,
      envs,
      algos: defaultAlgoRegistry(),
      idleExit: f.idleExit,
      maxTasks: f.maxTasks,
      signal: stop.signal,
      log,
    });
    log(
      `[${id}] done: ${rep.chunks} chunks sent, ${rep.stale} stale tasks skipped, ${rep.abandoned} abandoned, ${rep.refused} refused`,
    );
  } finally {
    Deno.removeSignalListener("SIGINT", onSignal);
    Deno.removeSignalListener("SIGTERM", onSignal);
    for (const s of sandboxes) s.terminate();
  }
  return 0;
}

if (import.meta.main) {
  try {
    Deno.exit(await main(Deno.args));
  } catch (err) {
    console.error(`Error: ${(err as Error).message}`);
    Deno.exit(2);
  }
}
