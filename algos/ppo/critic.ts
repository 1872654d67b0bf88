/**
 * The critic side of a PPO update: the clipped Huber value loss and the critics' epochs.
 * Critics do not depend on the actors' update within an iteration, so {@link CriticPool}
 * (critic_pool.ts) runs them on other threads beside the actor chain.
 *
 * @module
 */
import { tf } from "../../core/deps.ts";
import { Rng } from "../../core/rng.ts";
import { addAll } from "../../core/nets.ts";
import type { PpoAgents } from "./agents.ts";
import { type AgentBatch, minibatches } from "./batch.ts";
import { fusedCriticsOf } from "./fused_critics.ts";

/** What a critic update reads of one agent's rows. */
export type CriticRows = Pick<AgentBatch, "criticIn" | "ret" | "vOld" | "hCritic" | "keep">;

/** Per-agent critic diagnostics of the last epoch, one entry per minibatch of that epoch. */
export interface CriticStats {
  /** `loss[b][j]`: value loss of the j-th updated agent on minibatch b. */
  readonly loss: number[][];
  /** `gradNorm[b][j]`: its critic gradient norm before clipping. */
  readonly gradNorm: number[][];
  /** Seconds of the epochs (not counting the wait for the read-back). */
  readonly seconds: number;
}

/**
 * Clipped Huber value loss of agent i on a (mini)batch (docs/bpta.md §4, MAPPO code base):
 * `max(huber(R - V), huber(R - V_clipped))`, `V_clipped = V_old + clip(V - V_old, ±eps)`.
 * @param ag the agents
 * @param i the agent
 * @param b the agent's rows
 * @returns the mean loss
 */
export function valueLoss(ag: PpoAgents, i: number, b: CriticRows): tf.Scalar {
  const { clip, huberDelta: d } = ag.opts;
  const v = ag.valueOut(i, b.criticIn, ag.rowsRecurrence(b.hCritic, b.keep));
  const vClipped = tf.add(b.vOld, tf.clipByValue(tf.sub(v, b.vOld), -clip, clip));
  const huber = (e: tf.Tensor) => { // 0.5 q^2 + d (|e| - q), q = min(|e|, d)
    const a = tf.abs(e);
    const q = tf.minimum(a, d);
    return tf.add(tf.mul(0.5, tf.square(q)), tf.mul(d, tf.sub(a, q)));
  };
  return tf.mean(tf.maximum(huber(tf.sub(b.ret, v)), huber(tf.sub(b.ret, vClipped))));
}

/**
 * Updates the critics of some agents for `epochs` x `minibatches` steps, all of them in one
 * backward pass (their variables are disjoint, so each agent's gradient is its own loss's).
 * The minibatch permutations come from `seed`, so every thread that updates a subset of the
 * agents draws the same index sets as one thread updating all of them.
 * @param ag the agents
 * @param x the agents to update, their rows (full batch, N samples each), N, and the seed of the
 *   minibatch shuffling (null when there is one minibatch)
 * @returns the last epoch's per-agent losses and gradient norms
 */
export async function updateCritics(
  ag: PpoAgents,
  x: { agents: readonly number[]; rows: readonly CriticRows[]; N: number; seed: number | null },
): Promise<CriticStats> {
  if (ag.kernels === "fused") return fusedCriticsOf(ag).update(x); // the same epochs, fused
  const t0 = performance.now();
  const rng = x.seed === null ? null : new Rng(x.seed);
  const vars = x.agents.map((i) => ag.criticVars(i));
  const kept: tf.Tensor[][] = [];
  for (let ep = 0; ep < ag.opts.epochs; ep++) {
    const last = ep === ag.opts.epochs - 1;
    for (const idx of (rng && minibatches(x.N, ag.opts.minibatches, rng, ag.seqLen)) ?? [null]) {
      const losses: tf.Scalar[] = [];
      const { value, grads } = tf.variableGrads(() => {
        const ls = x.agents.map((i, j) => {
          const r = x.rows[j]!;
          const pick = <T extends tf.Tensor | null>(t: T) =>
            (idx && t ? tf.gather(t, idx) : t) as T;
          return valueLoss(ag, i, {
            criticIn: pick(r.criticIn),
            ret: pick(r.ret),
            vOld: pick(r.vOld),
            hCritic: pick(r.hCritic),
            keep: pick(r.keep),
          });
        });
        if (last) losses.push(...ls.map((l) => tf.keep(tf.clone(l)))); // value may be ls[0] itself
        return addAll(ls) as tf.Scalar;
      }, vars.flat());
      const norms = x.agents.map((i, j) =>
        ag.criticOpts[i]!.step(vars[j]!.map((v) => grads[v.name]!))
      );
      if (last) kept.push(losses, norms);
      else tf.dispose(norms);
      tf.dispose([value, ...Object.values(grads)]);
      idx?.dispose();
    }
  }
  ag.criticVersion++;
  const seconds = (performance.now() - t0) / 1000;
  const read = async (ts: tf.Tensor[]) => {
    const out: number[] = [];
    for (const t of ts) out.push((await t.data())[0]!);
    tf.dispose(ts);
    return out;
  };
  const loss: number[][] = [], gradNorm: number[][] = [];
  for (let b = 0; b < kept.length; b += 2) {
    loss.push(await read(kept[b]!));
    gradNorm.push(await read(kept[b + 1]!));
  }
  return { loss, gradNorm, seconds };
}
