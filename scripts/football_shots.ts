/**
 * How often a shot beats the native football keeper, by distance, angle and aim: the table the
 * keeper is calibrated against (envs/football/README.md, "The keeper").
 *
 * Each cell: `envs` episodes of `football/academy_run_to_score_with_keeper` with the defenders
 * moved out of play's way, our player placed with the ball at (1 - d, y) facing the goal, 20 idle
 * steps for the keeper to take its position, then one `shot` (with a held direction for the aimed
 * columns); a cell is the fraction of episodes that end in a goal.
 *
 * A second table gives the win rate of reference policies (uniformly random, always shoot, run at
 * goal and shoot) on every academy scenario: what an untrained or a naive team scores.
 *
 * Usage: `deno run -A scripts/football_shots.ts [--envs 1024] [--seed 0]`
 *
 * @module
 */
import { parseArgs } from "node:util";
import { END, FootballVecEnv } from "../envs/football/football.ts";
import { A, ACTIONS, DURATION } from "../envs/football/constants.ts";
import { SCENARIOS } from "../envs/football/scenarios.ts";
import { Rng } from "../core/rng.ts";

/** Distances from the goal (units; 52.5 m each) and lateral offsets of the table. */
export const SHOT_DISTANCES = [0.1, 0.15, 0.21, 0.3, 0.4, 0.5, 0.74] as const;

/** Aims of the table: no direction held (facing the goal), or a diagonal towards a post. */
export const SHOT_AIMS = { straight: -1, "top_right": A.top_right, "bottom_right": A.bottom_right };

/**
 * The fraction of `envs` episodes in which a shot from (1 - d, y) scores.
 * @param d distance from the goal line along x
 * @param y lateral position
 * @param aim the direction held while shooting (an action id), or -1 for none
 * @param envs episodes (envs stepped at once)
 * @param seed the env seed
 * @param opts env options (difficulty)
 */
export async function shotConversion(
  d: number,
  y: number,
  aim: number,
  envs = 1024,
  seed = 0,
  opts: { difficulty?: number } = {},
): Promise<{ goal: number; saved: number; out: number }> {
  const env = new FootballVecEnv("academy_run_to_score_with_keeper", envs, {
    rewards: "scoring",
    ...opts,
  });
  await env.reset(seed);
  const P = env.P, shooter = 1, x = 1 - d;
  for (let e = 0; e < envs; e++) {
    for (let p = env.nLeft + 1; p < P; p++) { // the defenders, far behind play
      env.px[e * P + p] = -0.9, env.py[e * P + p] = -0.3 + 0.15 * (p - env.nLeft - 1);
    }
  }
  const place = () => {
    for (let e = 0; e < envs; e++) {
      const g = e * P + shooter;
      const fx = 1 - x, fy = -y, m = Math.hypot(fx, fy);
      env.px[g] = x, env.py[g] = y, env.vx[g] = env.vy[g] = 0;
      env.fx[g] = fx / m, env.fy[g] = fy / m;
      env.owner[e] = shooter;
      env.bx[e] = x + (fx / m) * 0.008, env.by[e] = y + (fy / m) * 0.008, env.bz[e] = 0;
    }
  };
  const act = new Int32Array(envs);
  const counts = { goal: 0, saved: 0, out: 0 };
  const done = new Uint8Array(envs);
  for (let t = 0; t < 20; t++) { // the keeper takes its position
    place();
    act.fill(A.idle);
    await env.step(act);
  }
  place();
  for (let t = 0; t < 60; t++) {
    act.fill(t === 0 ? (aim >= 0 ? aim : A.idle) : t === 1 ? A.shot : A.idle);
    if (t === 0) place();
    const s = await env.step(act);
    for (let e = 0; e < envs; e++) {
      if (done[e] || !s.done[e]) continue;
      done[e] = 1;
      const end = env.ended[e]!;
      if (end === END.goal) counts.goal++;
      else if (end === END.out) counts.out++;
      else counts.saved++;
    }
  }
  return { goal: counts.goal / envs, saved: counts.saved / envs, out: counts.out / envs };
}

/** A scripted policy: the action of agent i of env e at step t. */
export type ScriptedPolicy = (env: FootballVecEnv, e: number, i: number, t: number) => number;

/** Reference policies for the win-rate table: what an untrained or a naive team scores. */
export const REFERENCE_POLICIES: Record<string, (rng: Rng) => ScriptedPolicy> = {
  /** Uniform over the 19 actions. */
  random: (rng) => () => rng.int(ACTIONS.length),
  /** Always `shot` (only the ball carrier kicks). */
  "always shoot": () => () => A.shot,
  /** Sprint at the goal; inside 0.2 of it, the ball carrier places a shot towards a post. */
  "run and shoot": () => (env, e, i, t) => {
    const p = env.agentPlayer[i]!, g = e * env.P + p;
    if (t === 0) return A.sprint;
    if (env.owner[e] !== p || 1 - env.px[g]! >= 0.2) return A.right;
    return t % 2 ? (env.py[g]! > 0 ? A.top_right : A.bottom_right) : A.shot;
  },
};

/**
 * The fraction of `envs` first episodes a scripted policy wins on a scenario.
 * @param scenario an academy scenario
 * @param policy the policy
 * @param envs episodes (envs stepped at once)
 * @param seed the env seed
 */
export async function policyWinRate(
  scenario: string,
  policy: ScriptedPolicy,
  envs = 1024,
  seed = 0,
): Promise<number> {
  const env = new FootballVecEnv(scenario, envs);
  await env.reset(seed);
  const n = env.spec.numAgents, seen = new Uint8Array(envs), act = new Int32Array(envs * n);
  let wins = 0;
  for (let t = 0; t < DURATION; t++) {
    for (let e = 0; e < envs; e++) {
      for (let i = 0; i < n; i++) act[e * n + i] = policy(env, e, i, t);
    }
    const s = await env.step(act);
    for (let e = 0; e < envs; e++) {
      if (s.done[e] && !seen[e]) seen[e] = 1, wins += env.ended[e] === END.goal ? 1 : 0;
    }
  }
  return wins / envs;
}

if (import.meta.main) {
  const { values } = parseArgs({
    args: Deno.args,
    options: { envs: { type: "string", default: "1024" }, seed: { type: "string", default: "0" } },
  });
  const envs = Number(values.envs), seed = Number(values.seed);
  console.log(`shot conversion against the native keeper (${envs} episodes a cell, seed ${seed})`);
  console.log("| distance (m) | y | " + Object.keys(SHOT_AIMS).join(" | ") + " |");
  console.log("|---:|---:|" + Object.keys(SHOT_AIMS).map(() => "---:").join("|") + "|");
  for (const d of SHOT_DISTANCES) {
    for (const y of [0, 0.1]) {
      const cells = [];
      for (const aim of Object.values(SHOT_AIMS)) {
        const r = await shotConversion(d, y, aim, envs, seed);
        cells.push(`${(100 * r.goal).toFixed(0)}% (out ${(100 * r.out).toFixed(0)}%)`);
      }
      console.log(`| ${(d * 52.5).toFixed(0)} | ${y} | ${cells.join(" | ")} |`);
    }
  }
  console.log(`\nwin rate of reference policies (first episode of ${envs} envs, seed ${seed})`);
  const names = Object.keys(REFERENCE_POLICIES);
  console.log(`| scenario | ${names.join(" | ")} |`);
  console.log(`|---|${names.map(() => "---:").join("|")}|`);
  for (const sc of Object.keys(SCENARIOS)) {
    const cells = [];
    for (const name of names) {
      const policy = REFERENCE_POLICIES[name]!(new Rng(seed + 1));
      cells.push(`${(100 * await policyWinRate(sc, policy, envs, seed)).toFixed(1)}%`);
    }
    console.log(`| ${sc} | ${cells.join(" | ")} |`);
  }
}
