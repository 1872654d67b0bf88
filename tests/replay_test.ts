// Generic replays: a (sandboxed) plugin env with a render() hook gets a replay page from
// `deno task replay`; its scenes are validated as untrusted data; an env without the hook is told
// what is missing.
import assert from "node:assert/strict";
import { join } from "node:path";
import { sceneReplayHtml, sceneSchema } from "../mod.ts";
import { chromium } from "./_browser.ts";
import { CHROMIUM } from "./_requires.ts";
import { cli, script } from "./_helpers.ts";

const replay = (...args: string[]) => script("scripts/replay.ts", ...args);

Deno.test("scenes are checked as untrusted data: colours, sizes and bounds", () => {
  const ok = { bounds: [0, 0, 1, 1], shapes: [{ kind: "circle", x: 0.5, y: 0.5, r: 0.1 }] };
  assert.ok(sceneSchema.safeParse(ok).success);
  for (
    const bad of [
      { ...ok, bounds: [0, 0, 0, 1] },
      { ...ok, shapes: [{ kind: "circle", x: 0, y: 0, r: 1, fill: 'red" onload="alert(1)' }] },
      { ...ok, shapes: [{ kind: "rect", x: 0, y: 0, w: -1, h: 1 }] },
      { ...ok, shapes: Array(5001).fill(ok.shapes[0]) },
      { ...ok, shapes: [{ kind: "script", src: "x" }] },
    ]
  ) assert.equal(sceneSchema.safeParse(bad).success, false, JSON.stringify(bad).slice(0, 80));
  const html = sceneReplayHtml(
    [{ bounds: [0, 0, 1, 1], shapes: [{ kind: "text", x: 0, y: 0, text: "</script><b>x</b>" }] }],
    "<title>",
  );
  assert.ok(!html.includes("</script><b>"), "text cannot close the page's script");
  assert.ok(html.includes("&lt;title&gt;"));
});

Deno.test("replay: a sandboxed plugin env with a render hook gets a replay page", async () => {
  const dir = await Deno.makeTempDir({ prefix: "baton_replay_" });
  const run = join(dir, "run");
  const t = await cli(
    "--plugin",
    "./tests/fixtures/coin_plugin.ts",
    "--env",
    "coin/match",
    "--env-opt",
    "limit=3",
    "--algo",
    "mappo",
    "--num-envs",
    "4",
    "--rollout-length",
    "10",
    "--total-steps",
    "40",
    "--eval-episodes",
    "4",
    "--out",
    run,
    "--quiet",
  );
  assert.equal(t.code, 0, t.stderr);
  const r = await replay(run, "--seed", "3");
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /replay\.html: coin\/match, return \d/);
  const html = await Deno.readTextFile(join(run, "replay.html"));
  const frames = JSON.parse(/const frames = (.*);\n/.exec(html)![1]!);
  assert.ok(frames.length >= 1);
  for (const f of frames) assert.ok(sceneSchema.safeParse(f).success);
  assert.match(frames[0].caption, /^coin [01], agents said nothing yet$/);
  // the last frame is the outcome, taken before the automatic reset
  assert.match(frames[frames.length - 1].caption, /^coin [01], agents said [01], [01]$/);
  if (CHROMIUM) {
    const dom = await chromium(`file://${join(run, "replay.html")}`);
    const svg = /<svg id="scene".*?<\/svg>/s.exec(dom)?.[0] ?? "";
    assert.match(svg, /<circle[^>]*fill="(gold|silver)"/, "the page drew the coin");
    assert.equal((svg.match(/<rect /g) ?? []).length, 2, "one box per agent");
  }
  await Deno.remove(dir, { recursive: true });
});

Deno.test("replay: matrix games show the payoff table and the joint action; an env without the hook is told", async () => {
  const dir = await Deno.makeTempDir({ prefix: "baton_replay_" });
  const small = ["--num-envs", "4", "--rollout-length", "10", "--total-steps", "40"];
  const t = await cli(
    "--env",
    "matrix/climbing",
    ...small,
    "--eval-episodes",
    "4",
    "--out",
    join(dir, "m"),
    "--quiet",
  );
  assert.equal(t.code, 0, t.stderr);
  const r = await replay(join(dir, "m"));
  assert.equal(r.code, 0, r.stderr);
  const html = await Deno.readTextFile(join(dir, "m", "replay.html"));
  const frames = JSON.parse(/const frames = (.*);\n/.exec(html)![1]!);
  assert.equal(frames.length, 2, "before the move, and its outcome");
  assert.match(frames[1].caption, /^joint action \[[012], [012]\] pays -?\d+ \(optimum 11\)$/);
  assert.equal(frames[1].shapes.filter((s: { fill?: string }) => s.fill === "gold").length, 1);
  const u = await cli(
    "--plugin",
    "./tests/fixtures/coin_plugin.ts",
    "--env",
    "coin/target",
    "--algo",
    "mappo",
    ...small,
    "--eval-episodes",
    "4",
    "--out",
    join(dir, "c"),
    "--quiet",
  );
  assert.equal(u.code, 0, u.stderr);
  const v = await replay(join(dir, "c"));
  assert.equal(v.code, 2);
  assert.match(
    v.stderr,
    /Cannot replay coin\/target: its render\(\) hook is missing \(see docs\/env-api\.md/,
  );
  await Deno.remove(dir, { recursive: true });
});

Deno.test({
  name: "replay --gif: one GIF frame per step, at the size asked for, drawn by headless Chromium",
  ignore: !CHROMIUM,
}, async () => {
  const { GifReader } = (await import("npm:omggif@1.0.10")).default as {
    GifReader: new (b: Uint8Array) => { width: number; height: number; numFrames(): number };
  };
  const dir = await Deno.makeTempDir({ prefix: "baton_replay_gif_" });
  const t = await cli(
    "--env",
    "matrix/climbing",
    "--num-envs",
    "4",
    "--rollout-length",
    "10",
    "--total-steps",
    "40",
    "--eval-episodes",
    "4",
    "--out",
    join(dir, "m"),
    "--quiet",
  );
  assert.equal(t.code, 0, t.stderr);
  const r = await replay(join(dir, "m"), "--gif", "--gif-size", "320x240", "--gif-delay", "500");
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /replay\.gif: 2 frames, \d+ KiB/);
  const bytes = await Deno.readFile(join(dir, "m", "replay.gif"));
  assert.equal(new TextDecoder().decode(bytes.subarray(0, 6)), "GIF89a");
  const gif = new GifReader(bytes);
  assert.deepEqual([gif.width, gif.height, gif.numFrames()], [320, 240, 2]);
  const bad = await replay(join(dir, "m"), "--gif", "--gif-size", "big");
  assert.equal(bad.code, 2);
  assert.match(bad.stderr, /--gif-size "big" is not WxH in pixels/);
  await Deno.remove(dir, { recursive: true });
});
