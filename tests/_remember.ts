// The "remember the cue" task of the recurrent tests (tests/recurrent_test.ts and the learning
// test in tests/learning/): a cue shown at step 0 only must be named at step 2.
import {
  defaultAlgoRegistry,
  discrete,
  type EnvEntry,
  type EnvSpec,
  fromScalarEnv,
  type Rng,
  train,
  z,
} from "../mod.ts";
import { smallConfig } from "./_helpers.ts";

export const spec: EnvSpec = {
  numAgents: 2,
  obsDim: 2,
  stateDim: 2,
  actionSpace: discrete(2),
  episodeLimit: 3,
};

/**
 * "Remember the first observation": a cue of +-1 is shown at step 0 only; at step 2 (flagged
 * in the observation) each agent is paid 0.5 for naming it. A policy without memory cannot do
 * better than 0.5 there; one with memory can reach 1.
 */
export function rememberEnv(numEnvs: number, cues: "random" | "alternating" = "random") {
  return fromScalarEnv(spec, numEnvs, () => {
    let cue = 0, t = 0, episodes = 0;
    return {
      reset(rng: Rng) {
        cue = cues === "random" ? rng.int(2) : episodes++ % 2;
        t = 0;
      },
      step(a: Int32Array | Float32Array) {
        t++;
        if (t < 3) return { reward: 0, terminated: false };
        return { reward: 0.5 * (Number(a[0] === cue) + Number(a[1] === cue)), terminated: true };
      },
      obs(out: Float32Array) {
        const signal = t === 0 ? 2 * cue - 1 : 0, last = t === 2 ? 1 : 0;
        out.set([signal, last, signal, last]);
      },
      state(out: Float32Array) {
        out.set([t === 0 ? 2 * cue - 1 : 0, t === 2 ? 1 : 0]);
      },
    };
  });
}

export const remember: EnvEntry = {
  id: "test/remember",
  description: "remember the first observation",
  options: z.strictObject({}),
  create: (_o, ctx) => rememberEnv(ctx.numEnvs),
};

// A resumed run restarts its episodes from the iteration's seed, so it equals the uninterrupted
// run only where episodes end with iterations and resets draw no random numbers: cues alternate.
export const rememberAlternating: EnvEntry = {
  ...remember,
  create: (_o, ctx) => rememberEnv(ctx.numEnvs, "alternating"),
};

/** Trains `algo` on the task with small networks; the summary and the run directory. */
export async function rememberRun(over: Record<string, unknown>, algo = "mappo", seed = 0) {
  const cfg = await smallConfig({
    env: "test/remember",
    algo,
    seed,
    numEnvs: 16,
    rolloutLength: 30,
    totalSteps: 14_400,
    evalEpisodes: 32,
    algoOptions: { hidden: 32, epochs: 5, lr: 3e-3, criticLr: 3e-3, ...over },
  });
  const s = await train(cfg, { env: remember, algo: defaultAlgoRegistry().get(algo) });
  return { s, out: cfg.out! };
}
