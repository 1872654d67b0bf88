/**
 * Two training configurations timed side by side: short runs of each in alternation (A, B, A, B,
 * ...), each run's first iteration dropped, so both sides see the same machine load.
 *
 * @module
 */
import { defaultAlgoRegistry, defaultEnvRegistry, train, trainConfig } from "../mod.ts";

/** One side of a comparison: a training configuration. */
export interface Side {
  readonly env: string;
  readonly algo: string;
  readonly numEnvs: number;
  readonly rolloutLength: number;
  readonly algoOptions: Record<string, unknown>;
  /** Learner threads (default: the trainer's, one per core). */
  readonly threads?: number;
  /** `--kernels` (default: the trainer's, auto). */
  readonly kernels?: "auto" | "tfjs" | "fused";
}

/** Seconds per iteration (rollout + update) of a short run, its first iteration dropped. */
export async function iterationSeconds(s: Side, iters: number): Promise<number[]> {
  const out = await Deno.makeTempDir({ prefix: "baton_bench_" });
  const secs: number[] = [];
  const cfg = trainConfig.parse({
    env: s.env,
    algo: s.algo,
    algoOptions: s.algoOptions,
    numEnvs: s.numEnvs,
    rolloutLength: s.rolloutLength,
    totalSteps: s.numEnvs * s.rolloutLength * (iters + 1),
    evalEvery: 0,
    evalEpisodes: 1,
    quiet: true,
    out,
    ...(s.threads ? { threads: s.threads } : {}),
    ...(s.kernels ? { kernels: s.kernels } : {}),
  });
  await train(cfg, {
    env: defaultEnvRegistry().get(s.env),
    algo: defaultAlgoRegistry().get(s.algo),
    hooks: [{ onIteration: (r) => void secs.push((r.rollout_s ?? 0) + (r.update_s ?? 0)) }],
  });
  await Deno.remove(out, { recursive: true });
  return secs.slice(1);
}

/**
 * Env-steps/s of two sides measured in alternating runs.
 * @param a one side
 * @param b the other
 * @param rounds runs of each side
 * @param iters timed iterations per run
 * @returns env-steps/s of each side and the ratio of their time per env step (a / b)
 */
export async function compare(
  a: Side,
  b: Side,
  rounds: number,
  iters: number,
): Promise<{ a: number; b: number; timeRatio: number }> {
  const t = { a: [] as number[], b: [] as number[] };
  for (let r = 0; r < rounds; r++) {
    t.a.push(...(await iterationSeconds(a, iters)));
    t.b.push(...(await iterationSeconds(b, iters)));
  }
  const mean = (xs: number[]) => xs.reduce((x, y) => x + y, 0) / xs.length;
  const rateA = a.numEnvs * a.rolloutLength / mean(t.a);
  const rateB = b.numEnvs * b.rolloutLength / mean(t.b);
  return { a: rateA, b: rateB, timeRatio: rateB / rateA };
}

/** Formats env-steps/s for a table. */
export function rate(x: number): string {
  return Math.round(x).toLocaleString("en-US");
}
