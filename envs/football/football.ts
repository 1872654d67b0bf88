/**
 * Native football academy, batched: `football/academy_3_vs_1_with_keeper`, ... (see
 * `README.md` beside this file). GRF's interface (the 19-action set with sticky actions,
 * `simple115v2` observations, `scoring` and `scoring,checkpoints` rewards, the academy's start
 * positions and end rules) over a simplified 2-D game (constants.ts) with a scripted opponent.
 *
 * State is structure-of-arrays typed buffers: players indexed `e * P + p` (P players per env,
 * the left team first), the ball indexed by env. Nothing is allocated on the hot path.
 *
 * @module
 */
import { z } from "../../core/deps.ts";
import { discrete } from "../../core/spaces.ts";
import type { Rng } from "../../core/rng.ts";
import { type EnvBuffers, type EnvSpec, VecEnvBase } from "../../core/vec_env.ts";
import type { EnvEntry } from "../../core/registry.ts";
import type { Scene } from "../../core/scene.ts";
import {
  A,
  ACCEL,
  ACTIONS,
  BALL_AIR_KEEP,
  BALL_OFFSET,
  BALL_ROLL_KEEP,
  BOUNCE,
  BOUNCE_STOP,
  CONTROL_HEIGHT,
  CONTROL_RADIUS,
  DIRS,
  DRIBBLE_SPEED,
  DURATION,
  GOAL_Y,
  GOAL_Z,
  GRAVITY,
  HIGH_PASS_VZ,
  KEEPER_BODY,
  KEEPER_DIVE,
  KEEPER_HEIGHT,
  KEEPER_OUT,
  KEEPER_OUT_MAX,
  KEEPER_OUT_MIN,
  KEEPER_REACH,
  KEEPER_REACTION,
  KICK_COOLDOWN,
  len,
  LONG_PASS_VZ,
  MAX_PASS_SPEED,
  N_STICKY,
  PASS_STEPS,
  PITCH_X,
  PITCH_Y,
  RUN_SPEED,
  SHOT_AIM,
  SHOT_HORIZON,
  SHOT_PANIC,
  SHOT_SPEED,
  SHOT_SPREAD,
  SHOT_VZ,
  SLIDE_RADIUS,
  SPRINT_SPEED,
  STICKY_DRIBBLE,
  STICKY_SPRINT,
  TACKLE_RADIUS,
  TRAP_SPEED,
} from "./constants.ts";
import { type Scenario, SCENARIOS } from "./scenarios.ts";

/** Length of a `simple115v2` observation. */
export const OBS_DIM = 115;
/** Checkpoints of GRF's `CheckpointRewardWrapper`, 0.1 each. */
const N_CHECKPOINTS = 10, CHECKPOINT_REWARD = 0.1;
/** How an episode ended (per env, for tests and replays). */
export const END = { none: 0, goal: 1, conceded: 2, out: 3, lost: 4 } as const;

/** Options of every `football/*` env. */
export const footballOptions = z.strictObject({
  rewards: z.enum(["scoring", "scoring,checkpoints"]).default("scoring,checkpoints").describe(
    "GRF's reward: scoring (+1 goal, -1 conceded), plus checkpoints (0.1 per 10 distance bands)",
  ),
  difficulty: z.number().min(0).max(1).default(0.6).describe(
    "opponent strength in [0, 1]: its speed and tackling (GRF's right_team_difficulty)",
  ),
  teammates: z.enum(["hold", "support"]).default("hold").describe(
    "our players no agent controls: hold their start positions, or support (run ahead in their lane while we have the ball, the nearest presses when we do not, pass to the most advanced agent)",
  ),
});

/** Parsed {@link footballOptions}. */
export type FootballOptions = z.infer<typeof footballOptions>;

/** The batched football academy env. */
export class FootballVecEnv extends VecEnvBase {
  readonly sc: Scenario;
  /** Players per env: the left team, then the right team. */
  readonly P: number;
  readonly nLeft: number;
  readonly nRight: number;
  /** Player index (in the env) of each agent. */
  readonly agentPlayer: Int32Array;
  /** The agent controlling each player (index in the env), or -1. */
  readonly playerAgent: Int32Array;
  /** Milliseconds spent in decisions (actions, scripted players) and in physics and rules. */
  readonly time = { decide: 0, physics: 0 };
  // players, index e * P + p
  readonly px: Float64Array;
  readonly py: Float64Array;
  readonly vx: Float64Array;
  readonly vy: Float64Array;
  /** Facing direction (unit vector): the last direction of motion. */
  readonly fx: Float64Array;
  readonly fy: Float64Array;
  /** Velocity of the last step (GRF's `*_direction`: per-step deltas). */
  readonly dx: Float64Array;
  readonly dy: Float64Array;
  /** Target velocity of this step. */
  readonly tvx: Float64Array;
  readonly tvy: Float64Array;
  readonly startX: Float64Array;
  readonly startY: Float64Array;
  // ball, index e
  readonly bx: Float64Array;
  readonly by: Float64Array;
  readonly bz: Float64Array;
  readonly bvx: Float64Array;
  readonly bvy: Float64Array;
  readonly bvz: Float64Array;
  /** Ball direction of the last step (per-step delta). */
  readonly bdx: Float64Array;
  readonly bdy: Float64Array;
  readonly bdz: Float64Array;
  /** The player who owns the ball, or -1. */
  readonly owner: Int32Array;
  /** The last kicker and the steps before it may take the ball back. */
  readonly kicker: Int32Array;
  readonly cooldown: Int32Array;
  /** How the last step ended its episode ({@link END}), kept across the automatic reset. */
  readonly ended: Uint8Array;
  /**
   * The goal the free ball is bound for (+1 the right goal, -1 ours, 0 none), and the steps since
   * it was kicked (the kick's step counts 1; 0 while a player has it).
   */
  readonly shotSide: Int8Array;
  readonly shotClock: Int32Array;
  // agents, index (e * n + i) * N_STICKY + slot
  readonly sticky: Uint8Array;
  /** Checkpoints collected, index e * n + i. */
  readonly collected: Int32Array;
  readonly #sliding: Uint8Array;
  /** A scripted player's target point, written by the target helpers (no allocation). */
  #gx = 0;
  #gy = 0;
  readonly #kick: Int32Array;
  readonly #speedScale: number;
  readonly #tackleP: number;
  readonly #checkpoints: boolean;
  readonly #support: boolean;

  /**
   * Creates it.
   * @param scenario an academy scenario name
   * @param numEnvs envs stepped at once
   * @param opts rewards and difficulty
   */
  constructor(scenario: string, numEnvs: number, opts: Partial<FootballOptions> = {}) {
    const sc = SCENARIOS[scenario];
    if (!sc) {
      throw new Error(
        `Unknown football scenario "${scenario}": choose from ${Object.keys(SCENARIOS).join(", ")}`,
      );
    }
    const o = footballOptions.parse(opts);
    const n = sc.controlled.length;
    const spec: EnvSpec = {
      numAgents: n,
      obsDim: OBS_DIM,
      stateDim: OBS_DIM + (n - 1) * 11,
      actionSpace: discrete(ACTIONS.length),
      episodeLimit: DURATION,
    };
    super(spec, numEnvs);
    this.sc = sc;
    this.nLeft = sc.left.length;
    this.nRight = sc.right.length;
    this.P = this.nLeft + this.nRight;
    this.agentPlayer = Int32Array.from(sc.controlled);
    this.playerAgent = new Int32Array(this.P).fill(-1);
    sc.controlled.forEach((p, i) => this.playerAgent[p] = i);
    const NP = numEnvs * this.P;
    [this.px, this.py, this.vx, this.vy, this.fx, this.fy, this.dx, this.dy, this.tvx, this.tvy] =
      Array.from(
        { length: 10 },
        () => new Float64Array(NP),
      );
    [this.bx, this.by, this.bz, this.bvx, this.bvy, this.bvz, this.bdx, this.bdy, this.bdz] = Array
      .from({ length: 9 }, () => new Float64Array(numEnvs));
    this.startX = Float64Array.from(
      [...sc.left.map((p) => p[0]), ...sc.right.map((p) => -p[0])],
    );
    this.startY = Float64Array.from(
      [...sc.left.map((p) => p[1]), ...sc.right.map((p) => -p[1])],
    );
    this.owner = new Int32Array(numEnvs).fill(-1);
    this.kicker = new Int32Array(numEnvs).fill(-1);
    this.cooldown = new Int32Array(numEnvs);
    this.ended = new Uint8Array(numEnvs);
    this.shotSide = new Int8Array(numEnvs);
    this.shotClock = new Int32Array(numEnvs);
    this.sticky = new Uint8Array(numEnvs * n * N_STICKY);
    this.collected = new Int32Array(numEnvs * n);
    this.#sliding = new Uint8Array(NP);
    this.#kick = new Int32Array(NP);
    this.#speedScale = 0.85 + 0.25 * o.difficulty;
    this.#tackleP = 0.15 + 0.35 * o.difficulty;
    this.#checkpoints = o.rewards === "scoring,checkpoints";
    this.#support = o.teammates === "support";
  }

  /** Whether player p (index within an env) is on the left team. */
  isLeft(p: number): boolean {
    return p < this.nLeft;
  }

  /** The goal player p's team defends: -1 (ours, x = -1) for the left team, +1 for the right. */
  goalSide(p: number): number {
    return p < this.nLeft ? -1 : 1;
  }

  /** Whether player p is a goalkeeper (the first player of each team). */
  isKeeper(p: number): boolean {
    return p === 0 || p === this.nLeft;
  }

  protected resetEnv(e: number, _rng: Rng): void {
    const { P } = this;
    for (let p = 0; p < P; p++) {
      const g = e * P + p;
      this.px[g] = this.startX[p]!;
      this.py[g] = this.startY[p]!;
      this.vx[g] =
        this.vy[g] =
        this.dx[g] =
        this.dy[g] =
          0;
      this.fx[g] = this.isLeft(p) ? 1 : -1;
      this.fy[g] = 0;
    }
    this.bx[e] = this.sc.ball[0];
    this.by[e] = this.sc.ball[1];
    this.bz[e] =
      this.bvx[e] =
      this.bvy[e] =
      this.bvz[e] =
        0;
    this.bdx[e] = this.bdy[e] = this.bdz[e] = 0;
    this.kicker[e] = -1;
    this.cooldown[e] = 0; // (ended keeps the last step's outcome across the automatic reset)
    this.shotSide[e] = this.shotClock[e] = 0;
    const n = this.spec.numAgents;
    this.sticky.fill(0, e * n * N_STICKY, (e + 1) * n * N_STICKY);
    this.collected.fill(0, e * n, (e + 1) * n);
    // kick-off: the nearest player within reach of the ball starts with it
    this.owner[e] = -1;
    this.#takeFreeBall(e, 0.03);
    const o = this.owner[e]!;
    if (o >= 0) { // facing the goal it attacks (a corner taker stands on the corner flag)
      const g = e * P + o, tx = (this.isLeft(o) ? PITCH_X : -PITCH_X) - this.px[g]!;
      const ty = -this.py[g]!, d = len(tx, ty);
      if (d > 0) this.fx[g] = tx / d, this.fy[g] = ty / d;
      this.#carry(e);
    }
  }

  protected stepEnvs(actions: Int32Array | Float32Array, buf: EnvBuffers): void {
    const n = this.spec.numAgents;
    const t0 = performance.now();
    for (let e = 0; e < this.numEnvs; e++) { // decisions: the agents' actions, the scripted players
      this.#applyActions(e, actions, n);
      this.#targets(e);
    }
    const t1 = performance.now();
    for (let e = 0; e < this.numEnvs; e++) { // physics and rules
      this.#integrate(e);
      this.#kicks(e);
      this.#boundForGoal(e);
      const end = this.#moveBall(e);
      if (end === END.none) this.#possession(e, this.rngs[e]!);
      let outcome: number = end;
      const owner = this.owner[e]!;
      if (
        outcome === END.none && this.sc.endOnPossessionChange && owner >= 0 && !this.isLeft(owner)
      ) {
        outcome = END.lost; // (the episode would have ended when they first took it)
      }
      this.ended[e] = outcome;
      // GRF's per-agent rewards; the team reward is their mean over agents
      const scoring = outcome === END.goal ? 1 : outcome === END.conceded ? -1 : 0;
      let total = 0;
      for (let i = 0; i < n; i++) total += scoring + this.#checkpointReward(e, i, scoring);
      buf.reward[e] = total / n;
      buf.done[e] = outcome === END.none ? 0 : 1;
      if (outcome !== END.none) buf.won[e] = outcome === END.goal ? 1 : 0;
    }
    this.time.decide += t1 - t0;
    this.time.physics += performance.now() - t1;
  }

  /** GRF's CheckpointRewardWrapper for agent i (0 with `rewards: scoring`). */
  #checkpointReward(e: number, i: number, scoring: number): number {
    if (!this.#checkpoints) return 0;
    const k = e * this.spec.numAgents + i;
    const have = this.collected[k]!;
    if (scoring === 1) { // a goal pays every checkpoint not yet collected
      this.collected[k] = N_CHECKPOINTS;
      return CHECKPOINT_REWARD * (N_CHECKPOINTS - have);
    }
    if (this.owner[e] !== this.agentPlayer[i]) return 0;
    const d = len(this.bx[e]! - 1, this.by[e]!);
    let c = have, r = 0;
    while (c < N_CHECKPOINTS && d <= 0.99 - (0.8 / (N_CHECKPOINTS - 1)) * c) {
      r += CHECKPOINT_REWARD;
      c++;
    }
    this.collected[k] = c;
    return r;
  }

  /** Agents' actions: sticky directions, sprint and dribble; kicks and slides as intents. */
  #applyActions(e: number, actions: Int32Array | Float32Array, n: number): void {
    const P = this.P;
    this.#kick.fill(-1, e * P, (e + 1) * P);
    this.#sliding.fill(0, e * P, (e + 1) * P);
    for (let i = 0; i < n; i++) {
      const a = actions[e * n + i]!, s = (e * n + i) * N_STICKY, g = e * P + this.agentPlayer[i]!;
      if (a >= A.left && a <= A.bottom_left) {
        this.sticky.fill(0, s, s + 8);
        this.sticky[s + a - A.left] = 1;
      } else if (a === A.release_direction) this.sticky.fill(0, s, s + 8);
      else if (a === A.sprint) this.sticky[s + STICKY_SPRINT] = 1;
      else if (a === A.release_sprint) this.sticky[s + STICKY_SPRINT] = 0;
      else if (a === A.dribble) this.sticky[s + STICKY_DRIBBLE] = 1;
      else if (a === A.release_dribble) this.sticky[s + STICKY_DRIBBLE] = 0;
      else if (a === A.sliding) this.#sliding[g] = 1;
      else if (a >= A.long_pass && a <= A.shot) this.#kick[g] = a;
    }
  }

  /** Every player's target velocity: the agents' sticky actions, the scripted policies. */
  #targets(e: number): void {
    const { P, nLeft } = this, n = this.spec.numAgents;
    const base = e * P, bx = this.bx[e]!, by = this.by[e]!, owner = this.owner[e]!;
    // the opponent's presser: its field player nearest the ball
    let presser = -1, best = Infinity;
    for (let p = nLeft + 1; p < P; p++) {
      const d = len(this.px[base + p]! - bx, this.py[base + p]! - by);
      if (d < best) best = d, presser = p;
    }
    // supporting teammates: ours has the ball, or our scripted field player nearest it presses
    const ours = owner >= 0 && owner < nLeft;
    let ourPresser = -1;
    if (this.#support && !ours) {
      best = Infinity;
      for (let p = 0; p < nLeft; p++) {
        if (this.isKeeper(p) || this.playerAgent[p]! >= 0) continue;
        const d = len(this.px[base + p]! - bx, this.py[base + p]! - by);
        if (d < best) best = d, ourPresser = p;
      }
    }
    for (let p = 0; p < P; p++) {
      const g = base + p;
      let tx = 0, ty = 0, speed = 0; // target direction (unit or zero) and speed
      const agent = this.playerAgent[p]!;
      if (agent >= 0) {
        const s = (e * n + agent) * N_STICKY;
        for (let d = 0; d < 8; d++) {
          if (this.sticky[s + d]) tx = DIRS[d]![0], ty = DIRS[d]![1];
        }
        speed = this.sticky[s + STICKY_SPRINT]
          ? SPRINT_SPEED
          : this.sticky[s + STICKY_DRIBBLE] && owner === p
          ? DRIBBLE_SPEED
          : RUN_SPEED;
      } else {
        // scripted: keepers guard their goal, the opponent presses and marks, our other
        // players hold their start positions
        const left = p < nLeft;
        if (this.isKeeper(p)) this.#keeperTarget(e, p);
        else if (p === presser) this.#gx = bx, this.#gy = by;
        else if (!left) this.#markTarget(e, g);
        else if (this.#support && ours) {
          this.#gx = Math.min(bx + 0.2, 0.8), this.#gy = this.startY[p]! * 0.7;
        } else if (p === ourPresser) this.#gx = bx, this.#gy = by;
        else this.#gx = this.startX[p]!, this.#gy = this.startY[p]!;
        const ddx = this.#gx - this.px[g]!, ddy = this.#gy - this.py[g]!, d = len(ddx, ddy);
        if (d > 1e-3) {
          tx = ddx / d, ty = ddy / d;
          speed = Math.min(d, d < 0.25 && !left ? SPRINT_SPEED : RUN_SPEED);
          if (!left) speed *= this.#speedScale;
        }
      }
      this.tvx[g] = tx * speed;
      this.tvy[g] = ty * speed;
    }
  }

  /** Players accelerate towards their target velocities (by at most ACCEL) and move. */
  #integrate(e: number): void {
    for (let g = e * this.P; g < (e + 1) * this.P; g++) {
      let ax = this.tvx[g]! - this.vx[g]!, ay = this.tvy[g]! - this.vy[g]!;
      const am = len(ax, ay);
      if (am > ACCEL) ax *= ACCEL / am, ay *= ACCEL / am;
      this.vx[g] += ax;
      this.vy[g] += ay;
      const ox = this.px[g]!, oy = this.py[g]!;
      this.px[g] = clamp(ox + this.vx[g]!, -PITCH_X - 0.05, PITCH_X + 0.05);
      this.py[g] = clamp(oy + this.vy[g]!, -PITCH_Y - 0.05, PITCH_Y + 0.05);
      this.dx[g] = this.px[g]! - ox;
      this.dy[g] = this.py[g]! - oy;
      const m = len(this.vx[g]!, this.vy[g]!);
      if (m > 1e-4) this.fx[g] = this.vx[g]! / m, this.fy[g] = this.vy[g]! / m;
    }
  }

  /**
   * Where a keeper goes: against a ball bound for its goal, once it has reacted, nowhere (it sets
   * its feet and dives: {@link #keeperReach}); else it stands on the line from its goal's centre
   * to the ball, further out the closer the ball (narrowing the angle), and rushes a free ball
   * that comes near.
   */
  #keeperTarget(e: number, p: number): void {
    const bx = this.bx[e]!, by = this.by[e]!, g = e * this.P + p;
    const side = this.goalSide(p), goalX = side * PITCH_X;
    if (this.shotSide[e] === side && this.shotClock[e]! >= KEEPER_REACTION) {
      this.#gx = this.px[g]!, this.#gy = this.py[g]!;
      return;
    }
    const ux = bx - goalX, uy = by, d = len(ux, uy);
    if (d < 1e-6) this.#gx = goalX, this.#gy = 0;
    else if (this.owner[e]! < 0 && d < 0.12) this.#gx = bx, this.#gy = by;
    else {
      const k = clamp(KEEPER_OUT * d, KEEPER_OUT_MIN, KEEPER_OUT_MAX);
      this.#gx = goalX + (ux / d) * k, this.#gy = (uy / d) * k;
    }
  }

  /**
   * Updates which goal the free ball is bound for: its straight path crosses that goal line
   * within {@link SHOT_PANIC} goal half-widths and {@link SHOT_HORIZON} steps (GRF's test).
   */
  #boundForGoal(e: number): void {
    const vx = this.bvx[e]!;
    let side = 0;
    if (this.owner[e]! < 0 && Math.abs(vx) > 1e-6) {
      const goalX = vx > 0 ? PITCH_X : -PITCH_X, t = (goalX - this.bx[e]!) / vx;
      if (
        t >= 0 && t <= SHOT_HORIZON &&
        Math.abs(this.by[e]! + this.bvy[e]! * t) <= GOAL_Y * SHOT_PANIC
      ) {
        side = vx > 0 ? 1 : -1;
      }
    }
    this.shotClock[e] = this.owner[e]! < 0 ? this.shotClock[e]! + 1 : 0;
    this.shotSide[e] = side;
  }

  /**
   * How far keeper p reaches this step: {@link KEEPER_REACH}, but against a ball bound for its
   * goal {@link KEEPER_BODY} until it has reacted, then growing by {@link KEEPER_DIVE} a step (a
   * dive: a shot it had little time for beats it more often).
   */
  #keeperReach(e: number, p: number): number {
    if (this.shotSide[e] !== this.goalSide(p)) return KEEPER_REACH;
    const dive = Math.max(0, this.shotClock[e]! - KEEPER_REACTION); // (the kick's step counts 1)
    return Math.min(KEEPER_REACH, KEEPER_BODY + KEEPER_DIVE * dive);
  }

  /** The keeper whose reach the free ball's last step (from ox, oy, oz) passed through, or -1. */
  #keeperSave(e: number, ox: number, oy: number, oz: number): number {
    const base = e * this.P, x = this.bx[e]!, y = this.by[e]!, z = this.bz[e]!;
    const sx = x - ox, sy = y - oy, ss = sx * sx + sy * sy;
    for (let k = 0; k < 2; k++) {
      const p = k === 0 ? 0 : this.nLeft;
      if (p === this.kicker[e] && this.cooldown[e]! > 0) continue;
      const kx = this.px[base + p]!, ky = this.py[base + p]!;
      const f = ss > 0 ? clamp(((kx - ox) * sx + (ky - oy) * sy) / ss, 0, 1) : 0;
      if (oz + f * (z - oz) > KEEPER_HEIGHT) continue;
      if (len(ox + f * sx - kx, oy + f * sy - ky) <= this.#keeperReach(e, p)) return p;
    }
    return -1;
  }

  /** An opponent's marking spot: goal-side of the nearest of our field players. */
  #markTarget(e: number, g: number): void {
    const base = e * this.P;
    let best = Infinity, mx = this.px[g]!, my = this.py[g]!;
    for (let p = 1; p < this.nLeft; p++) {
      const d = len(this.px[base + p]! - this.px[g]!, this.py[base + p]! - this.py[g]!);
      if (d < best) best = d, mx = this.px[base + p]!, my = this.py[base + p]!;
    }
    this.#gx = mx + (PITCH_X - mx) * 0.25, this.#gy = my * 0.75; // between it and the goal at +1
  }

  /** Our controlled player furthest up the pitch (the first of equals), or -1. */
  #mostAdvancedAgent(e: number): number {
    let to = -1, bestX = -Infinity;
    for (let i = 0; i < this.agentPlayer.length; i++) {
      const p = this.agentPlayer[i]!, x = this.px[e * this.P + p]!;
      if (x > bestX) bestX = x, to = p;
    }
    return to;
  }

  /** The ball owner's kick, if an agent asked for one. */
  #kicks(e: number): void {
    const owner = this.owner[e]!;
    if (owner < 0) return;
    const g = e * this.P + owner, kick = this.#kick[g]!;
    if (this.playerAgent[owner]! < 0) { // a scripted player clears (or passes) the ball at once
      const dir = this.isLeft(owner) ? 1 : -1, rng = this.rngs[e]!;
      this.owner[e] = -1;
      this.kicker[e] = owner;
      this.cooldown[e] = KICK_COOLDOWN;
      const noise = 0.1 * rng.normal();
      let tx = dir * 0.5, ty = -this.by[e]! * 0.5 + noise;
      const to = this.#support && dir > 0 ? this.#mostAdvancedAgent(e) : -1;
      if (to >= 0) { // a lofted pass to our most advanced agent (landing at its feet)
        const qx = this.px[e * this.P + to]! - this.bx[e]!,
          qy = this.py[e * this.P + to]! - this.by[e]!;
        if (len(qx, qy) > 1e-6) tx = qx, ty = qy + noise;
      }
      const d = len(tx, ty);
      const v = d / ((2 * LONG_PASS_VZ) / GRAVITY);
      this.#launch(e, (tx / d) * v, (ty / d) * v, LONG_PASS_VZ);
      return;
    }
    if (kick < 0) return;
    // direction: the held direction, else where the player faces
    const agent = this.playerAgent[owner]!, s = (e * this.spec.numAgents + agent) * N_STICKY;
    let dirX = this.fx[g]!, dirY = this.fy[g]!;
    for (let d = 0; d < 8; d++) if (this.sticky[s + d]) dirX = DIRS[d]![0], dirY = DIRS[d]![1];
    const bx = this.bx[e]!, by = this.by[e]!;
    this.owner[e] = -1;
    this.kicker[e] = owner;
    this.cooldown[e] = KICK_COOLDOWN;
    if (kick === A.shot) {
      const dist = len(PITCH_X - bx, by);
      const aim = clamp(by * 0.3 + dirY * SHOT_AIM, -GOAL_Y * 0.8, GOAL_Y * 0.8) +
        this.rngs[e]!.normal() * (SHOT_SPREAD[0] + SHOT_SPREAD[1] * dist);
      // towards the goal when facing it at all, else along the facing direction
      let sx = PITCH_X - bx, sy = aim - by;
      if (dirX <= 0) sx = dirX, sy = dirY;
      const m = len(sx, sy);
      this.#launch(e, (sx / m) * SHOT_SPEED, (sy / m) * SHOT_SPEED, SHOT_VZ);
      return;
    }
    // passes go to the teammate best placed along the kick direction
    const receiver = this.#receiver(e, owner, dirX, dirY, kick === A.short_pass ? 0 : 1);
    let tx: number, ty: number;
    if (receiver >= 0) {
      const r = e * this.P + receiver;
      tx = this.px[r]! + this.vx[r]! * PASS_STEPS - bx;
      ty = this.py[r]! + this.vy[r]! * PASS_STEPS - by;
    } else tx = dirX * 0.3, ty = dirY * 0.3;
    const d = len(tx, ty) || 1e-6;
    if (kick === A.short_pass) {
      // ground pass reaching the target in about PASS_STEPS steps under rolling resistance
      const v = Math.min(
        MAX_PASS_SPEED,
        d * (1 - BALL_ROLL_KEEP) / (1 - BALL_ROLL_KEEP ** PASS_STEPS),
      );
      this.#launch(e, (tx / d) * v, (ty / d) * v, 0);
    } else {
      // lofted: lands near the target after the flight time 2 vz / g
      const vz = kick === A.long_pass ? LONG_PASS_VZ : HIGH_PASS_VZ;
      const v = d / ((2 * vz) / GRAVITY);
      this.#launch(e, (tx / d) * v, (ty / d) * v, vz);
    }
  }

  #launch(e: number, vx: number, vy: number, vz: number): void {
    this.bvx[e] = vx;
    this.bvy[e] = vy;
    this.bvz[e] = vz;
  }

  /**
   * The teammate a pass goes to: the best alignment with the kick direction, preferring near
   * (short pass, `far` 0) or far (long and high passes, `far` 1) receivers; -1 if none is ahead.
   */
  #receiver(e: number, from: number, dirX: number, dirY: number, far: number): number {
    const left = this.isLeft(from), base = e * this.P;
    const lo = left ? 1 : this.nLeft + 1, hi = left ? this.nLeft : this.P; // no pass to a keeper
    let best = -1, bestScore = -Infinity;
    for (let p = lo; p < hi; p++) {
      if (p === from) continue;
      const rx = this.px[base + p]! - this.px[base + from]!;
      const ry = this.py[base + p]! - this.py[base + from]!;
      const d = len(rx, ry);
      if (d < 1e-6) continue;
      const cos = (rx * dirX + ry * dirY) / d;
      if (cos <= 0) continue;
      const score = cos + (far ? 0.5 : -0.5) * d;
      if (score > bestScore) bestScore = score, best = p;
    }
    return best;
  }

  /** Moves a free ball (or keeps it at its owner's feet); returns a goal or out of play. */
  #moveBall(e: number): number {
    const ox = this.bx[e]!, oy = this.by[e]!, oz = this.bz[e]!;
    if (this.owner[e]! >= 0) this.#carry(e); // dribbled: it may cross a line too
    else {
      let z = oz + this.bvz[e]!;
      this.bx[e] = ox + this.bvx[e]!;
      this.by[e] = oy + this.bvy[e]!;
      if (z > 0 || this.bvz[e]! > 0) {
        this.bvz[e] -= GRAVITY;
        this.bvx[e] *= BALL_AIR_KEEP;
        this.bvy[e] *= BALL_AIR_KEEP;
      } else {
        this.bvx[e] *= BALL_ROLL_KEEP;
        this.bvy[e] *= BALL_ROLL_KEEP;
      }
      if (z <= 0) {
        z = 0;
        this.bvz[e] = this.bvz[e]! < -BOUNCE_STOP ? -this.bvz[e]! * BOUNCE : 0;
      }
      this.bz[e] = z;
    }
    if (this.owner[e]! < 0) { // a keeper whose reach the ball passed through holds it
      const keeper = this.#keeperSave(e, ox, oy, oz);
      if (keeper >= 0) this.owner[e] = keeper, this.#carry(e);
    }
    const x = this.bx[e]!, y = this.by[e]!, z = this.bz[e]!;
    this.bdx[e] = x - ox, this.bdy[e] = y - oy, this.bdz[e] = z - oz;
    // a goal: the ball crosses a goal line between the posts and under the bar
    if (crossesGoal(PITCH_X, ox, oy, oz, x, y, z)) return END.goal;
    if (crossesGoal(-PITCH_X, ox, oy, oz, x, y, z)) return END.conceded;
    return Math.abs(x) > PITCH_X || Math.abs(y) > PITCH_Y ? END.out : END.none;
  }

  /** The ball at its owner's feet, moving with it. */
  #carry(e: number): void {
    const g = e * this.P + this.owner[e]!;
    this.bx[e] = this.px[g]! + this.fx[g]! * BALL_OFFSET;
    this.by[e] = this.py[g]! + this.fy[g]! * BALL_OFFSET;
    this.bz[e] = 0;
    this.bvx[e] = this.vx[g]!;
    this.bvy[e] = this.vy[g]!;
    this.bvz[e] = 0;
  }

  /** Tackles on the owner, or who takes a free ball. */
  #possession(e: number, rng: Rng): void {
    if (this.cooldown[e]! > 0) this.cooldown[e]--;
    const owner = this.owner[e]!, base = e * this.P;
    if (owner >= 0) {
      const left = this.isLeft(owner), n = this.spec.numAgents;
      const agent = this.playerAgent[owner]!;
      const dribbling = left && agent >= 0 &&
        this.sticky[(e * n + agent) * N_STICKY + STICKY_DRIBBLE] === 1;
      const lo = left ? this.nLeft : 0, hi = left ? this.P : this.nLeft;
      for (let p = lo; p < hi; p++) {
        const g = base + p, slide = this.#sliding[g] === 1;
        const d = len(this.px[g]! - this.bx[e]!, this.py[g]! - this.by[e]!);
        if (d > (slide ? SLIDE_RADIUS : TACKLE_RADIUS)) continue;
        const chance = (left ? this.#tackleP : 0.3) * (slide ? 1.5 : 1) * (dribbling ? 0.5 : 1);
        if (rng.uniform() < chance) {
          this.owner[e] = p;
          this.#carry(e);
          return;
        }
      }
      return;
    }
    this.#takeFreeBall(e, CONTROL_RADIUS);
    if (this.owner[e]! >= 0) this.#carry(e);
  }

  /** The nearest player able to take the free ball within `radius` (keepers reach further). */
  #takeFreeBall(e: number, radius: number): void {
    const base = e * this.P, bz = this.bz[e]!;
    const speed = len(this.bvx[e]!, this.bvy[e]!);
    let best = -1, bestD = Infinity;
    for (let p = 0; p < this.P; p++) {
      if (p === this.kicker[e] && this.cooldown[e]! > 0) continue;
      const keeper = this.isKeeper(p);
      // (a keeper's save of a ball bound for its goal is decided by #keeperSave alone)
      if (keeper && this.shotSide[e] === this.goalSide(p)) continue;
      if (bz > (keeper ? KEEPER_HEIGHT : CONTROL_HEIGHT)) continue;
      if (!keeper && speed > TRAP_SPEED) continue;
      const d = len(this.px[base + p]! - this.bx[e]!, this.py[base + p]! - this.by[e]!);
      if (d <= (keeper ? KEEPER_REACH : radius) && d < bestD) bestD = d, best = p;
    }
    this.owner[e] = best;
  }

  /**
   * Env 0 as a scene for `deno task replay`: the pitch (GRF's y grows downwards, the scene's
   * upwards, so y is negated), both teams (agents labelled by index, keepers "GK"), the ball
   * (larger when in the air) and the outcome.
   */
  protected override renderEnv0(): Scene {
    const shapes: Scene["shapes"] = [
      { kind: "rect", x: -PITCH_X, y: -PITCH_Y, w: 2 * PITCH_X, h: 2 * PITCH_Y, fill: "#3a8a3a" },
      { kind: "line", x1: 0, y1: -PITCH_Y, x2: 0, y2: PITCH_Y, stroke: "white" },
    ];
    for (const gx of [-PITCH_X, PITCH_X]) {
      shapes.push({
        kind: "line",
        x1: gx,
        y1: -GOAL_Y,
        x2: gx,
        y2: GOAL_Y,
        stroke: "white",
        width: 4,
      });
    }
    for (let p = 0; p < this.P; p++) {
      const agent = this.playerAgent[p]!, left = this.isLeft(p);
      shapes.push({
        kind: "circle",
        x: this.px[p]!,
        y: -this.py[p]!,
        r: 0.018,
        fill: left ? "royalblue" : "crimson",
        ...(agent >= 0 ? { label: String(agent) } : this.isKeeper(p) ? { label: "GK" } : {}),
      });
    }
    shapes.push({
      kind: "circle",
      x: this.bx[0]!,
      y: -this.by[0]!,
      r: 0.008 + this.bz[0]! * 0.2,
      fill: "white",
    });
    const what = ["", "goal", "conceded", "ball out of play", "possession lost"][this.ended[0]!];
    const owner = this.owner[0]!;
    return {
      bounds: [-PITCH_X - 0.05, -PITCH_Y - 0.05, PITCH_X + 0.05, PITCH_Y + 0.05],
      shapes,
      caption: what ||
        (owner < 0
          ? "ball free"
          : `ball: ${this.isLeft(owner) ? "ours" : "theirs"}${
            this.playerAgent[owner]! >= 0 ? ` (agent ${this.playerAgent[owner]})` : ""
          }`),
    };
  }

  protected observe(buf: EnvBuffers): void {
    const { P, nLeft, nRight } = this, n = this.spec.numAgents;
    const { obs, state } = buf;
    for (let e = 0; e < this.numEnvs; e++) {
      const base = e * P;
      for (let i = 0; i < n; i++) {
        const o = (e * n + i) * OBS_DIM;
        this.#simple115(obs, o, e, base, nLeft, nRight, this.agentPlayer[i]!);
      }
      // HARL's global state: agent 0's observation, then every other agent's active one-hot
      const s = e * this.spec.stateDim;
      state.set(obs.subarray(e * n * OBS_DIM, e * n * OBS_DIM + OBS_DIM), s);
      for (let i = 1; i < n; i++) {
        const a = s + OBS_DIM + (i - 1) * 11;
        state.fill(0, a, a + 11);
        state[a + this.agentPlayer[i]!] = 1;
      }
    }
  }

  /** GRF's `simple115v2` layout (`Simple115StateWrapper` with fixed positions). */
  #simple115(
    obs: Float32Array,
    o: number,
    e: number,
    base: number,
    nLeft: number,
    nRight: number,
    active: number,
  ): void {
    team22(obs, o, this.px, this.py, base, nLeft);
    team22(obs, o + 22, this.dx, this.dy, base, nLeft);
    team22(obs, o + 44, this.px, this.py, base + nLeft, nRight);
    team22(obs, o + 66, this.dx, this.dy, base + nLeft, nRight);
    o += 88;
    obs[o++] = this.bx[e]!, obs[o++] = this.by[e]!, obs[o++] = this.bz[e]!;
    obs[o++] = this.bdx[e]!, obs[o++] = this.bdy[e]!, obs[o++] = this.bdz[e]!;
    const owner = this.owner[e]!;
    obs[o++] = owner < 0 ? 1 : 0;
    obs[o++] = owner >= 0 && owner < nLeft ? 1 : 0;
    obs[o++] = owner >= nLeft ? 1 : 0;
    obs.fill(0, o, o + 11 + 7);
    obs[o + active] = 1;
    obs[o + 11] = 1; // game_mode: normal (academy episodes end before any restart)
  }
}

/** Whether the ball's step from (ox, oy, oz) to (x, y, z) crosses the goal at `line`. */
function crossesGoal(
  line: number,
  ox: number,
  oy: number,
  oz: number,
  x: number,
  y: number,
  z: number,
): boolean {
  if (!((ox - line) * (x - line) < 0 || (x === line && ox !== line))) return false;
  const f = (line - ox) / (x - ox);
  return Math.abs(oy + f * (y - oy)) < GOAL_Y && oz + f * (z - oz) < GOAL_Z;
}

/** Writes 11 (x, y) pairs from `X`, `Y` at `first .. first + count - 1`, then -1 padding. */
function team22(
  obs: Float32Array,
  o: number,
  X: Float64Array,
  Y: Float64Array,
  first: number,
  count: number,
): void {
  for (let k = 0; k < 11; k++) {
    if (k < count) {
      obs[o + 2 * k] = X[first + k]!;
      obs[o + 2 * k + 1] = Y[first + k]!;
    } else obs[o + 2 * k] = obs[o + 2 * k + 1] = -1;
  }
}

function clamp(v: number, lo: number, hi: number): number {
  return v < lo ? lo : v > hi ? hi : v;
}

/** One registry entry per academy scenario. */
export const footballEnvs: EnvEntry<typeof footballOptions>[] = Object.values(SCENARIOS).map((
  s,
) => ({
  id: `football/${s.name}`,
  description: `GRF ${s.name}: ${s.controlled.length} agent${
    s.controlled.length === 1 ? "" : "s"
  } vs a scripted opponent (native 2-D)`,
  options: footballOptions,
  create: (o, ctx) => new FootballVecEnv(s.name, ctx.numEnvs, o),
}));
