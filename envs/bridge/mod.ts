/**
 * Subprocess bridges to Python multi-agent envs, as Baton envs:
 *
 * | id | Python API driven | notes |
 * |---|---|---|
 * | `bridge/smacv2` | `smacv2.env.starcraft2.wrapper.StarCraftCapabilityEnvWrapper` | option `map` e.g. `protoss_5_vs_5`; SMACv2 benchmark capability config; `battle_won` gives the win rate |
 * | `bridge/mamujoco` | `gymnasium_robotics.mamujoco_v1.parallel_env(scenario, agent_conf, agent_obsk)` | continuous; obs and actions padded to the largest agent |
 * | `bridge/football` | `gfootball.env.create_environment(env_name, representation, rewards, number_of_left_players_agent_controls)` | team reward = mean of players' rewards; won = the team scored |
 * | `bridge/pettingzoo` | any PettingZoo `ParallelEnv` from `module:factory` | action masks from infos or dict observations |
 * | `bridge/vector` | a natively batched env from `module:factory(num_envs, seed)` | arrays pass through; the env auto-resets |
 *
 * Every bridge takes `python` (the interpreter, numpy required) and `workers` (W child
 * processes sharing `--num-envs`) as env options, e.g. `--env-opt python=/usr/bin/python3`. Protocol: PROTOCOL.md. Permissions: `--allow-run=<python>` and read
 * of this folder.
 *
 * @module
 */
import { z } from "../../core/deps.ts";
import type { EnvContext, EnvEntry } from "../../core/registry.ts";
import { BridgeVecEnv } from "./client.ts";

const common = {
  python: z.string().default("python3").describe(
    "Python interpreter (needs numpy and the package)",
  ),
  workers: z.int().min(1).default(1).describe(
    "child processes the --num-envs envs are spread over",
  ),
  timeoutS: z.number().positive().default(60).describe(
    "seconds to wait for the Python side to answer",
  ),
  pythonPath: z.array(z.string()).default([]).describe(
    "directories put on PYTHONPATH for the child",
  ),
};

/** The `factory` ("module:function") and `kwargs` options of the Python-factory bridges. */
function factoryOptions(example: string) {
  return {
    factory: z.string().regex(/^[A-Za-z_][\w.]*:[A-Za-z_]\w*$/, "expected module:factory").describe(
      example,
    ),
    kwargs: z.record(z.string(), z.unknown()).default({}).describe("factory keyword arguments"),
  };
}

const SMACV2_MAPS = ["protoss", "terran", "zerg"].flatMap((race) =>
  ["5_vs_5", "10_vs_10", "10_vs_11", "20_vs_20", "20_vs_23"].map((s) => `${race}_${s}`)
) as [string, ...string[]];

function start(
  adapter: string,
  options: Record<string, unknown>,
  o: { python: string; workers: number; timeoutS: number; pythonPath: string[] },
  ctx: EnvContext,
) {
  return BridgeVecEnv.start({
    python: o.python,
    adapter,
    options,
    timeoutS: o.timeoutS,
    env: o.pythonPath.length ? { PYTHONPATH: o.pythonPath.join(":") } : undefined,
  }, { numEnvs: ctx.numEnvs, workers: o.workers });
}

/** The bridge env entries. */
export const bridgeEnvs: EnvEntry<any>[] = [
  {
    id: "bridge/smacv2",
    description: "SMACv2 (StarCraft II) through Python's smacv2 package",
    options: z.strictObject({
      map: z.enum(SMACV2_MAPS).default("protoss_5_vs_5").describe("race_N_vs_M"),
      kwargs: z.record(z.string(), z.unknown()).default({}).describe("extra StarCraft2Env kwargs"),
      ...common,
    }),
    create: (o, ctx) => {
      const [race, n, , m] = (o.map as string).split("_");
      return start(
        "smacv2",
        { race, nUnits: Number(n), nEnemies: Number(m), kwargs: o.kwargs },
        o,
        ctx,
      );
    },
  },
  {
    id: "bridge/mamujoco",
    description: "Multi-agent MuJoCo through gymnasium_robotics.mamujoco_v1",
    options: z.strictObject({
      scenario: z.string().default("HalfCheetah").describe(
        "single-agent robot, e.g. HalfCheetah, Ant",
      ),
      agentConf: z.string().default("2x3").describe("partition, e.g. 2x3, 6x1"),
      agentObsk: z.int().min(0).default(1).describe("neighbour distance seen by each agent"),
      episodeLimit: z.int().positive().default(1000).describe("time limit"),
      kwargs: z.record(z.string(), z.unknown()).default({}).describe("extra gymnasium kwargs"),
      ...common,
    }),
    create: (o, ctx) => start("mamujoco", o, o, ctx),
  },
  {
    id: "bridge/football",
    description: "Google Research Football through gfootball.env.create_environment",
    options: z.strictObject({
      scenario: z.string().default("academy_3_vs_1_with_keeper").describe("gfootball env_name"),
      agents: z.int().positive().default(3).describe("left players controlled"),
      representation: z.string().default("simple115v2").describe("observation representation"),
      rewards: z.string().default("scoring,checkpoints").describe("reward wrappers"),
      episodeLimit: z.int().positive().default(400).describe("time limit (academy: 400)"),
      ...common,
    }),
    create: (o, ctx) => start("football", o, o, ctx),
  },
  {
    id: "bridge/vector",
    description: "a natively batched Python env (module:factory(num_envs, seed)), see PROTOCOL.md",
    options: z.strictObject({
      ...factoryOptions("factory(num_envs=E, seed=s, **kwargs) returning a batched env"),
      ...common,
    }),
    create: (o, ctx) => start("vector", o, o, ctx),
  },
  {
    id: "bridge/pettingzoo",
    description: "any PettingZoo ParallelEnv, given as module:factory",
    options: z.strictObject({
      ...factoryOptions("e.g. pettingzoo.mpe.simple_spread_v3:parallel_env"),
      episodeLimit: z.int().positive().default(1000).describe("time limit"),
      wonKey: z.string().optional().describe("infos key that marks a won episode"),
      ...common,
    }),
    create: (o, ctx) => start("pettingzoo", o, o, ctx),
  },
];
