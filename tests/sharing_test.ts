// Parameter sharing (--algo-opt share=true): one actor and one critic for all agents with an
// agent-id one-hot input, one optimiser each, the update batched over agents; refused (with the
// reason) by the sequential algorithms.
import assert from "node:assert/strict";
import { initBackend, loadCheckpoint, train } from "../mod.ts";
import { cli, entries, smallConfig } from "./_helpers.ts";

Deno.test("share=true: one actor and one critic, and agents still act differently (agent-id input)", async () => {
  await initBackend("wasm");
  // penalty k=0 pays 10 only for the distinct joint actions (2, 0) and (0, 2): a shared policy
  // without the agent id would give both agents the same action (at most 2)
  const cfg = await smallConfig({
    env: "matrix/penalty",
    envOptions: { k: 0 },
    algo: "mappo",
    algoOptions: { share: true },
    numEnvs: 16,
    rolloutLength: 50,
    totalSteps: 16_000,
    evalEpisodes: 20,
    seed: 0,
  });
  const s = await train(cfg, entries(cfg));
  assert.equal(s.final_eval_return, 10);
  const j = s.greedy_joint_action!;
  assert.notEqual(j[0], j[1], "the two agents act differently");
  const keys = Object.keys((await loadCheckpoint(cfg.out!)).algo.tensors);
  assert.ok(
    keys.some((k) => k.startsWith("actor0/")) && keys.some((k) => k.startsWith("critic0/")),
  );
  assert.ok(
    !keys.some((k) => k.startsWith("actor1/") || k.startsWith("critic1/")),
    "one network each",
  );
  assert.ok(!keys.some((k) => k.startsWith("adam2/")), "one optimiser per network");
  await Deno.remove(cfg.out!, { recursive: true });
});

Deno.test("share=true is refused by bppo and happo with the reason", async () => {
  for (const algo of ["bppo", "happo"]) {
    const r = await cli("--algo", algo, "--algo-opt", "share=true", "--quiet");
    assert.equal(r.code, 2);
    assert.match(
      r.stderr,
      new RegExp(`share=true for ${algo}: its agents are updated one at a time`),
    );
  }
});
