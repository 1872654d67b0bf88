/**
 * Baton: cooperative multi-agent reinforcement learning on Deno, built around
 * Backpropagation Through Agents (BPTA/BPPO).
 *
 * @example Train MAPPO on the climbing game
 * ```ts
 * import { defaultAlgoRegistry, defaultEnvRegistry, train, trainConfig } from "./mod.ts";
 * const config = trainConfig.parse({
 *   env: "matrix/climbing",
 *   algo: "mappo",
 *   totalSteps: 2_000,
 *   quiet: true,
 *   out: await Deno.makeTempDir(),
 * });
 * const summary = await train(config, {
 *   env: defaultEnvRegistry().get(config.env),
 *   algo: defaultAlgoRegistry().get(config.algo),
 * });
 * console.log(summary.final_eval_return, summary.greedy_joint_action);
 * ```

 *
 * @module
 */
export {
  type output,
  type Scalar,
  type Tensor,
  type Tensor1D,
  type Tensor2D,
  type Tensor3D,
  tf,
  type Variable,
  z,
  type ZodType,
} from "./core/deps.ts";
export { VERSION } from "./core/version.ts";
export { loadPolicy, type Policy, type PolicyInput, type PolicyOutput } from "./core/policy.ts";
export { RunningNorm, type RunningNormState } from "./core/running_norm.ts";
export { Rng, type RngState, type RngStreamState } from "./core/rng.ts";
export {
  collect,
  type Collected,
  EnvCursor,
  LocalRollouts,
  RolloutBuffers,
  type RolloutSource,
  type SourceBatch,
} from "./core/rollout.ts";
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
export {
  AlgoRegistry,
  type EnvContext,
  type EnvEntry,
  EnvRegistry,
  makeEnv,
  parseOptions,
  Registry,
} from "./core/registry.ts";
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
  UpdateContext,
} from "./core/algorithm.ts";
export { MemoryCarry } from "./core/algorithm.ts";
export { gae, type GaeInput, normalizePerAgent } from "./core/gae.ts";
export { ValueNorm, type ValueNormState } from "./core/value_norm.ts";
export {
  type Activation,
  type Dense,
  type Gru,
  gruCell,
  gruSeq,
  type MlpBase,
  type Norm,
  sg,
} from "./core/nets.ts";
export { Adam } from "./core/adam.ts";
export {
  CheckpointHook,
  finiteGuard,
  type Hook,
  type IterationInfo,
  type Record_,
  type UpdateInfo,
} from "./core/sinks.ts";
export { TensorBoardSink } from "./core/tensorboard.ts";
export { type Scene, sceneReplayHtml, sceneSchema, type Shape, shapeSchema } from "./core/scene.ts";
export {
  appendEvaluation,
  type EvaluationRow,
  type MarlEvalRun,
  writeMarlEval,
} from "./core/marl_eval.ts";
export { type BackendChoice, type BackendInfo, initBackend } from "./core/backend.ts";
export { derived, evalSeed, learnerThreads, type TrainConfig, trainConfig } from "./core/config.ts";
export {
  type EvalSummary,
  type RolloutFactory,
  type RunMetadata,
  runMetadata,
  type Summary,
  train,
  type TrainDeps,
} from "./core/trainer.ts";
export {
  type CheckpointEval,
  type EvalPair,
  type EvalResult,
  evaluate,
  evaluateBoth,
  evaluateCheckpoint,
  spread,
} from "./core/evaluate.ts";
export { type Checkpoint, loadCheckpoint, saveCheckpoint } from "./core/checkpoint.ts";
export {
  builtinPlugin,
  defaultEnvRegistry,
  MatrixEnv,
  permutationGame,
  tableGame,
} from "./envs/mod.ts";
export { defaultAlgoRegistry } from "./algos/mod.ts";
export { checkVecEnv, randomActions } from "./core/testing.ts";
