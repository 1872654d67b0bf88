/**
 * Inference outside the trainer: load a trained run (its checkpoint and config) and act with its
 * policy on observations you step yourself.
 *
 * @example Play a trained policy greedily
 * ```ts ignore
 * import { defaultAlgoRegistry, defaultEnvRegistry, loadPolicy } from "./mod.ts";
 * const policy = await loadPolicy("runs/matrix_climbing-bppo-s0", {
 *   envs: defaultEnvRegistry(),
 *   algos: defaultAlgoRegistry(),
 * });
 * const { actions, memory } = await policy.act({ obs, state, avail }, { greedy: true });
 * ```
 * `examples/play.ts` is a complete script (an env, episodes, returns).
 *
 * @module
 */
import type { Algorithm } from "./algorithm.ts";
import { loadCheckpoint } from "./checkpoint.ts";
import { type TrainConfig, trainConfig } from "./config.ts";
import { type AlgoRegistry, type EnvRegistry, makeEnv, parseOptions } from "./registry.ts";
import { Rng } from "./rng.ts";
import { type BackendChoice, initBackend } from "./backend.ts";
import type { EnvSpec } from "./vec_env.ts";

/** What {@link Policy.act} takes: one step of E envs. */
export interface PolicyInput {
  /** `[E, n, obsDim]` every agent's observation. */
  readonly obs: Float32Array;
  /** `[E, stateDim]` the global state (zeros when absent; acting does not read it). */
  readonly state?: Float32Array;
  /** `[E, n, A]` available actions (discrete envs with masks), or null/absent for all. */
  readonly avail?: Uint8Array | null;
  /** `[E, memorySize]` what the previous `act` returned (recurrent policies); absent: zeros. */
  readonly memory?: Float32Array;
  /** `[E]` 1 where this step is an episode's first (the memory restarts there); absent: none. */
  readonly starts?: Uint8Array;
}

/** What {@link Policy.act} returns. */
export interface PolicyOutput {
  /** `Int32Array [E, n]` (discrete) or `Float32Array [E, n, D]` (box): the joint actions. */
  readonly actions: Int32Array | Float32Array;
  /** `[E, memorySize]` to pass to the next `act` (empty for feed-forward policies). */
  readonly memory: Float32Array;
}

/** A trained policy, ready to act. */
export interface Policy {
  /** The run's config (env, algorithm, options, seed). */
  readonly config: TrainConfig;
  /** The env spec the policy was trained on (agents, observation and action sizes). */
  readonly spec: EnvSpec;
  /** Env steps the checkpoint had trained for. */
  readonly envSteps: number;
  /** Floats of memory per env (0 for feed-forward policies). */
  readonly memorySize: number;
  /**
   * Acts for one step of E envs.
   * @param x observations (and state, masks, memory, episode starts)
   * @param opts `greedy` (default true): the most likely action; else sampled with `rng`
   */
  act(x: PolicyInput, opts?: { greedy?: boolean; rng?: Rng }): Promise<PolicyOutput>;
  /** Frees the policy's tensors (and its worker threads, if any). */
  close(): Promise<void>;
}

/**
 * Loads a run's policy: the checkpoint (a run directory or `checkpoint.json`), the env and
 * algorithm its config names (from the registries you pass: load a plugin run's plugins into
 * `envs` first), the parameters and any input statistics.
 * @param where a run directory or checkpoint file
 * @param deps the env and algorithm registries; `backend` (default: the run's, usually auto)
 * @returns the policy
 */
export async function loadPolicy(
  where: string,
  deps: { envs: EnvRegistry; algos: AlgoRegistry; backend?: BackendChoice },
): Promise<Policy> {
  const ck = await loadCheckpoint(where);
  const parsed = trainConfig.safeParse(ck.config);
  if (!parsed.success) throw new Error(`Cannot load a policy from ${where}: its config is invalid`);
  const config = parsed.data;
  if (!deps.envs.has(config.env) && config.plugins.length) {
    throw new Error(
      `Cannot load a policy from ${where}: env ${config.env} comes from the plugin(s) ${
        config.plugins.join(", ")
      }; load them into the registry first (loadPlugin(envs, path))`,
    );
  }
  await initBackend(deps.backend ?? config.backend);
  const entry = deps.envs.get(config.env);
  // the spec: one env, closed at once (a bridge env starts its child process for this)
  const probe = await makeEnv(entry, { options: config.envOptions, numEnvs: 1 });
  const spec = probe.spec;
  await probe.close();
  const algoEntry = deps.algos.get(config.algo);
  const algo: Algorithm = algoEntry.create(spec, {
    options: parseOptions(algoEntry.options, config.algoOptions, `algorithm ${config.algo}`),
    rng: new Rng(config.seed),
    threads: 1,
    rolloutLength: config.rolloutLength,
  });
  await algo.setState(ck.algo).catch((err) => {
    algo.dispose();
    throw err;
  });
  const M = algo.memorySize ?? 0;
  const perEnv = spec.numAgents * spec.obsDim;
  const fallbackRng = new Rng(config.seed + 7);
  return {
    config,
    spec,
    envSteps: ck.envSteps,
    memorySize: M,
    async act(x, opts = {}) {
      if (x.obs.length === 0 || x.obs.length % perEnv !== 0) {
        throw new Error(
          `policy.act: obs has ${x.obs.length} floats, not a multiple of n x obsDim = ${spec.numAgents} x ${spec.obsDim}`,
        );
      }
      const E = x.obs.length / perEnv;
      const memory = x.memory ?? new Float32Array(E * M);
      if (memory.length !== E * M) {
        throw new Error(`policy.act: memory has ${memory.length} floats, expected ${E} x ${M}`);
      }
      const out = await algo.act(
        {
          obs: x.obs,
          state: x.state ?? new Float32Array(E * spec.stateDim),
          avail: x.avail ?? null,
          E,
          ...(M ? { memory, starts: x.starts ?? new Uint8Array(E) } : {}),
        },
        { rng: opts.rng ?? fallbackRng, greedy: opts.greedy ?? true },
      );
      return { actions: out.actions, memory: out.memory ?? new Float32Array(0) };
    },
    async close() {
      await algo.close?.();
      algo.dispose();
    },
  };
}
