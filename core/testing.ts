/**
 * Conformance checks for environments, public so plugin authors can run them on their envs.
 *
 * @module
 */
import type { Step, VecEnv } from "./vec_env.ts";
import { Rng } from "./rng.ts";

/**
 * Checks one Step an env returned: array lengths, finite observations, state and rewards, at
 * least one available action per agent, and a well-formed episode record. Cheap enough to run
 * on every step (the trainer does).
 * @param env the env
 * @param s its step
 * @param where names the env and the step in the error
 */
export function checkStep(env: VecEnv, s: Step, where: string): void {
  const { numAgents: n, obsDim, stateDim, actionSpace } = env.spec;
  const E = env.numEnvs;
  const want: [string, ArrayLike<number> | null, number][] = [
    ["obs", s.obs, E * n * obsDim],
    ["state", s.state, E * stateDim],
    ["reward", s.reward, E],
    ["done", s.done, E],
    ["truncated", s.truncated, E],
  ];
  if (actionSpace.kind === "discrete") {
    want.push(["availActions", s.availActions, E * n * actionSpace.n]);
  }
  for (const [name, arr, len] of want) {
    const type = name === "obs" || name === "state" || name === "reward"
      ? Float32Array
      : Uint8Array;
    if (!(arr instanceof type) || arr.buffer instanceof SharedArrayBuffer) {
      throw new Error(
        `${where}: ${name} must be a ${type.name} of length ${len} (not shared), got ${
          describe(arr)
        }`,
      );
    }
    if (arr.length !== len) {
      throw new Error(`${where}: ${name} has length ${arr.length}, expected ${len}`);
    }
  }
  for (const [name, arr] of [["obs", s.obs], ["state", s.state], ["reward", s.reward]] as const) {
    for (let k = 0; k < arr.length; k++) {
      if (!Number.isFinite(arr[k]!)) {
        throw new Error(`${where}: ${name}[${k}] is ${arr[k]} (non-finite)`);
      }
    }
  }
  if (s.availActions && actionSpace.kind === "discrete") {
    const A = actionSpace.n;
    for (let k = 0; k < E * n; k++) {
      let any = 0;
      for (let j = 0; j < A; j++) any |= s.availActions[k * A + j]!;
      if (!any) {
        throw new Error(
          `${where}: agent ${k % n} of env ${Math.floor(k / n)} has no available action`,
        );
      }
    }
  }
  const ep = s.episodes as Partial<Step["episodes"]> | undefined;
  if (Array.isArray(ep?.returns) && ep.returns.length > E) {
    throw new Error(
      `${where}: episodes lists ${ep.returns.length} finished episodes in one step of ${E} envs (at most one per env)`,
    );
  }
  if (
    !ep || !Array.isArray(ep.returns) || !Array.isArray(ep.lengths) || !Array.isArray(ep.wins) ||
    ep.lengths.length !== ep.returns.length || ep.wins.length > ep.returns.length ||
    !ep.returns.every(Number.isFinite)
  ) {
    throw new Error(
      `${where}: episodes must be { returns, lengths, wins } arrays of finished episodes (wins at most one per episode), got ${
        JSON.stringify(ep)?.slice(0, 120)
      }`,
    );
  }
}

/** What a value is, for a message: "a plain array of 3", "a string", "null", ... */
function describe(x: unknown): string {
  if (x === null) return "null";
  if (x === undefined) return "nothing";
  if (Array.isArray(x)) return `a plain array of ${x.length}`;
  if (x instanceof SharedArrayBuffer) return "a SharedArrayBuffer";
  if (ArrayBuffer.isView(x)) {
    const shared = (x as { buffer: ArrayBufferLike }).buffer instanceof SharedArrayBuffer;
    return `a ${x.constructor.name}${shared ? " over a SharedArrayBuffer" : ""}`;
  }
  return `a ${typeof x}`;
}

/**
 * Random valid actions for every agent of every env.
 * @param env the env
 * @param s the current step (for availability)
 * @param rng random source
 * @returns actions
 */
export function randomActions(env: VecEnv, s: Step, rng: Rng): Int32Array | Float32Array {
  const { numAgents: n, actionSpace } = env.spec;
  const E = env.numEnvs;
  if (actionSpace.kind === "box") {
    return Float32Array.from(
      { length: E * n * actionSpace.dim },
      () => actionSpace.low + (actionSpace.high - actionSpace.low) * rng.uniform(),
    );
  }
  const A = actionSpace.n;
  const out = new Int32Array(E * n);
  for (let k = 0; k < E * n; k++) {
    const ok: number[] = [];
    for (let j = 0; j < A; j++) if (!s.availActions || s.availActions[k * A + j]) ok.push(j);
    out[k] = ok[rng.int(ok.length)]!;
  }
  return out;
}

/**
 * Steps an env with random actions and checks shapes, finiteness, availability, episode
 * ends within the limit and seed determinism. Throws on the first violation.
 * @param make builds a fresh env
 * @param opts steps to take and seed
 */
export async function checkVecEnv(
  make: () => Promise<VecEnv> | VecEnv,
  opts: { steps?: number; seed?: number } = {},
): Promise<void> {
  const steps = opts.steps ?? 50, seed = opts.seed ?? 0;
  const run = async () => {
    const env = await make();
    const rng = new Rng(seed);
    let s = await env.reset(seed);
    checkStep(env, s, "reset");
    const trace: number[] = [];
    const sinceReset = new Int32Array(env.numEnvs);
    for (let t = 0; t < steps; t++) {
      s = await env.step(randomActions(env, s, rng));
      checkStep(env, s, `step ${t}`);
      for (let e = 0; e < env.numEnvs; e++) {
        sinceReset[e]! += 1;
        if (sinceReset[e]! > env.spec.episodeLimit) {
          throw new Error(`env ${e} ran past its episode limit ${env.spec.episodeLimit}`);
        }
        if (s.done[e] || s.truncated[e]) sinceReset[e] = 0;
      }
      trace.push(...s.reward, s.obs.reduce((a, b) => a + b, 0));
    }
    await env.close();
    return trace;
  };
  const a = await run(), b = await run();
  if (a.length !== b.length || a.some((x, i) => x !== b[i])) {
    throw new Error("env is not deterministic: the same seed and actions gave different results");
  }
}
