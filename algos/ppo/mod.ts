/**
 * The PPO family's shared plumbing: options, per-agent networks, acting, update batches, the
 * critic update, diagnostics, checkpoint state and the algorithm base.
 *
 * @module
 */
export { type PpoOptions, ppoOptions } from "./options.ts";
export {
  type ActorNet,
  type ActorRows,
  type CriticNet,
  PpoAgents,
  type Recurrence,
} from "./agents.ts";
export { actChain, criticValues } from "./acting.ts";
export {
  type AgentBatch,
  disposeBatch,
  disposeStacked,
  gatherRows,
  minibatches,
  prepareBatch,
  rows,
  stackAgents,
  type TrainBatch,
} from "./batch.ts";
export { type CriticRows, type CriticStats, updateCritics, valueLoss } from "./critic.ts";
export { criticMetrics, CriticPool } from "./critic_pool.ts";
export { MetricSums, ratioStats } from "./metrics.ts";
export { agentsState, setAgentsState } from "./state.ts";
export { PpoAlgorithm } from "./base.ts";
export { ActionValueCritic } from "./action_value.ts";
export { FusedActors, type FusedPeer, fusedUnsupported, useKernels } from "./fused.ts";
export { type FusedCriticRows, FusedCritics, fusedCriticsOf, FusedQ } from "./fused_critics.ts";
