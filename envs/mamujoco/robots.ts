/**
 * The robots' Gymnasium v5 task definitions (frame skip, reset noise, reward weights, healthy
 * ranges, single-agent observation) and MA-MuJoCo's joint graphs and partitions, following
 * Gymnasium-Robotics `mamujoco_v1` (`obsk.py` `get_parts_and_edges`, `build_obs`;
 * `mujoco_multi.py` default categories). Indices may be negative (from the end, as in obsk.py).
 *
 * @module
 */
import { ANT, HALF_CHEETAH, HOPPER, SWIMMER, WALKER2D } from "./models.ts";

/** One element read into an observation. */
export type Read =
  | { readonly from: "qpos" | "qvel"; readonly i: number; readonly clip?: number }
  | { readonly from: "cfrc_ext"; readonly i: number; readonly clip?: number };

/** A node of the joint graph: one actuated joint (or a global root node). */
export interface JointNode {
  readonly label: string;
  readonly qpos: number | null;
  readonly qvel: number | null;
  /** Actuator index, null for global nodes. */
  readonly act: number | null;
  /** Bodies whose `cfrc_ext` rows the node reports (Ant), clipped to +-1. */
  readonly bodies?: readonly number[];
  /** Overrides of a category's reads (obsk.py `extra_obs`); [] hides the category. */
  readonly extra?: { readonly qpos?: readonly Read[]; readonly qvel?: readonly Read[] };
}

/** A robot: model, Gymnasium v5 task constants and MA-MuJoCo graph. */
export interface Robot {
  readonly name: string;
  readonly xml: string;
  readonly frameSkip: number;
  /** Reset noise: qpos uniform +-scale; qvel uniform +-scale or `scale * N(0, 1)`. */
  readonly noise: { readonly scale: number; readonly qvel: "uniform" | "normal" };
  readonly forwardWeight: number;
  readonly ctrlCost: number;
  readonly contactCost: number;
  /** Reward while healthy (Gymnasium v5 pays it only when healthy). */
  readonly healthyReward: number;
  /** x of the forward reward: qpos[0], or the torso body's xpos (Ant). */
  readonly forwardFrom: "qpos0" | "torso";
  /** Termination when unhealthy; null: never terminates. */
  readonly healthy: ((qpos: Float64Array, qvel: Float64Array) => boolean) | null;
  /** The single-agent v5 observation (the global state). */
  readonly state: readonly Read[];
  readonly nodes: Readonly<Record<string, JointNode>>;
  readonly edges: readonly (readonly string[])[];
  readonly globals: readonly string[];
  /** Local categories per graph distance (the last repeats). */
  readonly localCategories: readonly (readonly string[])[];
  readonly partitions: Readonly<Record<string, readonly (readonly string[])[]>>;
}

const range = (a: number, b: number, from: "qpos" | "qvel", clip?: number): Read[] =>
  Array.from({ length: b - a }, (_, k) => ({ from, i: a + k, clip }));
const node = (
  label: string,
  idx: number | null,
  act: number | null,
  more: Partial<JointNode> = {},
): JointNode => ({ label, qpos: idx, qvel: idx, act, ...more });

const planarRoot = (qvelClip?: number): Record<string, JointNode> => ({
  root_x: node("root_x", 0, null, {
    extra: { qpos: [], ...(qvelClip ? { qvel: [{ from: "qvel", i: 0, clip: qvelClip }] } : {}) },
  }),
  root_z: node(
    "root_z",
    1,
    null,
    qvelClip ? { extra: { qvel: [{ from: "qvel", i: 1, clip: qvelClip }] } } : {},
  ),
  root_y: node(
    "root_y",
    2,
    null,
    qvelClip ? { extra: { qvel: [{ from: "qvel", i: 2, clip: qvelClip }] } } : {},
  ),
});

const HALF_CHEETAH_ROBOT: Robot = {
  name: "HalfCheetah",
  xml: HALF_CHEETAH,
  frameSkip: 5,
  noise: { scale: 0.1, qvel: "normal" },
  forwardWeight: 1,
  ctrlCost: 0.1,
  contactCost: 0,
  healthyReward: 0,
  forwardFrom: "qpos0",
  healthy: null,
  state: [...range(1, 9, "qpos"), ...range(0, 9, "qvel")],
  nodes: {
    bthigh: node("bthigh", -6, 0),
    bshin: node("bshin", -5, 1),
    bfoot: node("bfoot", -4, 2),
    fthigh: node("fthigh", -3, 3),
    fshin: node("fshin", -2, 4),
    ffoot: node("ffoot", -1, 5),
    ...planarRoot(),
  },
  edges: [["bfoot", "bshin"], ["bshin", "bthigh"], ["bthigh", "fthigh"], ["fthigh", "fshin"], [
    "fshin",
    "ffoot",
  ]],
  globals: ["root_x", "root_z", "root_y"],
  localCategories: [["qpos", "qvel"], ["qpos"]],
  partitions: {
    "2x3": [["bthigh", "bshin", "bfoot"], ["fthigh", "fshin", "ffoot"]],
    "6x1": [["bthigh"], ["bshin"], ["bfoot"], ["fthigh"], ["fshin"], ["ffoot"]],
  },
};

const clipQvel = (i: number) => ({ extra: { qvel: [{ from: "qvel" as const, i, clip: 10 }] } });

const HOPPER_ROBOT: Robot = {
  name: "Hopper",
  xml: HOPPER,
  frameSkip: 4,
  noise: { scale: 5e-3, qvel: "uniform" },
  forwardWeight: 1,
  ctrlCost: 1e-3,
  contactCost: 0,
  healthyReward: 1,
  forwardFrom: "qpos0",
  // v5: |qpos[2:], qvel| < 100, z > 0.7, |angle| < 0.2
  healthy: (qpos, qvel) => {
    for (let i = 2; i < qpos.length; i++) if (!(qpos[i]! > -100 && qpos[i]! < 100)) return false;
    for (let i = 0; i < qvel.length; i++) if (!(qvel[i]! > -100 && qvel[i]! < 100)) return false;
    return qpos[1]! > 0.7 && qpos[2]! > -0.2 && qpos[2]! < 0.2;
  },
  state: [...range(1, 6, "qpos"), ...range(0, 6, "qvel", 10)],
  nodes: {
    thigh_joint: node("thigh_joint", -3, 0, clipQvel(-3)),
    leg_joint: node("leg_joint", -2, 1, clipQvel(-2)),
    foot_joint: node("foot_joint", -1, 2, clipQvel(-1)),
    ...planarRoot(10),
  },
  edges: [["foot_joint", "leg_joint"], ["leg_joint", "thigh_joint"]],
  globals: ["root_x", "root_z", "root_y"],
  localCategories: [["qpos", "qvel"], ["qpos"]],
  partitions: { "3x1": [["thigh_joint"], ["leg_joint"], ["foot_joint"]] },
};

const WALKER2D_ROBOT: Robot = {
  name: "Walker2d",
  xml: WALKER2D,
  frameSkip: 4,
  noise: { scale: 5e-3, qvel: "uniform" },
  forwardWeight: 1,
  ctrlCost: 1e-3,
  contactCost: 0,
  healthyReward: 1,
  forwardFrom: "qpos0",
  // v5: 0.8 < z < 2.0, -1 < angle < 1
  healthy: (qpos) => qpos[1]! > 0.8 && qpos[1]! < 2 && qpos[2]! > -1 && qpos[2]! < 1,
  state: [...range(1, 9, "qpos"), ...range(0, 9, "qvel", 10)],
  nodes: {
    thigh_joint: node("thigh_joint", -6, 0),
    leg_joint: node("leg_joint", -5, 1),
    foot_joint: node("foot_joint", -4, 2),
    thigh_left_joint: node("thigh_left_joint", -3, 3),
    leg_left_joint: node("leg_left_joint", -2, 4),
    foot_left_joint: node("foot_left_joint", -1, 5),
    ...planarRoot(),
  },
  edges: [
    ["foot_joint", "leg_joint"],
    ["leg_joint", "thigh_joint"],
    ["foot_left_joint", "leg_left_joint"],
    ["leg_left_joint", "thigh_left_joint"],
    ["thigh_joint", "thigh_left_joint"],
  ],
  globals: ["root_x", "root_z", "root_y"],
  localCategories: [["qpos", "qvel"], ["qpos"]],
  partitions: {
    "2x3": [["foot_joint", "leg_joint", "thigh_joint"], [
      "foot_left_joint",
      "leg_left_joint",
      "thigh_left_joint",
    ]],
  },
};

const SWIMMER_ROBOT: Robot = {
  name: "Swimmer",
  xml: SWIMMER,
  frameSkip: 4,
  noise: { scale: 0.1, qvel: "uniform" },
  forwardWeight: 1,
  ctrlCost: 1e-4,
  contactCost: 0,
  healthyReward: 0,
  forwardFrom: "qpos0",
  healthy: null,
  state: [...range(2, 5, "qpos"), ...range(0, 5, "qvel")],
  nodes: {
    // obsk.py gives each joint node the qvel of a root slider too (kept as published)
    rot2: node("rot2", -2, 0, {
      extra: { qvel: [{ from: "qvel", i: 0 }, { from: "qvel", i: 3 }] },
    }),
    rot3: node("rot3", -1, 1, {
      extra: { qvel: [{ from: "qvel", i: 1 }, { from: "qvel", i: 4 }] },
    }),
    free_body_rot: node("free_body_rot", 2, null),
  },
  edges: [["rot2", "rot3"]],
  globals: ["free_body_rot"],
  localCategories: [["qpos", "qvel"], ["qpos"]],
  partitions: { "2x1": [["rot2"], ["rot3"]] },
};

const antHip = (n: number, q: number, act: number, leg: number): JointNode =>
  node(`hip${n}`, q, act, { bodies: [1, leg] });
const antAnkle = (n: number, q: number, act: number, leg: number): JointNode =>
  node(`ankle${n}`, q, act, { bodies: [leg, leg + 1, leg + 2] });

const ANT_ROBOT: Robot = {
  name: "Ant",
  xml: ANT,
  frameSkip: 5,
  noise: { scale: 0.1, qvel: "normal" },
  forwardWeight: 1,
  ctrlCost: 0.5,
  contactCost: 5e-4,
  healthyReward: 1,
  forwardFrom: "torso",
  // v5: finite state and 0.2 <= torso z <= 1.0
  healthy: (qpos, qvel) => {
    for (const v of qpos) if (!Number.isFinite(v)) return false;
    for (const v of qvel) if (!Number.isFinite(v)) return false;
    return qpos[2]! >= 0.2 && qpos[2]! <= 1;
  },
  state: [
    ...range(2, 15, "qpos"),
    ...range(0, 14, "qvel"),
    ...Array.from({ length: 78 }, (_, k) => ({ from: "cfrc_ext" as const, i: 6 + k, clip: 1 })),
  ],
  nodes: {
    hip1: antHip(1, -8, 2, 2),
    ankle1: antAnkle(1, -7, 3, 2),
    hip2: antHip(2, -6, 4, 5),
    ankle2: antAnkle(2, -5, 5, 5),
    hip3: antHip(3, -4, 6, 8),
    ankle3: antAnkle(3, -3, 7, 8),
    hip4: antHip(4, -2, 0, 11),
    ankle4: antAnkle(4, -1, 1, 11),
    root: node("root", 0, null, {
      extra: { qpos: range(2, 7, "qpos"), qvel: range(0, 6, "qvel") },
    }),
  },
  edges: [["ankle4", "hip4"], ["ankle1", "hip1"], ["ankle2", "hip2"], ["ankle3", "hip3"], [
    "hip4",
    "hip1",
    "hip2",
    "hip3",
  ]],
  globals: ["root"],
  localCategories: [["qpos", "qvel", "cfrc_ext"], ["qpos"]],
  partitions: {
    "2x4": [["hip1", "ankle1", "hip2", "ankle2"], ["hip3", "ankle3", "hip4", "ankle4"]],
    "2x4d": [["hip1", "ankle1", "hip4", "ankle4"], ["hip2", "ankle2", "hip3", "ankle3"]],
    "4x2": [["hip1", "ankle1"], ["hip2", "ankle2"], ["hip3", "ankle3"], ["hip4", "ankle4"]],
    // not in mamujoco_v1; as in the copies vendored by HARL and the BPTA code: one joint each
    "8x1": [["hip1"], ["ankle1"], ["hip2"], ["ankle2"], ["hip3"], ["ankle3"], ["hip4"], [
      "ankle4",
    ]],
  },
};

/** The robots by name. */
export const ROBOTS: Readonly<Record<string, Robot>> = {
  HalfCheetah: HALF_CHEETAH_ROBOT,
  Hopper: HOPPER_ROBOT,
  Walker2d: WALKER2D_ROBOT,
  Ant: ANT_ROBOT,
  Swimmer: SWIMMER_ROBOT,
};

/**
 * Nodes of an agent's partition at each graph distance 0..k, sorted by label within a level
 * (obsk.py `get_joints_at_kdist`).
 */
export function jointsAtDistance(r: Robot, part: readonly string[], k: number): string[][] {
  const explored = new Set(part);
  let frontier = new Set(part);
  const levels = [[...part].sort()];
  for (let d = 1; d <= k; d++) {
    const next = new Set<string>();
    for (const n of frontier) {
      for (const e of r.edges) {
        if (!e.includes(n)) continue;
        for (const m of e) if (m !== n && !explored.has(m)) next.add(m);
      }
    }
    for (const m of next) explored.add(m);
    levels.push([...next].sort());
    frontier = next;
  }
  return levels;
}

/**
 * The reads of one agent's observation (obsk.py `build_obs`): local categories per distance,
 * body categories once per body, then the global categories of the global nodes.
 * @param r the robot
 * @param part the agent's joints
 * @param k observation depth (`agent_obsk`)
 * @param dims nq and nv, to resolve negative indices
 * @returns the reads
 */
export function observationReads(
  r: Robot,
  part: readonly string[],
  k: number,
  dims: { nq: number; nv: number },
): Read[] {
  const out: Read[] = [];
  const abs = (i: number, n: number) => (i < 0 ? n + i : i);
  const seenBodies = new Set<number>();
  const levels = jointsAtDistance(r, part, k);
  levels.forEach((labels, d) => {
    const cats = r.localCategories[Math.min(d, r.localCategories.length - 1)]!;
    for (const label of labels) {
      const n = r.nodes[label]!;
      for (const cat of cats) {
        const extra = n.extra?.[cat as "qpos" | "qvel"];
        if (extra) {
          out.push(
            ...extra.map((x) => ({ ...x, i: abs(x.i, x.from === "qpos" ? dims.nq : dims.nv) })),
          );
        } else if (cat === "qpos") out.push({ from: "qpos", i: abs(n.qpos!, dims.nq) });
        else if (cat === "qvel") out.push({ from: "qvel", i: abs(n.qvel!, dims.nv) });
        else if (cat === "cfrc_ext") {
          for (const b of n.bodies ?? []) {
            if (seenBodies.has(b)) continue;
            seenBodies.add(b);
            for (let j = 0; j < 6; j++) out.push({ from: "cfrc_ext", i: b * 6 + j, clip: 1 });
          }
        }
      }
    }
  });
  for (const cat of ["qpos", "qvel"] as const) {
    for (const label of r.globals) {
      const n = r.nodes[label]!;
      const extra = n.extra?.[cat];
      if (extra) out.push(...extra);
      else out.push({ from: cat, i: cat === "qpos" ? n.qpos! : n.qvel! });
    }
  }
  return out;
}
