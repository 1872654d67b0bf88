// Train BPPO on the climbing game from a script (README example; run by tests/url_import_test.ts).
// "baton/" is mapped to this repository by its deno.json; from a published copy, import
// "https://<host>/baton/v0.2.0/mod.ts" instead (or map "baton/" to that URL in your deno.json).
import { defaultAlgoRegistry, defaultEnvRegistry, train, trainConfig } from "baton/mod.ts";

const steps = Number(Deno.args[0] ?? 100_000);
const config = trainConfig.parse({
  env: "matrix/climbing",
  algo: "bppo",
  totalSteps: steps,
  quiet: true,
});
const summary = await train(config, {
  env: defaultEnvRegistry().get(config.env),
  algo: defaultAlgoRegistry().get(config.algo),
});
console.log(
  `greedy joint action ${summary.greedy_joint_action}: return ${summary.final_eval_return}`,
);
console.log(
  `optimum ${summary.optimal_return}, ${summary.env_steps} env steps in ${summary.wall_s}s`,
);
console.log(`run directory: ${summary.out} (config.json, metrics.jsonl, summary.json, checkpoint)`);
