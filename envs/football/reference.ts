/**
 * The football academy's rules for one env, written plainly with one object per player: the
 * reference that the batched env (football.ts) is checked against bit for bit on random actions
 * (tests/football_test.ts). Every expression is the batched env's, in the same order, and the
 * random numbers are drawn in the same order from the env's own generator.
 *
 * @module
 */
import type { Rng } from "../../core/rng.ts";
import type { ScalarEnv } from "../../core/vec_env.ts";
import {
  A,
  ACCEL,
  BALL_AIR_KEEP,
  BALL_OFFSET,
  BALL_ROLL_KEEP,
  BOUNCE,
  BOUNCE_STOP,
  CONTROL_HEIGHT,
  CONTROL_RADIUS,
  DIRS,
  DRIBBLE_SPEED,
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
  TACKLE_RADIUS,
  TRAP_SPEED,
} from "./constants.ts";
import type { Scenario } from "./scenarios.ts";

interface Player {
  readonly left: boolean;
  readonly keeper: boolean;
  /** The controlling agent, or -1. */
  readonly agent: number;
  readonly sx: number;
  readonly sy: number;
  x: number;
  y: number;
  vx: number;
  vy: number;
  fx: number;
  fy: number;
  dx: number;
  dy: number;
  tvx: number;
  tvy: number;
  kick: number;
  sliding: boolean;
}

interface Agent {
  /** The held direction (0-7), or -1. */
  dir: number;
  sprint: boolean;
  dribble: boolean;
  collected: number;
}

const OUT = { none: 0, goal: 1, conceded: 2, out: 3, lost: 4 };

/** One football env, plainly (see the module doc). */
export class FootballReferenceEnv implements ScalarEnv {
  players: Player[] = [];
  agents: Agent[] = [];
  ball = { x: 0, y: 0, z: 0, vx: 0, vy: 0, vz: 0, dx: 0, dy: 0, dz: 0 };
  owner: Player | null = null;
  kicker: Player | null = null;
  cooldown = 0;
  /** The goal the free ball is bound for (+1, -1 or 0) and the steps since it was kicked. */
  shotSide = 0;
  shotClock = 0;
  #rng: Rng | null = null;
  readonly #speedScale: number;
  readonly #tackleP: number;

  /**
   * Creates it.
   * @param sc the scenario
   * @param opts rewards and difficulty, as the batched env's
   */
  constructor(
    readonly sc: Scenario,
    readonly opts: { checkpoints: boolean; difficulty: number; teammates?: "hold" | "support" },
  ) {
    this.#speedScale = 0.85 + 0.25 * opts.difficulty;
    this.#tackleP = 0.15 + 0.35 * opts.difficulty;
  }

  reset(rng: Rng): void {
    this.#rng = rng;
    const make = (x: number, y: number, left: boolean, keeper: boolean, agent: number) => ({
      left,
      keeper,
      agent,
      sx: x,
      sy: y,
      x,
      y,
      vx: 0,
      vy: 0,
      fx: left ? 1 : -1,
      fy: 0,
      dx: 0,
      dy: 0,
      tvx: 0,
      tvy: 0,
      kick: -1,
      sliding: false,
    });
    this.players = [
      ...this.sc.left.map((p, k) => make(p[0], p[1], true, k === 0, this.sc.controlled.indexOf(k))),
      ...this.sc.right.map((p, k) => make(-p[0], -p[1], false, k === 0, -1)),
    ];
    this.agents = this.sc.controlled.map(() => ({
      dir: -1,
      sprint: false,
      dribble: false,
      collected: 0,
    }));
    this.ball = {
      x: this.sc.ball[0],
      y: this.sc.ball[1],
      z: 0,
      vx: 0,
      vy: 0,
      vz: 0,
      dx: 0,
      dy: 0,
      dz: 0,
    };
    this.kicker = null;
    this.cooldown = 0;
    this.shotSide = this.shotClock = 0;
    this.owner = this.#freeBallTaker(0.03);
    if (this.owner) {
      const o = this.owner, tx = (o.left ? PITCH_X : -PITCH_X) - o.x, ty = -o.y;
      const d = len(tx, ty);
      if (d > 0) o.fx = tx / d, o.fy = ty / d;
      this.#carry();
    }
  }

  step(actions: Int32Array | Float32Array): { reward: number; terminated: boolean; won?: boolean } {
    for (const p of this.players) p.kick = -1, p.sliding = false;
    this.sc.controlled.forEach((k, i) => {
      const a = actions[i]!, ag = this.agents[i]!, p = this.players[k]!;
      if (a >= A.left && a <= A.bottom_left) ag.dir = a - A.left;
      else if (a === A.release_direction) ag.dir = -1;
      else if (a === A.sprint) ag.sprint = true;
      else if (a === A.release_sprint) ag.sprint = false;
      else if (a === A.dribble) ag.dribble = true;
      else if (a === A.release_dribble) ag.dribble = false;
      else if (a === A.sliding) p.sliding = true;
      else if (a >= A.long_pass && a <= A.shot) p.kick = a;
    });
    this.#targets();
    for (const p of this.players) this.#integrate(p);
    this.#kicks();
    this.#boundForGoal();
    const end = this.#moveBall();
    if (end === OUT.none) this.#possession();
    let outcome = end;
    if (outcome === OUT.none && this.sc.endOnPossessionChange && this.owner && !this.owner.left) {
      outcome = OUT.lost;
    }
    const scoring = outcome === OUT.goal ? 1 : outcome === OUT.conceded ? -1 : 0;
    let total = 0;
    this.agents.forEach((ag, i) => total += scoring + this.#checkpoint(ag, i, scoring));
    const reward = total / this.agents.length;
    if (outcome === OUT.none) return { reward, terminated: false };
    return { reward, terminated: true, won: outcome === OUT.goal };
  }

  #checkpoint(ag: Agent, i: number, scoring: number): number {
    if (!this.opts.checkpoints) return 0;
    const have = ag.collected;
    if (scoring === 1) {
      ag.collected = 10;
      return 0.1 * (10 - have);
    }
    if (this.owner !== this.players[this.sc.controlled[i]!]) return 0;
    const d = len(this.ball.x - 1, this.ball.y);
    let c = have, r = 0;
    while (c < 10 && d <= 0.99 - (0.8 / (10 - 1)) * c) {
      r += 0.1;
      c++;
    }
    ag.collected = c;
    return r;
  }

  #targets(): void {
    const b = this.ball, owner = this.owner;
    let presser: Player | null = null, best = Infinity;
    for (const p of this.players) {
      if (p.left || p.keeper) continue;
      const d = len(p.x - b.x, p.y - b.y);
      if (d < best) best = d, presser = p;
    }
    const support = this.opts.teammates === "support";
    const ours = owner !== null && owner.left;
    let ourPresser: Player | null = null;
    if (support && !ours) {
      best = Infinity;
      for (const p of this.players) {
        if (!p.left || p.keeper || p.agent >= 0) continue;
        const d = len(p.x - b.x, p.y - b.y);
        if (d < best) best = d, ourPresser = p;
      }
    }
    for (const p of this.players) {
      let tx = 0, ty = 0, speed = 0;
      if (p.agent >= 0) {
        const ag = this.agents[p.agent]!;
        if (ag.dir >= 0) tx = DIRS[ag.dir]![0], ty = DIRS[ag.dir]![1];
        speed = ag.sprint ? SPRINT_SPEED : ag.dribble && owner === p ? DRIBBLE_SPEED : RUN_SPEED;
      } else {
        let gx: number, gy: number;
        if (p.keeper) [gx, gy] = this.#keeperTarget(p, p.left ? -PITCH_X : PITCH_X);
        else if (p === presser) gx = b.x, gy = b.y;
        else if (!p.left) [gx, gy] = this.#markTarget(p);
        else if (support && ours) gx = Math.min(b.x + 0.2, 0.8), gy = p.sy * 0.7;
        else if (p === ourPresser) gx = b.x, gy = b.y;
        else gx = p.sx, gy = p.sy;
        const ddx = gx - p.x, ddy = gy - p.y, d = len(ddx, ddy);
        if (d > 1e-3) {
          tx = ddx / d, ty = ddy / d;
          speed = Math.min(d, d < 0.25 && !p.left ? SPRINT_SPEED : RUN_SPEED);
          if (!p.left) speed *= this.#speedScale;
        }
      }
      p.tvx = tx * speed;
      p.tvy = ty * speed;
    }
  }

  #integrate(p: Player): void {
    let ax = p.tvx - p.vx, ay = p.tvy - p.vy;
    const am = len(ax, ay);
    if (am > ACCEL) ax *= ACCEL / am, ay *= ACCEL / am;
    p.vx += ax;
    p.vy += ay;
    const ox = p.x, oy = p.y;
    p.x = Math.min(Math.max(ox + p.vx, -PITCH_X - 0.05), PITCH_X + 0.05);
    p.y = Math.min(Math.max(oy + p.vy, -PITCH_Y - 0.05), PITCH_Y + 0.05);
    p.dx = p.x - ox;
    p.dy = p.y - oy;
    const m = len(p.vx, p.vy);
    if (m > 1e-4) p.fx = p.vx / m, p.fy = p.vy / m;
  }

  #keeperTarget(p: Player, goalX: number): [number, number] {
    if (this.shotSide === Math.sign(goalX) && this.shotClock >= KEEPER_REACTION) return [p.x, p.y];
    const b = this.ball, ux = b.x - goalX, uy = b.y, d = len(ux, uy);
    if (d < 1e-6) return [goalX, 0];
    if (!this.owner && d < 0.12) return [b.x, b.y];
    const k = Math.min(Math.max(KEEPER_OUT * d, KEEPER_OUT_MIN), KEEPER_OUT_MAX);
    return [goalX + (ux / d) * k, (uy / d) * k];
  }

  #boundForGoal(): void {
    const b = this.ball;
    let side = 0;
    if (!this.owner && Math.abs(b.vx) > 1e-6) {
      const goalX = b.vx > 0 ? PITCH_X : -PITCH_X, t = (goalX - b.x) / b.vx;
      if (t >= 0 && t <= SHOT_HORIZON && Math.abs(b.y + b.vy * t) <= GOAL_Y * SHOT_PANIC) {
        side = b.vx > 0 ? 1 : -1;
      }
    }
    this.shotClock = this.owner ? 0 : this.shotClock + 1;
    this.shotSide = side;
  }

  #keeperReach(p: Player): number {
    if (this.shotSide !== (p.left ? -1 : 1)) return KEEPER_REACH;
    const dive = Math.max(0, this.shotClock - KEEPER_REACTION);
    return Math.min(KEEPER_REACH, KEEPER_BODY + KEEPER_DIVE * dive);
  }

  /** The keeper whose reach the ball's last step (from ox, oy, oz) passed through. */
  #keeperSave(ox: number, oy: number, oz: number): Player | null {
    const b = this.ball, sx = b.x - ox, sy = b.y - oy, ss = sx * sx + sy * sy;
    for (const p of this.players) {
      if (!p.keeper || (p === this.kicker && this.cooldown > 0)) continue;
      const f = ss > 0 ? Math.min(Math.max(((p.x - ox) * sx + (p.y - oy) * sy) / ss, 0), 1) : 0;
      if (oz + f * (b.z - oz) > KEEPER_HEIGHT) continue;
      if (len(ox + f * sx - p.x, oy + f * sy - p.y) <= this.#keeperReach(p)) return p;
    }
    return null;
  }

  #markTarget(p: Player): [number, number] {
    let best = Infinity, mx = p.x, my = p.y;
    for (const q of this.players) {
      if (!q.left || q.keeper) continue;
      const d = len(q.x - p.x, q.y - p.y);
      if (d < best) best = d, mx = q.x, my = q.y;
    }
    return [mx + (PITCH_X - mx) * 0.25, my * 0.75];
  }

  /** Our controlled player furthest up the pitch, in agent order (the first of equals). */
  #mostAdvancedAgent(): Player | null {
    let to: Player | null = null, bestX = -Infinity;
    for (const k of this.sc.controlled) {
      const q = this.players[k]!;
      if (q.x > bestX) bestX = q.x, to = q;
    }
    return to;
  }

  #kicks(): void {
    const o = this.owner, b = this.ball;
    if (!o) return;
    if (o.agent < 0) {
      const dir = o.left ? 1 : -1;
      this.#release(o);
      const noise = 0.1 * this.#rng!.normal();
      let tx = dir * 0.5, ty = -b.y * 0.5 + noise;
      if (this.opts.teammates === "support" && dir > 0) {
        const to = this.#mostAdvancedAgent();
        if (to) {
          const qx = to.x - b.x, qy = to.y - b.y;
          if (len(qx, qy) > 1e-6) tx = qx, ty = qy + noise;
        }
      }
      const d = len(tx, ty);
      const v = d / ((2 * LONG_PASS_VZ) / GRAVITY);
      b.vx = (tx / d) * v, b.vy = (ty / d) * v, b.vz = LONG_PASS_VZ;
      return;
    }
    if (o.kick < 0) return;
    const ag = this.agents[o.agent]!;
    let dirX = o.fx, dirY = o.fy;
    if (ag.dir >= 0) dirX = DIRS[ag.dir]![0], dirY = DIRS[ag.dir]![1];
    const bx = b.x, by = b.y;
    this.#release(o);
    if (o.kick === A.shot) {
      const dist = len(PITCH_X - bx, by);
      const aim = Math.min(Math.max(by * 0.3 + dirY * SHOT_AIM, -GOAL_Y * 0.8), GOAL_Y * 0.8) +
        this.#rng!.normal() * (SHOT_SPREAD[0] + SHOT_SPREAD[1] * dist);
      let sx = PITCH_X - bx, sy = aim - by;
      if (dirX <= 0) sx = dirX, sy = dirY;
      const m = len(sx, sy);
      b.vx = (sx / m) * SHOT_SPEED, b.vy = (sy / m) * SHOT_SPEED, b.vz = SHOT_VZ;
      return;
    }
    const far = o.kick === A.short_pass ? 0 : 1;
    let receiver: Player | null = null, bestScore = -Infinity;
    for (const q of this.players) {
      if (q === o || q.left !== o.left || q.keeper) continue;
      const rx = q.x - o.x, ry = q.y - o.y, d = len(rx, ry);
      if (d < 1e-6) continue;
      const cos = (rx * dirX + ry * dirY) / d;
      if (cos <= 0) continue;
      const score = cos + (far ? 0.5 : -0.5) * d;
      if (score > bestScore) bestScore = score, receiver = q;
    }
    let tx: number, ty: number;
    if (receiver) {
      tx = receiver.x + receiver.vx * PASS_STEPS - bx;
      ty = receiver.y + receiver.vy * PASS_STEPS - by;
    } else tx = dirX * 0.3, ty = dirY * 0.3;
    const d = len(tx, ty) || 1e-6;
    if (o.kick === A.short_pass) {
      const v = Math.min(
        MAX_PASS_SPEED,
        d * (1 - BALL_ROLL_KEEP) / (1 - BALL_ROLL_KEEP ** PASS_STEPS),
      );
      b.vx = (tx / d) * v, b.vy = (ty / d) * v, b.vz = 0;
    } else {
      const vz = o.kick === A.long_pass ? LONG_PASS_VZ : HIGH_PASS_VZ;
      const v = d / ((2 * vz) / GRAVITY);
      b.vx = (tx / d) * v, b.vy = (ty / d) * v, b.vz = vz;
    }
  }

  #release(o: Player): void {
    this.owner = null;
    this.kicker = o;
    this.cooldown = KICK_COOLDOWN;
  }

  #moveBall(): number {
    const b = this.ball, ox = b.x, oy = b.y, oz = b.z;
    if (this.owner) this.#carry();
    else {
      let z = oz + b.vz;
      b.x = ox + b.vx;
      b.y = oy + b.vy;
      if (z > 0 || b.vz > 0) {
        b.vz -= GRAVITY;
        b.vx *= BALL_AIR_KEEP;
        b.vy *= BALL_AIR_KEEP;
      } else {
        b.vx *= BALL_ROLL_KEEP;
        b.vy *= BALL_ROLL_KEEP;
      }
      if (z <= 0) {
        z = 0;
        b.vz = b.vz < -BOUNCE_STOP ? -b.vz * BOUNCE : 0;
      }
      b.z = z;
    }
    if (!this.owner) {
      const keeper = this.#keeperSave(ox, oy, oz);
      if (keeper) this.owner = keeper, this.#carry();
    }
    b.dx = b.x - ox, b.dy = b.y - oy, b.dz = b.z - oz;
    const crosses = (line: number) => {
      if (!((ox - line) * (b.x - line) < 0 || (b.x === line && ox !== line))) return false;
      const f = (line - ox) / (b.x - ox);
      return Math.abs(oy + f * (b.y - oy)) < GOAL_Y && oz + f * (b.z - oz) < GOAL_Z;
    };
    if (crosses(PITCH_X)) return OUT.goal;
    if (crosses(-PITCH_X)) return OUT.conceded;
    return Math.abs(b.x) > PITCH_X || Math.abs(b.y) > PITCH_Y ? OUT.out : OUT.none;
  }

  #carry(): void {
    const o = this.owner!, b = this.ball;
    b.x = o.x + o.fx * BALL_OFFSET;
    b.y = o.y + o.fy * BALL_OFFSET;
    b.z = 0;
    b.vx = o.vx;
    b.vy = o.vy;
    b.vz = 0;
  }

  #possession(): void {
    if (this.cooldown > 0) this.cooldown--;
    const o = this.owner, b = this.ball;
    if (o) {
      const dribbling = o.left && o.agent >= 0 && this.agents[o.agent]!.dribble;
      for (const p of this.players) {
        if (p.left === o.left) continue;
        const d = len(p.x - b.x, p.y - b.y);
        if (d > (p.sliding ? SLIDE_RADIUS : TACKLE_RADIUS)) continue;
        const chance = (o.left ? this.#tackleP : 0.3) * (p.sliding ? 1.5 : 1) *
          (dribbling ? 0.5 : 1);
        if (this.#rng!.uniform() < chance) {
          this.owner = p;
          this.#carry();
          return;
        }
      }
      return;
    }
    this.owner = this.#freeBallTaker(CONTROL_RADIUS);
    if (this.owner) this.#carry();
  }

  #freeBallTaker(radius: number): Player | null {
    const b = this.ball, speed = len(b.vx, b.vy);
    let best: Player | null = null, bestD = Infinity;
    for (const p of this.players) {
      if (p === this.kicker && this.cooldown > 0) continue;
      if (p.keeper && this.shotSide === (p.left ? -1 : 1)) continue;
      if (b.z > (p.keeper ? KEEPER_HEIGHT : CONTROL_HEIGHT)) continue;
      if (!p.keeper && speed > TRAP_SPEED) continue;
      const d = len(p.x - b.x, p.y - b.y);
      if (d <= (p.keeper ? KEEPER_REACH : radius) && d < bestD) {
        bestD = d, best = p;
      }
    }
    return best;
  }

  obs(out: Float32Array): void {
    const left = this.players.filter((p) => p.left), right = this.players.filter((p) => !p.left);
    this.sc.controlled.forEach((k, i) => {
      const row: number[] = [];
      for (
        const [team, X, Y] of [
          [left, "x", "y"],
          [left, "dx", "dy"],
          [right, "x", "y"],
          [right, "dx", "dy"],
        ] as const
      ) {
        for (let j = 0; j < 11; j++) {
          const p = team[j];
          row.push(p ? p[X] : -1, p ? p[Y] : -1);
        }
      }
      const b = this.ball, o = this.owner;
      row.push(b.x, b.y, b.z, b.dx, b.dy, b.dz);
      row.push(o ? 0 : 1, o && o.left ? 1 : 0, o && !o.left ? 1 : 0);
      const active = new Array(11).fill(0), mode = [1, 0, 0, 0, 0, 0, 0];
      active[k] = 1;
      row.push(...active, ...mode);
      out.set(row, i * 115);
    });
  }

  state(out: Float32Array): void {
    const first = new Float32Array(115 * this.sc.controlled.length);
    this.obs(first);
    out.set(first.subarray(0, 115));
    for (let i = 1; i < this.sc.controlled.length; i++) {
      const a = 115 + (i - 1) * 11;
      out.fill(0, a, a + 11);
      out[a + this.sc.controlled[i]!] = 1;
    }
  }
}
