// Heterogeneous agents (EnvSpec.agentObsDims / agentActions): VecEnvBase pads each agent's
// observation with zeros and masks the actions it does not have; training never picks one.
import assert from "node:assert/strict";
import {
  defaultAlgoRegistry,
  discrete,
  type EnvEntry,
  type EnvSpec,
  fromScalarEnv,
  train,
  z,
} from "../mod.ts";
import { envSpecSchema } from "../core/registry.ts";
import { smallConfig } from "./_helpers.ts";

const spec: EnvSpec = {
  numAgents: 2,
  obsDim: 3,
  stateDim: 1,
  actionSpace: discrete(4),
  episodeLimit: 1,
  agentObsDims: [3, 1], // agent 1 sees one number
  agentActions: [2, 4], // agent 0 has two actions
};

function make(numEnvs: number) {
  return fromScalarEnv(spec, numEnvs, () => ({
    reset() {},
    step(a: Int32Array | Float32Array) {
      if (a[0]! >= 2) throw new Error(`agent 0 took action ${a[0]}, which it does not have`);
      return { reward: a[0] === 1 && a[1] === 3 ? 1 : 0, terminated: true };
    },
    obs(out: Float32Array) {
      out.set([1, 2, 3, 4, 9, 9]); // agent 1's last two numbers are not its own: padded to 0
    },
    state(out: Float32Array) {
      out[0] = 1;
    },
  }));
}

Deno.test("heterogeneous agents: observations padded with zeros, missing actions unavailable", async () => {
  const env = make(2);
  const s = await env.reset(0);
  assert.deepEqual(Array.from(s.obs.subarray(0, 6)), [1, 2, 3, 4, 0, 0]);
  assert.deepEqual(Array.from(s.availActions!.subarray(0, 8)), [1, 1, 0, 0, 1, 1, 1, 1]);
  assert.throws(() => env.step(Int32Array.from([3, 0, 0, 0])), /unavailable action 3 for agent 0/);
  for (
    const bad of [
      { ...spec, agentObsDims: [3] },
      { ...spec, agentObsDims: [4, 1] },
      { ...spec, agentActions: [2, 5] },
    ]
  ) assert.equal(envSpecSchema.safeParse(bad).success, false, JSON.stringify(bad));
});

for (const algo of ["mappo", "bppo"]) {
  Deno.test(`heterogeneous agents: ${algo} trains without ever taking a missing action and learns`, async () => {
    const entry: EnvEntry = {
      id: "test/hetero",
      description: "two agents of different kinds",
      options: z.strictObject({}),
      create: (_o, ctx) => make(ctx.numEnvs),
    };
    const cfg = await smallConfig({
      env: "test/hetero",
      algo,
      numEnvs: 16,
      rolloutLength: 25,
      totalSteps: 8000,
      evalEpisodes: 8,
    });
    const s = await train(cfg, { env: entry, algo: defaultAlgoRegistry().get(algo) });
    assert.equal(s.final_eval_return, 1, "both agents find their one rewarded action");
    await Deno.remove(cfg.out!, { recursive: true });
  });
}
