/**
 * The physical constants and the action set of the native football academy (`football/*`).
 *
 * Units are GRF's observation units: the pitch is x in [-1, 1] (the left team, ours, attacks
 * towards +1), y in [-0.42, 0.42], one env step is one GRF step. GRF's engine runs 10 physics
 * frames of 10 ms per env step, so one step is 0.1 s of game time (docs: envs reference §3.7).
 * Lengths convert at 52.5 m per unit (a 105 m pitch over x in [-1, 1]); GRF scales y differently
 * (its 68 m width maps to 0.84), and we keep GRF's numbers for the pitch, the goal and every start
 * position, and use isotropic units for motion: what an agent sees has GRF's layout and ranges.
 *
 * Every constant below that is not GRF's own number is our estimate, with its reason. The GRF
 * engine's internal constants (humanoid animation, ball physics) are not reproduced: this is a
 * simplified 2-D game with GRF's interface, not a port of its engine.
 *
 * @module
 */

/** Pitch half-length (GRF: x in [-1, 1]). */
export const PITCH_X = 1;
/** Pitch half-width (GRF: y in [-0.42, 0.42]). */
export const PITCH_Y = 0.42;
/** Goal half-width (GRF: the goal spans y in [-0.044, 0.044]). */
export const GOAL_Y = 0.044;
/** Goal height: 2.44 m at 52.5 m per unit. */
export const GOAL_Z = 2.44 / 52.5;
/** Game steps of every academy scenario (GRF: `game_duration = 400`). */
export const DURATION = 400;

/** Running speed, units per step: ~5.8 m/s (a jog-to-run pace of a footballer; our estimate). */
export const RUN_SPEED = 0.011;
/** Sprint speed, units per step: ~8.4 m/s (close to a footballer's top speed; our estimate). */
export const SPRINT_SPEED = 0.016;
/** Dribbling speed, units per step: dribbling (sticky) trades speed for close control. */
export const DRIBBLE_SPEED = 0.009;
/** Largest change of a player's velocity in one step: full speed from standing in ~3 steps. */
export const ACCEL = 0.004;

/** Ball speed kept per step on the ground (rolling resistance): a pass at 0.03 rolls ~1 unit. */
export const BALL_ROLL_KEEP = 0.97;
/** Ball speed kept per step in the air (drag). */
export const BALL_AIR_KEEP = 0.995;
/** Gravity in units per step squared: 9.81 m/s^2 x (0.1 s)^2 / 52.5 m. */
export const GRAVITY = 9.81 * 0.01 / 52.5;
/** Vertical speed kept (and reversed) when the ball bounces. */
export const BOUNCE = 0.5;
/** Below this vertical speed a bounce ends and the ball rolls. */
export const BOUNCE_STOP = 0.002;

/** A field player controls a free ball within this distance (~1 m). */
export const CONTROL_RADIUS = 0.02;
/** ... when the ball is at most this high (~1.05 m: a chest trap). */
export const CONTROL_HEIGHT = 0.02;
/** ... and slower than this (a hard shot goes through). */
export const TRAP_SPEED = 0.06;
/**
 * A goalkeeper reaches a ball within this distance (~2.4 m: arms and a full dive; near its line
 * it covers the goal's half-width 0.044 given time). The keeper's constants below were set with
 * `scripts/football_shots.ts` so that conversion falls with distance (envs/football/README.md).
 */
export const KEEPER_REACH = 0.045;
/** ... at most this high (~2.6 m: the crossbar and a jump). */
export const KEEPER_HEIGHT = 0.05;
/**
 * Where a keeper stands when no shot is on its way: on the line from its goal's centre to the
 * ball, this fraction of the ball's distance out, within [{@link KEEPER_OUT_MIN},
 * {@link KEEPER_OUT_MAX}] (narrowing the angle; our estimate: GRF's keeper keeps ~0.7 m off its
 * line and comes out further against a runner through on goal).
 */
export const KEEPER_OUT = 0.05;
/** ... at least this far out (~0.5 m). */
export const KEEPER_OUT_MIN = 0.01;
/** ... and at most (~1 m). */
export const KEEPER_OUT_MAX = 0.02;
/**
 * A keeper's reach at the moment of a shot, before it has reacted (~0.6 m: arms and a lean).
 * Its reach then grows by {@link KEEPER_DIVE} a step up to {@link KEEPER_REACH} while it dives.
 */
export const KEEPER_BODY = 0.012;
/** Growth of a diving keeper's reach per step (~2.4 m/s sideways: our estimate of a dive). */
export const KEEPER_DIVE = 0.0045;
/**
 * Steps before a keeper reacts to a shot. GRF's AI sees the world a reaction time late:
 * 80 - 40 x (reaction stat) ms plus (1 - difficulty) x 100 ms (gfootball_engine
 * icontroller.cpp and playercontroller.cpp), about 0.1 s (one step) at the default difficulty.
 */
export const KEEPER_REACTION = 1;
/**
 * A free ball is "bound for goal" (that goal's keeper dives) when its straight path crosses
 * the goal line within this many goal half-widths and within {@link SHOT_HORIZON} steps. GRF's
 * keeper uses the ball's 0.8 s prediction and a "panic" margin of 1.02-1.5 post widths
 * (goalie_default.cpp, CalculateIfBallIsBoundForGoal).
 */
export const SHOT_PANIC = 1.2;
/** ... steps (0.8 s, as GRF's prediction). */
export const SHOT_HORIZON = 8;
/** The ball sits this far in front of its owner. */
export const BALL_OFFSET = 0.008;
/** Steps after a kick during which the kicker cannot take the ball back. */
export const KICK_COOLDOWN = 4;
/** A defender can take the ball from its owner within this distance (~0.8 m). */
export const TACKLE_RADIUS = 0.015;
/** A sliding tackle reaches this far (~1.3 m). */
export const SLIDE_RADIUS = 0.025;

/** Steps a short (ground) pass aims to take to its receiver. */
export const PASS_STEPS = 8;
/** Fastest ground pass, units per step (~31 m/s). */
export const MAX_PASS_SPEED = 0.06;
/** Initial vertical speed of a long pass: a flight of ~13 steps. */
export const LONG_PASS_VZ = 0.012;
/** Initial vertical speed of a high pass: a flight of ~21 steps. */
export const HIGH_PASS_VZ = 0.02;
/** Shot speed, units per step (~37 m/s: a hard shot). */
export const SHOT_SPEED = 0.07;
/** Shot lift (vertical speed): stays under the bar over ~0.8 units. */
export const SHOT_VZ = 0.004;
/**
 * How far (in y at the goal line) the held direction moves a shot's aim, per unit of its y
 * component: a diagonal (0.71) aims ~0.035 off centre, inside a post (GRF aims shots with the
 * stick; the scale is our estimate).
 */
export const SHOT_AIM = 0.05;
/** Aim error of a shot (std of the target y) at distance 0, and its growth per unit distance. */
export const SHOT_SPREAD = [0.008, 0.03] as const;

/** GRF's default action set (19 actions; `football_action_set.action_set_v1`). */
export const ACTIONS = [
  "idle",
  "left",
  "top_left",
  "top",
  "top_right",
  "right",
  "bottom_right",
  "bottom",
  "bottom_left",
  "long_pass",
  "high_pass",
  "short_pass",
  "shot",
  "sprint",
  "release_direction",
  "release_sprint",
  "sliding",
  "dribble",
  "release_dribble",
] as const;

/** Action ids by name. */
export const A = Object.fromEntries(ACTIONS.map((a, i) => [a, i])) as Record<
  (typeof ACTIONS)[number],
  number
>;

/**
 * Unit vectors of the 8 directions (actions 1-8). GRF's "top" is negative y (y grows downwards
 * in its observations), so `top` is (0, -1).
 */
export const DIRS: readonly (readonly [number, number])[] = [
  [-1, 0],
  [-Math.SQRT1_2, -Math.SQRT1_2],
  [0, -1],
  [Math.SQRT1_2, -Math.SQRT1_2],
  [1, 0],
  [Math.SQRT1_2, Math.SQRT1_2],
  [0, 1],
  [-Math.SQRT1_2, Math.SQRT1_2],
];

/** Sticky-action slots, in GRF's order: the 8 directions, then sprint and dribble. */
export const STICKY_SPRINT = 8, STICKY_DRIBBLE = 9, N_STICKY = 10;

/** Length of (x, y): `Math.sqrt(x x + y y)`, several times faster than `Math.hypot` in V8. */
export function len(x: number, y: number): number {
  return Math.sqrt(x * x + y * y);
}
