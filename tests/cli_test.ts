import assert from "node:assert/strict";
import { parseCli, validateConfig } from "../train.ts";
import { VERSION } from "../mod.ts";
import { cli } from "./_helpers.ts";

Deno.test("CLI flags map onto the config schema with defaults", () => {
  const p = parseCli([
    "--env",
    "matrix/penalty",
    "--env-opt",
    "k=100",
    "--env-opt",
    "episodeLength=25",
    "--seed",
    "4",
    "--total-steps",
    "1000",
    "--algo-opt",
    "lr=0.001",
    "--backend",
    "cpu",
  ]);
  const cfg = validateConfig(p.raw);
  assert.equal(cfg.env, "matrix/penalty");
  assert.deepEqual(cfg.envOptions, { k: 100, episodeLength: 25 });
  assert.deepEqual(cfg.algoOptions, { lr: 0.001 });
  assert.equal(cfg.seed, 4);
  assert.equal(cfg.totalSteps, 1000);
  assert.equal(cfg.numEnvs, 50);
  assert.equal(cfg.backend, "cpu");
});

Deno.test("bad flags name the flag, the value and what is allowed", () => {
  assert.throws(() => parseCli(["--bogus"]), /Unknown option '--bogus'.*--help/);
  assert.throws(() => parseCli(["--seed", "abc"]), /Invalid --seed "abc": expected a number/);
  assert.throws(
    () => validateConfig(parseCli(["--backend", "tpu"]).raw),
    /--backend: .*"auto"\|"wasm"\|"cpu"\|"webgpu"/,
  );
  assert.throws(() => validateConfig(parseCli(["--num-envs", "0"]).raw), /--num-envs/);
  assert.throws(() => parseCli(["--env-opt", "k"]), /expected key=value/);
});

Deno.test("train.ts exits non-zero with one clear line for an unknown env or bad option", async () => {
  const a = await cli("--env", "matrix/nope");
  assert.equal(a.code, 2);
  assert.match(
    a.stderr.trim(),
    /^Error: Unknown env "matrix\/nope": known envs are .*matrix\/climbing/,
  );
  assert.equal(a.stderr.trim().split("\n").length, 1);
  const b = await cli("--env", "matrix/penalty", "--env-opt", "k=high", "--total-steps", "10");
  assert.equal(b.code, 2);
  assert.match(b.stderr, /Invalid options for env matrix\/penalty: k: .*number/);
  const c = await cli("--algo", "dqn");
  assert.match(
    c.stderr,
    /Unknown algorithm "dqn": known algorithms are bppo, mappo, ippo, armappo, happo/,
  );
});

Deno.test("--list shows every env with options and every algorithm; --help lists flags", async () => {
  const l = await cli("--list", "--plugin", "./tests/fixtures/coin_plugin.ts");
  assert.equal(l.code, 0);
  for (
    const id of [
      "matrix/climbing",
      "matrix/penalty",
      "matrix/custom",
      "matrix/permutation",
      "coin/match",
      "mappo",
      "ippo",
    ]
  ) {
    assert.ok(l.stdout.includes(id), id);
  }
  assert.match(l.stdout, /k\s+number\s+miscoordination penalty.*\[default: 100\]/);
  const h = await cli("--help");
  assert.match(h.stdout, /--total-steps/);
  assert.match(h.stdout, /--env-opt key=value/);
});

Deno.test("train, then --eval-only on the checkpoint, from the command line", async () => {
  const out = await Deno.makeTempDir({ prefix: "baton_cli_" });
  const t = await cli(
    "--env",
    "coin/match",
    "--plugin",
    "./tests/fixtures/coin_plugin.ts",
    "--total-steps",
    "400",
    "--num-envs",
    "8",
    "--rollout-length",
    "25",
    "--eval-episodes",
    "10",
    "--out",
    out,
  );
  assert.equal(t.code, 0, t.stderr);
  assert.match(t.stdout, /Done: bppo on coin\/match/);
  assert.match(t.stderr, /\[100%\] it 2 \| 400 steps/);
  const e = await cli("--eval-only", "--checkpoint", out);
  assert.equal(e.code, 0, e.stderr);
  const r = JSON.parse(e.stdout);
  assert.equal(r.env, "coin/match");
  assert.equal(r.env_steps, 400);
  assert.ok(typeof r.eval_return === "number");
});

Deno.test("one version string: core/version.ts equals deno.json's version", async () => {
  const deno = JSON.parse(await Deno.readTextFile(new URL("../deno.json", import.meta.url)));
  assert.equal(VERSION, deno.version);
  assert.match(VERSION, /^\d+\.\d+\.\d+$/);
});

Deno.test("every deno task prints its flags on --help and exits 0; a typo'd flag exits 2", async () => {
  const tasks = JSON.parse(await Deno.readTextFile(new URL("../deno.json", import.meta.url))).tasks;
  for (
    const name of [
      "train",
      "replay",
      "bench",
      "repro:matrix",
      "repro:smax",
      "repro:mamujoco",
      "repro:ablation",
    ]
  ) {
    const script = (tasks[name] as string).split(" ").at(-1)!;
    const run = async (...args: string[]) =>
      await new Deno.Command(Deno.execPath(), {
        args: ["run", "-A", script, ...args],
        env: { NO_COLOR: "1", RUST_BACKTRACE: "0" },
        stdout: "piped",
        stderr: "piped",
      }).output();
    const help = await run("--help");
    assert.equal(help.code, 0, `${name} --help exits 0`);
    assert.match(new TextDecoder().decode(help.stdout), /Usage: deno task/, name);
    if (name !== "replay") {
      const bad = await run("--seedz", "3");
      assert.equal(bad.code, 2, `${name} rejects an unknown flag`);
      assert.match(new TextDecoder().decode(bad.stderr), /seedz/, name);
    }
  }
});
