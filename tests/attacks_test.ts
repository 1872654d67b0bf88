// The second trust audit's attacks (issue 34), each reproduced: secrets that reached disk, data
// sizes that crashed the learner, checkpoints trained on without a check, limits that allocated
// before they were checked. The slower, process-level attacks sit beside the features they
// attack (tests/sandbox_test.ts, tests/distributed_test.ts) and are named there "(attack)".
import assert from "node:assert/strict";
import { dirname, join } from "node:path";
import { appendAll, maxOf, minOf } from "../core/arrays.ts";
import { knownSecrets, redactDeep, redactSecrets } from "../core/config.ts";
import { cli } from "./_helpers.ts";

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

Deno.test("limits: out-of-range sizes and times get one line naming the flag and the range, before anything is allocated", async () => {
  const cases: [string[], RegExp][] = [
    [["--num-envs", "1e12"], /^Error: Invalid flag --num-envs: must be from 1 to 1000000$/m],
    [["--rollout-length", "1000000000"], /--rollout-length: must be from 1 to 1000000$/m],
    [
      ["--num-envs", "100000", "--rollout-length", "1000"],
      /--num-envs: 100,000 x --rollout-length 1,000 = 100,000,000 env steps per iteration, more than the 20,000,000 one iteration may hold: lower either$/m,
    ],
    [["--plugin-timeout", "3000000"], /--plugin-timeout: must be at most 2147483 seconds/],
    [["--rollout-timeout", "1e10"], /--rollout-timeout: must be at most 2147483 seconds/],
    [["--seed=-1"], /--seed: must be from 0 to 2147483647$/m],
    [["--seed", "1.5"], /--seed: expected a whole number from 0 to 2147483647$/m],
    [["--eval-episodes", "2e7"], /--eval-episodes: must be from 1 to 10000000$/m],
  ];
  const out = await Deno.makeTempDir({ prefix: "baton_limits_" });
  for (const [args, want] of cases) {
    const r = await cli(...args, "--quiet", "--out", `${out}/run`);
    assert.equal(r.code, 2, `${args.join(" ")}: ${r.stderr}`);
    assert.match(r.stderr, want, args.join(" "));
    assert.equal(r.stderr.trim().split("\n").length, 1, `one line: ${r.stderr}`);
  }
  await assert.rejects(() => Deno.stat(`${out}/run`), Deno.errors.NotFound, "nothing written");
  await Deno.remove(out, { recursive: true });
});

Deno.test("a file-size limit hit while writing a checkpoint: one line, no temporary file, the previous checkpoint kept", async () => {
  const dir = join(await Deno.makeTempDir({ prefix: "baton_fsize_" }), "run");
  // a checkpoint of several MB (two hidden layers of 384): above the 1 MB limit below, which the run's other files
  // and Deno's warm caches stay under
  const first = await cli(
    ...["--algo", "mappo", "--num-envs", "4", "--rollout-length", "25", "--eval-episodes", "2"],
    ...[
      "--algo-opt",
      "hidden=384",
      "--algo-opt",
      "layers=2",
      "--algo-opt",
      "epochs=1",
      "--checkpoint-every",
      "1",
    ],
    ...["--total-steps", "200", "--quiet", "--out", dir],
  );
  assert.equal(first.code, 0, first.stderr);
  const before = await Deno.readFile(join(dir, "checkpoint.json"));
  assert.ok(before.length > 2_000_000, `checkpoint of ${before.length} bytes`);
  const deno = Deno.execPath(), train = new URL("../train.ts", import.meta.url).pathname;
  const limited = await new Deno.Command("bash", {
    args: [
      "-c",
      `ulimit -f 1024; exec "${deno}" run -A "${train}" --resume "${dir}" --total-steps 400 --quiet`,
    ],
    env: { NO_COLOR: "1", RUST_BACKTRACE: "0" },
    stdout: "piped",
    stderr: "piped",
  }).output();
  const err = new TextDecoder().decode(limited.stderr);
  assert.equal(limited.code, 2, `exit ${limited.code} (153 = killed by SIGXFSZ): ${err}`);
  assert.match(
    err,
    /^Error: Cannot write checkpoint .*checkpoint\.json: File too large.*a file-size limit \(ulimit -f\) was reached; the previous checkpoint is kept: free space, then --resume /m,
  );
  assert.equal(err.trim().split("\n").length, 1, err);
  const left = [...Deno.readDirSync(dir)].map((e) => e.name).filter((n) => n.endsWith(".tmp"));
  assert.deepEqual(left, [], "no temporary file left");
  assert.deepEqual(await Deno.readFile(join(dir, "checkpoint.json")), before, "previous kept");
  await Deno.remove(dirname(dir), { recursive: true });
});
