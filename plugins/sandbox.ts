/**
 * Sandboxed plugins: an untrusted env plugin runs in a Web Worker started with least Deno
 * permissions, and its envs talk to the trainer with one batched typed-array message per
 * reset/step (buffers transferred, never copied per agent).
 *
 * What the worker may do by default: read the plugin's own directory (a local plugin) and
 * Baton's own source modules (needed to import Baton; they hold no user data), import the
 * plugin's host (a URL plugin). Nothing else: no net, no run, no env, no write, no ffi, no
 * sys. `--plugin-allow-read/net/env/run/write` grant more; `--trust-plugin` skips the sandbox.
 *
 * What it does not protect against: CPU and memory exhaustion (a plugin can spin or allocate;
 * the per-request timeout stops a spinning one), wrong or adversarial observations and
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
import { pluginUrl } from "./loader.ts";

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
}

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
 * @param err name and message from the worker
 * @returns the message
 */
export function explainSandboxError(
  plugin: string,
  err: { name: string; message: string },
): string {
  const m = /Requires (\w+) access to "?([^",]+?)"?(,|$)/.exec(err.message);
  if (m || err.name === "NotCapable" || err.name === "PermissionDenied") {
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
  constructor(readonly spec: string, worker: Worker, readonly timeoutMs: number) {
    this.#worker = worker;
    worker.onmessage = (e: MessageEvent) => {
      const msg = e.data;
      const p = this.#pending.get(msg.id);
      if (!p) return;
      this.#pending.delete(msg.id);
      clearTimeout(p.timer);
      if (msg.error) p.reject(new Error(explainSandboxError(spec, msg.error)));
      else p.resolve(msg);
    };
    worker.onerror = (e: ErrorEvent) => {
      e.preventDefault();
      this.#fail(explainSandboxError(spec, { name: "Error", message: e.message }));
    };
  }

  #fail(message: string): void {
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
  request(msg: Record<string, unknown>, transfer: Transferable[] = []): Promise<any> {
    if (this.#dead) return Promise.reject(new Error(this.#dead));
    const id = this.#nextId++;
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.#fail(
          `Plugin ${this.spec} did not answer "${msg.type}" within ${
            this.timeoutMs / 1000
          }s; its sandbox was stopped`,
        );
      }, this.timeoutMs);
      this.#pending.set(id, { resolve, reject, timer });
      this.#worker.postMessage({ ...msg, id }, transfer);
    });
  }

  /** Counts an env as open (the worker stops when the last one closes). */
  opened(): void {
    this.#open++;
  }

  /** Counts an env as closed. */
  closed(): void {
    if (--this.#open <= 0) this.terminate();
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

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    try {
      await this.box.request({ type: "close", handle: this.handle });
    } catch { /* a dead sandbox has nothing left to close */ }
    this.box.closed();
  }
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
    ...(pluginFile ? [dirname(pluginFile)] : []),
    ...(batonRead ? ["mod.ts", "core", "plugins", "envs", "algos"].map((p) => batonRead + p) : []),
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
  const box = new PluginSandbox(spec, worker, opts.timeoutMs ?? 60_000);
  let info: { name: string; envs: { id: string; description: string; jsonSchema: unknown }[] };
  try {
    info = await box.request({ type: "load", url });
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
