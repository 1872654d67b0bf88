/**
 * `deno task replay runs/<name> [--out file.html] [--seed N] [--gif]`: plays one greedy evaluation
 * episode of a trained run and writes a self-contained HTML replay (`runs/<name>/replay.html` by
 * default); with `--gif` also an animated GIF of it (`replay.gif`, drawn by headless Chromium,
 * scripts/_gif.ts).
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
import { MemoryCarry } from "../core/algorithm.ts";
import { defaultEnvRegistry } from "../envs/mod.ts";
import { defaultAlgoRegistry } from "../algos/mod.ts";
import { type Recording, SmaxVecEnv } from "../envs/smax/smax.ts";
import { replayHtml } from "../envs/smax/replay.ts";
import { MamujocoVecEnv, type MujocoRecording } from "../envs/mamujoco/mamujoco.ts";
import { mujocoEpisodeLine, mujocoReplayHtml } from "../envs/mamujoco/replay.ts";
import { type Scene, sceneReplayHtml, sceneSchema } from "../core/scene.ts";
import { loadConfiguredPlugins, type PluginSandbox } from "../plugins/sandbox.ts";
import { replayGif } from "./_gif.ts";

/** A generic replay: the scenes of an env's render hook (core/scene.ts), one per step. */
export interface SceneRecording {
  /** The env id. */
  readonly env: string;
  /** Scene after the reset, then after each step. */
  readonly frames: Scene[];
  /** The episode's return. */
  readonly ret: number;
}

/**
 * Records one greedy episode of an env with a render hook (any env, plugin envs included: the
 * run's plugins are loaded as it loaded them, sandboxed unless it trusted them).
 * @param runDir a run directory with checkpoint.json
 * @param opts seed of the episode
 * @returns the scenes
 */
export async function recordScenes(
  runDir: string,
  opts: { seed: number },
): Promise<SceneRecording> {
  const ckpt = await loadCheckpoint(runDir);
  const cfg = validateConfig(ckpt.config);
  const envs = defaultEnvRegistry();
  const boxes: PluginSandbox[] = [];
  try {
    await loadConfiguredPlugins(envs, cfg, boxes);
    const env = await envs.make(cfg.env, { options: cfg.envOptions, numEnvs: 1 });
    try {
      const scene = async () => {
        const raw = await env.render?.();
        const s = sceneSchema.safeParse(raw);
        if (!s.success) {
          throw new Error(
            `Cannot replay ${cfg.env}: its render() ${
              raw === null || raw === undefined ? "hook is missing" : "returned an invalid scene"
            } (see docs/env-api.md, "Replays")`,
          );
        }
        return s.data;
      };
      await initBackend(cfg.backend);
      const entry = defaultAlgoRegistry().get(cfg.algo);
      const algo = entry.create(env.spec, {
        options: parseOptions(entry.options, cfg.algoOptions, `algorithm ${cfg.algo}`),
        rng: new Rng(cfg.seed),
        rolloutLength: cfg.rolloutLength,
      });
      try {
        await algo.setState(ckpt.algo);
        const rng = new Rng(opts.seed);
        let step = await env.reset(opts.seed);
        const frames = [await scene()];
        let ret = 0;
        const carry = new MemoryCarry(algo, 1);
        for (let t = 0; t < env.spec.episodeLimit; t++) {
          const out = await algo.act(
            carry.input({ obs: step.obs, state: step.state, avail: step.availActions, E: 1 }),
            { rng, greedy: true },
          );
          step = await env.step(out.actions);
          carry.advance(out, step.done, step.truncated);
          ret += step.reward[0]!;
          frames.push(await scene()); // at an episode's end: the outcome, taken before the reset
          if (step.done[0] || step.truncated[0]) break;
        }
        return { env: cfg.env, frames, ret };
      } finally {
        algo.dispose();
      }
    } finally {
      await env.close();
    }
  } finally {
    for (const b of boxes) b.terminate();
  }
}

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
    rolloutLength: cfg.rolloutLength,
  });
  await algo.setState(ckpt.algo);
  const recordings: (Recording | MujocoRecording)[] = [];
  env.recordings = recordings as any;
  const rng = new Rng(opts.seed);
  let step = await env.reset(opts.seed);
  const carry = new MemoryCarry(algo, 1);
  for (let t = 0; t <= env.spec.episodeLimit; t++) {
    const out = await algo.act(
      carry.input({ obs: step.obs, state: step.state, avail: step.availActions, E: 1 }),
      { rng, greedy: true },
    );
    step = await env.step(out.actions);
    carry.advance(out, step.done, step.truncated);
    if (step.episodes.returns.length) break;
  }
  await env.close();
  return recordings[0]!;
}

if (import.meta.main) {
  const { values, positionals } = parseArgs({
    args: Deno.args,
    options: {
      out: { type: "string" },
      seed: { type: "string", default: "12345" },
      gif: { type: "boolean" },
      "gif-size": { type: "string", default: "800x800" },
      "gif-delay": { type: "string", default: "200" },
      help: { type: "boolean" },
    },
    allowPositionals: true,
  });
  const usage = [
    "Usage: deno task replay runs/<name> [--out file.html] [--seed N]",
    "  Plays one greedy episode of a trained run and writes an HTML replay: smax/* and mamujoco/*",
    "  have their own pages; any other env (plugin envs included) needs a render() hook.",
    "  --out   output file [default: runs/<name>/replay.html]",
    "  --seed  episode seed [default: 12345]",
    "  --gif   also write an animated GIF beside the page (needs chromium-headless-shell)",
    "  --gif-size WxH   pixels of each GIF frame [default: 800x800]",
    "  --gif-delay MS   milliseconds per step in the GIF [default: 200]",
  ].join("\n");
  if (values.help) {
    console.log(usage);
    Deno.exit(0);
  }
  const runDir = positionals[0];
  if (!runDir || !/^\d+$/.test(values.seed!)) {
    console.error(runDir ? `Error: --seed "${values.seed}" is not a whole number` : usage);
    Deno.exit(2);
  }
  const size = /^(\d{2,4})x(\d{2,4})$/.exec(values["gif-size"]!);
  const delay = Number(values["gif-delay"]);
  if (!size || !Number.isInteger(delay) || delay < 10 || delay > 60_000) {
    console.error(
      !size
        ? `Error: --gif-size "${
          values["gif-size"]
        }" is not WxH in pixels (10 to 9999 each), e.g. 800x800`
        : `Error: --gif-delay "${
          values["gif-delay"]
        }" is not a whole number of milliseconds from 10 to 60000`,
    );
    Deno.exit(2);
  }
  /** Writes the GIF of a page of `frames` steps when --gif asked for one. */
  const gif = async (page: string, frames: number) => {
    if (!values.gif) return;
    const file = page.replace(/\.html?$/, "") + ".gif";
    const bytes = await replayGif(page, file, {
      frames,
      width: Number(size[1]),
      height: Number(size[2]),
      delayMs: delay,
    });
    console.log(`${file}: ${frames} frames, ${(bytes / 1024).toFixed(0)} KiB`);
  };
  try {
    const out = values.out ?? join(runDir, "replay.html");
    const env = validateConfig((await loadCheckpoint(runDir)).config).env;
    if (!env.startsWith("smax/") && !env.startsWith("mamujoco/")) {
      const r = await recordScenes(runDir, { seed: Number(values.seed) });
      await Deno.writeTextFile(out, sceneReplayHtml(r.frames, `${r.env} (${runDir})`));
      console.log(`${out}: ${r.env}, return ${r.ret.toFixed(2)}, ${r.frames.length} scenes`);
      await gif(out, r.frames.length);
      Deno.exit(0);
    }
    const rec = await recordEpisode(runDir, { seed: Number(values.seed) });
    if ("robot" in rec) {
      await Deno.writeTextFile(out, mujocoReplayHtml(rec, runDir));
      console.log(`${out}: ${mujocoEpisodeLine(rec)}`);
      await gif(out, rec.frames.length);
    } else {
      await Deno.writeTextFile(out, replayHtml(rec, runDir));
      console.log(
        `${out}: ${rec.scenario}, ${rec.won ? "won" : "lost"} in ${rec.frames.length - 1} steps`,
      );
      await gif(out, rec.frames.length);
    }
  } catch (err) {
    console.error(`Error: ${(err as Error).message}`);
    Deno.exit(2);
  }
}
