// Attacks from the trust audit (issue 16) that are closed: resume writes where it is pointed and
// records each iteration once, checkpoints are validated before use, a resume that changes the
// env or algorithm is refused, option values that look like JSON must parse, a budget that is
// not a whole number of iterations says what runs, a failed run leaves no directory, and
// SIGTERM behaves like Ctrl-C (checkpoint, exit 143).
import assert from "node:assert/strict";
import { join } from "node:path";
import {
  defaultAlgoRegistry,
  discrete,
  type EnvEntry,
  type EnvSpec,
  initBackend,
  loadCheckpoint,
  type Step,
  train,
  type VecEnv,
  z,
} from "../mod.ts";
import { cli, smallConfig } from "./_helpers.ts";

const FAST = [
  "--num-envs",
  "4",
  "--rollout-length",
  "25",
  "--eval-episodes",
  "2",
  "--algo-opt",
  "epochs=1",
  "--algo",
  "mappo",
  "--quiet",
];

async function iterations(dir: string): Promise<number[]> {
  const text = await Deno.readTextFile(join(dir, "metrics.jsonl"));
  return text.trim().split("\n").map((l) => JSON.parse(l).iteration);
}

async function tmp(): Promise<string> {
  return await Deno.makeTempDir({ prefix: "baton_trust_" });
}

Deno.test("--resume of a copied run continues in the copy and leaves the original alone", async () => {
  const root = await tmp();
  const a = join(root, "a"), b = join(root, "b");
  assert.equal((await cli(...FAST, "--total-steps", "200", "--out", a)).code, 0);
  await Deno.mkdir(b);
  for await (const f of Deno.readDir(a)) await Deno.copyFile(join(a, f.name), join(b, f.name));
  const before = await Deno.readTextFile(join(a, "metrics.jsonl"));
  const r = await cli("--resume", b, "--total-steps", "400", "--quiet");
  assert.equal(r.code, 0, r.stderr);
  assert.equal(
    await Deno.readTextFile(join(a, "metrics.jsonl")),
    before,
    "the original is untouched",
  );
  assert.deepEqual(await iterations(b), [1, 2, 3, 4]);
});

Deno.test("rows written after the last checkpoint are dropped on resume: each iteration once", async () => {
  const dir = join(await tmp(), "run");
  assert.equal((await cli(...FAST, "--total-steps", "200", "--out", dir)).code, 0);
  // a kill between a metrics row and its checkpoint leaves a row the checkpoint does not know
  const extra = JSON.stringify({ iteration: 3, env_steps: 300 }) + "\n";
  await Deno.writeTextFile(join(dir, "metrics.jsonl"), extra, { append: true });
  const r = await cli("--resume", dir, "--total-steps", "400", "--quiet");
  assert.equal(r.code, 0, r.stderr);
  assert.deepEqual(await iterations(dir), [1, 2, 3, 4]);
  const csv = (await Deno.readTextFile(join(dir, "metrics.csv"))).trim().split("\n");
  assert.equal(csv.length, 5, "header and four rows");
});

Deno.test("hand-corrupted checkpoints are refused with a line naming the field", async () => {
  const dir = join(await tmp(), "run");
  assert.equal((await cli(...FAST, "--total-steps", "100", "--out", dir)).code, 0);
  const file = join(dir, "checkpoint.json");
  const good = JSON.parse(await Deno.readTextFile(file));
  const cases: [string, (c: any) => void, RegExp][] = [
    ["iteration", (c) => (c.iteration = -5), /iteration/],
    ["envSteps", (c) => (c.envSteps = "lots"), /envSteps/],
    ["rng", (c) => (c.rng = "x"), /rng/],
    ["NaN parameters", (c) => {
      const [name, t] = Object.entries(c.algo.tensors)[0] as [string, any];
      const nan = new Float32Array(t.shape.reduce((a: number, b: number) => a * b, 1)).fill(NaN);
      c.algo.tensors[name] = {
        ...t,
        data: btoa(String.fromCharCode(...new Uint8Array(nan.buffer))),
      };
    }, /tensor ".*" does not match its digest/], // (tests/attacks_test.ts: re-signed, non-finite)
  ];
  for (const [what, corrupt, want] of cases) {
    const c = structuredClone(good);
    corrupt(c);
    await Deno.writeTextFile(file, JSON.stringify(c));
    const r = await cli("--resume", dir, "--total-steps", "200", "--quiet");
    assert.equal(r.code, 2, `${what}: ${r.stderr}`);
    assert.match(r.stderr, want, what);
    assert.equal(r.stderr.trim().split("\n").length, 1, `${what}: one line`);
  }
});

Deno.test("resuming with another env or algorithm is refused, naming what changed", async () => {
  const dir = join(await tmp(), "run");
  assert.equal((await cli(...FAST, "--total-steps", "100", "--out", dir)).code, 0);
  const r = await cli("--resume", dir, "--env", "matrix/penalty", "--quiet");
  assert.equal(r.code, 2);
  assert.match(r.stderr, /--env matrix\/penalty: the checkpoint trained --env matrix\/climbing/);
  const s = await cli("--resume", dir, "--algo", "bppo", "--quiet");
  assert.match(s.stderr, /--algo bppo: the checkpoint trained --algo mappo/);
});

Deno.test("bad input from people: JSON-looking values, budgets, and no empty run directory", async () => {
  const root = await tmp();
  const bad = await cli("--env", "matrix/custom", "--env-opt", "payoff=[[1,0],[0,1]", "--quiet");
  assert.equal(bad.code, 2);
  assert.match(
    bad.stderr,
    /--env-opt payoff=\[\[1,0\],\[0,1\]: the value looks like JSON but does not parse/,
  );
  const neg = await cli("--total-steps", "-5");
  assert.equal(neg.code, 2);
  assert.match(neg.stderr, /--total-steps/);
  const dir = join(root, "short");
  const short = await cli(...FAST, "--total-steps", "130", "--out", dir);
  assert.equal(short.code, 0, short.stderr);
  assert.match(
    short.stderr,
    /--total-steps 130 is not a whole number of iterations of 100 env steps.*runs 2 iterations = 200 env steps/,
  );
  const failed = join(root, "failed");
  const f = await cli("--env", "matrix/custom", "--out", failed, "--quiet");
  assert.equal(f.code, 2);
  await assert.rejects(() => Deno.stat(failed), Deno.errors.NotFound, "no directory left behind");
});

Deno.test("SIGTERM finishes the iteration, writes a checkpoint and exits 143", async () => {
  const dir = join(await tmp(), "run");
  const child = new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", "train.ts", ...FAST, "--total-steps", "100000000", "--out", dir],
    env: { NO_COLOR: "1", RUST_BACKTRACE: "0" },
    stdout: "null",
    stderr: "piped",
  }).spawn();
  const deadline = Date.now() + 60_000;
  while (Date.now() < deadline) {
    const rows = await Deno.readTextFile(join(dir, "metrics.jsonl")).catch(() => "");
    if (rows.trim()) break;
    await new Promise((r) => setTimeout(r, 100));
  }
  child.kill("SIGTERM");
  const st = await child.output();
  assert.equal(st.code, 143, new TextDecoder().decode(st.stderr));
  const ck = JSON.parse(await Deno.readTextFile(join(dir, "checkpoint.json")));
  assert.ok(ck.iteration >= 1, "a checkpoint of the iteration it finished");
});

/** An in-process env that returns what `spoil` makes of an otherwise valid step. */
function hostileEntry(spoil: (s: Step, t: number) => Step, spec?: Partial<EnvSpec>): EnvEntry {
  const base: EnvSpec = {
    numAgents: 2,
    obsDim: 4,
    stateDim: 2,
    actionSpace: discrete(2),
    episodeLimit: 5,
    ...spec,
  };
  return {
    id: "hostile/env",
    description: "returns spoiled data",
    options: z.strictObject({}),
    create: (_o, ctx) => {
      const E = ctx.numEnvs;
      let t = 0;
      const step = (): Step => ({
        obs: new Float32Array(E * base.numAgents * base.obsDim),
        state: new Float32Array(E * base.stateDim),
        availActions: new Uint8Array(E * base.numAgents * 2).fill(1),
        reward: new Float32Array(E),
        done: new Uint8Array(E),
        truncated: new Uint8Array(E),
        episodes: { returns: [], lengths: [], wins: [] },
      });
      const env: VecEnv = {
        spec: base,
        numEnvs: E,
        reset: () => Promise.resolve(spoil(step(), t = 0)),
        step: () => Promise.resolve(spoil(step(), ++t)),
        close: () => Promise.resolve(),
      };
      return env;
    },
  };
}

Deno.test("env data is checked at the boundary: lengths, finiteness, masks, episode records, spec bounds", async () => {
  await initBackend("cpu");
  const cases: [string, EnvEntry, RegExp][] = [
    [
      "short obs",
      hostileEntry((s, t) => (t === 2 ? { ...s, obs: s.obs.subarray(0, 3) } : s)),
      /Env hostile\/env at iteration 1, step 2: obs has length 3, expected 32/,
    ],
    [
      "NaN reward",
      hostileEntry((s, t) => (t === 3 ? { ...s, reward: s.reward.fill(NaN) } : s)),
      /step 3: reward\[0\] is NaN/,
    ],
    [
      "Infinite obs at reset",
      hostileEntry((s, t) => (t === 0 ? { ...s, obs: s.obs.fill(Infinity) } : s)),
      /Env hostile\/env at reset: obs\[0\] is Infinity/,
    ],
    [
      "no available action",
      hostileEntry((s, t) => (t === 1 ? { ...s, availActions: s.availActions!.fill(0) } : s)),
      /step 1: agent 0 of env 0 has no available action/,
    ],
    [
      "malformed episodes",
      hostileEntry((s, t) => (t === 1 ? { ...s, episodes: { returns: 5 } as any } : s)),
      /step 1: episodes must be \{ returns, lengths, wins \} arrays/,
    ],
    [
      "huge obsDim",
      hostileEntry((s) => s, { obsDim: 2 ** 31 - 1 }),
      /Env hostile\/env reported an unusable spec: obsDim/,
    ],
  ];
  for (const [what, entry, want] of cases) {
    const cfg = await smallConfig({
      env: "hostile/env",
      algo: "mappo",
      numEnvs: 4,
      rolloutLength: 10,
      totalSteps: 80,
      evalEpisodes: 4,
    });
    await assert.rejects(
      () => train(cfg, { env: entry, algo: defaultAlgoRegistry().get("mappo") }),
      want,
      what,
    );
  }
});

Deno.test("win rates count every episode: a time-out of an env that reports wins is not won", async () => {
  // one agent, reward 1 per step; the episode is won when it terminates at step 2 in even envs,
  // and odd envs run into the time limit (3) with no win flag
  const { fromScalarEnv } = await import("../mod.ts");
  const spec: EnvSpec = {
    numAgents: 1,
    obsDim: 1,
    stateDim: 1,
    actionSpace: discrete(2),
    episodeLimit: 3,
  };
  let made = 0;
  const env = fromScalarEnv(spec, 2, () => {
    const i = made++;
    let t = 0;
    return {
      reset() {
        t = 0;
      },
      step() {
        t++;
        return i % 2 === 0 && t === 2
          ? { reward: 1, terminated: true, won: true }
          : { reward: 1, terminated: false };
      },
      obs(o: Float32Array) {
        o.fill(0);
      },
      state(o: Float32Array) {
        o.fill(0);
      },
    };
  });
  await env.reset(0);
  const wins: number[] = [], returns: number[] = [];
  for (let t = 0; t < 12; t++) {
    const s = await env.step(new Int32Array(2));
    wins.push(...s.episodes.wins);
    returns.push(...s.episodes.returns);
  }
  assert.equal(wins.length, returns.length, "one win flag per finished episode");
  assert.ok(wins.includes(0) && wins.includes(1), `${wins}`);
  await env.close();
});

Deno.test("envs are closed on every failure path: a failing reset, a failing algorithm creation", async () => {
  await initBackend("cpu");
  let open = 0;
  const counting = (failReset: boolean): EnvEntry => {
    const inner = hostileEntry((s) => s);
    return {
      ...inner,
      create: async (o, ctx) => {
        const env = await inner.create(o, ctx) as VecEnv;
        open++;
        return {
          spec: env.spec,
          numEnvs: env.numEnvs,
          reset: (seed: number) =>
            failReset ? Promise.reject(new Error("reset failed")) : env.reset(seed),
          step: (a: Int32Array | Float32Array) => env.step(a),
          close: () => {
            open--;
            return env.close();
          },
        };
      },
    };
  };
  const mappo = defaultAlgoRegistry().get("mappo");
  const cfg = await smallConfig({
    env: "hostile/env",
    algo: "mappo",
    numEnvs: 4,
    rolloutLength: 10,
    totalSteps: 40,
    evalEpisodes: 4,
  });
  await assert.rejects(() => train(cfg, { env: counting(true), algo: mappo }), /reset failed/);
  assert.equal(open, 0, "a failing reset closes both envs");
  const broken = {
    ...mappo,
    create: () => {
      throw new Error("no algorithm today");
    },
  };
  await assert.rejects(
    () => train(cfg, { env: counting(false), algo: broken }),
    /no algorithm today/,
  );
  assert.equal(open, 0, "a failing algorithm creation closes both envs");
});

/** train.ts on the hostile plugin with one attack, one env, quiet, and extra flags. */
const evil = (attack: string, ...flags: string[]) =>
  cli(
    "--plugin",
    "./tests/fixtures/evil/evil_plugin.ts",
    "--env",
    "evil/attack",
    "--env-opt",
    `attack=${attack}`,
    "--num-envs",
    "1",
    "--quiet",
    ...flags,
  );

Deno.test("a sandboxed plugin's time-out is a flag: --plugin-timeout", async () => {
  const t0 = performance.now();
  const r = await evil("hang", "--plugin-timeout", "1");
  assert.equal(r.code, 2);
  assert.match(r.stderr, /did not answer "step" within 1s \(raise it with --plugin-timeout\)/);
  assert.ok(performance.now() - t0 < 50_000, "stopped by the 1 s time-out, not the 60 s default");
});

Deno.test("a plugin that allocates without end is stopped by --plugin-memory, not by V8 killing the trainer", async () => {
  const t0 = performance.now();
  const r = await evil("bloat", "--plugin-memory", "256");
  assert.equal(r.code, 2, r.stderr); // not 133 (SIGTRAP from V8's heap limit)
  assert.match(
    r.stderr,
    /went over its memory limit of 256 MB \(the process grew by \d+ MB in one request; raise it with --plugin-memory\)/,
  );
  assert.equal(r.stderr.trim().split("\n").length, 1, "one line");
  assert.ok(performance.now() - t0 < 50_000);
});

Deno.test("a plugin that leaks is stopped once its heap passes --plugin-memory; the last checkpoint stays intact", async () => {
  const out = await Deno.makeTempDir({ prefix: "baton_leak_" });
  const r = await evil(
    "leak",
    "--plugin-memory",
    "256",
    "--rollout-length",
    "2",
    "--checkpoint-every",
    "1",
    "--eval-every",
    "0",
    "--total-steps",
    "200",
    "--out",
    join(out, "run"),
  );
  assert.equal(r.code, 2, r.stderr);
  assert.match(r.stderr, /its JS heap holds \d+ MB; raise it with --plugin-memory/);
  const ck = await loadCheckpoint(join(out, "run"));
  assert.ok(ck.iteration >= 1, "a checkpoint from before the leak ran over");
  await Deno.remove(out, { recursive: true });
});

Deno.test("summary.json and config.json record Baton's version, the commit, Deno, tfjs, backend, command", async () => {
  const dir = join(await tmp(), "run");
  assert.equal((await cli(...FAST, "--total-steps", "100", "--out", dir)).code, 0);
  const { VERSION } = await import("../mod.ts");
  for (const f of ["summary.json", "config.json"]) {
    const meta = JSON.parse(await Deno.readTextFile(join(dir, f))).meta;
    assert.equal(meta.baton, VERSION, f);
    assert.equal(meta.deno, Deno.version.deno, f);
    assert.match(meta.tfjs, /^\d+\.\d+\.\d+$/, f);
    assert.ok(["wasm", "cpu", "webgpu"].includes(meta.backend), f);
    assert.ok(meta.command.includes("--total-steps"), f);
    assert.ok(meta.commit === null || /^[0-9a-f]{40}$/.test(meta.commit), f);
  }
});
