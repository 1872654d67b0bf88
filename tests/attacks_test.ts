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
