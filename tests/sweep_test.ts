// deno task sweep: a grid over algorithms (with options) x envs (a plugin env included) x seeds,
// one table at the end, and a second call that keeps finished runs and resumes an unfinished one.
import assert from "node:assert/strict";
import { join } from "node:path";
import { script } from "./_helpers.ts";

function sweep(out: string, cfg: string) {
  return script(
    "scripts/sweep.ts",
    "--algos",
    "bppo,mappo:epochs=3",
    "--envs",
    "matrix/penalty:k=50,coin/match",
    "--plugin",
    "./tests/fixtures/coin_plugin.ts",
    "--seeds",
    "0-1",
    "--config",
    cfg,
    "--total-steps",
    "80",
    "--out",
    out,
  );
}

Deno.test("sweep: algorithms x envs x seeds on a pool, one summary table, resumable", async () => {
  const dir = await Deno.makeTempDir({ prefix: "baton_sweep_" });
  const cfg = join(dir, "base.yaml");
  await Deno.writeTextFile(cfg, "numEnvs: 4\nrolloutLength: 10\nevalEpisodes: 4\n");
  const out = join(dir, "s");
  const a = await sweep(out, cfg);
  assert.equal(a.code, 0, a.stderr);
  assert.match(a.stderr, /sweep: 8 runs \(2 algorithms x 2 envs x 2 seeds\)/);
  // --workers auto (the default) measured 2 runs x 1 thread against 1 run x 2 threads first
  const cal = JSON.parse(await Deno.readTextFile(join(out, "calibration.json")));
  assert.ok(cal.parallel > 0 && cal.threaded > 0 && [1, cal.cores].includes(cal.workers), cal);
  assert.match(
    a.stderr,
    /runs x 1 thread: \d+ env-steps\/s in all; 1 run x \d+ threads: \d+; running \d+ at a time/,
  );
  for (
    const row of [
      "coin/match | bppo | 2",
      // grouped by the options that differ between runs: every mappo run has epochs=3
      "coin/match | mappo | 2",
      "matrix/penalty | bppo | 2",
    ]
  ) {
    assert.ok(a.stdout.includes(`| ${row} |`), row);
  }
  const c = JSON.parse(
    await Deno.readTextFile(join(out, "matrix_penalty_k=50", "mappo_epochs=3-s1", "config.json")),
  );
  assert.deepEqual([c.seed, c.envOptions.k, c.algoOptions.epochs, c.numEnvs], [1, 50, 3, 4]);
  await Deno.remove(join(out, "coin_match", "bppo-s1", "summary.json"));
  const b = await sweep(out, cfg);
  assert.equal(b.code, 0, b.stderr);
  assert.match(b.stderr, /7 runs were already done, 1 resumed/);
  assert.doesNotMatch(b.stderr, /sweep: measuring/); // the calibration is reused
  assert.ok(await Deno.stat(join(out, "coin_match", "bppo-s1", "summary.json")));
  assert.match(await Deno.readTextFile(join(out, "sweep.md")), /\| coin\/match \| bppo \| 2 \|/);
  await Deno.remove(dir, { recursive: true });
});

Deno.test("sweep: SIGTERM stops every run after its checkpoint, leaves no process, and is not counted as done", async () => {
  const dir = await Deno.makeTempDir({ prefix: "baton_sweep_sig_" });
  const out = join(dir, "s");
  const args = [
    "run",
    "-A",
    "scripts/sweep.ts",
    "--algos",
    "mappo",
    "--envs",
    "matrix/climbing",
    "--seeds",
    "0-1",
    "--total-steps",
    "2000000",
    "--workers",
    "2",
    "--out",
    out,
  ];
  const p = new Deno.Command(Deno.execPath(), { args, stdout: "null", stderr: "piped" }).spawn();
  const started = (s: number) =>
    Deno.stat(join(out, "matrix_climbing", `mappo-s${s}`, "config.json"));
  for (let t = 0; t < 300; t++) {
    if (await Promise.all([started(0), started(1)]).then(() => true, () => false)) break;
    await new Promise((r) => setTimeout(r, 100));
  }
  p.kill("SIGTERM");
  const st = await p.output();
  assert.equal(st.code, 143, new TextDecoder().decode(st.stderr));
  const ps = await new Deno.Command("pgrep", { args: ["-f", out], stdout: "piped" }).output();
  assert.equal(new TextDecoder().decode(ps.stdout).trim(), "", "no training run left behind");
  for (const s of [0, 1]) {
    const run = join(out, "matrix_climbing", `mappo-s${s}`);
    assert.ok(await Deno.stat(join(run, "checkpoint.json")), "each run checkpointed");
    const sum = JSON.parse(await Deno.readTextFile(join(run, "summary.json")));
    assert.ok(sum.env_steps < 2_000_000, "stopped early, so not counted as done on a rerun");
  }
  await Deno.remove(dir, { recursive: true });
});

Deno.test("sweep: every algorithm, env and option is validated before anything starts", async () => {
  const out = join(await Deno.makeTempDir({ prefix: "baton_sweep_bad_" }), "sweep");
  const r = await script(
    "scripts/sweep.ts",
    "--algos",
    "mappo,mapo,mappo:epochz=3",
    "--envs",
    "matrix/climbing",
    "--seeds",
    "0-1",
    "--out",
    out,
  );
  assert.equal(r.code, 2);
  assert.match(
    r.stderr,
    /Error: mapo on matrix\/climbing: Unknown algorithm "mapo": did you mean mappo/,
  );
  assert.match(
    r.stderr,
    /Error: mappo:epochz=3 on matrix\/climbing: .*unknown key "epochz" \(did you mean epochs\?/,
  );
  assert.match(r.stderr, /sweep: nothing started \(2 of 3 combinations invalid\)/);
  assert.equal(await Deno.stat(out).then(() => true, () => false), false, "no run directory made");
  await Deno.remove(join(out, ".."), { recursive: true });
});
