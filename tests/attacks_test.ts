// The second trust audit's attacks (issue 34), each reproduced: secrets that reached disk, data
// sizes that crashed the learner, checkpoints trained on without a check, limits that allocated
// before they were checked. The slower, process-level attacks sit beside the features they
// attack (tests/sandbox_test.ts, tests/distributed_test.ts) and are named there "(attack)".
import assert from "node:assert/strict";
import { dirname, join } from "node:path";
import { appendAll, maxOf, minOf } from "../core/arrays.ts";
import { knownSecrets, redactDeep, redactSecrets } from "../core/config.ts";
import { cli } from "./_helpers.ts";
import { checkStep } from "../core/testing.ts";
import { connect } from "../distributed/redis.ts";
import type { Step, VecEnv } from "../core/vec_env.ts";
import { openBytes, openText, RunKey, signBytes, signText, toHex } from "../distributed/auth.ts";

Deno.test("secrets: URL passwords (raw and percent-decoded) and BATON_REDIS_PASSWORD are removed from what a run writes", () => {
  const args = ["--rollout", "redis://:p%40ss-word@10.0.0.1:6379/0", "--seed", "3"];
  const prev = Deno.env.get("BATON_REDIS_PASSWORD");
  // another test file of the same process may have set the rollout secret: it is a secret too
  const rolloutSecret = Deno.env.get("BATON_ROLLOUT_SECRET");
  Deno.env.set("BATON_REDIS_PASSWORD", "from-the-env-1");
  try {
    const secrets = knownSecrets(args);
    const want = ["p%40ss-word", "p@ss-word", "from-the-env-1"];
    assert.deepEqual(new Set(secrets), new Set(rolloutSecret ? [...want, rolloutSecret] : want));
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
    [["--eval-every", "often"], /--eval-every: expected auto or a whole number of iterations/],
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

// ---- checkpoints: digests, the run's identity, regular files only ----

const FAST = ["--algo", "mappo", "--num-envs", "4", "--rollout-length", "25"];
const SMALL = [...FAST, "--eval-episodes", "2", "--algo-opt", "epochs=1", "--quiet"];

/** Every file of a directory and its bytes. */
async function snapshot(dir: string): Promise<Map<string, Uint8Array>> {
  const m = new Map<string, Uint8Array>();
  for await (const e of Deno.readDir(dir)) {
    m.set(e.name, e.isFile ? await Deno.readFile(join(dir, e.name)) : new Uint8Array());
  }
  return m;
}

async function sha256(text: string): Promise<string> {
  const d = await crypto.subtle.digest("SHA-256", new TextEncoder().encode(text));
  return Array.from(new Uint8Array(d), (b) => b.toString(16).padStart(2, "0")).join("");
}

/** Recomputes a checkpoint's digests as core/checkpoint.ts does (a forger's move). */
async function resign(c: any): Promise<any> {
  for (const [k, t] of Object.entries(c.algo.tensors) as [string, any][]) {
    t.sha256 = await sha256(JSON.stringify([k, t.shape, t.data]));
  }
  const { digest: _d, ...body } = c;
  return { digest: `sha256:${await sha256(JSON.stringify(body))}`, ...body };
}

/** Resumes `dir` expecting a one-line refusal matching `want`, with nothing in `dir` changed. */
async function refused(dir: string, want: RegExp, extra: string[] = [], what = ""): Promise<void> {
  const before = await snapshot(dir);
  const r = await cli("--resume", dir, "--total-steps", "400", "--quiet", ...extra);
  assert.equal(r.code, 2, `${what}: ${r.stderr}`);
  assert.match(r.stderr, want, what);
  assert.equal(r.stderr.trim().split("\n").length, 1, `${what}: one line: ${r.stderr}`);
  assert.deepEqual(await snapshot(dir), before, `${what}: the run directory is unchanged`);
}

Deno.test("checkpoints: an edited tensor, tensor name or counter is refused by its digest, naming the file and the tensor", async () => {
  const dir = join(await Deno.makeTempDir({ prefix: "baton_ck_" }), "run");
  const first = await cli(...SMALL, "--total-steps", "200", "--out", dir);
  assert.equal(first.code, 0, first.stderr);
  const file = join(dir, "checkpoint.json");
  const good = JSON.parse(await Deno.readTextFile(file));
  assert.equal(good.format, "baton-checkpoint/2");
  assert.match(good.digest, /^sha256:[0-9a-f]{64}$/);
  const [name, t0] = Object.entries(good.algo.tensors)[0] as [string, any];
  const cases: [string, (c: any) => void, RegExp][] = [
    ["one base64 character of a tensor", (c) => {
      const d: string = c.algo.tensors[name].data;
      c.algo.tensors[name].data = (d[0] === "A" ? "B" : "A") + d.slice(1);
    }, new RegExp(`checkpoint\\.json: tensor "${name}" does not match its digest`)],
    ["a tensor's name", (c) => {
      c.algo.tensors[name + "x"] = c.algo.tensors[name];
      delete c.algo.tensors[name];
    }, new RegExp(`tensor "${name}x" does not match its digest`)],
    [
      "iteration",
      (c) => (c.iteration = 1),
      /checkpoint\.json: its content does not match its digest/,
    ],
    ["the digest removed", (c) => delete c.digest, /its content does not match its digest/],
  ];
  for (const [what, edit, want] of cases) {
    const c = structuredClone(good);
    edit(c);
    await Deno.writeTextFile(file, JSON.stringify(c));
    await refused(dir, want, [], what);
  }
  // a forger who recomputes the digests still meets the content checks
  const nan = structuredClone(good);
  const bad = new Float32Array(t0.shape.reduce((a: number, b: number) => a * b, 1)).fill(NaN);
  nan.algo.tensors[name].data = btoa(String.fromCharCode(...new Uint8Array(bad.buffer)));
  await Deno.writeTextFile(file, JSON.stringify(await resign(nan)));
  await refused(dir, new RegExp(`tensor "${name}" has non-finite values`), [], "re-signed NaN");
  const cfgBad = structuredClone(good);
  cfgBad.config.numEnvs = -3;
  await Deno.writeTextFile(file, JSON.stringify(await resign(cfgBad)));
  await refused(
    dir,
    /Cannot use checkpoint .*checkpoint\.json: its config has numEnvs: must be from 1 to 1000000/,
    [],
    "an invalid value in the checkpoint's config (not called a flag)",
  );
  for (const [field, v] of [["adamT", [null, null, null, null]], ["valueNorm", null]] as const) {
    const nul = structuredClone(good);
    nul.algo.extra[field] = v;
    await Deno.writeTextFile(file, JSON.stringify(await resign(nul)));
    await refused(
      dir,
      new RegExp(`Cannot use the checkpoint: its algorithm state has algo\\.extra\\.${field}`),
      [],
      `nulls in ${field}`,
    );
  }
  // the intact file, and a format-1 file (older Baton, no digests), still resume
  const old = structuredClone(good);
  delete old.digest;
  old.format = "baton-checkpoint/1";
  for (const t of Object.values(old.algo.tensors) as any[]) delete t.sha256;
  await Deno.writeTextFile(file, JSON.stringify(old));
  const r = await cli("--resume", dir, "--total-steps", "300", "--quiet");
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stderr, /Warning: checkpoint .* is format 1 \(written before digests\)/);
  await Deno.remove(dirname(dir), { recursive: true });
});

Deno.test("checkpoints: one from another run (seed, algorithm, options) never resumes into a run directory; a FIFO is refused, not waited on", async () => {
  const root = await Deno.makeTempDir({ prefix: "baton_ckid_" });
  const a = join(root, "a"), b = join(root, "b"), c = join(root, "c");
  for (const [dir, extra] of [[a, []], [b, ["--seed", "3"]], [c, ["--algo-opt", "lr=0.01"]]]) {
    const r = await cli(...SMALL, "--total-steps", "200", "--out", dir as string, ...extra);
    assert.equal(r.code, 0, r.stderr);
  }
  const ours = await Deno.readFile(join(a, "checkpoint.json"));
  await Deno.copyFile(join(b, "checkpoint.json"), join(a, "checkpoint.json"));
  await refused(
    a,
    /Cannot resume .*\/a: .*\/a\/checkpoint\.json is from another run \(seed 3; .*\/a\/config\.json says 0\)/,
    [],
    "another seed's checkpoint",
  );
  await Deno.copyFile(join(c, "checkpoint.json"), join(a, "checkpoint.json"));
  await refused(a, /is from another run \(algoOptions /, [], "other options");
  await Deno.writeFile(join(a, "checkpoint.json"), ours);
  await refused(a, /with --seed 5: the checkpoint trained --seed 0/, ["--seed", "5"], "--seed");
  // a FIFO in place of the checkpoint: reading it would wait for a writer forever
  await Deno.remove(join(a, "checkpoint.json"));
  const mk = await new Deno.Command("mkfifo", { args: [join(a, "checkpoint.json")] }).output();
  assert.equal(mk.code, 0);
  await refused(a, /checkpoint\.json: it is not a regular file/, [], "FIFO");
  await Deno.remove(root, { recursive: true });
});

Deno.test("rollout messages: a tag verifies only its own kind, run, parts and secret", async () => {
  const key = await RunKey.of("a-secret-of-16-chars", "run1");
  const same = await RunKey.of("a-secret-of-16-chars", "run1");
  const otherRun = await RunKey.of("a-secret-of-16-chars", "run2");
  const otherSecret = await RunKey.of("another-secret-of-16", "run1");
  const parts = ["h", new Uint8Array([1, 2, 3])];
  const tag = await key.sign("chunk", parts);
  assert.ok(await same.verify("chunk", parts, tag));
  assert.ok(await same.verify("chunk", parts, toHex(tag)));
  assert.ok(!(await key.verify("task", parts, tag)), "another kind");
  assert.ok(!(await otherRun.verify("chunk", parts, tag)), "another run");
  assert.ok(!(await otherSecret.verify("chunk", parts, tag)), "another secret");
  assert.ok(!(await key.verify("chunk", ["h", new Uint8Array([1, 2, 4])], tag)), "a changed byte");
  assert.ok(!(await key.verify("chunk", ["h\x01", new Uint8Array([2, 3])], tag)), "re-split parts");
  assert.ok(!(await key.verify("chunk", parts, null)), "no tag");
  assert.ok(!(await key.verify("chunk", parts, "zz")), "not hex");
  const text = await signText(key, "config", '{"env":"matrix/climbing"}');
  assert.equal(await openText(key, "config", text), '{"env":"matrix/climbing"}');
  assert.equal(await openText(key, "config", text.replace("climbing", "penalty")), null);
  assert.equal(await openText(key, "config", '{"env":"x"}'), null, "unsigned");
  const bytes = await signBytes(key, "params", new Uint8Array([9, 8, 7]));
  assert.deepEqual(await openBytes(key, "params", bytes), new Uint8Array([9, 8, 7]));
  bytes[bytes.length - 1] = 6;
  assert.equal(await openBytes(key, "params", bytes), null);
  await assert.rejects(() => RunKey.of("short", "r"), /has 5 characters; use at least 16/);
});

Deno.test("env data: a plain array, a string, null or a SharedArrayBuffer where a typed array belongs, and 2e7 episodes in one step, are one line each", () => {
  const env = {
    spec: { numAgents: 2, obsDim: 1, stateDim: 1, actionSpace: { kind: "discrete", n: 2 } },
    numEnvs: 2,
  } as unknown as VecEnv;
  const ok = {
    obs: new Float32Array(4),
    state: new Float32Array(2),
    reward: new Float32Array(2),
    done: new Uint8Array(2),
    truncated: new Uint8Array(2),
    availActions: new Uint8Array(8).fill(1),
    episodes: { returns: [], lengths: [], wins: [] },
  };
  checkStep(env, ok as unknown as Step, "step 1"); // the well-formed step passes
  const cases: [string, unknown, RegExp][] = [
    [
      "obs",
      [0, 0, 0, 0],
      /step 1: obs must be a Float32Array of length 4 \(not shared\), got a plain array of 4/,
    ],
    ["obs", "0000", /obs must be a Float32Array .*got a string/],
    ["reward", null, /reward must be a Float32Array of length 2 .*got null/],
    ["state", new SharedArrayBuffer(8), /state must be a Float32Array .*got a SharedArrayBuffer/],
    [
      "state",
      new Float32Array(new SharedArrayBuffer(8)),
      /got a Float32Array over a SharedArrayBuffer/,
    ],
    ["done", new Float32Array(2), /done must be a Uint8Array of length 2 .*got a Float32Array/],
  ];
  for (const [field, value, want] of cases) {
    assert.throws(
      () => checkStep(env, { ...ok, [field]: value } as unknown as Step, "step 1"),
      want,
    );
  }
  const many = { returns: new Array(2e7).fill(0), lengths: [], wins: [] };
  assert.throws(
    () => checkStep(env, { ...ok, episodes: many } as unknown as Step, "step 1"),
    /step 1: episodes lists 20000000 finished episodes in one step of 2 envs \(at most one per env\)/,
  );
});

Deno.test("a Redis URL with a non-numeric database is one line naming it", async () => {
  await assert.rejects(
    () => connect({ url: "redis://:pw@127.0.0.1:1/abc", name: "t" }, 0, () => {}),
    /^Error: Invalid Redis URL redis:\/\/127\.0\.0\.1:1\/abc: the database "abc" must be a number \(redis:\/\/host:port\/0 or no path\)$/,
  );
});
