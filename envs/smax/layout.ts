/**
 * What the batched env and its scalar reference share: the scenario's sizes and feature
 * layout (SMACv2's observation, state and action layouts), and episode generation (SMACv2's
 * `weighted_teams` and `surrounded_and_reflect`, or a classic SMAC fixed line-up).
 *
 * @module
 */
import type { Rng } from "../../core/rng.ts";
import { RACES, type Scenario, UNIT_ID, UNITS } from "./units.ts";

/** Sizes and offsets of one scenario. */
export interface Layout {
  readonly scenario: Scenario;
  readonly nAllies: number;
  readonly nEnemies: number;
  /** nAllies + nEnemies. */
  readonly nUnits: number;
  /** Map side in cells (square map). */
  readonly map: number;
  readonly limit: number;
  /** Unit type ids that have a one-hot bit, in bit order (empty: no type bits). */
  readonly typeIds: readonly number[];
  /** Bit index of each unit type id, or -1. */
  readonly typeBit: Int32Array;
  readonly typeBits: number;
  /** Whether ally rows (and own features) / enemy rows carry a shield feature. */
  readonly allyShield: boolean;
  readonly enemyShield: boolean;
  /** Actions: 0 no-op, 1 stop, 2-5 move N/S/E/W, 6 + k attack enemy k (medivac: heal ally k). */
  readonly nActions: number;
  /** Per-row feature counts: enemy row, ally row, own features. */
  readonly enemyFeats: number;
  readonly allyFeats: number;
  readonly ownFeats: number;
  readonly obsDim: number;
  /** State: ally rows, enemy rows, then last actions one-hot. */
  readonly stateAllyFeats: number;
  readonly stateEnemyFeats: number;
  readonly stateDim: number;
}

/** Number of actions before the attack targets. */
export const N_NO_ATTACK = 6;

/**
 * Computes the layout of a scenario.
 * @param s the scenario
 * @returns sizes and offsets
 */
export function layoutOf(s: Scenario): Layout {
  let typeIds: number[], allyShield: boolean, enemyShield: boolean, medivac: boolean;
  let nAllies: number, nEnemies: number;
  if (s.kind === "gen") {
    typeIds = RACES[s.race].types.map((t) => UNIT_ID[t]!);
    allyShield = enemyShield = s.race === "protoss";
    medivac = s.race === "terran";
    nAllies = s.nAllies;
    nEnemies = s.nEnemies;
  } else {
    const all = [...new Set([...s.allies, ...s.enemies].map((t) => UNIT_ID[t]!))].sort((a, b) =>
      a - b
    );
    typeIds = all.length > 1 ? all : [];
    allyShield = s.allies.some((t) => UNITS[UNIT_ID[t]!]!.shield > 0);
    enemyShield = s.enemies.some((t) => UNITS[UNIT_ID[t]!]!.shield > 0);
    medivac = s.allies.includes("medivac");
    nAllies = s.allies.length;
    nEnemies = s.enemies.length;
  }
  const typeBit = new Int32Array(UNITS.length).fill(-1);
  typeIds.forEach((id, b) => (typeBit[id] = b));
  const typeBits = typeIds.length;
  const enemyFeats = 4 + 1 + (enemyShield ? 1 : 0) + typeBits;
  const allyFeats = 4 + 1 + (allyShield ? 1 : 0) + typeBits;
  const ownFeats = 1 + (allyShield ? 1 : 0) + 2 + typeBits;
  const nActions = N_NO_ATTACK + Math.max(nEnemies, medivac ? nAllies : 0);
  const stateAllyFeats = 4 + (allyShield ? 1 : 0) + typeBits;
  const stateEnemyFeats = 3 + (enemyShield ? 1 : 0) + typeBits;
  return {
    scenario: s,
    nAllies,
    nEnemies,
    nUnits: nAllies + nEnemies,
    map: s.map,
    limit: s.limit,
    typeIds,
    typeBit,
    typeBits,
    allyShield,
    enemyShield,
    nActions,
    enemyFeats,
    allyFeats,
    ownFeats,
    obsDim: 4 + nEnemies * enemyFeats + (nAllies - 1) * allyFeats + ownFeats,
    stateAllyFeats,
    stateEnemyFeats,
    stateDim: nAllies * stateAllyFeats + nEnemies * stateEnemyFeats + nAllies * nActions,
  };
}

/** The start of an episode: unit types and positions, allies first, then enemies. */
export interface Lineup {
  readonly types: Int32Array;
  readonly x: Float64Array;
  readonly y: Float64Array;
}

function weightedDraw(rng: Rng, weights: readonly number[]): number {
  const u = rng.uniform();
  let acc = 0;
  for (let i = 0; i < weights.length; i++) {
    acc += weights[i]!;
    if (u < acc) return i;
  }
  return weights.length - 1;
}

/** SMACv2 `weighted_teams`: allies drawn by weight (not all the exception type); enemies mirror. */
function genTeams(s: Extract<Scenario, { kind: "gen" }>, rng: Rng): [number[], number[]] {
  const race = RACES[s.race];
  const ids = race.types.map((t) => UNIT_ID[t]!);
  const exception = race.exception === null ? -1 : UNIT_ID[race.exception]!;
  let allies: number[];
  do {
    allies = Array.from({ length: s.nAllies }, () => ids[weightedDraw(rng, race.weights)]!);
  } while (allies.every((t) => t === exception));
  const enemies = allies.slice(0, s.nEnemies);
  while (enemies.length < s.nEnemies) enemies.push(ids[weightedDraw(rng, race.weights)]!);
  return [allies, enemies];
}

/**
 * Draws the start of an episode. Classic scenarios: the two teams in a block formation
 * facing each other across the map centre, with a small random jitter. SMACv2 scenarios:
 * random teams and `surrounded_and_reflect` start positions (p = 0.5).
 * Within each team, units are sorted by (type, x, y) as SMACv2's `init_units` does.
 * @param l the layout
 * @param rng the env's generator
 * @returns types and positions
 */
export function drawLineup(l: Layout, rng: Rng): Lineup {
  const s = l.scenario, W = l.map, c = W / 2;
  let allies: number[], enemies: number[];
  const ax: number[] = [], ay: number[] = [], ex: number[] = [], ey: number[] = [];
  if (s.kind === "fixed") {
    allies = s.allies.map((t) => UNIT_ID[t]!);
    enemies = s.enemies.map((t) => UNIT_ID[t]!);
    const block = (n: number, x0: number, dir: number, xs: number[], ys: number[]) => {
      const rows = Math.min(n, 8);
      for (let i = 0; i < n; i++) {
        const col = Math.floor(i / rows), row = i % rows;
        xs.push(x0 - dir * col * 1.4 + (rng.uniform() - 0.5) * 0.5);
        ys.push(c + (row - (rows - 1) / 2) * 1.4 + (rng.uniform() - 0.5) * 0.5);
      }
    };
    block(allies.length, c - 6, 1, ax, ay);
    block(enemies.length, c + 6, -1, ex, ey);
  } else {
    [allies, enemies] = genTeams(s, rng);
    if (rng.uniform() > 0.5) {
      // surrounded: allies at the centre, enemies in 1-4 groups on distinct diagonals
      for (let i = 0; i < allies.length; i++) {
        ax.push(c + (rng.uniform() - 0.5));
        ay.push(c + (rng.uniform() - 0.5));
      }
      const nGroups = 1 + rng.int(4);
      const diag = rng.permutation(4);
      const t = Array.from({ length: nGroups }, () => rng.uniform());
      for (let j = 0; j < enemies.length; j++) {
        const g = rng.int(nGroups), d = diag[g]!;
        const sx = d & 1 ? 1 : -1, sy = d & 2 ? 1 : -1;
        const near = 2, far = c - 2; // from 2 cells off the centre to 2 cells off the corner
        const r = near + t[g]! * (far - near);
        ex.push(c + sx * r + (rng.uniform() - 0.5));
        ey.push(c + sy * r + (rng.uniform() - 0.5));
      }
    } else {
      // reflect: allies uniform in the left half, enemies mirrored; extras in the right half
      for (let i = 0; i < allies.length; i++) {
        ax.push(rng.uniform() * (c - 1));
        ay.push(rng.uniform() * W);
      }
      for (let j = 0; j < enemies.length; j++) {
        if (j < allies.length) {
          ex.push(W - ax[j]!);
          ey.push(ay[j]!);
        } else {
          ex.push(c + 1 + rng.uniform() * (c - 1));
          ey.push(rng.uniform() * W);
        }
      }
    }
  }
  const order = (ts: number[], xs: number[], ys: number[]) =>
    ts.map((_, i) => i).sort((a, b) => ts[a]! - ts[b]! || xs[a]! - xs[b]! || ys[a]! - ys[b]!);
  const oa = order(allies, ax, ay), oe = order(enemies, ex, ey);
  const U = l.nUnits;
  const types = new Int32Array(U), x = new Float64Array(U), y = new Float64Array(U);
  const clampR = (v: number, r: number) => Math.min(Math.max(v, r), W - r);
  oa.forEach((k, i) => {
    types[i] = allies[k]!;
    x[i] = clampR(ax[k]!, UNITS[allies[k]!]!.radius);
    y[i] = clampR(ay[k]!, UNITS[allies[k]!]!.radius);
  });
  oe.forEach((k, j) => {
    const u = l.nAllies + j;
    types[u] = enemies[k]!;
    x[u] = clampR(ex[k]!, UNITS[enemies[k]!]!.radius);
    y[u] = clampR(ey[k]!, UNITS[enemies[k]!]!.radius);
  });
  return { types, x, y };
}

/** SMAC's reward normaliser: n_enemies * 10 + 200 + the enemies' total health and shields. */
export function maxReward(l: Layout, types: Int32Array): number {
  let m = l.nEnemies * 10 + 200;
  for (let u = l.nAllies; u < l.nUnits; u++) {
    m += UNITS[types[u]!]!.health + UNITS[types[u]!]!.shield;
  }
  return m;
}

/** Reward constants (SMAC defaults). */
export const REWARD = { deathValue: 10, win: 200, scaleTo: 20 };
