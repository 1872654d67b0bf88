// play.ts: a trained run's policy acting outside the trainer, on episodes this script steps
// itself, greedily; prints each episode's return and their mean.
//   deno run -A examples/play.ts runs/matrix_climbing-bppo-s0 [episodes]
import { defaultAlgoRegistry, defaultEnvRegistry, loadPolicy, makeEnv } from "baton/mod.ts";

const [dir, count = "10"] = Deno.args;
if (!dir) {
  console.error("usage: deno run -A examples/play.ts <run directory> [episodes]");
  Deno.exit(2);
}
const envs = defaultEnvRegistry();
const policy = await loadPolicy(dir, { envs, algos: defaultAlgoRegistry() });
const { config, spec } = policy;
const episodes = Number(count);
const env = await makeEnv(envs.get(config.env), {
  options: config.envOptions,
  numEnvs: Math.min(episodes, 16),
});
console.log(
  `${config.algo} on ${config.env} (${spec.numAgents} agents), trained ${policy.envSteps} env steps`,
);
let step = await env.reset(12345);
let memory: Float32Array | undefined; // a recurrent policy's state, carried from step to step
let starts = new Uint8Array(env.numEnvs).fill(1); // every env starts an episode
const returns: number[] = [];
while (returns.length < episodes) {
  const out = await policy.act(
    { obs: step.obs, state: step.state, avail: step.availActions, memory, starts },
    { greedy: true },
  );
  memory = out.memory;
  step = await env.step(out.actions);
  for (const r of step.episodes.returns) returns.push(r);
  // an env whose episode ended has reset itself: its next step is a first one
  starts = Uint8Array.from(step.done, (d, e) => d | step.truncated[e]!);
}
await env.close();
await policy.close();
const shown = returns.slice(0, episodes);
console.log(`returns: ${shown.map((r) => r.toFixed(2)).join(" ")}`);
console.log(
  `mean return ${
    (shown.reduce((a, b) => a + b, 0) / shown.length).toFixed(3)
  } over ${shown.length} episodes${
    spec.optimalReturn !== undefined ? ` (optimum ${spec.optimalReturn})` : ""
  }`,
);
