// Shared test helpers: tolerance comparison and a quiet small training config.
import assert from "node:assert/strict";
import {
  type AlgoEntry,
  type AlgoRegistry,
  defaultAlgoRegistry,
  defaultEnvRegistry,
  discrete,
  type EnvEntry,
  type EnvRegistry,
  type EnvSpec,
  type TrainConfig,
  trainConfig,
} from "../mod.ts";

/** Asserts |a - b| <= atol + rtol |b| elementwise. */
export function assertClose(
  actual: ArrayLike<number>,
  expected: ArrayLike<number>,
  tol: { atol?: number; rtol?: number } = {},
): void {
  const atol = tol.atol ?? 1e-5, rtol = tol.rtol ?? 1e-5;
  assert.equal(actual.length, expected.length, "length");
  for (let i = 0; i < expected.length; i++) {
    const a = actual[i]!, b = expected[i]!;
    if (!(Math.abs(a - b) <= atol + rtol * Math.abs(b))) {
      assert.fail(`element ${i}: ${a} vs ${b} (atol ${atol}, rtol ${rtol})`);
    }
  }
}

/** A small, quiet config writing under a temp dir. */
export async function smallConfig(over: Record<string, unknown>): Promise<TrainConfig> {
  const out = await Deno.makeTempDir({ prefix: "baton_test_" });
  return trainConfig.parse({ quiet: true, out, evalEpisodes: 10, ...over });
}

/**
 * The env and algorithm entries a config names, for `train`.
 * @param cfg the config
 * @param envs env registry
 * @param algos algorithm registry
 * @returns the entries
 */
export function entries(
  cfg: Pick<TrainConfig, "env" | "algo">,
  envs: EnvRegistry = defaultEnvRegistry(),
  algos: AlgoRegistry = defaultAlgoRegistry(),
): { env: EnvEntry; algo: AlgoEntry } {
  return { env: envs.get(cfg.env), algo: algos.get(cfg.algo) };
}

/**
 * Runs a Deno script of the repository with the given arguments in a subprocess.
 * @param path the script, relative to the repository root
 * @param args its arguments
 * @returns exit code, stdout and stderr
 */
export async function script(
  path: string,
  ...args: string[]
): Promise<{ code: number; stdout: string; stderr: string }> {
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", path, ...args],
    env: { NO_COLOR: "1", RUST_BACKTRACE: "0" },
    stdout: "piped",
    stderr: "piped",
  }).output();
  return {
    code: out.code,
    stdout: new TextDecoder().decode(out.stdout),
    stderr: new TextDecoder().decode(out.stderr),
  };
}

/**
 * Runs `train.ts` with the given flags in a subprocess.
 * @param args the flags
 * @returns exit code, stdout and stderr
 */
export function cli(...args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return script("train.ts", ...args);
}

/** The tiny 2-agent, 3-action, one-step spec the BPPO math tests use. */
export const SPEC2: EnvSpec = {
  numAgents: 2,
  obsDim: 3,
  stateDim: 2,
  actionSpace: discrete(3),
  episodeLimit: 1,
};

/**
 * A run's metrics rows without the columns that measure time (wall, speed, time/*), for
 * comparing two runs that should be identical.
 * @param dir the run directory
 * @returns the rows
 */
export async function timelessRows(dir: string): Promise<Record<string, unknown>[]> {
  return (await Deno.readTextFile(`${dir}/metrics.jsonl`)).trim().split("\n").map((l) => {
    const r = JSON.parse(l);
    for (const k of Object.keys(r)) {
      if (/^(wall_s|sps|rollout_s|update_s)$|^time\//.test(k)) delete r[k];
    }
    return r;
  });
}
