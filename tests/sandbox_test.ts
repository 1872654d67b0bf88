// Untrusted plugins run in a Worker with least permissions; each forbidden action fails with
// a clear error naming the plugin and the permission, and the trainer never hangs.
import assert from "node:assert/strict";
import { fileURLToPath } from "node:url";
import {
  defaultAlgoRegistry,
  defaultEnvRegistry,
  EnvRegistry,
  initBackend,
  train,
} from "../mod.ts";
import { loadSandboxedPlugin } from "../plugins/sandbox.ts";
import { smallConfig } from "./_helpers.ts";

const EVIL = "./tests/fixtures/evil/evil_plugin.ts";

async function withEvil(
  fn: (r: EnvRegistry) => Promise<void>,
  opts: Parameters<typeof loadSandboxedPlugin>[2] = {},
) {
  const r = new EnvRegistry();
  const box = await loadSandboxedPlugin(r, EVIL, opts);
  try {
    await fn(r);
  } finally {
    box.terminate();
  }
}

const cases: [string, RegExp][] = [
  [
    "read",
    /Plugin \.\/tests\/fixtures\/evil\/evil_plugin\.ts was denied read access to ".*coin_plugin\.ts".*--plugin-allow-read=/,
  ],
  ["net", /was denied net access to "127\.0\.0\.1:65001".*--plugin-allow-net=127\.0\.0\.1:65001/],
  ["run", /was denied run access to "true".*--plugin-allow-run=true/],
  ["env", /was denied env access to "HOME".*--plugin-allow-env=HOME/],
  ["write", /was denied write access to ".*owned\.txt".*--plugin-allow-write=/],
];
for (const [attack, expected] of cases) {
  Deno.test(`sandbox: a plugin that tries ${attack} is stopped with a clear permission error`, async () => {
    await withEvil(async (r) => {
      await assert.rejects(
        () => r.make("evil/attack", { options: { attack }, numEnvs: 2 }),
        expected,
      );
    });
  });
}

Deno.test("sandbox: an explicit grant lets the same read through", async () => {
  const outside = fileURLToPath(new URL("./fixtures/coin_plugin.ts", import.meta.url));
  await withEvil(async (r) => {
    const env = await r.make("evil/attack", { options: { attack: "read" }, numEnvs: 2 });
    assert.equal(env.spec.numAgents, 2);
    await env.close();
  }, { grants: { read: [outside] } });
});

Deno.test("sandbox: the trainer reports a denied plugin and a crashing plugin without hanging", async () => {
  await initBackend("wasm");
  const envs = defaultEnvRegistry();
  const box = await loadSandboxedPlugin(envs, EVIL);
  try {
    for (
      const [attack, expected] of [["net", /denied net access/], [
        "crash",
        /boom from the plugin/,
      ]] as const
    ) {
      const cfg = await smallConfig({
        env: "evil/attack",
        envOptions: { attack },
        numEnvs: 2,
        rolloutLength: 2,
        totalSteps: 8,
      });
      await assert.rejects(() => train(cfg, { envs, algos: defaultAlgoRegistry() }), expected);
    }
  } finally {
    box.terminate();
  }
});

Deno.test("sandbox: a plugin that hangs is stopped by the timeout", async () => {
  await withEvil(async (r) => {
    const env = await r.make("evil/attack", { options: { attack: "hang" }, numEnvs: 1 });
    await env.reset(0);
    const t0 = performance.now();
    await assert.rejects(
      () => env.step(Int32Array.from([0, 0])),
      /did not answer "step" within 1s; its sandbox was stopped/,
    );
    assert.ok(performance.now() - t0 < 5000);
  }, { timeoutMs: 1000 });
});

Deno.test("sandbox: options are validated inside the sandbox and a bad plugin path fails clearly", async () => {
  await withEvil(async (r) => {
    await assert.rejects(
      () => r.make("evil/attack", { options: { attack: "nuke" }, numEnvs: 1 }),
      /Invalid options for env evil\/attack: attack/,
    );
  });
  await assert.rejects(
    () => loadSandboxedPlugin(new EnvRegistry(), "./tests/fixtures/nope.ts"),
    /Cannot load plugin/,
  );
});

Deno.test("sandbox: a well-behaved plugin trains end to end and learns", async () => {
  await initBackend("wasm");
  const envs = defaultEnvRegistry();
  const box = await loadSandboxedPlugin(envs, "./tests/fixtures/coin_plugin.ts");
  try {
    const cfg = await smallConfig({
      env: "coin/match",
      algo: "bppo",
      numEnvs: 20,
      rolloutLength: 50,
      totalSteps: 5000,
      evalEpisodes: 20,
    });
    const s = await train(cfg, { envs, algos: defaultAlgoRegistry() });
    assert.equal(s.final_eval_return, 1, JSON.stringify(s));
  } finally {
    box.terminate();
  }
});
