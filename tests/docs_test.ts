// Every TypeScript block of README.md and docs/*.md runs as written: included ones equal their
// examples/ file (scripts/doc_examples.ts), and the plugin tutorial works from a folder outside the
// repository, importing Baton the way docs/env-api.md tells the reader to.
import assert from "node:assert/strict";
import { join } from "node:path";
import { checkDocs, docFiles, tsBlocks } from "../scripts/doc_examples.ts";

const ROOT = new URL("..", import.meta.url).pathname;

Deno.test("every included doc block equals its examples/ file", async () => {
  assert.deepEqual(await checkDocs(false), []);
  const blocks = [];
  for (const f of await docFiles()) {
    blocks.push(...tsBlocks(f, await Deno.readTextFile(join(ROOT, f))));
  }
  const included = blocks.filter((b) => b.example).map((b) => b.example);
  for (
    const must of [
      "examples/quickstart.ts",
      "examples/plugin/my_envs.ts",
      "examples/plugin/check_my_envs.ts",
    ]
  ) assert.ok(included.includes(must), `${must} is included in the docs`);
});

Deno.test("doc-block parser: markers, blank lines and the ignore attribute", () => {
  const md = [
    "<!-- example: examples/a.ts -->",
    "",
    "```ts ignore",
    "const a = 1;",
    "```",
    "```sh",
    "echo not ts",
    "```",
    "```ts",
    "const b = 2;",
    "```",
  ].join("\n");
  const b = tsBlocks("x.md", md);
  assert.equal(b.length, 2);
  assert.equal(b[0]!.example, "examples/a.ts");
  assert.equal(b[0]!.text, "const a = 1;\n");
  assert.equal(b[0]!.info, "ts ignore");
  assert.equal(b[1]!.example, undefined);
  assert.equal(b[1]!.line, 9);
});

async function run(args: string[], cwd = ROOT): Promise<{ code: number; out: string }> {
  const r = await new Deno.Command(Deno.execPath(), {
    args,
    cwd,
    env: { NO_COLOR: "1" },
    stdout: "piped",
    stderr: "piped",
  }).output();
  const dec = new TextDecoder();
  return { code: r.code, out: dec.decode(r.stdout) + dec.decode(r.stderr) };
}

Deno.test("the plugin tutorial trains from a folder outside the repository", async () => {
  const dir = await Deno.makeTempDir({ prefix: "baton_plugin_outside_" });
  try {
    for (const f of ["my_envs.ts", "check_my_envs.ts"]) {
      await Deno.copyFile(join(ROOT, "examples/plugin", f), join(dir, f));
    }
    const check = await run([
      "run",
      "-A",
      "--config",
      join(ROOT, "deno.json"),
      join(dir, "check_my_envs.ts"),
    ], dir);
    assert.equal(check.code, 0, check.out);
    assert.match(check.out, /coin\/match passes checkVecEnv/);
    const out = join(dir, "run");
    const train = await run([
      "run",
      "-A",
      "train.ts",
      "--plugin",
      join(dir, "my_envs.ts"),
      "--env",
      "coin/match",
      "--env-opt",
      "limit=1",
      "--total-steps",
      "1200",
      "--num-envs",
      "8",
      "--rollout-length",
      "50",
      "--eval-episodes",
      "8",
      "--threads",
      "1",
      "--out",
      out,
    ]);
    assert.equal(train.code, 0, train.out);
    const summary = JSON.parse(await Deno.readTextFile(join(out, "summary.json")));
    assert.equal(summary.env, "coin/match");
    assert.equal(summary.env_steps, 1200);
    assert.ok(Number.isFinite(summary.final_eval_return));
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("examples/play.ts plays a trained run's policy and gets the run's own greedy return", async () => {
  const dir = await Deno.makeTempDir({ prefix: "baton_play_" });
  try {
    const t = await run([
      "run",
      "-A",
      "train.ts",
      "--total-steps",
      "4000",
      "--num-envs",
      "20",
      "--rollout-length",
      "100",
      "--eval-episodes",
      "10",
      "--threads",
      "1",
      "--quiet",
      "--out",
      join(dir, "run"),
    ]);
    assert.equal(t.code, 0, t.out);
    const summary = JSON.parse(await Deno.readTextFile(join(dir, "run", "summary.json")));
    const p = await run(["run", "-A", "examples/play.ts", join(dir, "run"), "6"]);
    assert.equal(p.code, 0, p.out);
    assert.match(p.out, /bppo on matrix\/climbing \(2 agents\), trained 4000 env steps/);
    // a one-step game played greedily: every episode earns the run's greedy evaluation return
    const mean = Number(/mean return (-?[\d.]+) over 6 episodes \(optimum 11\)/.exec(p.out)?.[1]);
    assert.equal(mean, summary.final_eval_return);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("every preset in examples/configs passes train.ts --dry-run", async () => {
  const files: string[] = [];
  for await (const e of Deno.readDir(join(ROOT, "examples/configs"))) {
    if (e.name.endsWith(".yaml")) files.push(e.name);
  }
  assert.ok(files.length >= 4, `presets: ${files}`);
  for (const f of files.sort()) {
    const r = await run([
      "run",
      "-A",
      "train.ts",
      "--config",
      `examples/configs/${f}`,
      "--dry-run",
    ]);
    assert.equal(r.code, 0, `${f}: ${r.out}`);
    assert.match(r.out, /^ok: (bppo|mat) on (smax|mamujoco|football)\//m, f);
  }
});
