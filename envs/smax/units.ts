/**
 * Unit facts and scenarios of Baton's SMACv2-style battles (`smax/*`).
 *
 * Units are a data table: one row per StarCraft II unit type with the facts that matter for
 * micromanagement. Times are in seconds of game time at "faster" speed (22.4 game loops/s),
 * distances in map cells, speeds in cells/s.
 *
 * Sources, per row (see the `source` field):
 * - health, shields, armour, damage, bonus, attacks per volley, cooldown, speed, attributes:
 *   the Legacy of the Void unit sheet (sheet.shiar.nl/sc/lotv, patch 5.0.11) and the
 *   well-known Liquipedia unit pages;
 * - attack range and sight range: SMACv2's `unit_shoot_range` / `unit_sight_range` with
 *   `use_unit_ranges=True` and `min_attack_range=2` (oxwhirl/smacv2 starcraft2.py), which is
 *   what the SMACv2 benchmark configs use; melee units therefore reach 2 cells, as in SMACv2;
 * - collision radius: SC2 footprints as used by JaxMARL's SMAX (smax_env.py) where it has the
 *   unit; medivac, colossus and baneling from the SC2 unit data.
 *
 * @module
 */

/** Armour attributes that bonus damage keys on. */
export type Attribute = "light" | "armored" | "biological" | "mechanical" | "massive";

/** One unit type. */
export interface UnitType {
  readonly name: string;
  readonly race: "protoss" | "terran" | "zerg";
  readonly health: number;
  readonly shield: number;
  readonly armor: number;
  /** Damage per attack before armour. */
  readonly damage: number;
  /** Extra damage per attack against targets with `bonusVs`. */
  readonly bonus: number;
  readonly bonusVs: Attribute | null;
  /** Attacks per volley (zealot and colossus hit twice). */
  readonly attacks: number;
  /** Seconds between volleys. */
  readonly cooldown: number;
  /** Attack range (centre distance used by the action mask; firing adds both radii). */
  readonly range: number;
  readonly sight: number;
  readonly speed: number;
  readonly radius: number;
  readonly attributes: readonly Attribute[];
  /** Melee units (no projectile; range 0.1 in SC2, 2 in SMACv2's masks). */
  readonly melee: boolean;
  /** Medivac: heals allies instead of attacking (HP per second; energy per 3 HP). */
  readonly heal: number;
  /** Colossus: everything within this distance of the target also takes the hit. */
  readonly splash: number;
  /** Baneling: detonates on its first attack, hitting every enemy within `splash`. */
  readonly selfDestruct: boolean;
  /** Zerg health regeneration, HP per second. */
  readonly regen: number;
  /** The `max cooldown` SMACv2 normalises the state's cooldown feature by. */
  readonly smacCooldown: number;
  readonly source: string;
}

const LOTV = "sheet.shiar.nl/sc/lotv (LotV 5.0.11); ranges/sight: smacv2 starcraft2.py";

function unit(u: Partial<UnitType> & Pick<UnitType, "name" | "race">): UnitType {
  return {
    health: 1,
    shield: 0,
    armor: 0,
    damage: 0,
    bonus: 0,
    bonusVs: null,
    attacks: 1,
    cooldown: 1,
    range: 2,
    sight: 9,
    speed: 3.15,
    radius: 0.5,
    attributes: [],
    melee: false,
    heal: 0,
    splash: 0,
    selfDestruct: false,
    regen: 0,
    smacCooldown: 1,
    source: LOTV,
    ...u,
  };
}

/** Zerg units regenerate about 0.27 HP/s (faster speed) out of combat and in it. */
const ZERG_REGEN = 0.2734;

/** The unit table. Index order is the type id used in observations. */
export const UNITS: readonly UnitType[] = [
  unit({
    name: "marine",
    race: "terran",
    health: 45,
    damage: 6,
    cooldown: 0.61,
    range: 5,
    sight: 9,
    speed: 3.15,
    radius: 0.375,
    attributes: ["light", "biological"],
    smacCooldown: 15,
  }),
  unit({
    name: "marauder",
    race: "terran",
    health: 125,
    armor: 1,
    damage: 10,
    bonus: 10,
    bonusVs: "armored",
    cooldown: 1.07,
    range: 6,
    sight: 10,
    speed: 3.15,
    radius: 0.5625,
    attributes: ["armored", "biological"],
    smacCooldown: 25,
  }),
  unit({
    name: "medivac",
    race: "terran",
    health: 150,
    armor: 1,
    range: 4,
    sight: 11,
    speed: 3.5,
    radius: 0.75,
    attributes: ["armored", "mechanical"],
    heal: 12.6,
    smacCooldown: 200,
    source: `${LOTV}; heal 12.6 HP/s for 1 energy per 3 HP (Liquipedia Medivac)`,
  }),
  unit({
    name: "stalker",
    race: "protoss",
    health: 80,
    shield: 80,
    armor: 1,
    damage: 13,
    bonus: 5,
    bonusVs: "armored",
    cooldown: 1.34,
    range: 6,
    sight: 10,
    speed: 4.13,
    radius: 0.625,
    attributes: ["armored", "mechanical"],
    smacCooldown: 35,
  }),
  unit({
    name: "zealot",
    race: "protoss",
    health: 100,
    shield: 50,
    armor: 1,
    damage: 8,
    attacks: 2,
    cooldown: 0.86,
    range: 2,
    sight: 9,
    speed: 3.15,
    radius: 0.5,
    attributes: ["light", "biological"],
    melee: true,
    smacCooldown: 22,
  }),
  unit({
    name: "colossus",
    race: "protoss",
    health: 200,
    shield: 150,
    armor: 1,
    damage: 10,
    attacks: 2,
    bonus: 5,
    bonusVs: "light",
    cooldown: 1.07,
    range: 7,
    sight: 10,
    speed: 3.15,
    radius: 1,
    attributes: ["armored", "mechanical", "massive"],
    splash: 1,
    smacCooldown: 24,
    source:
      `${LOTV}; the thermal lance's line splash is modelled as a 1-cell radius around the target`,
  }),
  unit({
    name: "zergling",
    race: "zerg",
    health: 35,
    damage: 5,
    cooldown: 0.497,
    range: 2,
    sight: 8,
    speed: 4.13,
    radius: 0.375,
    attributes: ["light", "biological"],
    melee: true,
    regen: ZERG_REGEN,
    smacCooldown: 11,
  }),
  unit({
    name: "baneling",
    race: "zerg",
    health: 30,
    damage: 16,
    bonus: 19,
    bonusVs: "light",
    cooldown: 1,
    range: 2,
    sight: 8,
    speed: 3.5,
    radius: 0.375,
    attributes: ["biological"],
    melee: true,
    splash: 2.2,
    selfDestruct: true,
    regen: ZERG_REGEN,
    smacCooldown: 1,
    source: `${LOTV}; splash radius 2.2 (Liquipedia Baneling)`,
  }),
  unit({
    name: "hydralisk",
    race: "zerg",
    health: 90,
    damage: 12,
    cooldown: 0.59,
    range: 5,
    sight: 9,
    speed: 3.15,
    radius: 0.625,
    attributes: ["light", "biological"],
    regen: ZERG_REGEN,
    smacCooldown: 10,
  }),
];

/** Type id by name. */
export const UNIT_ID: Readonly<Record<string, number>> = Object.fromEntries(
  UNITS.map((u, i) => [u.name, i]),
);

/** Game loops per second at "faster" speed, and loops per agent step (SMAC's step_mul). */
export const LOOPS_PER_SECOND = 22.4;
export const STEP_MUL = 8;
/** Seconds per game loop. */
export const DT = 1 / LOOPS_PER_SECOND;
/** Protoss shields regenerate 2.8/s after 7.1 s without damage (faster speed). */
export const SHIELD_REGEN = 2.8;
export const SHIELD_REGEN_DELAY = 7.1;
/** Medivac energy: start, maximum and regeneration per second. */
export const MEDIVAC_ENERGY = { start: 50, max: 200, regen: 0.7875 };
/** SMAC's move command goes `MOVE_AMOUNT` cells; availability checks half of it. */
export const MOVE_AMOUNT = 2;

/** A scenario: fixed teams (classic SMAC) or a SMACv2 race with procedural generation. */
export type Scenario =
  | {
    readonly kind: "fixed";
    readonly name: string;
    readonly allies: readonly string[];
    readonly enemies: readonly string[];
    readonly limit: number;
    readonly map: number;
  }
  | {
    readonly kind: "gen";
    readonly name: string;
    readonly race: "protoss" | "terran" | "zerg";
    readonly nAllies: number;
    readonly nEnemies: number;
    readonly limit: number;
    readonly map: number;
  };

function rep(name: string, n: number): string[] {
  return Array.from({ length: n }, () => name);
}

/**
 * SMACv2 race distributions: unit types, weights and the type that may not be a whole team
 * (oxwhirl/smacv2 examples/configs/sc2_gen_{protoss,terran,zerg}.yaml).
 */
export const RACES = {
  protoss: {
    types: ["stalker", "zealot", "colossus"],
    weights: [0.45, 0.45, 0.1],
    exception: null,
  },
  terran: {
    types: ["marine", "marauder", "medivac"],
    weights: [0.45, 0.45, 0.1],
    exception: "medivac",
  },
  zerg: {
    types: ["zergling", "baneling", "hydralisk"],
    weights: [0.45, 0.1, 0.45],
    exception: "baneling",
  },
} as const;

/** Every scenario, by name. Episode limits follow smac_maps.py / smacv2's maps. */
export const SCENARIOS: Readonly<Record<string, Scenario>> = (() => {
  const out: Record<string, Scenario> = {};
  const fixed = (name: string, allies: string[], enemies: string[], limit: number, map = 32) => {
    out[name] = { kind: "fixed", name, allies, enemies, limit, map };
  };
  fixed("3m", rep("marine", 3), rep("marine", 3), 60);
  fixed("2s3z", [...rep("stalker", 2), ...rep("zealot", 3)], [
    ...rep("stalker", 2),
    ...rep("zealot", 3),
  ], 120);
  fixed("3s5z", [...rep("stalker", 3), ...rep("zealot", 5)], [
    ...rep("stalker", 3),
    ...rep("zealot", 5),
  ], 150);
  fixed("5m_vs_6m", rep("marine", 5), rep("marine", 6), 70);
  fixed("10m_vs_11m", rep("marine", 10), rep("marine", 11), 150);
  fixed("3s_vs_5z", rep("stalker", 3), rep("zealot", 5), 250);
  fixed("6h_vs_8z", rep("hydralisk", 6), rep("zealot", 8), 150);
  fixed("27m_vs_30m", rep("marine", 27), rep("marine", 30), 180, 40);
  for (const race of ["protoss", "terran", "zerg"] as const) {
    for (const [a, b] of [[5, 5], [10, 10], [10, 11], [20, 20], [20, 23]]) {
      const name = `${race}_${a}_vs_${b}`;
      out[name] = { kind: "gen", name, race, nAllies: a!, nEnemies: b!, limit: 200, map: 32 };
    }
  }
  return out;
})();
