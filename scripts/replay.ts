/**
 * `deno task replay runs/<name> [--out file.html] [--seed N]`: plays one greedy evaluation
 * episode of a trained `smax/*` or `mamujoco/*` run and writes a self-contained HTML replay
 * (`runs/<name>/replay.html` by default).
 *
 * Permissions: read of the run directory (and the tfjs wasm binary), write of the output file.
 *
 * @module
 */
import { parseArgs } from "node:util";
import { join } from "node:path";
import { validateConfig } from "../train.ts";
import { loadCheckpoint } from "../core/checkpoint.ts";
import { parseOptions } from "../core/registry.ts";
import { initBackend } from "../core/backend.ts";
import { Rng } from "../core/rng.ts";
import { defaultEnvRegistry } from "../envs/mod.ts";
import { defaultAlgoRegistry } from "../algos/mod.ts";
import { type Recording, SmaxVecEnv } from "../envs/smax/smax.ts";
import { replayHtml } from "../envs/smax/replay.ts";
import { MamujocoVecEnv, type MujocoRecording } from "../envs/mamujoco/mamujoco.ts";
import { mujocoReplayHtml } from "../envs/mamujoco/replay.ts";

/**
 * Records one greedy episode of the policy in a run directory.
 * @param runDir a run directory with checkpoint.json
 * @param opts seed of the episode
 * @returns the recording
 */
export async function recordEpisode(
  runDir: string,
  opts: { seed: number },
): Promise<Recording | MujocoRecording> {
  const ckpt = await loadCheckpoint(runDir);
  const cfg = validateConfig(ckpt.config);
  if (!cfg.env.startsWith("smax/") && !cfg.env.startsWith("mamujoco/")) {
    throw new Error(
      `Cannot replay ${runDir}: replays are recorded for smax/* and mamujoco/* envs, this run trained ${cfg.env}`,
    );
  }
  const env = await defaultEnvRegistry().make(cfg.env, { options: cfg.envOptions, numEnvs: 1 });
  if (!(env instanceof SmaxVecEnv) && !(env instanceof MamujocoVecEnv)) {
    throw new Error(`Cannot replay ${cfg.env}: its env does not record episodes`);
  }
  await initBackend(cfg.backend);
  const entry = defaultAlgoRegistry().get(cfg.algo);
  const algo = entry.create(env.spec, {
    options: parseOptions(entry.options, cfg.algoOptions, `algorithm ${cfg.algo}`),
    rng: new Rng(cfg.seed),
  });
  await algo.setState(ckpt.algo);
  const recordings: (Recording | MujocoRecording)[] = [];
  env.recordings = recordings as any;
  const rng = new Rng(opts.seed);
  let step = await env.reset(opts.seed);
  for (let t = 0; t <= env.spec.episodeLimit; t++) {
    const out = await algo.act(
      { obs: step.obs, state: step.state, avail: step.availActions, E: 1 },
      { rng, greedy: true },
    );
    step = await env.step(out.actions);
    if (step.episodes.returns.length) break;
  }
  await env.close();
  return recordings[0]!;
}

if (import.meta.main) {
  const { values, positionals } = parseArgs({
    args: Deno.args,
    options: { out: { type: "string" }, seed: { type: "string", default: "12345" } },
    allowPositionals: true,
  });
  const runDir = positionals[0];
  if (!runDir) {
    console.error("Usage: deno task replay runs/<name> [--out file.html] [--seed N]");
    Deno.exit(2);
  }
  try {
    const rec = await recordEpisode(runDir, { seed: Number(values.seed) });
    const out = values.out ?? join(runDir, "replay.html");
    if ("robot" in rec) {
      await Deno.writeTextFile(out, mujocoReplayHtml(rec, runDir));
      const ret = rec.rewards.reduce((a, b) => a + b, 0);
      console.log(
        `${out}: ${rec.robot}, return ${ret.toFixed(1)} in ${rec.frames.length - 1} steps`,
      );
    } else {
      await Deno.writeTextFile(out, replayHtml(rec, runDir));
      console.log(
        `${out}: ${rec.scenario}, ${rec.won ? "won" : "lost"} in ${rec.frames.length - 1} steps`,
      );
    }
  } catch (err) {
    console.error(`Error: ${(err as Error).message}`);
    Deno.exit(2);
  }
}
