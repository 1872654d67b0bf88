// The second trust audit's attacks (issue 34), each reproduced: secrets that reached disk, data
// sizes that crashed the learner, checkpoints trained on without a check, limits that allocated
// before they were checked. The slower, process-level attacks sit beside the features they
// attack (tests/sandbox_test.ts, tests/distributed_test.ts) and are named there "(attack)".
import assert from "node:assert/strict";
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
