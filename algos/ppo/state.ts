/**
 * Checkpoint state of the PPO agents: variables, Adam slots, value normaliser, chain order.
 *
 * @module
 */
import { tf } from "../../core/deps.ts";
import type { AlgoState } from "../../core/algorithm.ts";
import type { ValueNormState } from "../../core/value_norm.ts";
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
    },
  };
}

/**
 * Restores a state from {@link agentsState}.
 * @param ag the agents
 * @param s the state
 */
export function setAgentsState(ag: PpoAgents, s: AlgoState): void {
  const load = (name: string, v: tf.Variable) => {
    const t = s.tensors[name];
    if (!t) {
      throw new Error(
        `Checkpoint has no tensor "${name}": was it saved by another algorithm or size?`,
      );
    }
    if (t.shape.join(",") !== v.shape.join(",")) {
      throw new Error(
        `Checkpoint tensor "${name}" has shape [${t.shape}], expected [${v.shape}]`,
      );
    }
    v.assign(tf.tensor(t.data, t.shape));
  };
  for (const [name, v] of ag.named) load(name, v);
  const adamT = s.extra.adamT as number[];
  [...ag.actorOpts, ...ag.criticOpts].forEach((o, k) => {
    const sl = o.slots();
    sl.m.forEach((t, j) => load(`adam${k}/m${j}`, t));
    sl.v.forEach((t, j) => load(`adam${k}/v${j}`, t));
    o.setStep(adamT[k]!);
  });
  ag.valueNorm.setState(s.extra.valueNorm as ValueNormState);
  ag.order = Int32Array.from(s.extra.order as number[]);
}
