// Native MA-MuJoCo on mujoco-js: partitions and observation sizes (mamujoco_v1's), the reward
// recomputed independently from qpos, action clipping, healthy-range termination, bounded wasm
// heap across many episodes and env lifetimes, and a replay rendered in headless Chromium.
import assert from "node:assert/strict";
import { join } from "node:path";
import { defaultEnvRegistry } from "../envs/mod.ts";
import { train } from "../core/trainer.ts";
import { loadMujoco, MamujocoVecEnv } from "../envs/mamujoco/mamujoco.ts";
import { ROBOTS } from "../envs/mamujoco/robots.ts";
import { mujocoEpisodeLine, mujocoReplayHtml } from "../envs/mamujoco/replay.ts";
import { recordEpisode } from "../scripts/replay.ts";
import { entries, smallConfig } from "./_helpers.ts";
import { chromium } from "./_browser.ts";
import { CHROMIUM } from "./_requires.ts";

const make = async (robot: string, part: string, E = 1, o: Record<string, unknown> = {}) =>
  new MamujocoVecEnv(await loadMujoco(), robot, part, E, {
    obsk: 1,
    episodeLimit: 1000,
    obs: "local",
    ...o,
  } as any);

Deno.test("observation sizes per agent match mamujoco_v1 for obsk 0, 1, 2", async () => {
  // computed by running Gymnasium-Robotics' obsk functions (shared/reference/envs.md §2.2)
  const expected: Record<string, string[]> = {
    "HalfCheetah-2x3": ["11,11", "12,12", "13,13"],
    "HalfCheetah-6x1": ["7,7,7,7,7,7", "9,9,8,9,9,8", "11,10,9,11,10,9"],
    "Ant-2x4": ["61,61", "63,63", "65,65"],
    "Ant-2x4d": ["61,61", "63,63", "65,65"],
    "Ant-4x2": ["39,39,39,39", "42,42,42,42", "45,45,45,45"],
    "Hopper-3x1": ["7,7,7", "8,9,8", "9,9,9"],
    "Walker2d-2x3": ["11,11", "12,12", "13,13"],
    "Swimmer-2x1": ["5,5", "6,6", "6,6"],
  };
  const state: Record<string, number> = {
    HalfCheetah: 17,
    Ant: 105,
    Hopper: 11,
    Walker2d: 17,
    Swimmer: 8,
  };
  for (const [id, sizes] of Object.entries(expected)) {
    const [robot, part] = id.split("-") as [string, string];
    for (let k = 0; k < 3; k++) {
      const env = await make(robot, part, 1, { obsk: k });
      assert.equal(env.obsReads.map((r) => r.length).join(","), sizes[k], `${id} obsk ${k}`);
      assert.equal(env.spec.stateDim, state[robot]);
      await env.close();
    }
  }
  const ids = defaultEnvRegistry().list().map((e) => e.id).filter((i) => i.startsWith("mamujoco/"));
  for (const id of ["mamujoco/HalfCheetah-2x3", "mamujoco/Ant-8x1", "mamujoco/Swimmer-2x1"]) {
    assert.ok(ids.includes(id), id);
  }
});

Deno.test("HalfCheetah-2x3: agent 0 observes its joints, fthigh's qpos and the root (obsk order)", async () => {
  const env = await make("HalfCheetah", "2x3");
  const s = await env.reset(3);
  const q = env.views[0]!.qpos, v = env.views[0]!.qvel;
  // joints sorted by label: bfoot(5) bshin(4) bthigh(3), qpos then qvel each; fthigh(6) qpos;
  // globals: qpos of rootz, rooty; qvel of rootx, rootz, rooty
  const want = [q[5], v[5], q[4], v[4], q[3], v[3], q[6], q[1], q[2], v[0], v[1], v[2]];
  assert.deepEqual(Array.from(s.obs.subarray(0, 12)), want.map((x) => Math.fround(x!)));
  // agent 1: ffoot(8) fshin(7) fthigh(6), then bthigh(3) qpos
  const want1 = [q[8], v[8], q[7], v[7], q[6], v[6], q[3], q[1], q[2], v[0], v[1], v[2]];
  assert.deepEqual(Array.from(s.obs.subarray(12, 24)), want1.map((x) => Math.fround(x!)));
  assert.deepEqual(Array.from(s.state), [...q.slice(1), ...v].map((x) => Math.fround(x)));
  await env.close();
});

Deno.test("HalfCheetah reward = (x_after - x_before) / dt - 0.1 |clip(a)|^2; actions clipped to ctrlrange", async () => {
  const env = await make("HalfCheetah", "2x3");
  await env.reset(1);
  assert.ok(Math.abs(env.dt - 0.05) < 1e-12, "timestep 0.01 x frame skip 5");
  const actions = Float32Array.from([3, -0.5, 0.25, -7, 0.8, 0]);
  for (let t = 0; t < 20; t++) {
    const x0 = env.views[0]!.qpos[0]!;
    const s = await env.step(actions);
    const x1 = env.views[0]!.qpos[0]!;
    const clipped = [1, -0.5, 0.25, -1, 0.8, 0].map((a) => Math.fround(a));
    assert.deepEqual(Array.from(env.views[0]!.ctrl), clipped);
    const want = (x1 - x0) / 0.05 - 0.1 * clipped.reduce((a, c) => a + c * c, 0);
    assert.ok(Math.abs(s.reward[0]! - want) < 1e-4, `step ${t}: ${s.reward[0]} vs ${want}`);
    assert.equal(s.done[0], 0, "HalfCheetah never terminates");
  }
  await env.close();
});

Deno.test("a recorded episode splits its return into forward and control terms and counts clipped actions", async () => {
  const env = await make("HalfCheetah", "2x3");
  env.recordings = [];
  await env.reset(1);
  const actions = Float32Array.from([3, -0.5, 0.25, -7, 0.8, 0]); // 2 of 6 outside [-1, 1]
  let ret = 0;
  for (let t = 0; t < 10; t++) ret += (await env.step(actions)).reward[0]!;
  const rec = env.recordings[0]!;
  const sum = (xs: number[]) => xs.reduce((a, b) => a + b, 0);
  assert.equal(rec.forward.length, 10);
  // HalfCheetah has no healthy reward and no contact cost: return = forward - control
  assert.ok(Math.abs(sum(rec.forward) - sum(rec.control) - ret) < 1e-3);
  // the control cost is paid on the clipped controls: 0.1 (1 + 0.25 + 0.0625 + 1 + 0.64) per step
  assert.ok(Math.abs(sum(rec.control) - 10 * 0.1 * 2.9525) < 1e-4, String(sum(rec.control)));
  assert.equal(rec.actions.count, 60);
  assert.equal(rec.actions.outOfRange, 20);
  assert.ok(Math.abs(rec.actions.absSum - 10 * 11.55) < 1e-4, "|3| + .5 + .25 + |-7| + .8 + 0");
  assert.match(
    mujocoEpisodeLine(rec),
    /^HalfCheetah, return -?\d+\.\d in 10 steps \(forward -?\d+\.\d, control cost -3\.0, other 0\.0\); 33% of action components outside the actuator range \(mean \|action\| 1\.93\)$/,
  );
  await env.close();
});

Deno.test("termination follows the healthy ranges (Hopper z/angle, Walker2d, Ant z)", async () => {
  const hop = ROBOTS.Hopper!.healthy!;
  const q = (z: number, a: number) => Float64Array.from([0, z, a, 0, 0, 0]);
  const zero = new Float64Array(6);
  assert.equal(hop(q(1.25, 0), zero), true);
  assert.equal(hop(q(0.69, 0), zero), false, "z <= 0.7");
  assert.equal(hop(q(1.25, 0.21), zero), false, "|angle| >= 0.2");
  assert.equal(hop(q(1.25, 0), Float64Array.from([0, 0, 0, 101, 0, 0])), false, "|state| >= 100");
  const walk = ROBOTS.Walker2d!.healthy!;
  assert.equal(
    walk(Float64Array.from([0, 1.25, 0.5, 0, 0, 0, 0, 0, 0]), new Float64Array(9)),
    true,
  );
  assert.equal(walk(Float64Array.from([0, 2.1, 0, 0, 0, 0, 0, 0, 0]), new Float64Array(9)), false);
  const ant = ROBOTS.Ant!.healthy!;
  const aq = (z: number) => Float64Array.from({ length: 15 }, (_, i) => (i === 2 ? z : 0));
  assert.equal(ant(aq(0.5), new Float64Array(14)), true);
  assert.equal(ant(aq(1.01), new Float64Array(14)), false);
  assert.equal(ant(aq(0.19), new Float64Array(14)), false);
  // in the env: a Hopper pushed below z = 0.7 terminates on the next step, reward without the
  // healthy bonus
  const env = await make("Hopper", "3x1");
  await env.reset(0);
  let s = await env.step(new Float32Array(3));
  assert.equal(s.done[0], 0);
  assert.ok(s.reward[0]! > 0.9, "healthy reward 1 while standing");
  env.views[0]!.qpos[1] = 0.3;
  const x0 = env.views[0]!.qpos[0]!;
  s = await env.step(new Float32Array(3));
  assert.equal(s.done[0], 1);
  assert.ok(
    Math.abs(s.reward[0]!) < 5,
    `no healthy bonus, small velocity term: ${s.reward[0]} (x0 ${x0})`,
  );
  await env.close();
});

Deno.test("wasm heap stays bounded over many episodes and many env lifetimes", async () => {
  const env = await make("HalfCheetah", "2x3", 4, { episodeLimit: 20 });
  await env.reset(0);
  const heap0 = env.heapBytes();
  const a = new Float32Array(4 * 2 * 3);
  let episodes = 0;
  for (let t = 0; t < 1000; t++) {
    for (let i = 0; i < a.length; i++) a[i] = Math.sin(t + i);
    episodes += (await env.step(a)).episodes.returns.length;
  }
  assert.equal(episodes, 200, "4 envs x 50 episodes of 20 steps");
  assert.equal(env.heapBytes(), heap0, "no growth across resets");
  await env.close();
  // building and closing envs frees their models and data
  const sizes: number[] = [];
  for (let i = 0; i < 40; i++) {
    const e = await make("Ant", "4x2", 8);
    await e.reset(i);
    sizes.push(e.heapBytes());
    await e.close();
  }
  assert.equal(sizes[39], sizes[5], `heap grew while envs were created and closed: ${sizes}`);
});

Deno.test("mamujoco resets are seeded: same seed, same start; obs=global adds a one-hot id", async () => {
  const a = await make("Walker2d", "2x3", 2), b = await make("Walker2d", "2x3", 2);
  const sa = await a.reset(5), sb = await b.reset(5);
  assert.deepEqual(sa.obs, sb.obs);
  const sc = await b.reset(6);
  assert.notDeepEqual(sa.obs, sc.obs);
  await a.close();
  await b.close();
  const g = await make("HalfCheetah", "2x3", 1, { obs: "global" });
  const s = await g.reset(0);
  assert.equal(g.spec.obsDim, 17 + 2);
  assert.deepEqual(Array.from(s.obs.subarray(17, 19)), [1, 0]);
  assert.deepEqual(Array.from(s.obs.subarray(19 + 17, 19 + 19)), [0, 1]);
  await g.close();
});

Deno.test({
  name: "mamujoco replay: a trained BPPO run's episode renders in headless Chromium",
  ignore: !CHROMIUM,
}, async () => {
  const cfg = await smallConfig({
    env: "mamujoco/HalfCheetah-2x3",
    envOptions: { episodeLimit: 40 },
    algo: "bppo",
    totalSteps: 320,
    numEnvs: 4,
    rolloutLength: 40,
    evalEvery: 0,
  });
  const summary = await train(cfg, entries(cfg));
  assert.ok(Number.isFinite(summary.final_eval_return));
  const rec = await recordEpisode(cfg.out!, { seed: 1 });
  assert.ok("robot" in rec && rec.frames.length === 41, "40 steps + the start");
  const file = join(cfg.out!, "replay.html");
  await Deno.writeTextFile(file, mujocoReplayHtml(rec, cfg.out!));
  const dom = await chromium(`file://${file}#frame=20`);
  const count = (re: RegExp) => (dom.match(re) ?? []).length;
  assert.equal(count(/<line class="geom"/g), 8, "torso, head and 6 leg capsules (not the floor)");
  assert.match(dom, /<span id="step">20<\/span>/);
  assert.match(dom, /class="ground"/);
  assert.match(dom, /<p id="terms">HalfCheetah, return -?\d+\.\d in 40 steps \(forward /);
});
