/**
 * Runs inside the sandbox Worker (see sandbox.ts): imports one plugin, builds its envs and
 * answers reset/step requests with typed arrays, transferring the buffers back.
 *
 * Messages in: `{ id, type: "load", url }`, `{ id, type: "make", envId, options, numEnvs }`,
 * `{ id, type: "reset", handle, seed }`, `{ id, type: "step", handle, actions }`,
 * `{ id, type: "close", handle }`. Out: `{ id, ok: true, heapMb, ... }` (heapMb: this worker's JS
 * heap after the request, which the host holds to `--plugin-memory`) or
 * `{ id, error: { name, message } }`.
 *
 * @module
 */
import { z } from "../core/deps.ts";
import { EnvRegistry } from "../core/registry.ts";
import type { Step, VecEnv } from "../core/vec_env.ts";
import { definePlugin, installPlugin, type Plugin } from "./plugin.ts";

const scope = self as unknown as {
  onmessage: ((e: MessageEvent) => void) | null;
  postMessage(msg: unknown, transfer?: Transferable[]): void;
  close(): void;
};

// A plugin must not end its own sandbox (close() or Deno.exit()): the host would only see a
// silent worker and report a time-out. Both throw instead, so the host gets one line naming the
// call; the sandbox keeps the real close for its own orderly exit.
const closeSandbox = scope.close.bind(scope);
const forbidden = (what: string) => () => {
  throw new Error(
    `it called ${what}, which would end its sandbox: a plugin returns, or throws an error to report a failure`,
  );
};
scope.close = forbidden("close()");
try {
  Object.defineProperty(Deno, "exit", { value: forbidden("Deno.exit()"), configurable: true });
} catch { /* not redefinable here: the host's time-out still ends it */ }

let registry: EnvRegistry | null = null;
const envs = new Map<number, VecEnv>();
let nextHandle = 1;

function stepMessage(s: Step): { step: Step; transfer: Transferable[] } {
  const arrays = [
    s.obs,
    s.state,
    s.reward,
    s.done,
    s.truncated,
    ...(s.availActions ? [s.availActions] : []),
  ];
  return { step: s, transfer: arrays.map((a) => a.buffer as ArrayBuffer) };
}

function env(handle: number): VecEnv {
  const e = envs.get(handle);
  if (!e) throw new Error(`No env with handle ${handle} in this sandbox`);
  return e;
}

async function handle(
  msg: any,
): Promise<{ reply: Record<string, unknown>; transfer?: Transferable[]; exit?: boolean }> {
  switch (msg.type) {
    case "load": {
      const mod = await import(msg.url);
      if (!mod.default) {
        throw new Error("it has no default export: export default definePlugin({...})");
      }
      const plugin: Plugin = definePlugin(mod.default);
      registry = new EnvRegistry();
      installPlugin(registry, plugin);
      return {
        reply: {
          name: plugin.name,
          version: plugin.version,
          envs: plugin.envs.map((e) => ({
            id: e.id,
            description: e.description,
            jsonSchema: z.toJSONSchema(e.options, { io: "input", unrepresentable: "any" }),
          })),
        },
      };
    }
    case "make": {
      if (!registry) throw new Error("Plugin not loaded");
      const e = await registry.make(msg.envId, { options: msg.options, numEnvs: msg.numEnvs });
      const h = nextHandle++;
      envs.set(h, e);
      return { reply: { handle: h, spec: e.spec, numEnvs: e.numEnvs } };
    }
    case "reset": {
      const { step, transfer } = stepMessage(await env(msg.handle).reset(msg.seed));
      return { reply: { step }, transfer };
    }
    case "step": {
      const { step, transfer } = stepMessage(await env(msg.handle).step(msg.actions));
      return { reply: { step }, transfer };
    }
    case "render": {
      const e = env(msg.handle);
      return {
        reply: { scene: e.render ? (await e.render()) ?? null : null },
      };
    }
    case "close": {
      await env(msg.handle).close();
      envs.delete(msg.handle);
      return { reply: { last: envs.size === 0 }, exit: envs.size === 0 };
    }
    default:
      throw new Error(`Unknown sandbox message type ${JSON.stringify(msg.type)}`);
  }
}

scope.onmessage = async (e: MessageEvent) => {
  const msg = e.data;
  try {
    const { reply, transfer, exit } = await handle(msg);
    const heapMb = Deno.memoryUsage().heapUsed / 2 ** 20; // this worker's heap: the host checks it
    scope.postMessage({ id: msg.id, ok: true, ...reply, heapMb }, transfer ?? []);
    if (exit) closeSandbox(); // the last env is closed: end this thread (the host waits for it)
  } catch (err) {
    const x = err as Error;
    // a denial is Deno's own permission error, not any error a plugin chose to name NotCapable
    const denied = err instanceof Deno.errors.NotCapable ||
      err instanceof Deno.errors.PermissionDenied;
    scope.postMessage({
      id: msg.id,
      error: { name: x?.name ?? "Error", message: x?.message ?? String(err), denied },
    });
  }
};
