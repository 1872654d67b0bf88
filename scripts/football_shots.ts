/**
 * How often a shot beats the native football keeper, by distance, angle and aim: the table the
 * keeper is calibrated against (envs/football/README.md, "The keeper").
 *
 * Each cell: `envs` episodes of `football/academy_run_to_score_with_keeper` with the defenders
 * moved out of play's way, our player placed with the ball at (1 - d, y) facing the goal, 20 idle
 * steps for the keeper to take its position, then one `shot` (with a held direction for the aimed
 * columns); a cell is the fraction of episodes that end in a goal.
 *
 * Usage: `deno run -A scripts/football_shots.ts [--envs 1024] [--seed 0]`
 *
 * @module
 */
import { parseArgs } from "node:util";
import { END, FootballVecEnv } from "../envs/football/football.ts";
import { A } from "../envs/football/constants.ts";

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
}
