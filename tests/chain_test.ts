// The chain games (envs/chain): spec, rewards for known joint actions, seeded symbols, the
// conformance checks. The control they exist for (a conditioned learner solves the relay, an
// unconditioned one cannot beat chance) is in tests/learning/learning_test.ts.
import assert from "node:assert/strict";
import { checkVecEnv, defaultEnvRegistry } from "../mod.ts";
import { RelayEnv } from "../envs/chain/chain.ts";

Deno.test("chain/relay: successors matching agent 0's symbol earn 1, agent 0's own action earns nothing", async () => {
  const env = new RelayEnv({ agents: 4, symbols: 3, numEnvs: 64 });
  assert.equal(env.spec.optimalReturn, 1);
  assert.equal(env.spec.obsDim, 8);
  const s0 = await env.reset(5);
  const n = 4, d = 8;
  const sym = Array.from(
    { length: 64 },
    (_, e) => s0.obs.subarray(e * n * d, e * n * d + 3).indexOf(1),
  );
  assert.ok(sym.every((s) => s >= 0), "agent 0 sees a one-hot symbol");
  assert.ok(new Set(sym).size === 3, "all symbols occur");
  for (let e = 0; e < 64; e++) { // the others see nothing
    assert.ok(s0.obs.subarray(e * n * d + d, (e + 1) * n * d).every((x) => x === 0));
  }
  const perfect = new Int32Array(64 * n), wrongSignal = new Int32Array(64 * n);
  for (let e = 0; e < 64; e++) {
    for (let i = 1; i < n; i++) perfect[e * n + i] = wrongSignal[e * n + i] = sym[e]!;
    perfect[e * n] = sym[e]!;
    wrongSignal[e * n] = (sym[e]! + 1) % 3; // agent 0's action does not matter
  }
  const a = await env.step(perfect);
  assert.ok(a.reward.every((r) => r === 1) && a.done.every((x) => x === 1));
  assert.deepEqual(a.episodes.returns.length, 64);
  // after the automatic reset the symbols are new draws
  const again = await env.reset(5);
  assert.deepEqual(again.obs, s0.obs, "the same seed, the same symbols");
  const b = await env.step(wrongSignal);
  assert.ok(b.reward.every((r) => r === 1));
  // one successor of three wrong: 2/3
  const oneWrong = perfect.slice();
  for (let e = 0; e < 64; e++) oneWrong[e * n + 2] = (sym[e]! + 1) % 3;
  await env.reset(5);
  const c = await env.step(oneWrong);
  assert.ok(c.reward.every((r) => Math.abs(r - 2 / 3) < 1e-6));
});

Deno.test("chain/relay-continuous: 1 - mean |clip(a_i) - t| over successors, t shown to agent 0 as a bump", async () => {
  const n = 3, E = 32, d = 8;
  const env = new RelayEnv({ agents: n, symbols: 0, numEnvs: E });
  const s = await env.reset(2);
  // decode t from agent 0's radial-basis features: the centre of mass of the bump
  const ts = Array.from({ length: E }, (_, e) => {
    const f = s.obs.subarray(e * n * d, e * n * d + d);
    const best = f.indexOf(Math.max(...f));
    return -1 + (2 * best) / (d - 1);
  });
  const zero = new Float32Array(E * n); // successors play 0: reward 1 - |t|
  const r = (await env.step(zero)).reward;
  for (let e = 0; e < E; e++) {
    assert.ok(Math.abs(1 - r[e]! - Math.abs(ts[e]!)) <= 1 / (d - 1) + 1e-6, `env ${e}`);
  }
  const far = new Float32Array(E * n).fill(5); // clipped to 1
  await env.reset(2);
  const r2 = (await env.step(far)).reward;
  for (let e = 0; e < E; e++) assert.ok(r2[e]! <= 1 && r2[e]! >= -1);
});

Deno.test("chain games pass the conformance checks", async () => {
  const envs = defaultEnvRegistry();
  for (
    const [id, options] of [["chain/relay", { agents: 8, symbols: 5 }], ["chain/relay-continuous", {
      agents: 16,
    }]] as const
  ) {
    await checkVecEnv(() => envs.make(id, { options, numEnvs: 4 }), { steps: 20, seed: 3 });
  }
});
