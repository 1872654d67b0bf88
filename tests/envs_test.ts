import assert from "node:assert/strict";
import {
  checkVecEnv,
  defaultEnvRegistry,
  EnvRegistry,
  loadPlugin,
  permutationGame,
  tableGame,
} from "../mod.ts";
import { PAYOFFS } from "../envs/matrix/matrix.ts";

const registry = defaultEnvRegistry();
await loadPlugin(registry, "./tests/fixtures/coin_plugin.ts");

// Options an env needs to be built here: bridge/* envs run through the stand-in packages.
import { NUMPY } from "./_requires.ts";
const STUBS = new URL("./bridge_stubs", import.meta.url).pathname;
const PY = "/usr/bin/python3";
const NEEDS: Record<string, Record<string, unknown>> = {
  "matrix/custom": { payoff: [[1, 0], [0, 1]] },
  "bridge/smacv2": { pythonPath: [STUBS], python: PY },
  "bridge/mamujoco": { pythonPath: [STUBS], python: PY },
  "bridge/football": { pythonPath: [STUBS], python: PY },
  "bridge/pettingzoo": { pythonPath: [STUBS], python: PY, factory: "pz_coop:make_env" },
  "bridge/vector": { pythonPath: [STUBS], python: PY, factory: "vec_coop:make" },
};

for (const entry of registry.list()) {
  const ignore = entry.id.startsWith("bridge/") && !NUMPY;
  Deno.test(
    { name: `conformance: ${entry.id} (shapes, limits, determinism)`, ignore },
    async () => {
      const options = NEEDS[entry.id] ?? {};
      await checkVecEnv(
        () => registry.make(entry.id, { options, numEnvs: 4 }),
        { steps: 30 },
      );
    },
  );
}

Deno.test("matrix payoffs and optima are the spec's (§6)", async () => {
  const climbing = tableGame(PAYOFFS.climbing);
  assert.equal(climbing.payoff([2, 0]), 11);
  assert.equal(climbing.payoff([1, 1]), 7);
  assert.equal(climbing.payoff([1, 0]), -30);
  assert.equal(climbing.optimum, 11);
  const pen = tableGame(PAYOFFS.penalty(100));
  assert.deepEqual(
    [pen.payoff([0, 0]), pen.payoff([0, 2]), pen.payoff([2, 0]), pen.payoff([1, 1])],
    [
      -100,
      10,
      10,
      2,
    ],
  );
  const nm = tableGame(PAYOFFS.nonmonotonic);
  assert.equal(nm.payoff([2, 0]), 8);
  assert.equal(nm.optimum, 8);
  const perm = permutationGame(4);
  assert.equal(perm.payoff([3, 1, 0, 2]), 1);
  assert.equal(perm.payoff([3, 1, 3, 2]), 0);
  // Through the env: reward of a joint action, repeated episodeLength times.
  const env = await registry.make("matrix/climbing", { options: { episodeLength: 3 }, numEnvs: 1 });
  assert.equal(env.spec.optimalReturn, 33);
  await env.reset(0);
  let s;
  for (let t = 0; t < 3; t++) s = await env.step(Int32Array.from([2, 0]));
  assert.deepEqual(s!.episodes.returns, [33]);
  assert.equal(s!.truncated[0], 1);
});

Deno.test("matrix/custom accepts an n-agent tensor and rejects bad ones with the reason", async () => {
  const env = await registry.make("matrix/custom", {
    options: { payoff: [[[0, 1], [2, 3]], [[4, 5], [6, 7]]] },
    numEnvs: 2,
  });
  assert.equal(env.spec.numAgents, 3);
  assert.equal(env.spec.optimalReturn, 7);
  await env.reset(0);
  const s = await env.step(Int32Array.from([1, 1, 0, 0, 0, 1]));
  assert.deepEqual(Array.from(s.reward), [6, 1]);
  await assert.rejects(
    () => registry.make("matrix/custom", { options: { payoff: [[1, 2], [3]] }, numEnvs: 1 }),
    /rectangular/,
  );
  await assert.rejects(
    () =>
      registry.make("matrix/custom", { options: { payoff: [[1, 2, 3], [4, 5, 6]] }, numEnvs: 1 }),
    /same number of actions/,
  );
  await assert.rejects(
    () => registry.make("matrix/custom", { options: { payoff: [[1, "x"], [0, 1]] }, numEnvs: 1 }),
    /numbers/,
  );
  await assert.rejects(
    () => registry.make("matrix/custom", { options: {}, numEnvs: 1 }),
    /payoff/,
  );
});

Deno.test("env options are validated with the field and the allowed names", async () => {
  await assert.rejects(
    () => registry.make("matrix/penalty", { options: { k: "big" }, numEnvs: 1 }),
    /Invalid options for env matrix\/penalty: k: .*number/,
  );
  await assert.rejects(
    () => registry.make("matrix/penalty", { options: { kk: 1 }, numEnvs: 1 }),
    /kk.*allowed options: k, episodeLength/,
  );
  await assert.rejects(
    () => registry.make("matrix/nope", { numEnvs: 1 }),
    /Unknown env "matrix\/nope": the matrix family has matrix\/climbing/,
  );
});

Deno.test("registry rejects duplicate and malformed ids", () => {
  const r = new EnvRegistry();
  const e = registry.get("matrix/climbing");
  r.register(e);
  assert.throws(() => r.register(e), /already registered/);
  assert.throws(() => r.register({ ...e, id: "NoFamily" }), /family\/name/);
});

Deno.test("a plugin given by path registers its envs; a broken one fails clearly", async () => {
  assert.ok(registry.has("coin/match"));
  const env = await registry.make("coin/match", { numEnvs: 3 });
  assert.equal(env.spec.numAgents, 2);
  const r = new EnvRegistry();
  await assert.rejects(
    () => loadPlugin(r, "./tests/fixtures/does_not_exist.ts"),
    /Cannot load plugin/,
  );
  await assert.rejects(() => loadPlugin(r, "./tests/_helpers.ts"), /no default export/);
});

Deno.test("VecEnvBase rejects wrong-length and unavailable actions", async () => {
  const env = await registry.make("matrix/climbing", { numEnvs: 2 });
  await assert.rejects(async () => await env.step(Int32Array.from([0, 0, 0, 0])), /before reset/);
  await env.reset(1);
  await assert.rejects(async () => await env.step(Int32Array.from([0, 0])), /length 4/);
  await assert.rejects(
    async () => await env.step(Int32Array.from([0, 0, 0, 5])),
    /unavailable action 5/,
  );
});
