/**
 * The scalar reference of the battle rules: one env, one object per unit, written for reading
 * rather than speed. The batched env (`smax.ts`) must produce bit-identical observations,
 * states, masks, rewards and terminations; `tests/smax_test.ts` checks it on random actions.
 *
 * Rules of one agent step (SMAC's `step_mul` = 8 game loops of 1/22.4 s):
 * 1. Agent orders from the actions; the scripted enemy AI picks its orders.
 * 2. Eight loops; in each, every live unit in index order (allies, then enemies) follows its
 *    order: move, or attack/heal its target (walk towards it while out of reach; fire when
 *    in reach and the weapon is cooled down). Hits draw shields down first; armour reduces
 *    each attack on health, to at least 0.5. Then overlapping ground units are pushed apart,
 *    damage and healing land, units at 0 health die, and cooldowns, shields (after 7.1 s
 *    unhurt), zerg health and medivac energy regenerate.
 * 3. SMAC's reward and termination (see `README.md`).
 *
 * @module
 */
import type { Rng } from "../../core/rng.ts";
import type { ScalarEnv } from "../../core/vec_env.ts";
import { drawLineup, type Layout, maxReward, N_NO_ATTACK, REWARD } from "./layout.ts";
import {
  DT,
  LOOPS_PER_SECOND,
  MEDIVAC_ENERGY,
  MOVE_AMOUNT,
  SHIELD_REGEN,
  SHIELD_REGEN_DELAY,
  STEP_MUL,
  UNIT_ID,
  UNITS,
  type UnitType,
} from "./units.ts";

/** Unit orders. */
export const ORDER = { stop: 0, move: 1, attack: 2, moveTo: 3 } as const;
/** Direction of move actions 2..5: north (+y), south, east (+x), west. */
export const DIRS: readonly (readonly [number, number])[] = [[0, 1], [0, -1], [1, 0], [-1, 0]];
const MEDIVAC = UNIT_ID["medivac"]!;

interface Unit {
  type: UnitType;
  typeId: number;
  team: 0 | 1;
  x: number;
  y: number;
  hp: number;
  sh: number;
  cd: number;
  energy: number;
  sinceHit: number;
  alive: boolean;
  order: number;
  /** Move direction or moveTo point. */
  ox: number;
  oy: number;
  target: number;
  /** The enemy AI's current target (kept while alive and in reach). */
  aiTarget: number;
  /** Damage and healing landing at the end of the loop. */
  dmgSh: number;
  dmgHp: number;
  healed: number;
  exploded: boolean;
  /** Whether the unit fired in the last step (for replays). */
  fired: number;
}

/** One battle. */
export class SmaxReferenceEnv implements ScalarEnv {
  units: Unit[] = [];
  t = 0;
  lastActions: Int32Array;
  norm = 1;

  constructor(readonly l: Layout) {
    this.lastActions = new Int32Array(l.nAllies);
  }

  reset(rng: Rng): void {
    const { types, x, y } = drawLineup(this.l, rng);
    this.units = Array.from(types, (id, u) => {
      const type = UNITS[id]!;
      return {
        type,
        typeId: id,
        team: u < this.l.nAllies ? 0 : 1,
        x: x[u]!,
        y: y[u]!,
        hp: type.health,
        sh: type.shield,
        cd: 0,
        energy: type.heal > 0 ? MEDIVAC_ENERGY.start : 0,
        sinceHit: 0,
        alive: true,
        order: ORDER.stop,
        ox: 0,
        oy: 0,
        target: -1,
        aiTarget: -1,
        dmgSh: 0,
        dmgHp: 0,
        healed: 0,
        exploded: false,
        fired: -1,
      };
    });
    this.t = 0;
    this.lastActions.fill(0);
    this.norm = maxReward(this.l, types) / REWARD.scaleTo;
  }

  step(actions: Int32Array | Float32Array): { reward: number; terminated: boolean; won?: boolean } {
    const l = this.l, us = this.units;
    for (let i = 0; i < l.nAllies; i++) this.lastActions[i] = actions[i]!;
    const before = us.map((u) => u.hp + u.sh);
    const wasAlive = us.map((u) => u.alive);
    for (const u of us) u.fired = -1;
    for (let i = 0; i < l.nAllies; i++) if (us[i]!.alive) this.agentOrder(i, actions[i]!);
    for (let j = l.nAllies; j < l.nUnits; j++) if (us[j]!.alive) this.aiOrder(j);
    for (let loop = 0; loop < STEP_MUL; loop++) this.loop();
    // SMAC reward: damage dealt to enemies plus a bonus per kill, only positive
    let delta = 0;
    for (let j = l.nAllies; j < l.nUnits; j++) {
      if (!wasAlive[j]) continue;
      const u = us[j]!;
      delta += before[j]! - (u.hp + u.sh);
      if (!u.alive) delta += REWARD.deathValue;
    }
    let reward = Math.max(delta, 0);
    const alliesLeft = us.some((u) => u.team === 0 && u.alive && u.typeId !== MEDIVAC);
    const enemiesLeft = us.some((u) => u.team === 1 && u.alive && u.typeId !== MEDIVAC);
    this.t += 1;
    let terminated = false, won = false;
    if (!enemiesLeft && alliesLeft) {
      reward += REWARD.win;
      terminated = won = true;
    } else if (!alliesLeft || this.t >= l.limit) {
      terminated = true;
    }
    return { reward: reward / this.norm, terminated, won: terminated ? won : undefined };
  }

  agentOrder(i: number, a: number): void {
    const u = this.units[i]!;
    if (a === 1) u.order = ORDER.stop;
    else if (a >= 2 && a < N_NO_ATTACK) {
      u.order = ORDER.move;
      [u.ox, u.oy] = DIRS[a - 2]!;
    } else if (a >= N_NO_ATTACK) {
      u.order = ORDER.attack;
      const k = a - N_NO_ATTACK;
      u.target = u.type.heal > 0 ? k : this.l.nAllies + k;
    }
  }

  /** The scripted enemy: focus the weakest unit in reach, else attack-move to the nearest seen. */
  aiOrder(j: number): void {
    const l = this.l, us = this.units, u = us[j]!;
    if (u.type.heal > 0) {
      let best = -1, bestFrac = 1, bestD = Infinity;
      for (let k = l.nAllies; k < l.nUnits; k++) {
        const v = us[k]!;
        if (!v.alive || v.typeId === MEDIVAC || v.hp >= v.type.health) continue;
        const d = dist(u, v);
        if (d >= u.type.sight) continue;
        const f = v.hp / v.type.health;
        if (f < bestFrac || (f === bestFrac && d < bestD)) [best, bestFrac, bestD] = [k, f, d];
      }
      if (best >= 0) {
        u.order = ORDER.attack;
        u.target = best;
        return;
      }
      let near = -1, nearD = Infinity;
      for (let k = l.nAllies; k < l.nUnits; k++) {
        const v = us[k]!;
        if (k === j || !v.alive || v.typeId === MEDIVAC) continue;
        const d = dist(u, v);
        if (d < nearD) [near, nearD] = [k, d];
      }
      if (near >= 0 && nearD > 2) {
        u.order = ORDER.moveTo;
        [u.ox, u.oy] = [us[near]!.x, us[near]!.y];
      } else u.order = ORDER.stop;
      return;
    }
    const cur = u.aiTarget >= 0 ? us[u.aiTarget]! : null;
    if (cur && cur.alive && dist(u, cur) <= reach(u, cur)) {
      u.order = ORDER.attack;
      u.target = u.aiTarget;
      return;
    }
    let best = -1, bestFrac = Infinity, bestD = Infinity;
    let near = -1, nearD = Infinity;
    for (let k = 0; k < l.nAllies; k++) {
      const v = us[k]!;
      if (!v.alive) continue;
      const d = dist(u, v);
      if (d <= reach(u, v)) {
        const f = (v.hp + v.sh) / (v.type.health + v.type.shield);
        if (f < bestFrac || (f === bestFrac && d < bestD)) [best, bestFrac, bestD] = [k, f, d];
      }
      if (d < u.type.sight && d < nearD) [near, nearD] = [k, d];
    }
    const pick = best >= 0 ? best : near;
    if (pick >= 0) {
      u.order = ORDER.attack;
      u.target = u.aiTarget = pick;
      return;
    }
    // nobody in sight: attack-move towards the centre of the surviving allies
    let cx = 0, cy = 0, n = 0;
    for (let k = 0; k < l.nAllies; k++) {
      if (us[k]!.alive) [cx, cy, n] = [cx + us[k]!.x, cy + us[k]!.y, n + 1];
    }
    if (n > 0) {
      u.order = ORDER.moveTo;
      [u.ox, u.oy] = [cx / n, cy / n];
    } else u.order = ORDER.stop;
  }

  loop(): void {
    const us = this.units, W = this.l.map;
    for (let i = 0; i < us.length; i++) {
      const u = us[i]!;
      if (!u.alive) continue;
      const step = u.type.speed * DT;
      if (u.order === ORDER.move) {
        u.x = clamp(u.x + u.ox * step, W);
        u.y = clamp(u.y + u.oy * step, W);
      } else if (u.order === ORDER.moveTo) {
        walkTowards(u, u.ox, u.oy, step, W);
      } else if (u.order === ORDER.attack) {
        const v = us[u.target]!;
        const healing = u.type.heal > 0;
        if (!v.alive || (healing && v.hp >= v.type.health)) {
          u.order = ORDER.stop;
          continue;
        }
        const d = dist(u, v);
        if (d > reach(u, v)) {
          walkTowards(u, v.x, v.y, step, W);
        } else if (healing) {
          const amount = Math.min(u.type.heal * DT, v.type.health - v.hp - v.healed, u.energy * 3);
          if (amount > 0) {
            u.fired = u.target;
            v.healed += amount;
            u.energy -= amount / 3;
          }
        } else if (u.cd <= 0) {
          u.fired = u.target;
          if (u.type.selfDestruct) {
            for (const w of us) {
              if (w.alive && w.team !== u.team && dist(u, w) <= u.type.splash) {
                hit(u.type, w);
              }
            }
            u.exploded = true;
          } else {
            hit(u.type, v);
            if (u.type.splash > 0) {
              for (const w of us) {
                if (
                  w !== v && w.alive && w.team !== u.team && w.typeId !== MEDIVAC &&
                  dist(v, w) <= u.type.splash
                ) hit(u.type, w);
              }
            }
          }
          u.cd = u.type.cooldown;
        }
      }
    }
    // push overlapping ground units apart (medivacs fly)
    for (let i = 0; i < us.length; i++) {
      const a = us[i]!;
      if (!a.alive || a.typeId === MEDIVAC) continue;
      for (let j = i + 1; j < us.length; j++) {
        const b = us[j]!;
        if (!b.alive || b.typeId === MEDIVAC) continue;
        const min = a.type.radius + b.type.radius;
        const dx = b.x - a.x, dy = b.y - a.y;
        if (Math.abs(dx) >= min || Math.abs(dy) >= min) continue;
        const d = Math.sqrt(dx * dx + dy * dy);
        if (d >= min) continue;
        const push = (min - d) / 2;
        const nx = d > 1e-9 ? dx / d : 1, ny = d > 1e-9 ? dy / d : 0;
        a.x = clamp(a.x - nx * push, W);
        a.y = clamp(a.y - ny * push, W);
        b.x = clamp(b.x + nx * push, W);
        b.y = clamp(b.y + ny * push, W);
      }
    }
    for (const u of us) {
      if (!u.alive) continue;
      if (u.dmgSh > 0 || u.dmgHp > 0) {
        u.sh -= u.dmgSh;
        u.hp -= u.dmgHp;
        u.sinceHit = 0;
      }
      u.hp = Math.min(u.hp + u.healed, u.type.health);
      u.dmgSh = u.dmgHp = u.healed = 0;
      if (u.hp <= 0 || u.exploded) {
        u.alive = false;
        u.hp = u.sh = 0;
        u.order = ORDER.stop;
        continue;
      }
      u.cd = Math.max(u.cd - DT, 0);
      u.sinceHit += DT;
      if (u.type.shield > 0 && u.sinceHit >= SHIELD_REGEN_DELAY) {
        u.sh = Math.min(u.sh + SHIELD_REGEN * DT, u.type.shield);
      }
      if (u.type.regen > 0) u.hp = Math.min(u.hp + u.type.regen * DT, u.type.health);
      if (u.type.heal > 0) {
        u.energy = Math.min(u.energy + MEDIVAC_ENERGY.regen * DT, MEDIVAC_ENERGY.max);
      }
    }
  }

  canMove(u: Unit, dir: number): boolean {
    const [dx, dy] = DIRS[dir]!;
    const x = u.x + dx * MOVE_AMOUNT / 2, y = u.y + dy * MOVE_AMOUNT / 2, W = this.l.map;
    return x >= 0 && x <= W && y >= 0 && y <= W;
  }

  canTarget(i: number, k: number): boolean {
    const l = this.l, u = this.units[i]!;
    if (u.type.heal > 0) {
      if (k >= l.nAllies || k === i) return false;
      const v = this.units[k]!;
      return v.alive && v.typeId !== MEDIVAC && dist(u, v) <= reach(u, v);
    }
    if (k >= l.nEnemies) return false;
    const v = this.units[l.nAllies + k]!;
    return v.alive && dist(u, v) <= reach(u, v);
  }

  availActions(out: Uint8Array): void {
    const l = this.l, A = l.nActions;
    out.fill(0);
    for (let i = 0; i < l.nAllies; i++) {
      const u = this.units[i]!, o = i * A;
      if (!u.alive) {
        out[o] = 1;
        continue;
      }
      out[o + 1] = 1;
      for (let d = 0; d < 4; d++) out[o + 2 + d] = this.canMove(u, d) ? 1 : 0;
      for (let k = 0; k < A - N_NO_ATTACK; k++) {
        out[o + N_NO_ATTACK + k] = this.canTarget(i, k) ? 1 : 0;
      }
    }
  }

  obs(out: Float32Array): void {
    const l = this.l, us = this.units, W = l.map;
    out.fill(0);
    for (let i = 0; i < l.nAllies; i++) {
      const u = us[i]!;
      let o = i * l.obsDim;
      if (!u.alive) continue;
      const sight = u.type.sight;
      for (let d = 0; d < 4; d++) out[o + d] = this.canMove(u, d) ? 1 : 0;
      o += 4;
      for (let k = 0; k < l.nEnemies; k++, o += l.enemyFeats) {
        const v = us[l.nAllies + k]!;
        const d = dist(u, v);
        if (!v.alive || d >= sight) continue;
        out[o] = u.type.heal > 0 ? 0 : (this.canTarget(i, k) ? 1 : 0);
        this.unitFeats(out, o + 1, u, v, d, l.enemyShield);
      }
      for (let k = 0; k < l.nAllies; k++) {
        if (k === i) continue;
        const v = us[k]!;
        const d = dist(u, v);
        if (v.alive && d < sight) {
          out[o] = 1;
          this.unitFeats(out, o + 1, u, v, d, l.allyShield);
        }
        o += l.allyFeats;
      }
      out[o++] = u.hp / u.type.health;
      if (l.allyShield) out[o++] = u.type.shield > 0 ? u.sh / u.type.shield : 0;
      out[o++] = u.x / W;
      out[o++] = u.y / W;
      const b = l.typeBit[u.typeId]!;
      if (b >= 0) out[o + b] = 1;
    }
  }

  unitFeats(out: Float32Array, o: number, u: Unit, v: Unit, d: number, shield: boolean): void {
    const sight = u.type.sight;
    out[o++] = d / sight;
    out[o++] = (v.x - u.x) / sight;
    out[o++] = (v.y - u.y) / sight;
    out[o++] = v.hp / v.type.health;
    if (shield) out[o++] = v.type.shield > 0 ? v.sh / v.type.shield : 0;
    const b = this.l.typeBit[v.typeId]!;
    if (b >= 0) out[o + b] = 1;
  }

  state(out: Float32Array): void {
    const l = this.l, us = this.units, half = l.map / 2;
    out.fill(0);
    let o = 0;
    for (let i = 0; i < l.nUnits; i++) {
      const u = us[i]!, ally = i < l.nAllies;
      const f = ally ? l.stateAllyFeats : l.stateEnemyFeats;
      if (u.alive) {
        let p = o;
        out[p++] = u.hp / u.type.health;
        if (ally) {
          out[p++] = u.type.heal > 0
            ? u.energy / MEDIVAC_ENERGY.max
            : u.cd * LOOPS_PER_SECOND / u.type.smacCooldown;
        }
        out[p++] = (u.x - half) / half;
        out[p++] = (u.y - half) / half;
        if (ally ? l.allyShield : l.enemyShield) {
          out[p++] = u.type.shield > 0 ? u.sh / u.type.shield : 0;
        }
        const b = l.typeBit[u.typeId]!;
        if (b >= 0) out[p + b] = 1;
      }
      o += f;
    }
    for (let i = 0; i < l.nAllies; i++) out[o + i * l.nActions + this.lastActions[i]!] = 1;
  }
}

/** Centre distance, computed the same way everywhere so both envs agree bit for bit. */
function dist(a: Unit, b: Unit): number {
  const dx = b.x - a.x, dy = b.y - a.y;
  return Math.sqrt(dx * dx + dy * dy);
}

/** Firing reach: attack range plus both collision radii (SC2 measures edge to edge). */
function reach(u: Unit, v: Unit): number {
  return u.type.range + u.type.radius + v.type.radius;
}

function clamp(v: number, W: number): number {
  return v < 0 ? 0 : v > W ? W : v;
}

function walkTowards(u: Unit, tx: number, ty: number, step: number, W: number): void {
  const dx = tx - u.x, dy = ty - u.y;
  const d = Math.sqrt(dx * dx + dy * dy);
  if (d <= step) {
    u.x = clamp(tx, W);
    u.y = clamp(ty, W);
  } else if (d > 0) {
    u.x = clamp(u.x + dx / d * step, W);
    u.y = clamp(u.y + dy / d * step, W);
  }
}

/** One volley of `a` on `v`: shields absorb first, armour reduces each attack on health. */
function hit(a: UnitType, v: Unit): void {
  const per = a.damage + (a.bonusVs && v.type.attributes.includes(a.bonusVs) ? a.bonus : 0);
  for (let k = 0; k < a.attacks; k++) {
    const shieldLeft = v.sh - v.dmgSh;
    if (shieldLeft >= per) v.dmgSh += per;
    else {
      v.dmgSh += Math.max(shieldLeft, 0);
      v.dmgHp += Math.max(per - Math.max(shieldLeft, 0) - v.type.armor, 0.5);
    }
  }
}
