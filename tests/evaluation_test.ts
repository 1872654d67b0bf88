// The evaluation protocol: greedy and stochastic on one fixed set of episodes with their spread,
// --eval-episodes respected exactly, marl-eval JSON per run, and `deno task aggregate`.
import assert from "node:assert/strict";
import { join } from "node:path";
import { spread, train } from "../mod.ts";
import { entries, script, smallConfig } from "./_helpers.ts";

Deno.test("spread: mean, sample std and the normal 95% CI half-width", () => {
  const s = spread([1, 2, 3, 4]);
  assert.equal(s.mean, 2.5);
  assert.ok(Math.abs(s.std - Math.sqrt(5 / 3)) < 1e-12);
  assert.ok(Math.abs(s.ci95 - 1.96 * Math.sqrt(5 / 3) / 2) < 1e-12);
  assert.deepEqual(spread([7]), { mean: 7, std: 0, ci95: 0 });
});

Deno.test("a run reports greedy and stochastic evaluations with their spread, and writes marl-eval JSON", async () => {
  const cfg = await smallConfig({
    env: "matrix/climbing",
    algo: "mappo",
    numEnvs: 8,
    rolloutLength: 25,
    totalSteps: 600,
    evalEpisodes: 13,
    algoOptions: { epochs: 2 },
  });
  const s = await train(cfg, entries(cfg));
  assert.equal(s.eval.greedy.episodes, 13, "--eval-episodes exactly");
  assert.equal(s.eval.stochastic.episodes, 13);
  assert.equal(s.eval.greedy.return_std, 0, "greedy play in a one-step game: one joint action");
  assert.ok(s.eval.stochastic.return_std > 0, "sampled actions spread the returns");
  assert.equal(s.final_eval_return, s.eval.greedy.return);
  const rows = (await Deno.readTextFile(join(cfg.out!, "metrics.jsonl"))).trim().split("\n")
    .map((l) => JSON.parse(l));
  assert.equal(rows.length, 3);
  for (const k of ["eval_return_ci95", "eval_stochastic_return", "eval_stochastic_return_ci95"]) {
    assert.ok(k in rows[2], k);
  }
  const me = JSON.parse(await Deno.readTextFile(join(cfg.out!, "marl_eval.json")));
  const run = me.matrix.climbing["mappo:epochs=2"].run_0; // named with the options given
  assert.deepEqual(Object.keys(run), ["step_0", "step_1", "step_2", "absolute_metrics"]);
  assert.deepEqual(run.step_0.step_count, 200);
  assert.equal(run.step_2.return.length, 13);
  assert.deepEqual(run.absolute_metrics.return, run.step_2.return);
  assert.equal(run.step_2.win_rate, undefined, "no win_rate where the env reports no wins");
  const mean = run.step_2.return.reduce((a: number, b: number) => a + b, 0) / 13;
  assert.ok(Math.abs(mean - rows[2].eval_return) < 1e-9);
  await Deno.remove(cfg.out!, { recursive: true });
});

Deno.test("deno task aggregate: IQM with an honest interval per task and algorithm, permutation tests, and a performance profile", async () => {
  const dir = await Deno.makeTempDir({ prefix: "baton_agg_" });
  const run = (score: number) => ({
    step_0: { step_count: 100, return: [0, 0] },
    absolute_metrics: { return: [score - 1, score + 1] }, // mean = score
  });
  const write = async (name: string, algo: string, scores: number[]) =>
    await Deno.writeTextFile(
      join(dir, name),
      JSON.stringify({
        matrix: {
          climbing: { [algo]: Object.fromEntries(scores.map((s, i) => [`run_${i}`, run(s)])) },
        },
      }),
    );
  await write("a.json", "bppo", [11, 11, 11, 11]);
  await write("b.json", "mappo", [1, 2, 3, 4, 100]);
  const out = await script(
    "scripts/aggregate.ts",
    "--from",
    `${join(dir, "a.json")},${join(dir, "b.json")}`,
    "--out",
    join(dir, "agg"),
  );
  // --out is a folder
  assert.equal(out.code, 0, out.stderr);
  const md = await Deno.readTextFile(join(dir, "agg", "aggregate.md"));
  // 4 runs: the interval is their range, labelled so; 5 runs: a 95% bootstrap CI
  assert.match(
    md,
    /\| matrix\/climbing \| bppo \| 4 \| 11\.000 \[11\.000, 11\.000\] \| range of 4 runs \| 11\.000 \|/,
  );
  // IQM of [1, 2, 3, 4, 100]: the middle half (weights 0.75, 1, 1, 0.75 on 1.25..3.75) = 3
  assert.match(md, /\| matrix\/climbing \| mappo \| 5 \| 3\.000 \[[^\]]+\] \| 95% CI \|/);
  // the pair is compared by a permutation test: exact over C(9, 4) = 126 relabellings
  const pair = md.match(/\| matrix\/climbing \| bppo \| mappo \| -11\.000 \| ([\d.]+) \|/);
  assert.ok(pair, md);
  assert.ok(Number(pair[1]) > 0 && Number(pair[1]) <= 1);
  assert.equal(Math.round(Number(pair[1]) * 126) / 126, Number(pair[1]) * 1, "a multiple of 1/126");
  const merged = JSON.parse(await Deno.readTextFile(join(dir, "agg", "aggregate.json")));
  assert.deepEqual(Object.keys(merged.matrix.climbing).sort(), ["bppo", "mappo"]);
  assert.match(await Deno.readTextFile(join(dir, "agg", "aggregate_profile.svg")), /^<svg/);
  await Deno.remove(dir, { recursive: true });
});

Deno.test("a resume drops evaluation rows past the checkpoint, like metrics rows", async () => {
  const { truncateMetrics } = await import("../core/sinks.ts");
  const dir = await Deno.makeTempDir({ prefix: "baton_evtrunc_" });
  const row = (iteration: number) =>
    JSON.stringify({ iteration, env_steps: iteration * 10, greedy: {}, stochastic: {} }) + "\n";
  await Deno.writeTextFile(join(dir, "evaluations.jsonl"), [1, 2, 3, 4].map(row).join(""));
  await Deno.writeTextFile(join(dir, "metrics.jsonl"), "");
  await truncateMetrics(dir, 2);
  const kept = (await Deno.readTextFile(join(dir, "evaluations.jsonl"))).trim().split("\n")
    .map((l) => JSON.parse(l).iteration);
  assert.deepEqual(kept, [1, 2]);
  await Deno.remove(dir, { recursive: true });
});

Deno.test("aggregate groups Baton runs by the options that differ and never pools budgets", async () => {
  const dir = await Deno.makeTempDir({ prefix: "baton_agg_groups_" });
  const runDir = async (
    name: string,
    algoOptions: Record<string, unknown>,
    seed: number,
    steps: number,
    score: number,
  ) => {
    const d = join(dir, "runs", name);
    await Deno.mkdir(d, { recursive: true });
    const config = {
      env: "chain/relay",
      envOptions: { agents: 4, symbols: 4 },
      algo: "bppo",
      // resolved options: every key is written, only estimator differs between the runs
      algoOptions: { lr: 5e-4, epochs: 15, estimator: "paper", ...algoOptions },
      seed,
      numEnvs: 50,
      rolloutLength: 20,
    };
    await Deno.writeTextFile(join(d, "config.json"), JSON.stringify(config));
    await Deno.writeTextFile(
      join(d, "marl_eval.json"),
      JSON.stringify({
        chain: {
          relay: {
            [`bppo:whatever-the-run-called-it`]: {
              [`run_${seed}`]: {
                step_0: { step_count: steps, return: [score] },
                absolute_metrics: { return: [score] },
              },
            },
          },
        },
      }),
    );
  };
  await runDir("a0", {}, 0, 1000, 1);
  await runDir("a1", {}, 1, 1000, 2);
  await runDir("b0", { estimator: "pathwise" }, 0, 1000, 3);
  await runDir("b1", { estimator: "pathwise" }, 1, 2000, 4); // another budget
  const out = await script(
    "scripts/aggregate.ts",
    "--from",
    join(dir, "runs"),
    "--out",
    join(dir, "agg"),
  );
  assert.equal(out.code, 0, out.stderr);
  const md = await Deno.readTextFile(join(dir, "agg", "aggregate.md"));
  // grouped by the one option that differs; equal options (lr, epochs) and env options do not show
  assert.match(md, /\| chain\/relay \| bppo:estimator=paper \| 2 \|/);
  // the pathwise runs have two budgets: reported apart, with a note
  assert.match(md, /\| chain\/relay \| bppo:estimator=pathwise @1000 \| 1 \|/);
  assert.match(md, /\| chain\/relay \| bppo:estimator=pathwise @2000 \| 1 \|/);
  assert.match(md, /Note: chain\/relay \| bppo:estimator=pathwise: runs with different budgets/);
  assert.match(md, /\| chain\/relay \| bppo:estimator=paper \| 2 \| 0, 1 \| 1,000 \|/);
  // what was held fixed is listed: the shared options, not the one that differs
  assert.match(md, /- env `chain\/relay` \(4 runs\), options: agents=4, symbols=4\n/);
  assert.match(md, /- algorithm `bppo` \(4 runs\), options: epochs=15, lr=0.0005\n/);
  assert.match(
    md,
    /- every run \(4\): gaeLambda=null|- every run \(4\): numEnvs=50, rolloutLength=20\n/,
  );
  await Deno.remove(dir, { recursive: true });
});
