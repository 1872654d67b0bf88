// my_envs.ts: two agents must both say the coin only agent 0 sees
import { definePlugin, discrete, type EnvSpec, fromScalarEnv, type Rng, z } from "baton/mod.ts";

class Coin {
  coin = 0;
  reset(rng: Rng) {
    this.coin = rng.int(2);
  }
  step(a: Int32Array | Float32Array) {
    return { reward: a[0] === this.coin && a[1] === this.coin ? 1 : 0, terminated: true };
  }
  obs(out: Float32Array) {
    out.set([this.coin, 1 - this.coin, 0, 0]); // agent 0 sees it, agent 1 does not
  }
  state(out: Float32Array) {
    out.set([this.coin, 1 - this.coin]);
  }
}

export default definePlugin({
  name: "coin",
  version: "1.0.0",
  envs: [{
    id: "coin/match", // family/name
    description: "agent 0 sees a coin; reward 1 when both agents name it",
    options: z.strictObject({ limit: z.int().min(1).default(1).describe("episode limit") }),
    create: (o, ctx) => {
      const spec: EnvSpec = {
        numAgents: 2,
        obsDim: 2,
        stateDim: 2,
        actionSpace: discrete(2),
        episodeLimit: o.limit,
        optimalReturn: 1,
      };
      return fromScalarEnv(spec, ctx.numEnvs, () => new Coin());
    },
  }],
});
