/**
 * Sandboxed plugins: an untrusted env plugin runs in a Web Worker started with least Deno
 * permissions, and its envs talk to the trainer with one batched typed-array message per
 * reset/step (buffers transferred, never copied per agent).
 *
 * What the worker may do by default: read the plugin's own directory (a local plugin; its real
 * path, without `.git`, `runs`, `node_modules` and `.env`; a folder holding a link that points
 * outside it is refused, since Deno checks paths, not link targets) and
 * Baton's own source modules (needed to import Baton; they hold no user data), import the
 * plugin's host (a URL plugin). Nothing else: no net, no run, no env, no write, no ffi, no
 * sys. `--plugin-allow-read/net/env/run/write` grant more; `--trust-plugin` skips the sandbox.
 *
 * Resource limits: a request that takes longer than `--plugin-timeout` stops the sandbox (a
 * spinning plugin), and so does memory past `--plugin-memory` MB: the worker reports its JS heap
 * after every request (a plugin that leaks), and while a request is pending the host polls the
 * process's resident memory every 25 ms and stops the worker once it has grown by more than the
 * limit (a plugin that allocates in one go). Deno has no heap limit for Web Workers, and a
 * worker that reaches V8's own heap limit aborts the whole process; the poll ends it first, so
 * the trainer reports one line and the last checkpoint stays intact. Memory outside the JS heap
 * that grows slower than the poll can see (a few GB in 25 ms) is the limit of this guard.
 *
 * What it does not protect against: wrong or adversarial observations and
 * rewards (they are data the trainer uses), and anything the user grants explicitly. Deno's
 * permission checks are the boundary: a bug in Deno or V8 is outside what this can protect.
 *
 * Needs Deno's worker permission option (`--unstable-worker-options`, set in deno.json).
 *
 * @module
 */
import { dirname } from "node:path";
import { fileURLToPath } from "node:url";
import { z } from "../core/deps.ts";
import type { EnvEntry, EnvRegistry } from "../core/registry.ts";
import type { EnvSpec, Step, VecEnv } from "../core/vec_env.ts";
import { loadPlugin, pluginUrl } from "./loader.ts";
import { type Scene, sceneSchema } from "../core/scene.ts";

/** Extra permissions granted to sandboxed plugins (each list adds to the defaults). */
export interface SandboxGrants {
  read?: string[];
  net?: string[];
  env?: string[];
  run?: string[];
  write?: string[];
}

/** Options of {@link loadSandboxedPlugin}. */
export interface SandboxOptions {
  /** Extra permissions. */
  grants?: SandboxGrants;
  /** Milliseconds a plugin may take to answer one request (default 60 s). */
  timeoutMs?: number;
  /** Megabytes of memory a plugin may use: its JS heap, and growth during one request (1024). */
  memoryMb?: number;
}

/** The least time a plugin gets to load (module import), whatever `--plugin-timeout` says. */
export const LOAD_TIMEOUT_MS = 30_000;

const PERM_FLAG: Record<string, string> = {
  read: "--plugin-allow-read",
  net: "--plugin-allow-net",
  env: "--plugin-allow-env",
  run: "--plugin-allow-run",
  write: "--plugin-allow-write",
};

/**
 * Turns a Deno permission error raised inside the sandbox into one line naming the plugin,
 * the permission, the resource and the fix.
 * @param plugin the plugin's path or URL
 * @param err name and message from the worker, and whether it is Deno's own permission error
 * @returns the message
 */
export function explainSandboxError(
  plugin: string,
  err: { name: string; message: string; denied?: boolean },
): string {
  // only a real permission error is a sandbox denial: a plugin's own error text that happens to
  // say "Requires ... access", or its own error named NotCapable, is the plugin's failure (the
  // sandbox marks Deno's own permission errors `denied`)
  const denied = err.denied ?? (err.name === "NotCapable" || err.name === "PermissionDenied");
  if (denied) {
    const m = /Requires (\w+) access to "?([^",]+?)"?(,|$)/.exec(err.message);
    const perm = m?.[1] ?? "a", what = m?.[2] ?? "a resource";
    const flag = PERM_FLAG[perm];
    return `Plugin ${plugin} was denied ${perm} access to "${what}" by the sandbox${
      flag ? `: grant it with ${flag}=${what}` : ""
    }, or run the plugin in-process with --trust-plugin (${err.name})`;
  }
  return `Plugin ${plugin} failed: ${err.message}`;
}

interface Pending {
  resolve: (v: any) => void;
  reject: (e: Error) => void;
  timer: ReturnType<typeof setTimeout>;
}

/** One sandbox worker hosting one plugin. */
export class PluginSandbox {
  readonly #worker: Worker;
  readonly #pending = new Map<number, Pending>();
  #nextId = 1;
  #dead: string | null = null;
  #open = 0;

  /**
   * @param spec the plugin's path or URL (for messages)
   * @param opts the worker and the request timeout
   */
  constructor(
    readonly spec: string,
    worker: Worker,
    readonly timeoutMs: number,
    readonly memoryMb = 1024,
  ) {
    this.#worker = worker;
    worker.onmessage = (e: MessageEvent) => {
      const msg = e.data;
      const p = this.#pending.get(msg.id);
      if (!p) return;
      this.#pending.delete(msg.id);
      clearTimeout(p.timer);
      this.#watch();
      if (typeof msg.heapMb === "number" && msg.heapMb > this.memoryMb) {
        p.reject(new Error(this.#overMemory(`its JS heap holds ${Math.round(msg.heapMb)} MB`)));
        this.#fail(this.#overMemory(`its JS heap holds ${Math.round(msg.heapMb)} MB`));
      } else if (msg.error) p.reject(new Error(explainSandboxError(spec, msg.error)));
      else p.resolve(msg);
    };
    worker.onerror = (e: ErrorEvent) => {
      e.preventDefault();
      this.#fail(explainSandboxError(spec, { name: "Error", message: e.message }));
    };
  }

  #overMemory(what: string): string {
    return `Plugin ${this.spec} went over its memory limit of ${this.memoryMb} MB (${what}; raise it with --plugin-memory); its sandbox was stopped`;
  }

  #poll: ReturnType<typeof setInterval> | null = null;
  #rssAtRequest = 0;

  /** Polls the process's resident memory while a request is pending (see the module doc). */
  #watch(): void {
    if (this.#pending.size === 0 || this.#dead) {
      if (this.#poll !== null) clearInterval(this.#poll);
      this.#poll = null;
      return;
    }
    if (this.#poll !== null) return;
    this.#rssAtRequest = Deno.memoryUsage().rss;
    this.#poll = setInterval(() => {
      const grown = (Deno.memoryUsage().rss - this.#rssAtRequest) / 2 ** 20;
      if (grown > this.memoryMb) {
        this.#fail(this.#overMemory(`the process grew by ${Math.round(grown)} MB in one request`));
      }
    }, 25);
  }

  #fail(message: string): void {
    if (this.#poll !== null) clearInterval(this.#poll);
    this.#poll = null;
    this.#dead = message;
    for (const p of this.#pending.values()) {
      clearTimeout(p.timer);
      p.reject(new Error(message));
    }
    this.#pending.clear();
    this.#worker.terminate();
  }

  /**
   * Sends one request and waits for its answer (or the timeout).
   * @param msg the request
   * @param transfer buffers to transfer
   * @returns the answer
   */
  request(
    msg: Record<string, unknown>,
    transfer: Transferable[] = [],
    timeoutMs = this.timeoutMs,
  ): Promise<any> {
    if (this.#dead) return Promise.reject(new Error(this.#dead));
    const id = this.#nextId++;
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.#fail(
          `Plugin ${this.spec} did not answer "${msg.type}" within ${
            timeoutMs / 1000
          }s (raise it with --plugin-timeout); its sandbox was stopped`,
        );
      }, timeoutMs);
      this.#pending.set(id, { resolve, reject, timer });
      this.#watch();
      this.#worker.postMessage({ ...msg, id }, transfer);
    });
  }

  /** Counts an env as open (the worker stops when the last one closes). */
  opened(): void {
    this.#open++;
  }

  /**
   * Counts an env as closed; after the last one, the worker has ended its event loop (it closes
   * itself after answering that close), and its thread gets a moment to tear down before
   * `terminate()`: a process that exits while a worker thread is still being torn down can abort.
   */
  async closed(): Promise<void> {
    if (--this.#open > 0) return;
    if (!this.#dead) await new Promise((r) => setTimeout(r, 100));
    this.terminate();
  }

  /** Stops the worker. */
  terminate(): void {
    if (!this.#dead) this.#fail(`Plugin ${this.spec}: sandbox stopped`);
  }
}

/** A VecEnv whose transitions run in a sandbox worker. */
class SandboxedVecEnv implements VecEnv {
  #closed = false;

  constructor(
    readonly box: PluginSandbox,
    readonly handle: number,
    readonly spec: EnvSpec,
    readonly numEnvs: number,
  ) {}

  async reset(seed: number): Promise<Step> {
    return (await this.box.request({ type: "reset", handle: this.handle, seed })).step;
  }

  async step(actions: Int32Array | Float32Array): Promise<Step> {
    const copy = actions.slice(); // the caller keeps its array; the copy's buffer is transferred
    return (await this.box.request({ type: "step", handle: this.handle, actions: copy }, [
      copy.buffer,
    ]))
      .step;
  }

  /** The plugin env's scene of slot 0 (null when it has no render hook), validated. */
  async render(): Promise<Scene | null> {
    const r = await this.box.request({ type: "render", handle: this.handle });
    if (r.scene === null || r.scene === undefined) return null;
    const s = sceneSchema.safeParse(r.scene);
    if (!s.success) {
      throw new Error(
        `Plugin ${this.box.spec}: its render() returned an invalid scene: ${
          s.error.issues[0]?.path.join(".")
        } ${s.error.issues[0]?.message}`,
      );
    }
    return s.data;
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    try {
      await this.box.request({ type: "close", handle: this.handle });
    } catch { /* a dead sandbox has nothing left to close */ }
    await this.box.closed();
  }
}

/**
 * The most entries a plugin's folder may hold (counted through its subfolders): each is checked
 * for links before read access is granted, and a folder too large to check is refused, never
 * granted unchecked.
 */
export const MAX_PLUGIN_FOLDER_ENTRIES = 20_000;

/** Folders a plugin's read grant never covers, even when the plugin sits next to them. */
const NEVER_READ = new Set([".git", "runs", "node_modules", ".env"]);

/**
 * The read grant of a local plugin: the real paths of its folder's entries, without `.git`,
 * `runs`, `node_modules` and `.env` (so a plugin at a project root cannot read other runs'
 * checkpoints or the repository). Deno checks a path, not a link's target, so a folder holding a
 * link that points outside it is refused, as is one holding a hard link to a file with a name
 * outside it (more links than names inside), and so is a folder with more than
 * {@link MAX_PLUGIN_FOLDER_ENTRIES} entries (too many to check; no limit widens the grant).
 * @param spec the plugin as given (for messages)
 * @param file the plugin file's path
 * @returns paths to grant read of
 */
async function folderGrant(spec: string, file: string): Promise<string[]> {
  const dir = await Deno.realPath(dirname(file));
  const inside = (p: string) => p === dir || p.startsWith(dir + "/");
  let seen = 0;
  // files with more than one name (hard links): each file's names inside the folder, to compare
  // with its link count; a name elsewhere is a way in to a file the grant was not meant to cover
  const multi = new Map<string, { path: string; names: number; nlink: number }>();
  const walk = async (d: string): Promise<void> => {
    for await (const e of Deno.readDir(d)) {
      if (++seen > MAX_PLUGIN_FOLDER_ENTRIES) {
        throw new Error(
          `Cannot sandbox plugin ${spec}: its folder ${dir} holds more than ${MAX_PLUGIN_FOLDER_ENTRIES} entries, too many to check for links; move the plugin into a folder of its own, or use --trust-plugin`,
        );
      }
      const p = `${d}/${e.name}`;
      if (d === dir && NEVER_READ.has(e.name)) continue;
      if (e.isSymlink) {
        const target = await Deno.realPath(p).catch(() => null);
        if (!target || !inside(target)) {
          throw new Error(
            `Cannot sandbox plugin ${spec}: its folder holds a link ${p} that points outside it (to ${
              target ?? "a missing file"
            }); remove the link, grant what it needs with --plugin-allow-read, or use --trust-plugin`,
          );
        }
      } else if (e.isDirectory) await walk(p);
      else if (e.isFile) {
        const st = await Deno.lstat(p);
        if ((st.nlink ?? 1) > 1) {
          const id = `${st.dev}:${st.ino}`;
          const m = multi.get(id) ?? { path: p, names: 0, nlink: st.nlink! };
          m.names++;
          multi.set(id, m);
        }
      }
    }
  };
  await walk(dir);
  for (const m of multi.values()) {
    if (m.names < m.nlink) {
      throw new Error(
        `Cannot sandbox plugin ${spec}: its folder holds ${m.path}, a hard link to a file with ${
          m.nlink - m.names
        } name(s) outside the folder (read access to it would reach them); replace it with a copy (cp), grant what it needs with --plugin-allow-read, or use --trust-plugin`,
      );
    }
  }
  const entries: string[] = [];
  for await (const e of Deno.readDir(dir)) {
    if (!NEVER_READ.has(e.name)) entries.push(`${dir}/${e.name}`);
  }
  return entries.length ? entries : [dir];
}

function readPath(url: string): string | null {
  return url.startsWith("file:") ? fileURLToPath(url) : null;
}

/**
 * Loads a plugin into a sandbox worker and registers proxy entries for its envs.
 * @param registry where to register
 * @param spec the plugin's path or URL
 * @param opts extra grants and the request timeout
 * @returns the sandbox (call terminate() when done if no env was made)
 */
export async function loadSandboxedPlugin(
  registry: EnvRegistry,
  spec: string,
  opts: SandboxOptions = {},
): Promise<PluginSandbox> {
  const url = pluginUrl(spec);
  const g = opts.grants ?? {};
  const batonRoot = new URL("../", import.meta.url);
  const batonRead = readPath(batonRoot.href);
  const pluginFile = readPath(url);
  const read = [
    ...(pluginFile ? await folderGrant(spec, pluginFile) : []),
    ...(batonRead
      ? ["mod.ts", "core", "plugins", "envs", "algos"].map((p) => Deno.realPathSync(batonRead + p))
      : []),
    ...(g.read ?? []),
  ];
  const hosts = [url, batonRoot.href].filter((u) => /^https?:/.test(u)).map((u) => new URL(u).host);
  const permissions = {
    read,
    net: g.net?.length ? g.net : false,
    env: g.env?.length ? g.env : false,
    run: g.run?.length ? g.run : false,
    write: g.write?.length ? g.write : false,
    ffi: false,
    sys: false,
    ...(hosts.length ? { import: hosts } : {}),
  };
  let worker: Worker;
  try {
    worker = new Worker(new URL("./sandbox_worker.ts", import.meta.url).href, {
      type: "module",
      name: `plugin ${spec}`,
      deno: { permissions },
    } as WorkerOptions);
  } catch (err) {
    throw new Error(
      `Cannot start the sandbox for plugin ${spec}: ${
        (err as Error).message
      }. Sandboxed plugins need Deno's --unstable-worker-options flag (set by Baton's deno.json), or run the plugin in-process with --trust-plugin`,
    );
  }
  const box = new PluginSandbox(spec, worker, opts.timeoutMs ?? 60_000, opts.memoryMb ?? 1024);
  let info: { name: string; envs: { id: string; description: string; jsonSchema: unknown }[] };
  try {
    // importing a plugin that imports Baton loads tfjs in the worker: loading gets at least
    // LOAD_TIMEOUT_MS (a busy machine took over 1 s), the other requests --plugin-timeout
    info = await box.request({ type: "load", url }, [], Math.max(box.timeoutMs, LOAD_TIMEOUT_MS));
  } catch (err) {
    box.terminate();
    throw new Error(
      `Cannot load plugin ${spec}: ${(err as Error).message.replace(/^Plugin \S+ failed: /, "")}`,
    );
  }
  for (const e of info.envs) {
    const entry: EnvEntry = {
      id: e.id,
      description: `${e.description} [sandboxed plugin ${info.name}]`,
      options: z.record(z.string(), z.unknown()), // validated inside the sandbox
      jsonSchema: e.jsonSchema,
      create: async (options, ctx) => {
        const r = await box.request({ type: "make", envId: e.id, options, numEnvs: ctx.numEnvs });
        box.opened();
        return new SandboxedVecEnv(box, r.handle, r.spec, r.numEnvs);
      },
    };
    registry.register(entry);
  }
  return box;
}

/**
 * Loads a run's plugins as its config says: sandboxed with its grants, time-out and memory limit,
 * or in-process with `trustPlugins`. Used by the trainer and by replays, so both load a plugin the
 * same way.
 * @param registry where their envs are registered
 * @param cfg the run config's plugin fields
 * @param sandboxes receives each sandbox as it starts (the caller terminates them, also when a
 *   later plugin fails to load)
 */
export async function loadConfiguredPlugins(
  registry: EnvRegistry,
  cfg: {
    plugins: string[];
    trustPlugins: boolean;
    pluginGrants: SandboxGrants;
    pluginTimeout: number;
    pluginMemory: number;
  },
  sandboxes: PluginSandbox[],
): Promise<void> {
  for (const p of cfg.plugins) {
    await checkPluginFile(p);
    if (cfg.trustPlugins) await loadPlugin(registry, p);
    else {
      sandboxes.push(
        await loadSandboxedPlugin(registry, p, {
          grants: cfg.pluginGrants,
          timeoutMs: cfg.pluginTimeout * 1000,
          memoryMb: cfg.pluginMemory,
        }),
      );
    }
  }
}

/**
 * A local plugin path must name a file: a missing one is said as such (the sandbox would
 * otherwise report Deno's "Requires read access" for a path it was never granted).
 * @param spec the --plugin value
 */
async function checkPluginFile(spec: string): Promise<void> {
  const url = pluginUrl(spec);
  if (!url.startsWith("file:")) return; // a URL: its server answers
  const path = fileURLToPath(url);
  let st: Deno.FileInfo;
  try {
    st = await Deno.stat(path);
  } catch (err) {
    if (err instanceof Deno.errors.NotFound) {
      throw new Error(`Cannot load plugin ${spec}: there is no file ${path}`);
    }
    return; // no permission to look: the loader says what it can
  }
  if (st.isDirectory) {
    throw new Error(
      `Cannot load plugin ${spec}: ${path} is a folder; pass the plugin's module file`,
    );
  }
}
