/**
 * Acting in chain order (agent `order[p]` sees the actions of `order[0..p-1]`, docs/bpta.md
 * §2) and the critics' value estimates for bootstrapping.
 *
 * @module
 */
import { tf } from "../../core/deps.ts";
import type { ActInput, ActOutput } from "../../core/algorithm.ts";
import type { Rng } from "../../core/rng.ts";
import { sampleCategorical, sampleGumbelMax } from "../../core/distributions.ts";
import type { PpoAgents, Recurrence } from "./agents.ts";
import { fusedCriticsOf } from "./fused_critics.ts";

/**
 * One network's GRU state rows of E envs from their memory (`[E, M]`, each env's block holding
 * every agent's actor state then every agent's critic state, H floats each).
 * @param ag the agents
 * @param memory `[E, M]`
 * @param slot `i` for agent i's actor, `n + i` for its critic
 * @param E envs
 * @returns `[E, H]`
 */
function memoryRows(ag: PpoAgents, memory: Float32Array, slot: number, E: number): Float32Array {
  const { H, memorySize: M } = ag;
  const out = new Float32Array(E * H);
  for (let e = 0; e < E; e++) {
    out.set(memory.subarray(e * M + slot * H, e * M + (slot + 1) * H), e * H);
  }
  return out;
}

/** Writes `[E, H]` state rows into a network's slot of `[E, M]` memory (see {@link memoryRows}). */
function setMemoryRows(
  ag: PpoAgents,
  memory: Float32Array,
  slot: number,
  rows: Float32Array,
): void {
  const { H, memorySize: M } = ag;
  for (let e = 0; e < rows.length / H; e++) {
    memory.set(rows.subarray(e * H, (e + 1) * H), e * M + slot * H);
  }
}

/** The memory and reset flags a recurrent act or value call needs, checked. */
function recurrentInput(ag: PpoAgents, x: ActInput): { memory: Float32Array; keep: Float32Array } {
  if (!x.memory || !x.starts) {
    throw new Error(
      "A recurrent policy acts with its memory: pass ActInput.memory and starts (see MemoryCarry)",
    );
  }
  if (x.memory.length !== x.E * ag.memorySize) {
    throw new Error(
      `ActInput.memory has ${x.memory.length} floats, expected ${x.E * ag.memorySize}`,
    );
  }
  return { memory: x.memory, keep: Float32Array.from(x.starts, (s) => 1 - s) };
}

/**
 * One step of a GRU network for `rows` rows: where it starts and the tensors to read back.
 * @param h0 `[rows, H]` stored states
 * @param keep `[rows]` 0 at episode starts
 * @param H state size
 * @returns the recurrence of one step
 */
function oneStep(h0: Float32Array, keep: Float32Array, H: number): Recurrence {
  return { h0: tf.tensor2d(h0, [keep.length, H]), keep: tf.tensor1d(keep), L: 1 };
}

/**
 * Every agent acts, in chain order: agent order[p] sees the actions of order[0..p-1].
 * @param ag the agents
 * @param x observations of E envs
 * @param ctx rng and whether to act greedily
 * @returns actions, action vectors, log-probs and (paper estimator) the sampling noise
 */
export async function actChain(
  ag: PpoAgents,
  x: ActInput,
  ctx: { rng: Rng; greedy: boolean },
): Promise<ActOutput> {
  const { E } = x;
  const { n, A } = ag;
  const u = new Float32Array(E * n * A);
  const logp = new Float32Array(E * n);
  const actions = ag.discrete ? new Int32Array(E * n) : new Float32Array(E * n * A);
  // docs/bpta.md §4c: keep the noise behind each sampled action for the reparameterised update
  const noise = ag.opts.storeNoise && !ctx.greedy ? new Float32Array(E * n * A) : null;
  // recurrent: each agent's GRU steps from its stored state (zeroed at episode starts)
  const rec = ag.recurrent ? recurrentInput(ag, x) : null;
  const memory = rec ? new Float32Array(E * ag.memorySize) : null;
  const H = ag.H;
  // a shared unconditioned actor acts for every agent in one call: rows [n E], agent-major
  let all: Float32Array | null = null;
  if (ag.shared && !ag.opts.conditioned) {
    const head = tf.tidy(() => {
      const obs = new Float32Array(n * E * ag.obsIn);
      for (let i = 0; i < n; i++) {
        obs.set(ag.obsRows(x.obs, i, E), i * E * ag.obsIn);
      }
      let r: Recurrence | null = null;
      if (rec) {
        const h0 = new Float32Array(n * E * H), keep = new Float32Array(n * E);
        for (let i = 0; i < n; i++) {
          h0.set(memoryRows(ag, rec.memory, i, E), i * E * H);
          keep.set(rec.keep, i * E);
        }
        r = oneStep(h0, keep, H);
      }
      const f = ag.actorForward(0, tf.tensor2d(obs, [n * E, ag.obsIn]), null, r);
      return f.last ? [f.out, f.last] : [f.out];
    });
    all = (await head[0]!.data()) as Float32Array;
    if (head[1]) {
      const last = (await head[1].data()) as Float32Array;
      for (let i = 0; i < n; i++) {
        setMemoryRows(ag, memory!, i, last.subarray(i * E * H, (i + 1) * E * H));
      }
    }
    tf.dispose(head);
  }
  for (const i of ag.order) {
    let rows: Float32Array;
    if (all) rows = all.subarray(i * E * A, (i + 1) * E * A);
    else if (ag.fused) { // --kernels fused: the same forward on the kernels
      let cond: Float32Array | null = null;
      if (ag.opts.conditioned) {
        const w = n * A + n, mask = ag.execMask(i);
        cond = new Float32Array(E * w);
        for (let e = 0; e < E; e++) {
          for (let j = 0; j < n * A; j++) cond[e * w + j] = u[e * n * A + j]! * mask[j]!;
          cond[e * w + n * A + i] = 1; // [u ⊙ mask_i, onehot(i)], as PpoAgents.condInput
        }
      }
      const r = rec ? { h0: memoryRows(ag, rec.memory, i, E), keep: rec.keep } : null;
      const f = ag.fused.act(i, ag.obsRows(x.obs, i, E), cond, E, r);
      rows = f.out;
      if (f.last) setMemoryRows(ag, memory!, i, f.last);
    } else {
      const head = tf.tidy(() => {
        const obs = tf.tensor2d(ag.obsRows(x.obs, i, E), [E, ag.obsIn]);
        const cond = ag.opts.conditioned ? ag.condInput(i, tf.tensor2d(u, [E, n * A])) : null;
        const r = rec ? oneStep(memoryRows(ag, rec.memory, i, E), rec.keep, H) : null;
        const f = ag.actorForward(i, obs, cond, r);
        return f.last ? [f.out, f.last] : [f.out];
      });
      rows = (await head[0]!.data()) as Float32Array;
      if (head[1]) setMemoryRows(ag, memory!, i, (await head[1].data()) as Float32Array);
      tf.dispose(head);
    }
    if (ag.discrete) {
      for (let e = 0; e < E; e++) {
        const k = e * n + i;
        const logits = rows.subarray(e * A, (e + 1) * A);
        const avail = x.avail ? x.avail.subarray(k * A, (k + 1) * A) : null;
        const s = noise // a = argmax(l + eps), eps stored
          ? sampleGumbelMax(logits, {
            avail,
            rng: ctx.rng,
            noise: noise.subarray(k * A, (k + 1) * A),
          })
          : sampleCategorical(logits, { avail, rng: ctx.rng, greedy: ctx.greedy });
        actions[k] = s.a;
        logp[k] = s.logp;
        u[k * A + s.a] = 1;
      }
    } else {
      const logStd = (await ag.actors[i]!.logStd!.data()) as Float32Array;
      for (let e = 0; e < E; e++) {
        const k = e * n + i;
        let lp = 0;
        for (let d = 0; d < A; d++) {
          const z = ctx.greedy ? 0 : ctx.rng.normal();
          const a = rows[e * A + d]! + Math.exp(logStd[d]!) * z; // a = mu + sigma * eps
          if (noise) noise[k * A + d] = z;
          actions[k * A + d] = a;
          u[k * A + d] = a;
          lp += -0.5 * z * z - logStd[d]! - 0.5 * Math.log(2 * Math.PI);
        }
        logp[k] = lp;
      }
    }
  }
  if (rec) { // the critics' GRU states advance every step too, so their values come now
    const values = await criticValues(ag, x, memory!);
    return { actions, actionVecs: u, logp, values, memory: memory!, ...(noise ? { noise } : {}) };
  }
  // no values here: the trainer asks criticValues once for the whole rollout
  return { actions, actionVecs: u, logp, ...(noise ? { noise } : {}) };
}

/**
 * Value estimates of every agent. Recurrent critics step once from the memory's critic states
 * (zeroed at episode starts) and, given `next`, write their new states there.
 * @param ag the agents
 * @param x observations and state of E envs (with memory and starts when recurrent)
 * @param next `[E, M]` memory to receive the critics' next states (recurrent), or none
 * @returns `[E, n]` denormalised values
 */
export async function criticValues(
  ag: PpoAgents,
  x: ActInput,
  next?: Float32Array,
): Promise<Float32Array> {
  const { E } = x;
  const rec = ag.recurrent ? recurrentInput(ag, x) : null;
  const out = new Float32Array(E * ag.n);
  for (let i = 0; i < ag.n; i++) {
    if (ag.fused) { // --kernels fused: the critics' forward on the kernels too
      const r = rec ? { h0: memoryRows(ag, rec.memory, ag.n + i, E), keep: rec.keep } : null;
      const f = fusedCriticsOf(ag).value(i, ag.criticRows(x.state, x.obs, i, E), E, r);
      if (f.last && next) setMemoryRows(ag, next, ag.n + i, f.last);
      for (let e = 0; e < E; e++) out[e * ag.n + i] = f.value[e]!;
      continue;
    }
    const t = tf.tidy(() => {
      const r = rec ? oneStep(memoryRows(ag, rec.memory, ag.n + i, E), rec.keep, ag.H) : null;
      const f = ag.valueForward(
        i,
        tf.tensor2d(ag.criticRows(x.state, x.obs, i, E), [E, ag.criticDim]),
        r,
      );
      return f.last && next ? [f.value, f.last] : [f.value];
    });
    const d = await t[0]!.data();
    if (t[1]) setMemoryRows(ag, next!, ag.n + i, (await t[1].data()) as Float32Array);
    tf.dispose(t);
    for (let e = 0; e < E; e++) out[e * ag.n + i] = d[e]!;
  }
  return ag.opts.valueNorm ? ag.valueNorm.denormalize(out) : out;
}
