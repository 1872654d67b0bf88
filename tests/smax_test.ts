// Native SMACv2-style battles: batched env == scalar reference, SMACv2 layouts, known-answer
// mechanics (damage, armour, shields, bonus, heal, splash), reward scale, replay in Chromium.
import assert from "node:assert/strict";
import { join } from "node:path";
import { fromScalarEnv } from "../core/vec_env.ts";
import { Rng } from "../core/rng.ts";
import { train } from "../core/trainer.ts";
import { defaultEnvRegistry } from "../envs/mod.ts";
import { SmaxVecEnv } from "../envs/smax/smax.ts";
import { SmaxReferenceEnv } from "../envs/smax/reference.ts";
import { layoutOf } from "../envs/smax/layout.ts";
import { SCENARIOS, UNIT_ID, UNITS } from "../envs/smax/units.ts";
import { replayHtml } from "../envs/smax/replay.ts";
import { recordEpisode } from "../scripts/replay.ts";
import { entries, smallConfig } from "./_helpers.ts";
import { chromium } from "./_browser.ts";
import { CHROMIUM } from "./_requires.ts";

/** Uniform over available actions, attacks more often (so battles happen). */
function randomActions(avail: Uint8Array, E: number, n: number, A: number, rng: Rng): Int32Array {
  const act = new Int32Array(E * n);
  for (let i = 0; i < E * n; i++) {
    const ok: number[] = [], att: number[] = [];
    for (let a = 0; a < A; a++) {
      if (avail[i * A + a]) (a >= 6 ? att : ok).push(a);
    }
    act[i] = att.length && rng.uniform() < 0.6 ? att[rng.int(att.length)]! : [...ok, ...att][
      rng.int(ok.length + att.length)
    ]!;
  }
  return act;
}

for (
  const name of ["3m", "2s3z", "3s_vs_5z", "protoss_5_vs_5", "terran_10_vs_11", "zerg_10_vs_10"]
) {
  Deno.test(`smax/${name}: batched env is bit-identical to the scalar reference`, async () => {
    const E = 6;
    const vec = new SmaxVecEnv(name, E);
    const l = layoutOf(SCENARIOS[name]!);
    const ref = fromScalarEnv(vec.spec, E, () => new SmaxReferenceEnv(l));
    let a = await vec.reset(11), b = await ref.reset(11);
    const rng = new Rng(5);
    let episodes = 0, damaging = 0;
    for (let t = 0; t < 300; t++) {
      for (const k of ["obs", "state", "availActions", "reward", "done"] as const) {
        assert.deepEqual(a[k], b[k], `${k} differs at step ${t}`);
      }
      assert.deepEqual(a.episodes, b.episodes);
      const act = randomActions(a.availActions!, E, vec.spec.numAgents, l.nActions, rng);
      a = await vec.step(act);
      b = await ref.step(act);
      episodes += a.episodes.returns.length;
      damaging += a.reward.filter((r) => r > 0).length;
    }
    assert.ok(episodes > 5, `episodes ended: ${episodes}`);
    assert.ok(damaging > 20, `steps with damage dealt: ${damaging} (the combat path was compared)`);
  });
}

Deno.test("smax layouts match SMACv2's sizes (obs, state, actions)", () => {
  const size = (s: string) => {
    const l = layoutOf(SCENARIOS[s]!);
    return [l.obsDim, l.stateDim, l.nActions];
  };
  // from smacv2's get_obs_size / get_state_size with the benchmark configs (envs.md §1.5)
  assert.deepEqual(size("protoss_5_vs_5"), [92, 130, 11]);
  assert.deepEqual(size("terran_5_vs_5"), [82, 120, 11]);
  assert.deepEqual(size("zerg_5_vs_5"), [82, 120, 11]);
  assert.deepEqual(size("protoss_10_vs_10"), [182, 310, 16]);
  assert.deepEqual(size("terran_10_vs_10"), [162, 290, 16]);
  assert.equal(size("protoss_10_vs_11")[2], 17);
  assert.equal(size("zerg_20_vs_23")[2], 29);
  assert.equal(size("3m")[2], 9);
  for (const id of ["smax/3m", "smax/protoss_20_vs_23", "smax/6h_vs_8z", "smax/27m_vs_30m"]) {
    assert.ok(defaultEnvRegistry().has(id), id);
  }
});

Deno.test("smax episodes are deterministic given the seed and differ across seeds", async () => {
  const run = async (seed: number) => {
    const env = new SmaxVecEnv("protoss_5_vs_5", 4);
    let s = await env.reset(seed);
    const rng = new Rng(1);
    const rets: number[] = [];
    for (let t = 0; t < 250; t++) {
      s = await env.step(randomActions(s.availActions!, 4, 5, 11, rng));
      rets.push(...s.episodes.returns);
    }
    return [Array.from(env.type.subarray(0, 10)), rets];
  };
  assert.deepEqual(await run(3), await run(3));
  assert.notDeepEqual(await run(3), await run(4));
});

/** Places units of env 0 and parks the rest in far corners; returns the env. */
async function arena(
  scenario: string,
  place: Record<number, { type?: string; x: number; y: number; hp?: number; sh?: number }>,
): Promise<SmaxVecEnv> {
  const env = new SmaxVecEnv(scenario, 1);
  await env.reset(0);
  const corners = [[0.5, 0.5], [0.5, 31.5], [31.5, 0.5], [31.5, 31.5]];
  for (let u = 0; u < env.U; u++) {
    const p = place[u];
    if (p?.type) env.type[u] = UNIT_ID[p.type]!;
    const ty = UNITS[env.type[u]!]!;
    const [x, y] = p ? [p.x, p.y] : corners[u % 4]!.map((c, k) => c + (k ? 0 : (u % 3) * 1.5));
    env.x[u] = x!;
    env.y[u] = y!;
    env.hp[u] = p?.hp ?? ty.health;
    env.sh[u] = p?.sh ?? ty.shield;
    env.energy[u] = ty.heal > 0 ? 50 : 0;
  }
  return env;
}

/**
 * Steps env 0 with `a` for agent `i` and stop (1) for every other live agent, calling the
 * transition directly (the masks of the moved units were never observed), then observes.
 */
function act(env: SmaxVecEnv, i: number, a: number) {
  const acts = new Int32Array(env.l.nAllies);
  for (let k = 0; k < acts.length; k++) acts[k] = env.alive[k] ? (k === i ? a : 1) : 0;
  const { obsDim, stateDim, numAgents: n } = env.spec;
  const buf = {
    obs: new Float32Array(n * obsDim),
    state: new Float32Array(stateDim),
    availActions: new Uint8Array(n * env.l.nActions),
    reward: new Float32Array(1),
    done: new Uint8Array(1),
    won: new Int8Array(1).fill(-1),
  };
  const raw = env as unknown as {
    stepEnvs(a: Int32Array, b: typeof buf): void;
    observe(b: typeof buf): void;
  };
  raw.stepEnvs(acts, buf);
  raw.observe(buf);
  return buf;
}

Deno.test("one marine volley: 6 damage, reward = damage / (max reward / 20)", async () => {
  const env = await arena("3m", { 0: { x: 10, y: 16 }, 3: { x: 14, y: 16 } });
  const s = act(env, 0, 6); // attack enemy 0
  assert.equal(env.hp[3], 45 - 6);
  assert.equal(env.hp[0], 45 - 6, "the scripted AI fires back at the only unit in reach");
  const maxR = 3 * 10 + 200 + 3 * 45;
  assert.ok(Math.abs(s.reward[0]! - 6 / (maxR / 20)) < 1e-6, `reward ${s.reward[0]}`);
});

Deno.test("shields absorb first; armour reduces the health part; bonus vs armoured", async () => {
  // stalker (13, +5 vs armoured) on a zealot (light) with 5 shield left: 5 to shield, 13-5-1 to hp
  let env = await arena("3s_vs_5z", { 0: { x: 10, y: 16 }, 3: { x: 15, y: 16, sh: 5 } });
  act(env, 0, 6);
  assert.equal(env.sh[3], 0);
  assert.equal(env.hp[3], 100 - (13 - 5 - 1));
  // stalker on stalker: 13 + 5 = 18 on shields
  env = await arena("2s3z", { 0: { x: 10, y: 16 }, 5: { x: 15.5, y: 16 } });
  act(env, 0, 6);
  assert.equal(env.sh[5], 80 - 18);
});

Deno.test("medivac heals 12.6 HP/s for 1 energy per 3 HP", async () => {
  const env = await arena("terran_5_vs_5", {
    0: { type: "marine", x: 10, y: 16, hp: 20 },
    1: { type: "medivac", x: 11, y: 17 },
  });
  act(env, 1, 6 + 0); // heal ally 0
  const healed = 8 * 12.6 / 22.4;
  assert.ok(Math.abs(env.hp[0]! - (20 + healed)) < 1e-9, `hp ${env.hp[0]}`);
  assert.ok(Math.abs(env.energy[1]! - (50 - healed / 3 + 8 * 0.7875 / 22.4)) < 1e-9);
});

Deno.test("baneling detonates on its first attack: splash 2.2 kills light units, it dies", async () => {
  const env = await arena("zerg_5_vs_5", {
    0: { type: "baneling", x: 16, y: 16 },
    5: { type: "zergling", x: 17, y: 16 },
    6: { type: "zergling", x: 16, y: 17.5 },
    7: { type: "hydralisk", x: 16, y: 13.5 },
  });
  const s = act(env, 0, 6); // attack enemy 0
  assert.equal(env.alive[0], 0, "baneling gone");
  assert.equal(env.alive[5], 0, "zergling in splash killed (16 + 19 vs light = 35)");
  assert.equal(env.alive[6], 0);
  assert.equal(env.alive[7], 1, "hydralisk 2.5 away is outside the splash");
  assert.ok(s.reward[0]! > 0);
});

Deno.test("availability: dead agents only no-op; moves stop at the map edge; attacks in reach", async () => {
  const env = await arena("3m", { 0: { x: 0.5, y: 16 }, 1: { x: 10, y: 16 }, 3: { x: 15, y: 16 } });
  env.alive[2] = 0;
  env.hp[2] = 0;
  const s = act(env, 1, 1);
  const A = 9, av = (i: number) => Array.from(s.availActions!.subarray(i * A, (i + 1) * A));
  assert.deepEqual(av(2), [1, 0, 0, 0, 0, 0, 0, 0, 0]);
  assert.equal(av(0)[5], 0, "west blocked at x = 0.5");
  assert.equal(av(0)[4], 1);
  const d = Math.hypot(env.x[3]! - env.x[1]!, env.y[3]! - env.y[1]!);
  assert.equal(av(1)[6], d <= 5 + 0.75 ? 1 : 0);
  // observations of a dead agent are zero
  const o = s.obs.subarray(2 * env.spec.obsDim, 3 * env.spec.obsDim);
  assert.ok(o.every((v) => v === 0));
});

Deno.test("a focus-fire win on 3m returns exactly 20 (SMAC's reward scale)", async () => {
  const env = new SmaxVecEnv("3m", 32);
  let s = await env.reset(2);
  const n = 3, A = 9, U = 6;
  const wonReturns: number[] = [], lostReturns: number[] = [];
  for (let t = 0; t < 600 && wonReturns.length < 5; t++) {
    const acts = new Int32Array(32 * n);
    for (let e = 0; e < 32; e++) {
      for (let i = 0; i < n; i++) {
        const av = s.availActions!.subarray((e * n + i) * A, (e * n + i + 1) * A);
        let best = av[0] ? 0 : 4; // dead: no-op; else walk east
        let low = Infinity;
        for (let k = 6; k < A; k++) {
          if (av[k] && env.hp[e * U + 3 + k - 6]! < low) {
            [best, low] = [k, env.hp[e * U + 3 + k - 6]!];
          }
        }
        if (!av[best]) best = 1;
        acts[e * n + i] = best;
      }
    }
    s = await env.step(acts);
    s.episodes.wins.forEach((w, k) => (w ? wonReturns : lostReturns).push(s.episodes.returns[k]!));
  }
  assert.ok(wonReturns.length >= 5, `focus fire won ${wonReturns.length} battles`);
  for (const r of wonReturns) assert.ok(Math.abs(r - 20) < 1e-4, `won return ${r}`);
  for (const r of lostReturns) assert.ok(r < 20);
});

Deno.test({
  name: "replay: a trained run's episode renders in headless Chromium with units, bars and attacks",
  ignore: !CHROMIUM,
}, async () => {
  const cfg = await smallConfig({
    env: "smax/3m",
    algo: "mappo",
    totalSteps: 2000,
    numEnvs: 4,
    rolloutLength: 250,
    evalEvery: 0,
  });
  await train(cfg, entries(cfg));
  const rec = await recordEpisode(cfg.out!, { seed: 1 });
  assert.ok("types" in rec);
  assert.equal(rec.types.length, 6);
  assert.ok(rec.frames.length >= 2);
  const shot = rec.frames.findIndex((f) => f.fired.some((t) => t >= 0));
  assert.ok(shot > 0, "some unit fired during the episode");
  const file = join(cfg.out!, "replay.html");
  await Deno.writeTextFile(file, replayHtml(rec, cfg.out!));
  const dom = await chromium(`file://${file}#frame=${shot}`);
  const count = (re: RegExp) => (dom.match(re) ?? []).length;
  assert.equal(count(/<circle class="unit ally"/g), 3);
  assert.equal(count(/<circle class="unit enemy"/g), 3);
  assert.equal(count(/class="hpbar health-bar"/g), 6);
  assert.ok(count(/<line class="attack /g) >= 1, "attack lines drawn at the chosen frame");
  assert.match(dom, new RegExp(`<span id="step">${shot}</span>`));
});
