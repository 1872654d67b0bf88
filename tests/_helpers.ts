// Shared test helpers: tolerance comparison and a quiet small training config.
import assert from "node:assert/strict";
import { type TrainConfig, trainConfig } from "../mod.ts";

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
