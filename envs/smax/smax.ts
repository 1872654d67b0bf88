/**
 * SMACv2-style battles, batched: `smax/3m`, `smax/protoss_5_vs_5`, ... (see `README.md`).
 *
 * The rules are those of the scalar reference (`reference.ts`), stepped for E envs at once
 * over structure-of-arrays typed buffers indexed `e * U + u` (U units per env, allies first):
 * no objects are allocated on the hot path. Every arithmetic expression mirrors the
 * reference's, in the same order, so both produce bit-identical results
 * (`tests/smax_test.ts`).
 *
 * @module
 */
import { z } from "../../core/deps.ts";
import { discrete } from "../../core/spaces.ts";
import type { Rng } from "../../core/rng.ts";
import { type EnvBuffers, type EnvSpec, VecEnvBase } from "../../core/vec_env.ts";
import type { EnvEntry } from "../../core/registry.ts";
import { drawLineup, type Layout, layoutOf, maxReward, N_NO_ATTACK, REWARD } from "./layout.ts";
import { DIRS, ORDER } from "./reference.ts";
import {
  type Attribute,
  DT,
  LOOPS_PER_SECOND,
  MEDIVAC_ENERGY,
  MOVE_AMOUNT,
  SCENARIOS,
  SHIELD_REGEN,
  SHIELD_REGEN_DELAY,
  STEP_MUL,
  UNIT_ID,
  UNITS,
} from "./units.ts";

const ATTRS: readonly Attribute[] = ["light", "armored", "biological", "mechanical", "massive"];
const col = (f: (u: (typeof UNITS)[number]) => number) => Float64Array.from(UNITS, f);
const T_HP = col((u) => u.health), T_SH = col((u) => u.shield), T_ARM = col((u) => u.armor);
const T_DMG = col((u) => u.damage), T_BONUS = col((u) => u.bonus);
const T_BONUS_MASK = Int32Array.from(UNITS, (u) => u.bonusVs ? 1 << ATTRS.indexOf(u.bonusVs) : 0);
const T_ATTR_MASK = Int32Array.from(
  UNITS,
  (u) => u.attributes.reduce((m, a) => m | (1 << ATTRS.indexOf(a)), 0),
);
const T_ATTACKS = col((u) => u.attacks), T_CD = col((u) => u.cooldown);
const T_RANGE = col((u) => u.range), T_SIGHT = col((u) => u.sight);
const T_SPEED = col((u) => u.speed), T_RAD = col((u) => u.radius);
const T_HEAL = col((u) => u.heal), T_SPLASH = col((u) => u.splash);
const T_SELFD = Uint8Array.from(UNITS, (u) => (u.selfDestruct ? 1 : 0));
const T_REGEN = col((u) => u.regen), T_SMACCD = col((u) => u.smacCooldown);
const MEDIVAC = UNIT_ID["medivac"]!;
const DIR_X = Float64Array.from(DIRS, (d) => d[0]), DIR_Y = Float64Array.from(DIRS, (d) => d[1]);

/** One recorded step of env 0, for replays. */
export interface Frame {
  readonly x: number[];
  readonly y: number[];
  readonly hp: number[];
  readonly sh: number[];
  /** Target unit index of each unit that fired (or healed) in this step, else -1. */
  readonly fired: number[];
  readonly reward: number;
}

/** A recorded episode of env 0. */
export interface Recording {
  readonly scenario: string;
  readonly map: number;
  readonly nAllies: number;
  readonly types: string[];
  readonly frames: Frame[];
  won: boolean | null;
}

/** The batched battle env. */
export class SmaxVecEnv extends VecEnvBase {
  readonly l: Layout;
  readonly U: number;
  // per unit, index e * U + u
  readonly type: Int32Array;
  readonly x: Float64Array;
  readonly y: Float64Array;
  readonly hp: Float64Array;
  readonly sh: Float64Array;
  readonly cd: Float64Array;
  readonly energy: Float64Array;
  readonly sinceHit: Float64Array;
  readonly alive: Uint8Array;
  readonly order: Uint8Array;
  readonly ox: Float64Array;
  readonly oy: Float64Array;
  readonly target: Int32Array;
  readonly aiTarget: Int32Array;
  readonly dmgSh: Float64Array;
  readonly dmgHp: Float64Array;
  readonly healed: Float64Array;
  readonly exploded: Uint8Array;
  readonly fired: Int32Array;
  readonly before: Float64Array;
  readonly wasAlive: Uint8Array;
  // per env
  readonly t: Int32Array;
  readonly norm: Float64Array;
  readonly lastActions: Int32Array;
  /** Set to record env 0's episodes (replays); each reset of env 0 starts a new recording. */
  recordings: Recording[] | null = null;

  constructor(readonly scenarioName: string, numEnvs: number, limit?: number) {
    const s = SCENARIOS[scenarioName];
    if (!s) throw new Error(`Unknown smax scenario "${scenarioName}"`);
    const l = layoutOf(limit ? { ...s, limit } : s);
    const spec: EnvSpec = {
      numAgents: l.nAllies,
      obsDim: l.obsDim,
      stateDim: l.stateDim,
      actionSpace: discrete(l.nActions),
      episodeLimit: l.limit,
    };
    super(spec, numEnvs);
    this.l = l;
    const N = numEnvs * l.nUnits;
    this.U = l.nUnits;
    this.type = new Int32Array(N);
    this.x = new Float64Array(N);
    this.y = new Float64Array(N);
    this.hp = new Float64Array(N);
    this.sh = new Float64Array(N);
    this.cd = new Float64Array(N);
    this.energy = new Float64Array(N);
    this.sinceHit = new Float64Array(N);
    this.alive = new Uint8Array(N);
    this.order = new Uint8Array(N);
    this.ox = new Float64Array(N);
    this.oy = new Float64Array(N);
    this.target = new Int32Array(N);
    this.aiTarget = new Int32Array(N);
    this.dmgSh = new Float64Array(N);
    this.dmgHp = new Float64Array(N);
    this.healed = new Float64Array(N);
    this.exploded = new Uint8Array(N);
    this.fired = new Int32Array(N);
    this.before = new Float64Array(N);
    this.wasAlive = new Uint8Array(N);
    this.t = new Int32Array(numEnvs);
    this.norm = new Float64Array(numEnvs);
    this.lastActions = new Int32Array(numEnvs * l.nAllies);
  }

  protected resetEnv(e: number, rng: Rng): void {
    const l = this.l, U = this.U;
    const { types, x, y } = drawLineup(l, rng);
    for (let u = 0; u < U; u++) {
      const g = e * U + u, ty = types[u]!;
      this.type[g] = ty;
      this.x[g] = x[u]!;
      this.y[g] = y[u]!;
      this.hp[g] = T_HP[ty]!;
      this.sh[g] = T_SH[ty]!;
      this.cd[g] = 0;
      this.energy[g] = T_HEAL[ty]! > 0 ? MEDIVAC_ENERGY.start : 0;
      this.sinceHit[g] = 0;
      this.alive[g] = 1;
      this.order[g] = ORDER.stop;
      this.ox[g] = this.oy[g] = 0;
      this.target[g] = this.aiTarget[g] = -1;
      this.dmgSh[g] = this.dmgHp[g] = this.healed[g] = 0;
      this.exploded[g] = 0;
      this.fired[g] = -1;
    }
    this.t[e] = 0;
    this.lastActions.fill(0, e * l.nAllies, (e + 1) * l.nAllies);
    this.norm[e] = maxReward(l, types) / REWARD.scaleTo;
    if (e === 0 && this.recordings) {
      this.recordings.push({
        scenario: this.scenarioName,
        map: l.map,
        nAllies: l.nAllies,
        types: Array.from(types, (t) => UNITS[t]!.name),
        frames: [this.#frame(0)],
        won: null,
      });
    }
  }

  #frame(reward: number): Frame {
    const U = this.U, r2 = (v: number) => Math.round(v * 100) / 100;
    const pick = (a: Float64Array) => Array.from(a.subarray(0, U), r2);
    return {
      x: pick(this.x),
      y: pick(this.y),
      hp: pick(this.hp),
      sh: pick(this.sh),
      fired: Array.from(this.fired.subarray(0, U)),
      reward: r2(reward),
    };
  }

  protected stepEnvs(actions: Int32Array | Float32Array, buf: EnvBuffers): void {
    const l = this.l, U = this.U, nA = l.nAllies;
    for (let e = 0; e < this.numEnvs; e++) {
      const base = e * U;
      for (let u = 0; u < U; u++) {
        const g = base + u;
        this.before[g] = this.hp[g]! + this.sh[g]!;
        this.wasAlive[g] = this.alive[g]!;
        this.fired[g] = -1;
      }
      for (let i = 0; i < nA; i++) {
        const a = actions[e * nA + i]!;
        this.lastActions[e * nA + i] = a;
        if (this.alive[base + i]) this.#agentOrder(base + i, a);
      }
      for (let j = nA; j < U; j++) if (this.alive[base + j]) this.#aiOrder(base, j);
      for (let loop = 0; loop < STEP_MUL; loop++) this.#loop(base);
      // SMAC reward: damage dealt to enemies plus a bonus per kill, only positive
      let delta = 0;
      for (let j = nA; j < U; j++) {
        const g = base + j;
        if (!this.wasAlive[g]) continue;
        delta += this.before[g]! - (this.hp[g]! + this.sh[g]!);
        if (!this.alive[g]) delta += REWARD.deathValue;
      }
      let reward = Math.max(delta, 0);
      let alliesLeft = false, enemiesLeft = false;
      for (let u = 0; u < U; u++) {
        const g = base + u;
        if (this.alive[g] && this.type[g] !== MEDIVAC) {
          if (u < nA) alliesLeft = true;
          else enemiesLeft = true;
        }
      }
      this.t[e]! += 1;
      let done = 0, won = -1;
      if (!enemiesLeft && alliesLeft) {
        reward += REWARD.win;
        done = 1;
        won = 1;
      } else if (!alliesLeft || this.t[e]! >= l.limit) {
        done = 1;
        won = 0;
      }
      buf.reward[e] = reward / this.norm[e]!;
      buf.done[e] = done;
      buf.won[e] = won;
      if (e === 0 && this.recordings?.length) {
        const rec = this.recordings[this.recordings.length - 1]!;
        rec.frames.push(this.#frame(buf.reward[0]!));
        if (done) rec.won = won === 1;
      }
    }
  }

  #agentOrder(g: number, a: number): void {
    if (a === 1) this.order[g] = ORDER.stop;
    else if (a >= 2 && a < N_NO_ATTACK) {
      this.order[g] = ORDER.move;
      this.ox[g] = DIR_X[a - 2]!;
      this.oy[g] = DIR_Y[a - 2]!;
    } else if (a >= N_NO_ATTACK) {
      this.order[g] = ORDER.attack;
      const k = a - N_NO_ATTACK;
      this.target[g] = T_HEAL[this.type[g]!]! > 0 ? k : this.l.nAllies + k;
    }
  }

  #dist(a: number, b: number): number {
    const dx = this.x[b]! - this.x[a]!, dy = this.y[b]! - this.y[a]!;
    return Math.sqrt(dx * dx + dy * dy);
  }

  #reach(a: number, b: number): number {
    return T_RANGE[this.type[a]!]! + T_RAD[this.type[a]!]! + T_RAD[this.type[b]!]!;
  }

  #aiOrder(base: number, j: number): void {
    const l = this.l, U = this.U, nA = l.nAllies, g = base + j, ty = this.type[g]!;
    if (T_HEAL[ty]! > 0) {
      let best = -1, bestFrac = 1, bestD = Infinity;
      for (let k = nA; k < U; k++) {
        const h = base + k, tk = this.type[h]!;
        if (!this.alive[h] || tk === MEDIVAC || this.hp[h]! >= T_HP[tk]!) continue;
        const d = this.#dist(g, h);
        if (d >= T_SIGHT[ty]!) continue;
        const f = this.hp[h]! / T_HP[tk]!;
        if (f < bestFrac || (f === bestFrac && d < bestD)) {
          best = k;
          bestFrac = f;
          bestD = d;
        }
      }
      if (best >= 0) {
        this.order[g] = ORDER.attack;
        this.target[g] = best;
        return;
      }
      let near = -1, nearD = Infinity;
      for (let k = nA; k < U; k++) {
        const h = base + k;
        if (k === j || !this.alive[h] || this.type[h] === MEDIVAC) continue;
        const d = this.#dist(g, h);
        if (d < nearD) {
          near = k;
          nearD = d;
        }
      }
      if (near >= 0 && nearD > 2) {
        this.order[g] = ORDER.moveTo;
        this.ox[g] = this.x[base + near]!;
        this.oy[g] = this.y[base + near]!;
      } else this.order[g] = ORDER.stop;
      return;
    }
    const cur = this.aiTarget[g]!;
    if (
      cur >= 0 && this.alive[base + cur] && this.#dist(g, base + cur) <= this.#reach(g, base + cur)
    ) {
      this.order[g] = ORDER.attack;
      this.target[g] = cur;
      return;
    }
    let best = -1, bestFrac = Infinity, bestD = Infinity;
    let near = -1, nearD = Infinity;
    for (let k = 0; k < nA; k++) {
      const h = base + k;
      if (!this.alive[h]) continue;
      const d = this.#dist(g, h);
      if (d <= this.#reach(g, h)) {
        const tk = this.type[h]!;
        const f = (this.hp[h]! + this.sh[h]!) / (T_HP[tk]! + T_SH[tk]!);
        if (f < bestFrac || (f === bestFrac && d < bestD)) {
          best = k;
          bestFrac = f;
          bestD = d;
        }
      }
      if (d < T_SIGHT[ty]! && d < nearD) {
        near = k;
        nearD = d;
      }
    }
    const pick = best >= 0 ? best : near;
    if (pick >= 0) {
      this.order[g] = ORDER.attack;
      this.target[g] = this.aiTarget[g] = pick;
      return;
    }
    let cx = 0, cy = 0, n = 0;
    for (let k = 0; k < nA; k++) {
      if (this.alive[base + k]) {
        cx = cx + this.x[base + k]!;
        cy = cy + this.y[base + k]!;
        n = n + 1;
      }
    }
    if (n > 0) {
      this.order[g] = ORDER.moveTo;
      this.ox[g] = cx / n;
      this.oy[g] = cy / n;
    } else this.order[g] = ORDER.stop;
  }

  #walk(g: number, tx: number, ty: number, step: number): void {
    const W = this.l.map;
    const dx = tx - this.x[g]!, dy = ty - this.y[g]!;
    const d = Math.sqrt(dx * dx + dy * dy);
    if (d <= step) {
      this.x[g] = clamp(tx, W);
      this.y[g] = clamp(ty, W);
    } else if (d > 0) {
      this.x[g] = clamp(this.x[g]! + dx / d * step, W);
      this.y[g] = clamp(this.y[g]! + dy / d * step, W);
    }
  }

  /** One volley of a unit of type `ta` on unit `h`. */
  #hit(ta: number, h: number): void {
    const tv = this.type[h]!;
    const per = T_DMG[ta]! + ((T_BONUS_MASK[ta]! & T_ATTR_MASK[tv]!) !== 0 ? T_BONUS[ta]! : 0);
    for (let k = 0; k < T_ATTACKS[ta]!; k++) {
      const shieldLeft = this.sh[h]! - this.dmgSh[h]!;
      if (shieldLeft >= per) this.dmgSh[h]! += per;
      else {
        this.dmgSh[h]! += Math.max(shieldLeft, 0);
        this.dmgHp[h]! += Math.max(per - Math.max(shieldLeft, 0) - T_ARM[tv]!, 0.5);
      }
    }
  }

  #loop(base: number): void {
    const U = this.U, W = this.l.map, nA = this.l.nAllies;
    const { x, y, alive, order, type } = this;
    for (let i = 0; i < U; i++) {
      const g = base + i;
      if (!alive[g]) continue;
      const ty = type[g]!;
      const step = T_SPEED[ty]! * DT;
      const o = order[g]!;
      if (o === ORDER.move) {
        x[g] = clamp(x[g]! + this.ox[g]! * step, W);
        y[g] = clamp(y[g]! + this.oy[g]! * step, W);
      } else if (o === ORDER.moveTo) {
        this.#walk(g, this.ox[g]!, this.oy[g]!, step);
      } else if (o === ORDER.attack) {
        const h = base + this.target[g]!, tv = type[h]!;
        const healing = T_HEAL[ty]! > 0;
        if (!alive[h] || (healing && this.hp[h]! >= T_HP[tv]!)) {
          order[g] = ORDER.stop;
          continue;
        }
        const d = this.#dist(g, h);
        if (d > this.#reach(g, h)) {
          this.#walk(g, x[h]!, y[h]!, step);
        } else if (healing) {
          const amount = Math.min(
            T_HEAL[ty]! * DT,
            T_HP[tv]! - this.hp[h]! - this.healed[h]!,
            this.energy[g]! * 3,
          );
          if (amount > 0) {
            this.fired[g] = this.target[g]!;
            this.healed[h]! += amount;
            this.energy[g]! -= amount / 3;
          }
        } else if (this.cd[g]! <= 0) {
          this.fired[g] = this.target[g]!;
          const enemyLo = i < nA ? nA : 0, enemyHi = i < nA ? U : nA;
          if (T_SELFD[ty]) {
            for (let k = enemyLo; k < enemyHi; k++) {
              const w = base + k;
              if (alive[w] && this.#dist(g, w) <= T_SPLASH[ty]!) this.#hit(ty, w);
            }
            this.exploded[g] = 1;
          } else {
            this.#hit(ty, h);
            if (T_SPLASH[ty]! > 0) {
              for (let k = enemyLo; k < enemyHi; k++) {
                const w = base + k;
                if (
                  w !== h && alive[w] && type[w] !== MEDIVAC && this.#dist(h, w) <= T_SPLASH[ty]!
                ) this.#hit(ty, w);
              }
            }
          }
          this.cd[g] = T_CD[ty]!;
        }
      }
    }
    // push overlapping ground units apart (medivacs fly)
    for (let i = 0; i < U; i++) {
      const a = base + i;
      if (!alive[a] || type[a] === MEDIVAC) continue;
      const ra = T_RAD[type[a]!]!;
      for (let j = i + 1; j < U; j++) {
        const b = base + j;
        if (!alive[b] || type[b] === MEDIVAC) continue;
        const min = ra + T_RAD[type[b]!]!;
        const dx = x[b]! - x[a]!, dy = y[b]! - y[a]!;
        if (Math.abs(dx) >= min || Math.abs(dy) >= min) continue;
        const d = Math.sqrt(dx * dx + dy * dy);
        if (d >= min) continue;
        const push = (min - d) / 2;
        const nx = d > 1e-9 ? dx / d : 1, ny = d > 1e-9 ? dy / d : 0;
        x[a] = clamp(x[a]! - nx * push, W);
        y[a] = clamp(y[a]! - ny * push, W);
        x[b] = clamp(x[b]! + nx * push, W);
        y[b] = clamp(y[b]! + ny * push, W);
      }
    }
    for (let u = 0; u < U; u++) {
      const g = base + u;
      if (!alive[g]) continue;
      const ty = type[g]!;
      if (this.dmgSh[g]! > 0 || this.dmgHp[g]! > 0) {
        this.sh[g]! -= this.dmgSh[g]!;
        this.hp[g]! -= this.dmgHp[g]!;
        this.sinceHit[g] = 0;
      }
      this.hp[g] = Math.min(this.hp[g]! + this.healed[g]!, T_HP[ty]!);
      this.dmgSh[g] = this.dmgHp[g] = this.healed[g] = 0;
      if (this.hp[g]! <= 0 || this.exploded[g]) {
        alive[g] = 0;
        this.hp[g] = this.sh[g] = 0;
        order[g] = ORDER.stop;
        continue;
      }
      this.cd[g] = Math.max(this.cd[g]! - DT, 0);
      this.sinceHit[g]! += DT;
      if (T_SH[ty]! > 0 && this.sinceHit[g]! >= SHIELD_REGEN_DELAY) {
        this.sh[g] = Math.min(this.sh[g]! + SHIELD_REGEN * DT, T_SH[ty]!);
      }
      if (T_REGEN[ty]! > 0) this.hp[g] = Math.min(this.hp[g]! + T_REGEN[ty]! * DT, T_HP[ty]!);
      if (T_HEAL[ty]! > 0) {
        this.energy[g] = Math.min(this.energy[g]! + MEDIVAC_ENERGY.regen * DT, MEDIVAC_ENERGY.max);
      }
    }
  }

  #canMove(g: number, dir: number): boolean {
    const W = this.l.map;
    const x = this.x[g]! + DIR_X[dir]! * MOVE_AMOUNT / 2,
      y = this.y[g]! + DIR_Y[dir]! * MOVE_AMOUNT / 2;
    return x >= 0 && x <= W && y >= 0 && y <= W;
  }

  #canTarget(base: number, i: number, k: number): boolean {
    const l = this.l, g = base + i, ty = this.type[g]!;
    if (T_HEAL[ty]! > 0) {
      if (k >= l.nAllies || k === i) return false;
      const h = base + k;
      return this.alive[h] === 1 && this.type[h] !== MEDIVAC &&
        this.#dist(g, h) <= this.#reach(g, h);
    }
    if (k >= l.nEnemies) return false;
    const h = base + l.nAllies + k;
    return this.alive[h] === 1 && this.#dist(g, h) <= this.#reach(g, h);
  }

  protected observe(buf: EnvBuffers): void {
    const l = this.l, U = this.U, nA = l.nAllies, A = l.nActions, W = l.map, half = W / 2;
    const { obs, state } = buf, avail = buf.availActions!;
    const { x, y, hp, sh, alive, type } = this;
    obs.fill(0);
    state.fill(0);
    avail.fill(0);
    for (let e = 0; e < this.numEnvs; e++) {
      const base = e * U;
      for (let i = 0; i < nA; i++) {
        const g = base + i, ty = type[g]!;
        const av = (e * nA + i) * A;
        let o = (e * nA + i) * l.obsDim;
        if (!alive[g]) {
          avail[av] = 1;
          continue;
        }
        avail[av + 1] = 1;
        for (let d = 0; d < 4; d++) {
          const m = this.#canMove(g, d) ? 1 : 0;
          avail[av + 2 + d] = m;
          obs[o + d] = m;
        }
        for (let k = 0; k < A - N_NO_ATTACK; k++) {
          avail[av + N_NO_ATTACK + k] = this.#canTarget(base, i, k) ? 1 : 0;
        }
        o += 4;
        const sight = T_SIGHT[ty]!;
        const healer = T_HEAL[ty]! > 0;
        for (let k = 0; k < l.nEnemies; k++, o += l.enemyFeats) {
          const h = base + nA + k;
          const d = this.#dist(g, h);
          if (!alive[h] || d >= sight) continue;
          obs[o] = healer ? 0 : (this.#canTarget(base, i, k) ? 1 : 0);
          this.#unitFeats(obs, o + 1, g, h, d, sight, l.enemyShield);
        }
        for (let k = 0; k < nA; k++) {
          if (k === i) continue;
          const h = base + k;
          const d = this.#dist(g, h);
          if (alive[h] && d < sight) {
            obs[o] = 1;
            this.#unitFeats(obs, o + 1, g, h, d, sight, l.allyShield);
          }
          o += l.allyFeats;
        }
        obs[o++] = hp[g]! / T_HP[ty]!;
        if (l.allyShield) obs[o++] = T_SH[ty]! > 0 ? sh[g]! / T_SH[ty]! : 0;
        obs[o++] = x[g]! / W;
        obs[o++] = y[g]! / W;
        const b = l.typeBit[ty]!;
        if (b >= 0) obs[o + b] = 1;
      }
      let o = e * l.stateDim;
      for (let u = 0; u < U; u++) {
        const g = base + u, ally = u < nA, ty = type[g]!;
        if (alive[g]) {
          let p = o;
          state[p++] = hp[g]! / T_HP[ty]!;
          if (ally) {
            state[p++] = T_HEAL[ty]! > 0
              ? this.energy[g]! / MEDIVAC_ENERGY.max
              : this.cd[g]! * LOOPS_PER_SECOND / T_SMACCD[ty]!;
          }
          state[p++] = (x[g]! - half) / half;
          state[p++] = (y[g]! - half) / half;
          if (ally ? l.allyShield : l.enemyShield) {
            state[p++] = T_SH[ty]! > 0 ? sh[g]! / T_SH[ty]! : 0;
          }
          const b = l.typeBit[ty]!;
          if (b >= 0) state[p + b] = 1;
        }
        o += ally ? l.stateAllyFeats : l.stateEnemyFeats;
      }
      for (let i = 0; i < nA; i++) state[o + i * A + this.lastActions[e * nA + i]!] = 1;
    }
  }

  #unitFeats(
    out: Float32Array,
    o: number,
    g: number,
    h: number,
    d: number,
    sight: number,
    shield: boolean,
  ): void {
    const th = this.type[h]!;
    out[o++] = d / sight;
    out[o++] = (this.x[h]! - this.x[g]!) / sight;
    out[o++] = (this.y[h]! - this.y[g]!) / sight;
    out[o++] = this.hp[h]! / T_HP[th]!;
    if (shield) out[o++] = T_SH[th]! > 0 ? this.sh[h]! / T_SH[th]! : 0;
    const b = this.l.typeBit[th]!;
    if (b >= 0) out[o + b] = 1;
  }
}

function clamp(v: number, W: number): number {
  return v < 0 ? 0 : v > W ? W : v;
}

/** Options of every `smax/*` env. */
export const smaxOptions = z.strictObject({
  episodeLimit: z.int().positive().optional().describe(
    "agent steps before the battle ends as a loss (default: the scenario's SMAC limit)",
  ),
});

/** One registry entry per scenario. */
export const smaxEnvs: EnvEntry<typeof smaxOptions>[] = Object.values(SCENARIOS).map((s) => ({
  id: `smax/${s.name}`,
  description: s.kind === "gen"
    ? `SMACv2-style ${s.race} ${s.nAllies} vs ${s.nEnemies}, random teams and start positions (native)`
    : `SMAC ${s.name}: ${s.allies.length} ${
      [...new Set(s.allies)].join("/")
    } vs ${s.enemies.length} ${[...new Set(s.enemies)].join("/")} (native)`,
  options: smaxOptions,
  create: (o, ctx) => new SmaxVecEnv(s.name, ctx.numEnvs, o.episodeLimit),
}));
