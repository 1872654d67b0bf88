// The second trust audit's attacks (issue 34), each reproduced: secrets that reached disk, data
// sizes that crashed the learner, checkpoints trained on without a check, limits that allocated
// before they were checked. The slower, process-level attacks sit beside the features they
// attack (tests/sandbox_test.ts, tests/distributed_test.ts) and are named there "(attack)".
import assert from "node:assert/strict";
import { appendAll, maxOf, minOf } from "../core/arrays.ts";
import { knownSecrets, redactDeep, redactSecrets } from "../core/config.ts";

Deno.test("secrets: URL passwords (raw and percent-decoded) and BATON_REDIS_PASSWORD are removed from what a run writes", () => {
  const args = ["--rollout", "redis://:p%40ss-word@10.0.0.1:6379/0", "--seed", "3"];
  const prev = Deno.env.get("BATON_REDIS_PASSWORD");
  Deno.env.set("BATON_REDIS_PASSWORD", "from-the-env-1");
  try {
    const secrets = knownSecrets(args);
    assert.deepEqual(new Set(secrets), new Set(["p%40ss-word", "p@ss-word", "from-the-env-1"]));
    assert.deepEqual(
      args.map((a) => redactSecrets(a, secrets)),
      ["--rollout", "redis://10.0.0.1:6379/0", "--seed", "3"],
    );
    // a secret that shows up anywhere else in a string (a user's note, an echoed option)
    assert.equal(redactSecrets("note p@ss-word and from-the-env-1", secrets), "note *** and ***");
    // a JSON document keeps its numbers and keys whatever the secret is, so it stays valid
    const doc = { seed: 1, lr: 0.001, meta: { command: ["train.ts", "--x=1 from-the-env-1"] } };
    const red = redactDeep(doc, ["1"]);
    assert.deepEqual(red, {
      seed: 1,
      lr: 0.001,
      meta: { command: ["train.ts", "--x=*** from-the-env-***"] },
    });
  } finally {
    if (prev === undefined) Deno.env.delete("BATON_REDIS_PASSWORD");
    else Deno.env.set("BATON_REDIS_PASSWORD", prev);
  }
});

Deno.test("data-sized arrays: appendAll, maxOf and minOf take a million elements; data paths spread none into calls", async () => {
  const big = Float32Array.from({ length: 1_000_000 }, (_, i) => (i * 7919) % 1_000_003);
  const dst: number[] = [1];
  appendAll(dst, big);
  assert.equal(dst.length, 1_000_001);
  assert.equal(dst[1_000_000], big[999_999]);
  assert.equal(maxOf(big), 1_000_002);
  assert.equal(minOf(big), 0);
  assert.ok(Number.isNaN(maxOf([1, NaN, 2])));
  assert.equal(maxOf([]), -Infinity);
  // `f(...xs)` passes each element on the stack: the files that move rollouts must not do it
  const root = new URL("../", import.meta.url);
  const files = [
    "core/rollout.ts",
    "core/trainer.ts",
    "core/evaluate.ts",
    "core/sinks.ts",
    ...[...Deno.readDirSync(new URL("distributed/", root))].map((e) => `distributed/${e.name}`),
  ];
  for (const f of files) {
    const text = await Deno.readTextFile(new URL(f, root));
    const hit = text.match(/\b(push|unshift|max|min|fromCharCode|apply)\(\.\.\.[^)]*\)/);
    assert.equal(hit, null, `${f} spreads into a call: ${hit?.[0]} (use core/arrays.ts)`);
  }
});
