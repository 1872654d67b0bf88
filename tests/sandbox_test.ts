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
import {
  explainSandboxError,
  loadSandboxedPlugin,
  MAX_PLUGIN_FOLDER_ENTRIES,
} from "../plugins/sandbox.ts";
import { entries, smallConfig } from "./_helpers.ts";

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
      await assert.rejects(() => train(cfg, entries(cfg, envs, defaultAlgoRegistry())), expected);
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
      /did not answer "step" within 1s \(raise it with --plugin-timeout\); its sandbox was stopped/,
    );
    assert.ok(performance.now() - t0 < 5000);
  }, { timeoutMs: 1000 });
});

Deno.test("sandbox: (attack) a plugin that ends its own sandbox (Deno.exit, close) is one line naming the call, not a time-out; its own NotCapable error is its own", async () => {
  await withEvil(async (r) => {
    const env = await r.make("evil/attack", { options: { attack: "exit" }, numEnvs: 1 });
    await env.reset(0);
    await assert.rejects(
      () => env.step(Int32Array.from([0, 0])),
      /^Error: Plugin .*evil_plugin\.ts failed: it called Deno\.exit\(\), which would end its sandbox/,
    );
    await assert.rejects(
      () => r.make("evil/attack", { options: { attack: "close" }, numEnvs: 1 }),
      /failed: it called close\(\), which would end its sandbox/,
    );
    // its own error named NotCapable is its failure, not a sandbox denial
    const fake = await r.make("evil/attack", { options: { attack: "fakeDenial" }, numEnvs: 1 });
    await fake.reset(0);
    const err = await fake.step(Int32Array.from([0, 0])).then(() => null, (e) => e as Error);
    assert.match(String(err), /failed: Requires read access to "\/data", mount it first/);
    assert.doesNotMatch(String(err), /denied|--plugin-allow-read/);
  }, { timeoutMs: 20_000 });
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
    const s = await train(cfg, entries(cfg, envs, defaultAlgoRegistry()));
    assert.equal(s.final_eval_return, 1, JSON.stringify(s));
  } finally {
    box.terminate();
  }
});

/** `ln -s` (the tests' scoped write permission cannot create links through Deno). */
async function ln(target: string, link: string): Promise<void> {
  const out = await new Deno.Command("ln", { args: ["-s", target, link] }).output();
  assert.equal(out.code, 0, "ln -s");
}

/** Writes a plugin into a fresh folder that reads `target` when its env is made. */
async function pluginReading(target: string, extra?: (dir: string) => Promise<void>) {
  const dir = await Deno.makeTempDir({ prefix: "baton_sbx_" });
  const mod = new URL("../mod.ts", import.meta.url).href;
  await Deno.writeTextFile(
    `${dir}/p.ts`,
    `import { definePlugin, discrete, fromScalarEnv, z } from "${mod}";
export default definePlugin({ name: "peek", version: "0.0.1", envs: [{
  id: "peek/file", description: "reads a file", options: z.strictObject({}),
  create: async (_o, ctx) => {
    await Deno.readTextFile(${JSON.stringify(target)});
    return fromScalarEnv({ numAgents: 1, obsDim: 1, stateDim: 1, actionSpace: discrete(2), episodeLimit: 1 },
      ctx.numEnvs, () => ({ reset() {}, step() { return { reward: 0, terminated: true }; },
        obs(o: Float32Array) { o.fill(0); }, state(o: Float32Array) { o.fill(0); } }));
  },
}] });
`,
  );
  await extra?.(dir);
  return dir;
}

Deno.test("sandbox: a plugin folder holding a link that points outside it is refused", async () => {
  const dir = await pluginReading("/etc/hostname", async (d) => {
    await ln("/etc/passwd", `${d}/passwd`);
  });
  await assert.rejects(
    () => loadSandboxedPlugin(new EnvRegistry(), `${dir}/p.ts`),
    /Cannot sandbox plugin .*p\.ts: its folder holds a link .*passwd that points outside it \(to \/etc\/passwd\)/,
  );
  // a link that stays inside the folder is fine
  const ok = await pluginReading("/etc/hostname", async (d) => {
    await ln(`${d}/p.ts`, `${d}/alias.ts`);
  });
  const box = await loadSandboxedPlugin(new EnvRegistry(), `${ok}/p.ts`);
  box.terminate();
});

Deno.test("sandbox: a plugin folder holding a hard link to a file outside it is refused", async () => {
  // the attack: a second name, inside the folder, for a file the grant was not meant to cover
  // (Deno checks the path it is given; a hard link has no target to resolve)
  const outside = await Deno.makeTempDir({ prefix: "baton_sbx_secret_" });
  await Deno.writeTextFile(`${outside}/secret`, "not for plugins");
  const hard = async (target: string, link: string) => {
    const out = await new Deno.Command("ln", { args: [target, link] }).output();
    assert.equal(out.code, 0, "ln");
  };
  const attack = await pluginReading("/etc/hostname", async (d) => {
    await Deno.mkdir(`${d}/data`);
    await hard(`${outside}/secret`, `${d}/data/secret`);
  });
  await assert.rejects(
    () => loadSandboxedPlugin(new EnvRegistry(), `${attack}/p.ts`),
    /Cannot sandbox plugin .*p\.ts: its folder holds .*data\/secret, a hard link to a file with 1 name\(s\) outside the folder .*replace it with a copy/,
  );
  // two names of one file, both inside the folder, are fine
  const ok = await pluginReading("/etc/hostname", async (d) => {
    await hard(`${d}/p.ts`, `${d}/alias.ts`);
  });
  const box = await loadSandboxedPlugin(new EnvRegistry(), `${ok}/p.ts`);
  box.terminate();
  await Promise.all([outside, attack, ok].map((d) => Deno.remove(d, { recursive: true })));
});

Deno.test("sandbox: a plugin folder too large to check for links is refused, never granted unchecked", async () => {
  // the attack: padding past the check's limit hides a link; without the limit, read access to
  // the folder (and so through the link) was granted
  const pad = async (d: string) => {
    await Deno.mkdir(`${d}/pad`);
    for (let i = 0; i < MAX_PLUGIN_FOLDER_ENTRIES + 50; i++) {
      await Deno.writeTextFile(`${d}/pad/${i}`, "");
    }
  };
  const attack = await pluginReading("/etc/passwd", async (d) => {
    await pad(d);
    await ln("/etc/passwd", `${d}/pad/zz_passwd`);
  });
  await assert.rejects(
    () => loadSandboxedPlugin(new EnvRegistry(), `${attack}/p.ts`),
    /Cannot sandbox plugin .*p\.ts: its folder (.* holds more than 20000 entries, too many to check for links; move the plugin into a folder of its own|holds a link)/,
  );
  // the same padding without a link is refused too: the limit never widens the grant
  const padded = await pluginReading("/etc/hostname", pad);
  await assert.rejects(
    () => loadSandboxedPlugin(new EnvRegistry(), `${padded}/p.ts`),
    /its folder .* holds more than 20000 entries, too many to check for links/,
  );
  await Promise.all([attack, padded].map((d) => Deno.remove(d, { recursive: true })));
});

Deno.test("sandbox: a plugin at a project root cannot read runs/ or .git", async () => {
  for (const hidden of ["runs", ".git"]) {
    let dir = "";
    dir = await pluginReading("", async (d) => {
      await Deno.mkdir(`${d}/${hidden}`);
      await Deno.writeTextFile(`${d}/${hidden}/secret.json`, "{}");
      const src = await Deno.readTextFile(`${d}/p.ts`);
      await Deno.writeTextFile(
        `${d}/p.ts`,
        src.replace('readTextFile("")', `readTextFile("${d}/${hidden}/secret.json")`),
      );
    });
    const r = new EnvRegistry();
    const box = await loadSandboxedPlugin(r, `${dir}/p.ts`);
    try {
      await assert.rejects(
        () => r.make("peek/file", { numEnvs: 1 }),
        /was denied read access to .*secret\.json/,
      );
    } finally {
      box.terminate();
    }
  }
});

Deno.test("sandbox: a plugin's own error that mentions 'Requires read access' is not called a denial", () => {
  const msg = explainSandboxError("x.ts", {
    name: "Error",
    message: 'Requires read access to "/data", run again with the data mounted',
  });
  assert.match(msg, /^Plugin x\.ts failed: Requires read access/);
  assert.doesNotMatch(msg, /--plugin-allow-read/);
  assert.match(
    explainSandboxError("x.ts", { name: "NotCapable", message: 'Requires read access to "/data"' }),
    /denied read access to "\/data".*--plugin-allow-read=\/data/,
  );
});
