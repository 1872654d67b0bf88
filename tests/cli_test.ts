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
    /^Error: Unknown env "matrix\/nope": the matrix family has matrix\/climbing, matrix\/penalty/,
  );
  assert.equal(a.stderr.trim().split("\n").length, 1);
  // a typo gets the nearest id, not the list of every env; nothing printed before the error
  const typo = await cli("--env", "matrix/climbin");
  assert.equal(typo.code, 2);
  assert.equal(
    typo.stderr.trim(),
    'Error: Unknown env "matrix/climbin": did you mean matrix/climbing? (--list shows all ' +
      `${typo.stderr.match(/all (\d+) envs/)?.[1]} envs)`,
  );
  const family = await cli("--env", "nope/x");
  assert.match(family.stderr, /known envs are matrix\/\*, chain\/\*, .*smax\/\*/);
  // negative numbers reach validation (not the argument parser's "ambiguous" text)
  for (const [flag, range] of [["--seed", "0 to 2147483647"], ["--total-steps", "1 to"]]) {
    const neg = await cli(flag!, "-1");
    assert.equal(neg.code, 2);
    assert.match(
      neg.stderr.trim(),
      new RegExp(`^Error: Invalid flag ${flag}: must be from ${range}`),
    );
  }
  // a missing plugin file is said as such (not as a sandbox read permission)
  const gone = await cli("--plugin", "./no_such_plugin.ts", "--env", "x/y");
  assert.equal(gone.code, 2);
  assert.match(
    gone.stderr.trim(),
    /^Error: Cannot load plugin \.\/no_such_plugin\.ts: there is no file \/.*no_such_plugin\.ts$/,
  );
  // an unknown option key names the nearest one, before the banner
  const key = await cli("--env", "matrix/penalty", "--env-opt", "kk=3");
  assert.equal(
    key.stderr.trim(),
    'Error: Invalid options for env matrix/penalty: unknown key "kk" (did you mean k? allowed ' +
      "options: k, episodeLength)",
  );
  const b = await cli("--env", "matrix/penalty", "--env-opt", "k=high", "--total-steps", "10");
  assert.equal(b.code, 2);
  assert.match(b.stderr, /Invalid options for env matrix\/penalty: k: .*number/);
  const c = await cli("--algo", "dqn");
  assert.match(
    c.stderr,
    /Unknown algorithm "dqn": known algorithms are bppo, mappo, ippo, armappo, happo, mat \(--list/,
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
  assert.equal(r.eval_episodes, 10);
  // the summary lists the files the run wrote; resuming the finished run says there is nothing to do
  assert.match(
    t.stdout,
    /run directory: .* \(checkpoint\.json, config\.json, evaluations\.jsonl, marl_eval\.json, metrics\.jsonl\/\.csv, summary\.json\)/,
  );
  const again = await cli("--resume", out);
  assert.equal(again.code, 0, again.stderr);
  assert.match(
    again.stderr.trim(),
    /^Nothing to do: .* already finished 400 env steps \(--total-steps 400\); pass a larger --total-steps to train on$/,
  );
  await Deno.remove(out, { recursive: true });
});

Deno.test("Ctrl-C: the run stops after its checkpoint and says so (not Done), with the resume command", async () => {
  const out = await Deno.makeTempDir({ prefix: "baton_cli_int_" });
  const p = new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", "train.ts", "--total-steps", "10000000", "--num-envs", "8", "--out", out],
    stdout: "piped",
    stderr: "piped",
    env: { NO_COLOR: "1" },
  }).spawn();
  const stdoutText = new Response(p.stdout).text();
  // wait for the first iteration's line, then interrupt
  const dec = new TextDecoder();
  let err = "";
  const reader = p.stderr.getReader();
  while (!/\bit \d+ \|/.test(err)) { // the first progress line (a fast run may skip it 1)
    const { value, done } = await reader.read();
    if (done) break;
    err += dec.decode(value);
  }
  p.kill("SIGINT");
  for (;;) {
    const { value, done } = await reader.read();
    if (done) break;
    err += dec.decode(value);
  }
  const [{ code }, text] = await Promise.all([p.status, stdoutText]);
  assert.equal(code, 130, err);
  assert.match(text, /^Stopped: bppo on matrix\/climbing, seed 0, after \d+ iterations? of 6250/m);
  assert.doesNotMatch(text, /Done:/);
  assert.match(text, new RegExp(`continue it with: deno task train --resume ${out}`));
  const summary = JSON.parse(await Deno.readTextFile(`${out}/summary.json`));
  assert.equal(summary.stopped, true);
  await Deno.remove(out, { recursive: true });
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

Deno.test("a forced --backend webgpu on a software adapter is warned about", async () => {
  const out = await Deno.makeTempDir({ prefix: "baton_cli_wg_" });
  const r = await cli(
    "--backend",
    "webgpu",
    "--total-steps",
    "100",
    "--num-envs",
    "10",
    "--rollout-length",
    "10",
    "--eval-episodes",
    "5",
    "--out",
    out,
  );
  await Deno.remove(out, { recursive: true });
  assert.equal(r.code, 0, r.stderr);
  // this project's machines (and CI) have only Mesa's llvmpipe
  assert.match(r.stderr, /Warning: --backend webgpu runs on a software adapter/);
});
