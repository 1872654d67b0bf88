/**
 * The plugin contract: a module whose default export is `definePlugin({ name, version, envs })`.
 *
 * @example A plugin with one environment
 * ```ts ignore
 * import { definePlugin, z } from "../mod.ts";
 * export default definePlugin({
 *   name: "my-envs",
 *   version: "1.0.0",
 *   envs: [{ id: "mine/coin", description: "...", options: z.object({}), create: (o, c) => ... }],
 * });
 * ```
 *
 * @module
 */
import type { EnvEntry, EnvRegistry } from "../core/registry.ts";

/** A set of environments shipped together. */
export interface Plugin {
  /** Plugin name, for messages. */
  readonly name: string;
  /** Plugin version. */
  readonly version: string;
  /** The environments it registers. */
  readonly envs: readonly EnvEntry<any>[];
}

/**
 * Checks and returns a plugin definition (identity at runtime, plus validation).
 * @param p the plugin
 * @returns the same plugin
 */
export function definePlugin(p: Plugin): Plugin {
  if (typeof p?.name !== "string" || !p.name) throw new Error("Plugin needs a non-empty name");
  if (typeof p.version !== "string") throw new Error(`Plugin ${p.name} needs a version string`);
  if (!Array.isArray(p.envs)) throw new Error(`Plugin ${p.name} needs an envs array`);
  for (const e of p.envs) {
    if (typeof e?.id !== "string" || typeof e.create !== "function" || !e.options?.safeParse) {
      throw new Error(
        `Plugin ${p.name} has a malformed env entry ${
          JSON.stringify(e?.id)
        }: each needs id, description, options (a zod schema) and create`,
      );
    }
  }
  return p;
}

/**
 * Registers every env of a plugin.
 * @param registry the registry
 * @param plugin the plugin
 */
export function installPlugin(registry: EnvRegistry, plugin: Plugin): void {
  for (const e of plugin.envs) registry.register(e);
}
