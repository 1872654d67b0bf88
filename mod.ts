/**
 * Baton: cooperative multi-agent reinforcement learning on Deno, built around
 * Backpropagation Through Agents (BPTA/BPPO).
 *
 * @example Train MAPPO on the climbing game
 * ```ts ignore
 * import { defaultAlgoRegistry, defaultEnvRegistry, train, trainConfig } from "./mod.ts";
 * const summary = await train(
 *   trainConfig.parse({ env: "matrix/climbing", algo: "mappo", totalSteps: 50_000, out: "runs/demo" }),
 *   { envs: defaultEnvRegistry(), algos: defaultAlgoRegistry() },
 * );
 * console.log(summary.final_eval_return, summary.greedy_joint_action);
 * ```
 *
 * @module
 */
export { tf, z } from "./core/deps.ts";
export { Rng, type RngState } from "./core/rng.ts";
export { actionVecDim, type Box, box, type Discrete, discrete, type Space } from "./core/spaces.ts";
export {
  type EnvBuffers,
  type EnvSpec,
  type EpisodeStats,
  fromScalarEnv,
  type ScalarEnv,
  type Step,
  type VecEnv,
  VecEnvBase,
} from "./core/vec_env.ts";
export { type EnvContext, type EnvEntry, EnvRegistry, parseOptions } from "./core/registry.ts";
export { definePlugin, installPlugin, type Plugin } from "./plugins/plugin.ts";
export { loadPlugin } from "./plugins/loader.ts";
export type {
  ActInput,
  ActOutput,
  AlgoEntry,
  Algorithm,
  AlgoState,
  Metrics,
  Rollout,
} from "./core/algorithm.ts";
export { gae, normalizePerAgent } from "./core/gae.ts";
export { ValueNorm } from "./core/value_norm.ts";
export { type BackendChoice, type BackendInfo, initBackend } from "./core/backend.ts";
export { derived, type TrainConfig, trainConfig } from "./core/config.ts";
export { type EvalResult, evaluate, type Summary, train, type TrainDeps } from "./core/trainer.ts";
export { type Checkpoint, loadCheckpoint, saveCheckpoint } from "./core/checkpoint.ts";
export {
  builtinPlugin,
  defaultEnvRegistry,
  MatrixEnv,
  permutationGame,
  tableGame,
} from "./envs/mod.ts";
export { AlgoRegistry, defaultAlgoRegistry } from "./algos/mod.ts";
export { checkVecEnv, randomActions } from "./core/testing.ts";
