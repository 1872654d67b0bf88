/**
 * The academy scenarios, as GRF's scenario files define them (`gfootball/scenarios/*.py` of
 * google-research/football): ball position, each team's players with their roles and start
 * positions, and the end rules. As in those files, each team's positions are in its own frame
 * (its own goal at x = -1); the env mirrors the right team's (x, y) -> (-x, -y).
 *
 * `controlled` lists the left players the agents play, in agent order. GRF picks controlled players
 * dynamically (the ones nearest the ball); the MARL papers' agent counts are fixed (3 on 3-vs-1,
 * 4 on the counter-attacks, 2 on pass-and-shoot, 10 on the corner as on-policy MAPPO runs it):
 * we fix the assignment to the field players those counts name (never the goalkeeper). The other left players follow a simple built-in policy
 * (football.ts).
 *
 * @module
 */

/** A player in a scenario file: x, y in its team's frame, and its role. */
export type Player = readonly [x: number, y: number, role: Role];

/** GRF's player roles (`e_PlayerRole_*`). */
export type Role = "GK" | "CB" | "LB" | "RB" | "DM" | "CM" | "LM" | "RM" | "AM" | "CF";

/** An academy scenario. */
export interface Scenario {
  readonly name: string;
  /** Ball start (x, y), in the left team's frame. */
  readonly ball: readonly [number, number];
  /** Left team (ours), first the goalkeeper. */
  readonly left: readonly Player[];
  /** Right team (the opponent), in its own frame. */
  readonly right: readonly Player[];
  /** Indices into `left` of the players the agents control, in agent order. */
  readonly controlled: readonly number[];
  /** GRF's `end_episode_on_possession_change`. */
  readonly endOnPossessionChange: boolean;
}

const FULL_LEFT: Player[] = [
  [-1.0, 0.0, "GK"],
  [-0.672, -0.19576, "LB"],
  [-0.75, -0.06356, "CB"],
  [-0.75, 0.063559, "CB"],
  [-0.672, 0.19576, "RB"],
  [-0.434, -0.10568, "CM"],
  [-0.434, 0.10568, "CM"],
  [0.5, -0.3161, "CM"],
  [0.25, -0.1, "LM"],
  [0.25, 0.1, "RM"],
  [0.35, 0.316102, "CF"],
];

/** Right team of the counter-attacks; `easy` places one centre-back far upfield (0.4). */
const counterRight = (easy: boolean): Player[] => [
  [-1.0, 0.0, "GK"],
  [0.128, -0.19576, "LB"],
  [easy ? 0.4 : -0.4, -0.06356, "CB"],
  [-0.4, 0.063559, "CB"],
  [0.128, -0.19576, "RB"],
  [0.365, -0.10568, "CM"],
  [0.282, 0.0, "CM"],
  [0.365, 0.10568, "CM"],
  [0.54, -0.3161, "LM"],
  [0.51, 0.0, "RM"],
  [0.54, 0.316102, "CF"],
];

/** Every scenario by name. */
export const SCENARIOS: Record<string, Scenario> = Object.fromEntries(
  ([
    {
      name: "academy_empty_goal",
      ball: [0.02, 0.0],
      left: [[-1.0, 0.0, "GK"], [0.0, 0.0, "CB"]],
      right: [[1.0, 0.0, "GK"]],
      controlled: [1],
      endOnPossessionChange: true,
    },
    {
      name: "academy_run_to_score_with_keeper",
      ball: [0.02, 0.0],
      left: [[-1.0, 0.0, "GK"], [0.0, 0.0, "CB"]],
      right: [
        [-1.0, 0.0, "GK"],
        [0.12, 0.2, "LB"],
        [0.12, 0.1, "CB"],
        [0.12, 0.0, "CM"],
        [0.12, -0.1, "CB"],
        [0.12, -0.2, "RB"],
      ],
      controlled: [1],
      endOnPossessionChange: true,
    },
    {
      name: "academy_3_vs_1_with_keeper",
      ball: [0.62, 0.0],
      left: [[-1.0, 0.0, "GK"], [0.6, 0.0, "CM"], [0.7, 0.2, "CM"], [0.7, -0.2, "CM"]],
      right: [[-1.0, 0.0, "GK"], [-0.75, 0.0, "CB"]],
      controlled: [1, 2, 3],
      endOnPossessionChange: true,
    },
    {
      name: "academy_pass_and_shoot_with_keeper",
      ball: [0.7, -0.28],
      left: [[-1.0, 0.0, "GK"], [0.7, 0.0, "CB"], [0.7, -0.3, "CB"]],
      right: [[-1.0, 0.0, "GK"], [-0.75, 0.3, "CB"]],
      controlled: [1, 2],
      endOnPossessionChange: true,
    },
    {
      name: "academy_run_pass_and_shoot_with_keeper",
      ball: [0.7, -0.28],
      left: [[-1.0, 0.0, "GK"], [0.7, 0.0, "CB"], [0.7, -0.3, "CB"]],
      right: [[-1.0, 0.0, "GK"], [-0.75, 0.1, "CB"]],
      controlled: [1, 2],
      endOnPossessionChange: true,
    },
    {
      name: "academy_corner",
      ball: [0.99, 0.41],
      left: [
        [-1.0, 0.0, "GK"],
        [1.0, 0.42, "LB"],
        [0.7, 0.15, "CB"],
        [0.7, 0.05, "CB"],
        [0.7, -0.05, "RB"],
        [0.0, 0.0, "CM"],
        [0.6, 0.35, "CM"],
        [0.8, 0.07, "CM"],
        [0.8, -0.03, "LM"],
        [0.8, -0.13, "RM"],
        [0.7, -0.3, "CF"],
      ],
      right: [
        [-1.0, 0.0, "GK"],
        [-0.75, -0.18, "LB"],
        [-0.75, -0.08, "CB"],
        [-0.75, 0.02, "CB"],
        [-1.0, -0.1, "RB"],
        [-0.8, -0.25, "CM"],
        [-0.88, -0.07, "CM"],
        [-0.88, 0.03, "CM"],
        [-0.88, 0.13, "LM"],
        [-0.75, 0.25, "RM"],
        [-0.2, 0.0, "CF"],
      ],
      controlled: [1, 2, 3, 4, 5, 6, 7, 8, 9, 10],
      endOnPossessionChange: false,
    },
    {
      name: "academy_counterattack_easy",
      ball: [0.26, -0.11],
      left: FULL_LEFT,
      right: counterRight(true),
      controlled: [7, 8, 9, 10],
      endOnPossessionChange: true,
    },
    {
      name: "academy_counterattack_hard",
      ball: [0.26, -0.11],
      left: FULL_LEFT,
      right: counterRight(false),
      controlled: [7, 8, 9, 10],
      endOnPossessionChange: true,
    },
  ] satisfies Scenario[]).map((s) => [s.name, s]),
);
