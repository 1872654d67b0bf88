// --config files (JSON and YAML, core/config_file.ts), flags over the file, a run's
// own config.json as a config, and --seeds.
import assert from "node:assert/strict";
import { join } from "node:path";
import { train, trainConfig } from "../mod.ts";
import { loadConfigFile, parseSeeds, parseYaml } from "../core/config_file.ts";
import { cli, entries, smallConfig } from "./_helpers.ts";

Deno.test("YAML 1.2 through the yaml package: mappings, lists, flow values, comments, anchors, block scalars", () => {
  const v = parseYaml(
    [
      "# a comment",
      "env: matrix/custom   # trailing comment",
      "seed: 3",
      "quiet: true",
      "envOptions:",
      "  payoff: [[1, 0], [0, 1]]",
      "  name: 'it''s #1'",
      "  note: |",
      "    two lines",
      "    kept",
      "common: &opts",
      "  lr: 5e-4",
      "algoOptions:",
      "  <<: *opts",
      '  order: "random"',
      "plugins:",
      "  - ./a.ts",
      "  - ./b.ts",
      "out:",
    ].join("\n"),
    "t.yaml",
  );
  assert.deepEqual(v, {
    env: "matrix/custom",
    seed: 3,
    quiet: true,
    envOptions: { payoff: [[1, 0], [0, 1]], name: "it's #1", note: "two lines\nkept\n" },
    common: { lr: 5e-4 },
    algoOptions: { lr: 5e-4, order: "random" }, // merge keys (<<) are read, as most tools do
    plugins: ["./a.ts", "./b.ts"],
    out: null,
  });
  for (
    const [text, msg] of [
      ["a: 1\na: 2", /t\.yaml:2:1: Map keys must be unique/],
      ["a: [1, 2", /t\.yaml:1:\d+: .*flow/i],
      ["a: 1\n---\nb: 2", /t\.yaml/],
      ["a: *nothing", /t\.yaml: .*alias/i],
    ] as const
  ) assert.throws(() => parseYaml(text, "t.yaml"), msg);
});

Deno.test("a run's config.json is a valid --config: it gives back the same config, without out", async () => {
  const cfg = await smallConfig({
    env: "matrix/penalty",
    envOptions: { k: 25 },
    algo: "mappo",
    numEnvs: 4,
    rolloutLength: 10,
    totalSteps: 40,
    seed: 4,
  });
  await train(cfg, entries(cfg));
  const file = await loadConfigFile(join(cfg.out!, "config.json"));
  assert.equal(file.out, undefined, "a new run gets its own directory");
  const again = trainConfig.parse(file);
  const { out: _a, algoOptions: _b, evalEvery: _e, evalEpisodes: _f, ...want } = cfg;
  const { out: _c, algoOptions: resolved, evalEvery, evalEpisodes, ...got } = again;
  assert.deepEqual(got, want);
  // "auto" evaluation settings are recorded as the numbers the run used
  assert.equal(cfg.evalEpisodes, 10);
  assert.deepEqual([evalEvery, evalEpisodes], [0, 10]);
  assert.equal((resolved as Record<string, unknown>).epochs, 15, "resolved algorithm options kept");
  await Deno.remove(cfg.out!, { recursive: true });
});

Deno.test("--config errors name the file and the key; --seeds parses ranges and lists", async () => {
  const dir = await Deno.makeTempDir({ prefix: "baton_cfg_" });
  await Deno.writeTextFile(join(dir, "bad.json"), JSON.stringify({ numEnvs: "many" }));
  await assert.rejects(() => loadConfigFile(join(dir, "bad.json")), /bad.json: numEnvs: /);
  await Deno.writeTextFile(join(dir, "bad.yaml"), "numEnvz: 4\n");
  await assert.rejects(() => loadConfigFile(join(dir, "bad.yaml")), /unknown key numEnvz/);
  await Deno.writeTextFile(join(dir, "x.json"), "numEnvs: 4");
  await assert.rejects(() => loadConfigFile(join(dir, "x.json")), /not valid JSON.*\.yaml/);
  assert.deepEqual(parseSeeds("0-4"), [0, 1, 2, 3, 4]);
  assert.deepEqual(parseSeeds("0,3,7"), [0, 3, 7]);
  assert.deepEqual(parseSeeds("2-3,1,2"), [2, 3, 1]);
  assert.throws(() => parseSeeds("4-1"), /not a range/);
  assert.throws(() => parseSeeds("a"), /use a range like 0-4/);
  await Deno.remove(dir, { recursive: true });
});

Deno.test("train.ts --config run.yaml --seeds: flags override the file, one run per seed, then a table", async () => {
  const dir = await Deno.makeTempDir({ prefix: "baton_cfg_" });
  await Deno.writeTextFile(
    join(dir, "run.yaml"),
    [
      "env: matrix/penalty",
      "envOptions:",
      "  k: 100",
      "algo: mappo",
      "numEnvs: 4",
      "rolloutLength: 10",
      "totalSteps: 80",
      "evalEpisodes: 4",
    ].join("\n"),
  );
  const r = await cli(
    "--config",
    join(dir, "run.yaml"),
    "--env-opt",
    "k=50",
    "--total-steps",
    "40",
    "--seeds",
    "0,2",
    "--out",
    join(dir, "r"),
    "--quiet",
  );
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /\| seed \| train return/);
  assert.match(r.stdout, /\| mean \|.*\| 2 seeds \|/);
  for (const s of [0, 2]) {
    const c = JSON.parse(await Deno.readTextFile(join(dir, `r-s${s}`, "config.json")));
    assert.equal(c.seed, s);
    assert.deepEqual(c.envOptions, { k: 50 }, "the flag's option wins");
    assert.equal(c.totalSteps, 40, "the flag wins");
    assert.equal(c.algo, "mappo", "the file's value stays");
  }
  const bad = await cli("--seeds", "0-1", "--seed", "3", "--quiet");
  assert.equal(bad.code, 2);
  assert.match(bad.stderr, /--seeds: .* does not go with --seed/);
  await Deno.remove(dir, { recursive: true });
});
