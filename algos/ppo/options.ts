/**
 * Options every PPO-family algorithm takes; defaults are the BPTA reference's
 * ([docs/bpta.md](../../docs/bpta.md) §5).
 *
 * @module
 */
import { z } from "../../core/deps.ts";

/** Options every PPO-family algorithm takes (defaults: the BPTA reference, docs/bpta.md §5). */
export const ppoOptions = z.strictObject({
  lr: z.number().positive().default(5e-4).describe("actor learning rate"),
  criticLr: z.number().positive().default(5e-4).describe("critic learning rate"),
  adamEps: z.number().positive().default(1e-5).describe("Adam epsilon"),
  lrSchedule: z.enum(["constant", "linear", "cosine"]).default("constant").describe(
    "actor and critic learning-rate schedule over the run: linear decays to 0 (MAPPO's " +
      "use_linear_lr_decay), cosine follows half a cosine to 0",
  ),
  epochs: z.int().min(1).default(15).describe("PPO epochs per update"),
  minibatches: z.int().min(1).default(1).describe("minibatches per epoch"),
  clip: z.number().positive().default(0.2).describe("PPO clip epsilon (also value clipping)"),
  entropyCoef: z.number().min(0).default(0.01).describe("entropy bonus coefficient"),
  maxGradNorm: z.number().min(0).default(10).describe("per-network gradient norm clip (0 = off)"),
  hidden: z.int().min(1).default(64).describe("hidden width"),
  layers: z.int().min(1).default(1).describe("hidden layers in each MLP base"),
  activation: z.enum(["relu", "tanh"]).default("relu").describe("hidden activation"),
  featureNorm: z.boolean().default(true).describe(
    "LayerNorm on hidden features (and on inputs when inputNorm is layer)",
  ),
  inputNorm: z.enum(["auto", "layer", "running", "none"]).default("auto").describe(
    "observation/state input normalisation: layer = a LayerNorm per sample (MAPPO's " +
      "feature_norm; over 1-2 features it erases the values), running = running mean/std per " +
      "feature (in checkpoints), none; auto = layer when featureNorm and every input has 3+ " +
      "features, running when featureNorm and one has fewer, none without featureNorm",
  ),
  huberDelta: z.number().positive().default(10).describe("Huber delta of the value loss"),
  valueNorm: z.boolean().default(true).describe("normalise value targets (ValueNorm)"),
  critic: z.enum(["state", "obs"]).default("state").describe(
    "critic input: global state (MAPPO) or own observation (IPPO)",
  ),
  logStdInit: z.number().default(-0.5).describe("initial log std of Gaussian policies"),
  recurrent: z.enum(["none", "gru"]).default("none").describe(
    "gru: a GRU (size hidden) after the actors' and critics' MLP bases, as the reference's r_actor_critic",
  ),
  chunk: z.int().min(1).default(10).describe(
    "recurrent: truncated-BPTT chunk length in steps; must divide --rollout-length",
  ),
  share: z.boolean().default(false).describe(
    "one actor and one critic for all agents, with an agent-id one-hot input (mappo, ippo, armappo)",
  ),
});

/** Parsed {@link ppoOptions}. */
export type PpoOptions = z.infer<typeof ppoOptions>;

/**
 * The learning-rate factor of a schedule at a point of the run: `constant` 1, `linear`
 * `1 - progress` (MAPPO's `update_linear_schedule`: lr - lr * episode / episodes), `cosine`
 * `(1 + cos(pi progress)) / 2`.
 * @param schedule the schedule
 * @param progress the fraction of training done before this update, in [0, 1)
 * @returns the factor the base learning rates are multiplied by
 */
export function lrScaleAt(schedule: PpoOptions["lrSchedule"], progress: number): number {
  const p = Math.min(1, Math.max(0, progress));
  if (schedule === "linear") return 1 - p;
  if (schedule === "cosine") return (1 + Math.cos(Math.PI * p)) / 2;
  return 1;
}
