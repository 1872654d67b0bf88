/**
 * Cooperative matrix games: one-shot games with a constant observation and a shared payoff,
 * repeated `episodeLength` times per episode.
 *
 * | id | agents | actions | payoff (row = agent 0, column = agent 1) | optimum |
 * |---|---|---|---|---|
 * | `matrix/climbing` | 2 | 3 | `[[0,6,5],[-30,7,0],[11,-30,0]]` | 11 at (2,0) |
 * | `matrix/penalty` | 2 | 3 | `[[-k,0,10],[0,2,0],[10,0,-k]]`, option k (default 100) | 10 at (0,2), (2,0) |
 * | `matrix/nonmonotonic` | 2 | 3 | `[[-12,0,0],[-12,0,0],[8,-12,-12]]` | 8 at (2,0) |
 * | `matrix/permutation` | n (option) | n | 1 iff all actions differ | 1 |
 * | `matrix/custom` | dims of `payoff` | size of each dim | option `payoff`, any n-d tensor | its max |
 *
 * Observation: a constant `[1, 1]` per agent; state: `[1, 1]`. Episode return: the sum of
 * payoffs over `episodeLength` games (default 1, the BPTA code at HEAD; its submission-time
 * code used 25). Independent learners typically settle on a safe cell (climbing 7, penalty 2),
 * while coordinated policies reach the optimum. Payoffs and optima follow [docs/bpta.md](../../docs/bpta.md) §6,
 * from the BPTA reference `bta/envs/matrix/matrix_env.py`.
 *
 * @module
 */
import { z } from "../../core/deps.ts";
import { discrete } from "../../core/spaces.ts";
import type { Scene } from "../../core/scene.ts";
import { type EnvBuffers, type EnvSpec, VecEnvBase } from "../../core/vec_env.ts";
import type { EnvEntry } from "../../core/registry.ts";

/** A cooperative n-player game with `numActions` actions each. */
export interface MatrixGame {
  /** Number of agents. */
  readonly numAgents: number;
  /** Actions per agent. */
  readonly numActions: number;
  /** Team payoff of a joint action (one action index per agent). */
  payoff(joint: ArrayLike<number>): number;
  /** The best payoff. */
  readonly optimum: number;
}

/**
 * A game given by a dense payoff tensor, row-major over agents.
 * @param table nested arrays, one dimension per agent, all dimensions the same size
 * @returns the game
 */
export function tableGame(table: unknown): MatrixGame {
  const shape: number[] = [];
  let cur: unknown = table;
  while (Array.isArray(cur)) {
    shape.push(cur.length);
    cur = cur[0];
  }
  if (shape.length < 1 || shape.some((s) => s < 1)) {
    throw new Error(`Cannot build matrix game as "payoff" must be a non-empty nested array`);
  }
  const flat = (table as unknown[]).flat(shape.length - 1 as 1) as unknown[];
  const size = shape.reduce((a, b) => a * b, 1);
  if (flat.length !== size || !flat.every((v) => typeof v === "number")) {
    throw new Error(
      `Cannot build matrix game as "payoff" must be a rectangular tensor of numbers of shape [${
        shape.join(",")
      }]`,
    );
  }
  const values = Float64Array.from(flat as number[]);
  if (!values.every(Number.isFinite)) {
    throw new Error(`Cannot build matrix game as "payoff" has non-finite entries`);
  }
  if (shape.some((s) => s !== shape[0])) {
    throw new Error(
      `Cannot build matrix game as every agent needs the same number of actions: payoff shape [${
        shape.join(",")
      }]`,
    );
  }
  const A = shape[0]!;
  return {
    numAgents: shape.length,
    numActions: A,
    optimum: Math.max(...values),
    payoff(joint) {
      let idx = 0;
      for (let i = 0; i < shape.length; i++) idx = idx * A + joint[i]!;
      return values[idx]!;
    },
  };
}

/**
 * The permutation game (Fu et al. 2022): n agents, n actions, reward 1 iff all differ.
 * @param n number of agents
 * @returns the game
 */
export function permutationGame(n: number): MatrixGame {
  const seen = new Uint8Array(n);
  return {
    numAgents: n,
    numActions: n,
    optimum: 1,
    payoff(joint) {
      seen.fill(0);
      for (let i = 0; i < n; i++) {
        if (seen[joint[i]!]) return 0;
        seen[joint[i]!] = 1;
      }
      return 1;
    },
  };
}

/** The payoff tables of the named games. */
export const PAYOFFS = {
  climbing: [[0, 6, 5], [-30, 7, 0], [11, -30, 0]],
  penalty: (k: number) => [[-k, 0, 10], [0, 2, 0], [10, 0, -k]],
  nonmonotonic: [[-12, 0, 0], [-12, 0, 0], [8, -12, -12]],
} as const;

const OBS_DIM = 2;

/** A matrix game as a batched env. */
export class MatrixEnv extends VecEnvBase {
  readonly #joint: Int32Array;

  /**
   * Creates it.
   * @param game the game
   * @param opts number of envs and games per episode
   */
  constructor(readonly game: MatrixGame, opts: { numEnvs: number; episodeLength: number }) {
    const spec: EnvSpec = {
      numAgents: game.numAgents,
      obsDim: OBS_DIM,
      stateDim: OBS_DIM,
      actionSpace: discrete(game.numActions),
      episodeLimit: opts.episodeLength,
      optimalReturn: game.optimum * opts.episodeLength,
    };
    super(spec, opts.numEnvs);
    this.#joint = new Int32Array(game.numAgents);
  }

  /** Nothing to reset: the observation is fixed. */
  protected resetEnv(): void {}

  /** Pays every env its joint action's payoff. */
  protected stepEnvs(actions: Int32Array, buf: EnvBuffers): void {
    const n = this.game.numAgents;
    for (let e = 0; e < this.numEnvs; e++) {
      for (let i = 0; i < n; i++) this.#joint[i] = actions[e * n + i]!;
      buf.reward[e] = this.game.payoff(this.#joint);
      if (e === 0) this.#last = { joint: Array.from(this.#joint), payoff: buf.reward[0]! };
    }
  }

  #last: { joint: number[]; payoff: number } | null = null;

  /**
   * Env 0 for replays: a 2-agent game as its payoff table (agent 0 picks the row, agent 1 the
   * column) with the last joint action in gold and the optima in green; other games as one disc
   * per agent labelled with its last action.
   */
  protected override renderEnv0(): Scene {
    const { numAgents: n, numActions: A, optimum } = this.game;
    const last = this.#last;
    const caption = last
      ? `joint action [${last.joint.join(", ")}] pays ${last.payoff} (optimum ${optimum})`
      : `before the first move (optimum ${optimum})`;
    if (n !== 2) {
      return {
        bounds: [0, 0, n, 1.4],
        shapes: Array.from({ length: n }, (_, i) => ({
          kind: "circle" as const,
          x: i + 0.5,
          y: 0.7,
          r: 0.35,
          fill: "steelblue",
          label: last ? `a${i}=${last.joint[i]}` : `agent ${i}`,
        })),
        caption,
      };
    }
    const shapes: Scene["shapes"] = [];
    for (let r = 0; r < A; r++) {
      for (let c = 0; c < A; c++) {
        const v = this.game.payoff(Int32Array.from([r, c]));
        const chosen = last && last.joint[0] === r && last.joint[1] === c;
        const y = A - 1 - r; // row 0 at the top
        shapes.push(
          {
            kind: "rect",
            x: c + 0.05,
            y: y + 0.05,
            w: 0.9,
            h: 0.9,
            fill: chosen ? "gold" : v === optimum ? "#cfe8cf" : "#eeeeee",
          },
          { kind: "text", x: c + 0.35, y: y + 0.42, text: String(v) },
        );
      }
    }
    return { bounds: [0, 0, A, A], shapes, caption };
  }

  /** Writes the fixed observation and state. */
  protected observe(buf: EnvBuffers): void {
    buf.obs.fill(1);
    buf.state.fill(1);
  }
}

const episodeLength = z.int().min(1).default(1).describe(
  "games per episode (the BPTA submission-time code used 25)",
);

function entry<S extends z.ZodObject>(
  name: string,
  description: string,
  options: S,
  game: (o: z.infer<S>) => MatrixGame,
): EnvEntry<S> {
  return {
    id: `matrix/${name}`,
    description,
    options,
    create: (o, ctx) =>
      new MatrixEnv(game(o), {
        numEnvs: ctx.numEnvs,
        episodeLength: (o as { episodeLength: number }).episodeLength,
      }),
  };
}

/** The built-in matrix game entries. */
export const matrixEnvs: EnvEntry<any>[] = [
  entry(
    "climbing",
    "2 agents x 3 actions, optimum 11, traps at 7 and 6",
    z.strictObject({ episodeLength }),
    () => tableGame(PAYOFFS.climbing),
  ),
  entry(
    "penalty",
    "2 agents x 3 actions, two optima 10, miscoordination costs -k, safe 2",
    z.strictObject({
      k: z.number().default(100).describe("miscoordination penalty (paper: 100)"),
      episodeLength,
    }),
    (o) => tableGame(PAYOFFS.penalty(o.k)),
  ),
  entry(
    "nonmonotonic",
    "2 agents x 3 actions, optimum 8 at (2,0)",
    z.strictObject({ episodeLength }),
    () => tableGame(PAYOFFS.nonmonotonic),
  ),
  entry(
    "permutation",
    "n agents x n actions, reward 1 iff all actions differ",
    z.strictObject({
      n: z.int().min(2).max(64).default(3).describe("number of agents (= actions)"),
      episodeLength,
    }),
    (o) => permutationGame(o.n),
  ),
  entry(
    "custom",
    "any cooperative n-agent game from a payoff tensor",
    z.strictObject({
      payoff: z.array(z.any()).describe(
        "payoff tensor, one dimension per agent, e.g. [[1,0],[0,1]]",
      ),
      episodeLength,
    }),
    (o) => tableGame(o.payoff),
  ),
];
