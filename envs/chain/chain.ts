/**
 * Chain games: small cooperative games built so that an agent's best action depends on how its
 * successors react to it, the premise of backpropagation through agents (the verdict campaign's
 * positive control, reports/bpta_verdict_plan.md). One-step episodes.
 *
 * | id | agents | actions | what agent 0 sees | team reward |
 * |---|---|---|---|---|
 * | `chain/relay` | n (option, 2-32) | k (option, 2-8) | a symbol `s ~ U{0..k-1}` | `mean_{i >= 1} [a_i == s]` |
 * | `chain/relay-continuous` | n (option, 2-32) | one in [-1, 1] | a target `t ~ U[-1, 1]` | `1 - mean_{i >= 1} abs(clip(a_i) - t)` |
 *
 * Agent 0 is a signaller: its own action earns nothing, so its best action is whatever its
 * successors decode into `s` (or `t`); the successors see nothing but their predecessors'
 * actions (through Baton's action conditioning) and are paid for matching. The optimum is 1
 * (every successor decodes exactly); a random policy earns `1/k` (discrete) or `1/3`
 * (continuous). The shared reward averages the successors, so as n grows each agent's
 * score-function credit is diluted by the others' noise, while the path from agent 0's action to
 * every successor's stays one hop. Unconditioned actors (MAPPO, HAPPO) cannot beat the random
 * policy: they never see the signal.
 *
 * Observations are 8 features (LayerNorm-safe: a pattern, not a scale, carries the content):
 * agent 0 sees the one-hot of `s` (padded with zeros to 8) or radial-basis features of `t`
 * (centres at 8 points of [-1, 1], width 0.25); the others see zeros. The state is agent 0's
 * observation.
 *
 * @module
 */
import { z } from "../../core/deps.ts";
import { box, discrete } from "../../core/spaces.ts";
import type { Rng } from "../../core/rng.ts";
import { type EnvBuffers, type EnvSpec, VecEnvBase } from "../../core/vec_env.ts";
import type { EnvEntry } from "../../core/registry.ts";

/** Observation and state width of the chain games. */
export const CHAIN_OBS = 8;

const agentsOpt = z.int().min(2).max(32).default(4).describe("agents n (agent 0 signals)");

/** The relay game, discrete or continuous (see the module's table). */
export class RelayEnv extends VecEnvBase {
  /** `[E]` each env's symbol (discrete) or target (continuous). */
  readonly #hidden: Float64Array;
  readonly #k: number;

  /**
   * Creates it.
   * @param o agents, symbols (discrete; 0 = continuous) and number of envs
   */
  constructor(o: { agents: number; symbols: number; numEnvs: number }) {
    const spec: EnvSpec = {
      numAgents: o.agents,
      obsDim: CHAIN_OBS,
      stateDim: CHAIN_OBS,
      actionSpace: o.symbols > 0 ? discrete(o.symbols) : box(1, -1, 1),
      episodeLimit: 1,
      optimalReturn: 1,
    };
    super(spec, o.numEnvs);
    this.#k = o.symbols;
    this.#hidden = new Float64Array(o.numEnvs);
  }

  protected resetEnv(e: number, rng: Rng): void {
    this.#hidden[e] = this.#k > 0 ? rng.int(this.#k) : 2 * rng.uniform() - 1;
  }

  protected stepEnvs(actions: Int32Array | Float32Array, buf: EnvBuffers): void {
    const n = this.spec.numAgents;
    for (let e = 0; e < this.numEnvs; e++) {
      const h = this.#hidden[e]!;
      let sum = 0;
      for (let i = 1; i < n; i++) {
        const a = actions[e * n + i]!;
        sum += this.#k > 0
          ? (a === h ? 1 : 0) // [a_i == s]
          : 1 - Math.abs(Math.min(1, Math.max(-1, a)) - h); // 1 - |clip(a_i) - t|
      }
      buf.reward[e] = sum / (n - 1);
      buf.done[e] = 1;
    }
  }

  protected observe(buf: EnvBuffers): void {
    const n = this.spec.numAgents, d = CHAIN_OBS;
    buf.obs.fill(0);
    for (let e = 0; e < this.numEnvs; e++) {
      const o = e * n * d, h = this.#hidden[e]!;
      if (this.#k > 0) buf.obs[o + h] = 1; // one-hot of s, agent 0 only
      else {
        for (let c = 0; c < d; c++) { // radial-basis features of t
          const centre = -1 + (2 * c) / (d - 1);
          buf.obs[o + c] = Math.exp(-((h - centre) ** 2) / (2 * 0.25 ** 2));
        }
      }
      buf.state.set(buf.obs.subarray(o, o + d), e * d);
    }
  }
}

const relayOptions = z.strictObject({
  agents: agentsOpt,
  symbols: z.int().min(2).max(CHAIN_OBS).default(4).describe("symbols k (at most 8)"),
});
const relayContinuousOptions = z.strictObject({ agents: agentsOpt });

const relay: EnvEntry<typeof relayOptions> = {
  id: "chain/relay",
  description:
    "agent 0 sees a symbol, successors are paid for matching it through the chain (positive control of BPTA; discrete)",
  options: relayOptions,
  create: (o, ctx) => new RelayEnv({ agents: o.agents, symbols: o.symbols, numEnvs: ctx.numEnvs }),
};

const relayContinuous: EnvEntry<typeof relayContinuousOptions> = {
  id: "chain/relay-continuous",
  description:
    "agent 0 sees a target in [-1, 1], successors are paid for matching it through the chain (continuous)",
  options: relayContinuousOptions,
  create: (o, ctx) => new RelayEnv({ agents: o.agents, symbols: 0, numEnvs: ctx.numEnvs }),
};

/** The chain games' registry entries. */
// deno-lint-ignore no-explicit-any
export const chainEnvs: EnvEntry<any>[] = [relay, relayContinuous];
