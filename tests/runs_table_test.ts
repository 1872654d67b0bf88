// scripts/runs_table.ts: run folders become conditions and seeds, every run is compared at the
// budget all of them reached, and greedy and stochastic values are read from evaluations.jsonl.
import assert from "node:assert/strict";
import { join } from "node:path";
import {
  conditionOf,
  diagnosticsOf,
  jsonLines,
  readRuns,
  type RunEvals,
  runsCsv,
  runsTable,
} from "../scripts/runs_table.ts";
import { script } from "./_helpers.ts";

/** A smax/3m run folder `dir/name` with one evaluation at 100 env steps (greedy won, stochastic lost). */
async function oneEvalRun(dir: string, name: string): Promise<string> {
  const d = join(dir, name);
  await Deno.mkdir(d);
  await Deno.writeTextFile(join(d, "config.json"), JSON.stringify({ env: "smax/3m" }));
  await Deno.writeTextFile(
    join(d, "evaluations.jsonl"),
    JSON.stringify({
      env_steps: 100,
      greedy: { returns: [0], wins: [1] },
      stochastic: { returns: [0], wins: [0] },
    }) + "\n",
  );
  return d;
}

Deno.test("runs:table: sweep folder names give back the condition and seed", () => {
  assert.deepEqual(conditionOf("bppo_estimator=pathwise-s3"), {
    condition: "bppo:estimator=pathwise",
    seed: 3,
  });
  assert.deepEqual(conditionOf("bppo_peerWeight=0-s0"), {
    condition: "bppo:peerWeight=0",
    seed: 0,
  });
  assert.deepEqual(conditionOf("mat-s4"), { condition: "mat", seed: 4 });
});

Deno.test("runs:table: partial runs are compared at the budget every run reached", async () => {
  const dir = await Deno.makeTempDir({ prefix: "baton_runs_table_" });
  const run = async (name: string, points: [number, number, number][], finished: boolean) => {
    const d = join(dir, name);
    await Deno.mkdir(d, { recursive: true });
    await Deno.writeTextFile(
      join(d, "config.json"),
      JSON.stringify({ env: "smax/3m", numEnvs: 1, rolloutLength: 100, totalSteps: 300 }),
    );
    await Deno.writeTextFile(
      join(d, "evaluations.jsonl"),
      points.map(([s, g, st]) =>
        JSON.stringify({
          env_steps: s,
          greedy: { returns: [0], wins: [g, g] },
          stochastic: { returns: [0], wins: [st, st] },
        })
      ).join("\n") + "\n",
    );
    // a stopped run also leaves a summary, of the steps it reached: only the whole budget counts
    const steps = points.at(-1)![0];
    await Deno.writeTextFile(join(d, "summary.json"), JSON.stringify({ env_steps: steps }));
    assert.equal(finished, steps >= 300);
  };
  await run("mat-s0", [[100, 0.1, 0.0], [200, 0.5, 0.4], [300, 0.9, 0.8]], true);
  await run("mat-s1", [[100, 0.2, 0.1], [200, 0.6, 0.5]], false); // stopped at 200
  await run("mappo-s0", [[100, 0.0, 0.0], [200, 0.3, 0.2], [300, 0.4, 0.3]], true);
  const runs = await readRuns([dir], "win_rate");
  assert.equal(runs.length, 3);
  const { md, svgs } = runsTable(runs, {
    baseline: "mappo",
    svgName: () => "x.svg",
  });
  assert.match(md, /Matched budget: 200 env steps/);
  assert.ok(!md.includes("## Summary"), "one env: no summary table");
  // mat: final greedy IQM over 0.9 and 0.6; at the matched budget 0.5 and 0.6
  const matRow = md.split("\n").find((l) => l.startsWith("| mat |"))!;
  assert.match(matRow, /\| 2 \(1\) \|/);
  assert.match(matRow, /s0 0\.90 .*s1 0\.60/);
  assert.match(matRow, /0\.55 \[0\.50, 0\.60\] \(range\)/); // matched: mean of 0.5 and 0.6
  // areas to the matched budget (means of the evaluations at or below 200): greedy 0.3 and 0.4,
  // stochastic 0.2 and 0.3
  assert.match(
    matRow,
    /0\.35 \[0\.30, 0\.40\] \(range\) \| 0\.25 \[0\.20, 0\.30\] \(range\) \| 0\.333 \|/,
  );
  assert.ok(svgs["x.svg"]!.includes("<svg"));
  // by how much: the difference to the baseline at the matched budget (0.55 - 0.3), no CI with
  // fewer than 5 seeds a side
  assert.match(md, /\| mat \| 0\.25 \(no CI under 5 seeds a side\) \|/);
  // every run in the CSV, with the matched budget's values
  const csv = runsCsv(runs).trim().split("\n");
  assert.equal(csv.length, 4);
  assert.ok(
    csv.includes("smax/3m,mat,1,false,200,win_rate,0.6,0.5,200,0.6,0.4,0.3,NaN"),
    csv.join("\n"),
  );
  assert.ok(
    csv.includes("smax/3m,mat,0,true,300,win_rate,0.9,0.8,200,0.5,0.3,0.2,NaN"),
    csv.join("\n"),
  );
  await Deno.remove(dir, { recursive: true });
});

Deno.test("runs:table: from 5 seeds a side the difference to the baseline gets a bootstrap CI", () => {
  const run = (condition: string, seed: number, g: number): RunEvals => ({
    env: "smax/3m",
    condition,
    seed,
    finished: true,
    metric: "win_rate",
    points: [[100, g / 2, 0], [200, g, 0]],
    wallS: NaN,
    diagnostics: {},
  });
  const runs = [
    ...[0.6, 0.7, 0.8, 0.9, 1.0].map((g, i) => run("a", i, g)),
    ...[0, 1, 2, 3, 4].map((i) => run("b", i, 0.1)),
  ];
  const { md, svgs } = runsTable(runs, { baseline: "b", svgName: (e) => `${e}.svg` });
  // the differences chart: one panel, one dot with its interval (a), none for the baseline
  assert.match(md, /!\[differences to b\]\(differences\.svg\)/);
  assert.equal(svgs["differences.svg"]!.match(/class="estimate"/g)!.length, 1);
  assert.equal(svgs["differences.svg"]!.match(/class="interval"/g)!.length, 1);
  const row = md.split("\n").find((l) => /^\| a \| [0-9.-]+ \[/.test(l))!;
  const [gap, lo, hi] = /\| a \| ([0-9.-]+) \[([0-9.-]+), ([0-9.-]+)\]/.exec(row)!.slice(1).map(
    Number,
  );
  assert.equal(gap, 0.7); // IQM 0.8 minus 0.1
  assert.ok(lo >= 0.5 && lo < gap && hi > gap && hi <= 0.9, row);
});

Deno.test("runs:table: --metric auto reads win rates where an env reports wins, else returns", async () => {
  const dir = await Deno.makeTempDir({ prefix: "baton_runs_table_" });
  const run = async (name: string, env: string, wins: number[] | null, finished = false) => {
    const d = join(dir, name);
    await Deno.mkdir(d, { recursive: true });
    await Deno.writeTextFile(
      join(d, "config.json"),
      JSON.stringify({ env, numEnvs: 1, rolloutLength: 100, totalSteps: 100 }),
    );
    const e = { returns: [10, 30], wins };
    await Deno.writeTextFile(
      join(d, "evaluations.jsonl"),
      JSON.stringify({ env_steps: 100, greedy: e, stochastic: e }) + "\n",
    );
    await Deno.writeTextFile(
      join(d, "summary.json"),
      JSON.stringify({ env_steps: finished ? 100 : 50 }),
    );
  };
  await run("bppo-s0", "smax/3m", [1, 0]); // in flight: counted, not pooled, in the summary
  await run("bppo-s1", "mamujoco/HalfCheetah-6x1", null, true);
  const runs = await readRuns([dir], "auto");
  const by = Object.fromEntries(runs.map((r) => [r.env, r]));
  assert.equal(by["smax/3m"]!.metric, "win_rate");
  assert.equal(by["smax/3m"]!.points[0]![1], 0.5);
  assert.equal(by["mamujoco/HalfCheetah-6x1"]!.metric, "return");
  assert.equal(by["mamujoco/HalfCheetah-6x1"]!.points[0]![1], 20);
  const { md } = runsTable(runs, { svgName: (env) => `${env.length}.svg` });
  assert.match(md, /## mamujoco\/HalfCheetah-6x1\n\nMetric: return/);
  assert.match(md, /## smax\/3m\n\nMetric: win_rate/);
  // two envs: a summary table first, a column per env with its metric and matched budget
  assert.ok(md.indexOf("## Summary") < md.indexOf("## mamujoco"));
  assert.match(
    md,
    /\| condition \| mamujoco\/HalfCheetah-6x1 \(return, 100\) \| smax\/3m \(win_rate, none finished\) \|/,
  );
  assert.match(
    md,
    /\| bppo \| 20\.00 \[20\.00, 20\.00\] \(range\) \(1 of 1\) \| - \(0 of 1\) \|/,
  );
  // a forced metric is kept: returns of the smax run
  assert.equal(
    (await readRuns([dir], "return")).find((r) => r.env === "smax/3m")!.points[0]![1],
    20,
  );
  await Deno.remove(dir, { recursive: true });
});

Deno.test("runs:table: a --baseline that names no condition is one line listing the conditions", async () => {
  const dir = await Deno.makeTempDir({ prefix: "baton_runs_table_" });
  const d = await oneEvalRun(dir, "mappo-s0");
  const out = await script(
    "scripts/runs_table.ts",
    "--from",
    dir,
    "--baseline",
    "MAPPO",
    "--out",
    join(dir, "t.md"),
  );
  assert.equal(out.code, 2);
  assert.match(out.stderr, /--baseline MAPPO is not a condition of these runs; use one of: mappo/);
  // a damaged run folder and a missing --from folder: one line each, exit 2
  await Deno.writeTextFile(join(d, "evaluations.jsonl"), '{"env_steps":1}\nxx\n{}\n');
  const bad = await script("scripts/runs_table.ts", "--from", dir, "--out", join(dir, "t.md"));
  assert.equal(bad.code, 2);
  assert.match(bad.stderr, /evaluations\.jsonl line 2 is not JSON/);
  const gone = join(dir, "nope");
  const miss = await script("scripts/runs_table.ts", "--from", gone, "--out", join(dir, "t.md"));
  assert.equal(miss.code, 2);
  assert.match(miss.stderr, /--from .*nope is not a folder/);
  await Deno.remove(dir, { recursive: true });
});

Deno.test("runs:table: --diagnostics averages training metrics over iterations, then runs", async () => {
  // one run's means: finite values only, a metric at 0 stays 0, one never logged is NaN
  const text = [
    { iteration: 1, wall_s: 5, "losses/clip_frac": 0.2, "bppo/x": 0, g: null },
    { iteration: 2, wall_s: 9, "losses/clip_frac": 0.4, "bppo/x": 0 },
  ].map((r) => JSON.stringify(r)).join("\n") + "\n";
  const one = diagnosticsOf(text, ["losses/clip_frac", "bppo/x", "g"]);
  assert.equal(one.wallS, 9, "wall time of the last iteration");
  assert.ok(Math.abs(one.diagnostics["losses/clip_frac"]! - 0.3) < 1e-12);
  assert.equal(one.diagnostics["bppo/x"], 0);
  assert.ok(Number.isNaN(one.diagnostics["g"]));
  // through readRuns and the table: two runs of one condition
  const dir = await Deno.makeTempDir({ prefix: "baton_runs_table_" });
  for (const [name, clip, wall] of [["bppo-s0", 0.1, 100], ["bppo-s1", 0.3, 300]] as const) {
    const d = await oneEvalRun(dir, name);
    await Deno.writeTextFile(
      join(d, "metrics.jsonl"),
      JSON.stringify({ iteration: 1, wall_s: wall, "losses/clip_frac": clip }) + "\n",
    );
  }
  const runs = await readRuns([dir], "auto", ["losses/clip_frac", "bppo/grad_peer_over_own"]);
  const { md } = runsTable(runs, {
    svgName: () => "x.svg",
    diagnostics: ["losses/clip_frac", "bppo/grad_peer_over_own"],
  });
  assert.match(
    md,
    /\| condition \| wall s per run \| `losses\/clip_frac` \| `bppo\/grad_peer_over_own` \|/,
  );
  // wall 200 [100, 300]; clip 0.2 [0.1, 0.3]; the peer ratio never logged
  assert.match(md, /\| bppo \| 200 \[100, 300\] \| 0\.2 \[0\.1, 0\.3\] \| - \|/);
  const csv = runsCsv(runs).trim().split("\n");
  assert.match(csv[0]!, /,wall_s,losses\/clip_frac,bppo\/grad_peer_over_own$/);
  assert.ok(csv[2]!.endsWith(",300,0.3,NaN"), csv[2]);
  // without the flag, no table
  assert.ok(!runsTable(runs, { svgName: () => "x.svg" }).md.includes("Training diagnostics"));
  await Deno.remove(dir, { recursive: true });
});

Deno.test("runs:table: a live run's half-written last line is left out; a bad line inside is an error", () => {
  assert.deepEqual(jsonLines('{"a":1}\n{"a":2}\n{"a":', "m.jsonl"), [{ a: 1 }, { a: 2 }]);
  assert.deepEqual(jsonLines('{"a":1}\n\n', "m.jsonl"), [{ a: 1 }]);
  assert.throws(
    () => jsonLines('{"a":1}\n{"a":\n{"a":3}\n', "runs/x/m.jsonl"),
    /runs\/x\/m\.jsonl line 2 is not JSON/,
  );
});
