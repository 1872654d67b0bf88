/**
 * Baton's built-in environments, as a plugin, and a registry that has them.
 *
 * @module
 */
import { EnvRegistry } from "../core/registry.ts";
import { definePlugin, installPlugin, type Plugin } from "../plugins/plugin.ts";
import { matrixEnvs } from "./matrix/matrix.ts";
import { bridgeEnvs } from "./bridge/mod.ts";
import { smaxEnvs } from "./smax/smax.ts";
import { footballEnvs } from "./football/football.ts";
import { mamujocoEnvs } from "./mamujoco/mamujoco.ts";
import { chainEnvs } from "./chain/chain.ts";

export { MatrixEnv, type MatrixGame, permutationGame, tableGame } from "./matrix/matrix.ts";

/** The built-in plugin. */
export const builtinPlugin: Plugin = definePlugin({
  name: "baton-builtin",
  version: "0.1.0",
  envs: [
    ...matrixEnvs,
    ...chainEnvs,
    ...bridgeEnvs,
    ...smaxEnvs,
    ...mamujocoEnvs,
    ...footballEnvs,
  ],
});

/** Returns a fresh registry holding the built-in envs. */
export function defaultEnvRegistry(): EnvRegistry {
  const r = new EnvRegistry();
  installPlugin(r, builtinPlugin);
  return r;
}
