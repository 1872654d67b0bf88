// check_my_envs.ts: shapes, limits, finiteness and seed determinism of the coin env.
import { checkVecEnv, makeEnv } from "baton/mod.ts";
import plugin from "./my_envs.ts";

const entry = plugin.envs.find((e) => e.id === "coin/match")!;
await checkVecEnv(() => makeEnv(entry, { numEnvs: 8, options: { limit: 1 } }), {
  steps: 200,
  seed: 0,
});
console.log("coin/match passes checkVecEnv");
