/**
 * Checkpoint state of the PPO agents: variables, Adam slots, value normaliser, chain order.
 *
 * @module
 */
import { type tf, z } from "../../core/deps.ts";
import { formatZodError } from "../../core/errors.ts";
import type { AlgoState } from "../../core/algorithm.ts";
import { assignTensor } from "../../core/checkpoint.ts";
import { type ValueNormState, valueNormStateSchema } from "../../core/value_norm.ts";
import type { RunningNormState } from "../../core/running_norm.ts";
import type { PpoAgents } from "./agents.ts";

/**
 * See the tags below.
 * @param ag the agents
 * @returns variables, Adam slots and the value normaliser
 */
export async function agentsState(ag: PpoAgents): Promise<AlgoState> {
  const tensors: AlgoState["tensors"] = {};
  const put = async (name: string, t: tf.Tensor) => {
    tensors[name] = { shape: t.shape, data: Float32Array.from(await t.data()) };
  };
  for (const [name, v] of ag.named) await put(name, v);
  const adamT: number[] = [];
  for (const [k, o] of [...ag.actorOpts, ...ag.criticOpts].entries()) {
    const s = o.slots();
    for (const [j, t] of s.m.entries()) await put(`adam${k}/m${j}`, t);
    for (const [j, t] of s.v.entries()) await put(`adam${k}/v${j}`, t);
    adamT.push(s.t);
  }
  return {
    tensors,
    extra: {
      valueNorm: ag.valueNorm.getState(),
      adamT,
      order: Array.from(ag.order),
      // running input statistics (inputNorm running): workers act with them, resumes keep them
      ...(ag.obsStats
        ? {
          inputStats: {
            obs: ag.obsStats.map((s) => s.getState()),
            state: ag.stateStats?.getState() ?? null,
          },
        }
        : {}),
    },
  };
}

/**
 * Restores a state from {@link agentsState}.
 * @param ag the agents
 * @param s the state
 */
export function setAgentsState(ag: PpoAgents, s: AlgoState): void {
  checkExtra(ag, s.extra);
  const load = (name: string, v: tf.Variable) => assignTensor(s, name, v);
  for (const [name, v] of ag.named) load(name, v);
  const adamT = s.extra.adamT as number[];
  [...ag.actorOpts, ...ag.criticOpts].forEach((o, k) => {
    const sl = o.slots();
    sl.m.forEach((t, j) => load(`adam${k}/m${j}`, t));
    sl.v.forEach((t, j) => load(`adam${k}/v${j}`, t));
    o.setStep(adamT[k]!);
  });
  ag.valueNorm.setState(s.extra.valueNorm as ValueNormState);
  ag.fused?.markStale(); // its copy of the actors is older than what was just loaded
  ag.criticVersion++; // and of the critics
  ag.order = Int32Array.from(s.extra.order as number[]);
  const stats = s.extra.inputStats as
    | { obs: RunningNormState[]; state: RunningNormState | null }
    | undefined;
  if (ag.obsStats) {
    stats!.obs.forEach((st, i) => ag.obsStats![i]!.setState(st));
    if (ag.stateStats) ag.stateStats.setState(stats!.state!);
  }
}

/** Checks a checkpoint's extras (counts, value statistics, chain order) before any is used. */
function checkExtra(ag: PpoAgents, extra: Record<string, unknown>): void {
  const nv = ag.valueNorm.getState().mean.length, n = ag.order.length;
  const opts = ag.actorOpts.length + ag.criticOpts.length;
  const schema = z.object({
    valueNorm: valueNormStateSchema(nv),
    adamT: z.array(z.int().min(0)).length(opts),
    order: z.array(z.int().min(0).max(n - 1)).length(n).refine(
      (o) => new Set(o).size === o.length,
      "expected a permutation of the agents",
    ),
    inputStats: ag.obsStats
      ? z.object({
        obs: z.array(runningState(ag.spec.obsDim)).length(n),
        state: ag.stateStats ? runningState(ag.spec.stateDim) : z.null(),
      })
      : z.undefined({ error: "present, but this run does not use inputNorm=running" }).optional(),
  });
  const r = schema.safeParse(extra);
  if (!r.success) {
    throw new Error(
      `Cannot use the checkpoint: its algorithm state has algo.extra.${
        formatZodError(r.error)
      } (the file was edited or written by another algorithm or size)`,
    );
  }
}

/** A running-normaliser snapshot of `width` features: finite means, variances >= 0. */
function runningState(width: number) {
  return z.object({
    count: z.number().positive(),
    mean: z.array(z.number()).length(width),
    var: z.array(z.number().min(0)).length(width),
  });
}
