/**
 * Loads a plugin module from a path or URL and registers its envs (in-process: the
 * plugin's code runs with the trainer's permissions).
 *
 * @module
 */
import { isAbsolute, resolve } from "node:path";
import { toFileUrl } from "./_url.ts";
import type { EnvRegistry } from "../core/registry.ts";
import { definePlugin, installPlugin, type Plugin } from "./plugin.ts";

/**
 * Resolves a `--plugin` argument to a module URL.
 * @param spec a path (relative to the cwd) or a URL
 * @returns the URL string
 */
export function pluginUrl(spec: string): string {
  if (/^(https?|file|npm|jsr):/.test(spec)) return spec;
  return toFileUrl(isAbsolute(spec) ? spec : resolve(Deno.cwd(), spec));
}

/**
 * Imports a plugin module and registers its envs.
 * @param registry where to register
 * @param spec a path or URL
 * @returns the plugin
 */
export async function loadPlugin(registry: EnvRegistry, spec: string): Promise<Plugin> {
  const url = pluginUrl(spec);
  let mod: { default?: unknown };
  try {
    mod = await import(url);
  } catch (err) {
    throw new Error(`Cannot load plugin ${spec}: ${(err as Error).message}`);
  }
  if (!mod.default) {
    throw new Error(
      `Cannot load plugin ${spec} as it has no default export: export default definePlugin({...})`,
    );
  }
  const plugin = definePlugin(mod.default as Plugin);
  installPlugin(registry, plugin);
  return plugin;
}
