// Distributed rollouts through a real redis-server on loopback (started and stopped here):
// one worker reproduces the in-process run; a worker killed mid-chunk, a late one, a slow one,
// a Redis restart and a learner restart are all survived with every chunk counted once;
// malformed chunks and tasks never train; a password-protected Redis refuses a learner without it.
import assert from "node:assert/strict";
import { join } from "node:path";
import { Redis } from "ioredis";
import {
  defaultAlgoRegistry,
  defaultEnvRegistry,
  initBackend,
  installPlugin,
  type Summary,
  type TrainConfig,
} from "../mod.ts";
import { train } from "../core/trainer.ts";
import { FORMAT, keys } from "../distributed/protocol.ts";
import { RunKey, toHex } from "../distributed/auth.ts";
import {
  encodeRequest,
  encodeStep,
  RemoteVecEnv,
  sessionKeys,
  signSession,
} from "../distributed/remote_env.ts";
import { makeEnv } from "../core/registry.ts";
import { runWorker } from "../distributed/worker.ts";
import slowPlugin from "./fixtures/slow_plugin.ts";
import { smallConfig } from "./_helpers.ts";
import { REDIS, RedisServer } from "./_redis.ts";

const ROOT = new URL("..", import.meta.url).pathname;
// the learner and every worker (processes inherit it) sign what crosses Redis with this secret
const SECRET = "distributed-test-secret-0123";
Deno.env.set("BATON_ROLLOUT_SECRET", SECRET);
const envs = defaultEnvRegistry();
installPlugin(envs, slowPlugin);
const algos = defaultAlgoRegistry();
const deps = (cfg: TrainConfig) => ({ env: envs.get(cfg.env), algo: algos.get(cfg.algo) });
const opts = { ignore: !REDIS, sanitizeResources: false, sanitizeOps: false };

/** A rollout worker in its own process (killable), with the slow test env loaded. */
class WorkerProcess {
  readonly child: Deno.ChildProcess;
  readonly log: Promise<string>;
  constructor(url: string, run: string, extra: string[] = []) {
    const child = this.child = new Deno.Command(Deno.execPath(), {
      args: [
        "run",
        "-A",
        "worker.ts",
        "--redis",
        url,
        "--run",
        run,
        "--plugin",
        "tests/fixtures/slow_plugin.ts",
        "--trust-plugin",
        "--idle-exit",
        "60",
        ...extra,
      ],
      cwd: ROOT,
      env: { NO_COLOR: "1", RUST_BACKTRACE: "0" },
      stdout: "null",
      stderr: "piped",
    }).spawn();
    this.log = (async () => {
      const dec = new TextDecoder();
      for await (const c of child.stderr) this.#text += dec.decode(c, { stream: true });
      return this.#text;
    })();
  }
  #text = "";
  /** Resolves once the log so far matches `re` (fails after `ms`): a state reached, not a sleep. */
  async waitFor(re: RegExp, ms: number): Promise<void> {
    const t0 = performance.now();
    while (!re.test(this.#text)) {
      if (performance.now() - t0 > ms) {
        throw new Error(`the worker's log did not show ${re} in ${ms} ms: ${this.#text}`);
      }
      await sleep(50);
    }
  }
  /** Sends `sig`; resolves with the exit and the log, or fails if it takes over `ms`. */
  async signal(sig: Deno.Signal, ms: number): Promise<{ seconds: number; log: string }> {
    const t0 = performance.now();
    this.child.kill(sig);
    let timer: ReturnType<typeof setTimeout> | undefined;
    const late = new Promise<never>((_, fail) => {
      timer = setTimeout(() => fail(new Error(`the worker ignored ${sig} for ${ms} ms`)), ms);
    });
    try {
      await Promise.race([this.child.status, late]);
    } finally {
      clearTimeout(timer);
    }
    return { seconds: (performance.now() - t0) / 1000, log: await this.log };
  }
  async kill(): Promise<string> {
    try {
      this.child.kill("SIGKILL");
    } catch { /* gone */ }
    await this.child.status;
    return await this.log;
  }
}

async function lines(dir: string): Promise<Record<string, number>[]> {
  return (await Deno.readTextFile(join(dir, "metrics.jsonl"))).trim().split("\n").map((l) =>
    JSON.parse(l)
  );
}

const sleep = (ms: number) => new Promise((ok) => setTimeout(ok, ms));

/** Waits until `cond` holds (polling), or fails after `ms`. */
async function until(cond: () => Promise<boolean>, ms: number, what: string): Promise<void> {
  const end = performance.now() + ms;
  while (!(await cond())) {
    if (performance.now() > end) throw new Error(`timed out waiting for ${what}`);
    await sleep(50);
  }
}

/** Waits until the run in `dir` has logged `n` iterations. */
function untilIterations(dir: string, n: number): Promise<void> {
  return until(
    async () => {
      try {
        return (await lines(dir)).length >= n;
      } catch {
        return false; // not written yet
      }
    },
    60_000,
    `${n} iterations in ${dir}`,
  );
}

function config(url: string, run: string, over: Record<string, unknown> = {}) {
  return smallConfig({
    env: "slow/coin",
    envOptions: { delayMs: 0 },
    algo: "mappo",
    numEnvs: 8,
    rolloutLength: 20,
    totalSteps: 8 * 20 * 4,
    evalEvery: 0,
    rollout: url,
    rolloutRun: run,
    backend: "wasm",
    threads: 1,
    ...over,
  });
}

/** Runs `fn` with a loopback redis-server and one worker process on run `run`, then stops both. */
async function withWorker(run: string, fn: (redis: RedisServer) => Promise<void>): Promise<void> {
  await initBackend("wasm");
  const redis = await RedisServer.start();
  const w = new WorkerProcess(redis.url, run);
  try {
    await fn(redis);
  } finally {
    await w.kill();
    await redis.stop();
  }
}

/** A rollout worker in this process on run `run` (stopped through `stop`), its log kept. */
function inProcessWorker(url: string, run: string, extra: { id?: string; tlsCa?: string } = {}) {
  const log: string[] = [];
  const stop = new AbortController();
  const worker = runWorker({
    redis: url,
    run,
    id: extra.id ?? "w",
    ...(extra.tlsCa ? { tlsCa: extra.tlsCa } : {}),
    threads: 1,
    envOptions: {},
    envs,
    algos,
    signal: stop.signal,
    log: (l) => log.push(l),
  });
  return { worker, stop, log };
}

const TIMING = /(^time\/|_s$|^sps$|^rollout_)/;

/** The same config trained in-process (no Redis), for comparison. */
async function inProcess(d: TrainConfig): Promise<Summary> {
  const { rollout: _r, out: _o, rolloutEnv: _e, ...rest } = d;
  const local = await smallConfig(rest);
  return await train(local, deps(local));
}

/** Asserts that two runs logged the same value of every metric but timings, every iteration. */
async function assertSameRuns(a: Summary, b: Summary, what: string): Promise<void> {
  assert.equal(b.env_steps, a.env_steps);
  const [la, lb] = [await lines(a.out), await lines(b.out)];
  assert.equal(lb.length, la.length);
  for (let i = 0; i < la.length; i++) {
    for (const [k, v] of Object.entries(la[i]!)) {
      if (!TIMING.test(k)) assert.equal(lb[i]![k], v, `${what}, iteration ${i + 1}: ${k}`);
    }
  }
  assert.deepEqual(b.eval, a.eval);
}

Deno.test("one worker reproduces the in-process run for the same seed", opts, async () => {
  await initBackend("wasm");
  const redis = await RedisServer.start();
  const w = new WorkerProcess(redis.url, "same");
  try {
    for (const algo of ["mappo", "bppo"]) {
      const d = await config(redis.url, "same", { algo, env: "matrix/climbing", envOptions: {} });
      const b = await train(d, deps(d));
      await assertSameRuns(await inProcess(d), b, algo);
      for (const m of await lines(b.out)) assert.equal(m.rollout_chunks, 1);
    }
  } finally {
    await w.kill();
    await redis.stop();
  }
});

Deno.test(
  "(attack) 200k episode ends in one chunk train in-process and through Redis (no stack overflow)",
  opts,
  () =>
    withWorker("big", async (redis) => {
      // one-step episodes: 2,000 envs x 100 steps = 200,000 episode ends in one batch and one
      // chunk; array spreads of these crashed the learner with "Maximum call stack size exceeded"
      const d = await config(redis.url, "big", {
        env: "matrix/climbing",
        envOptions: {},
        numEnvs: 2000,
        rolloutLength: 100,
        totalSteps: 200_000,
        algoOptions: { epochs: 1 },
      });
      const b = await train(d, deps(d));
      const a = await inProcess(d);
      for (const s of [a, b]) {
        const [m] = await lines(s.out);
        assert.equal(s.env_steps, 200_000);
        assert.ok(Number.isFinite(m!.train_return), JSON.stringify(m)); // the mean of 200k returns
      }
    }),
);

Deno.test(
  "(attack) a worker stops within seconds on a signal: connecting, Redis gone past the back-off, mid-chunk",
  opts,
  async () => {
    await initBackend("wasm");
    // connecting: nothing listens at this port; the worker retries with back-off until told
    const nowhere = await RedisServer.start();
    const url = nowhere.url;
    await nowhere.stop();
    const a = new WorkerProcess(url, "sig");
    // (a fixed 2 s sleep was too short on a loaded machine: the worker had not started yet)
    await a.waitFor(/reconnecting/, 60_000);
    const ra = await a.signal("SIGINT", 4_000);
    assert.match(ra.log, /stopping on a signal while connecting to Redis/);
    // Redis gone for longer than the reconnect back-off (3 s) and a connect time-out (5 s):
    // ioredis holds the worker's blocked command for the connection to come back
    const redis = await RedisServer.start();
    const b = new WorkerProcess(redis.url, "sig");
    { // until the worker has connected and made its consumer group (then it waits for a task):
      // a fixed sleep was too short on a loaded machine, which left it still connecting
      const r = new Redis(redis.url, { maxRetriesPerRequest: 1 });
      const t0 = performance.now();
      while (performance.now() - t0 < 30_000) {
        const groups = await r.xinfo("GROUPS", keys("sig").tasks).catch(() => []) as unknown[];
        if (groups.length) break;
        await sleep(100);
      }
      r.disconnect();
      await sleep(300); // from the group's creation to the blocking read
    }
    await redis.stop();
    await sleep(9_000);
    const rb = await b.signal("SIGTERM", 4_000);
    assert.match(rb.log, /reconnecting/);
    assert.match(rb.log, /stopping on a signal while waiting for a task/);
    // mid-chunk: a 20-step chunk of a 150 ms/step env takes 3 s; the worker abandons it
    await redis.restart();
    const cfg = await config(redis.url, "sig", {
      envOptions: { delayMs: 150 },
      totalSteps: 8 * 20,
      rolloutClaim: 1,
      rolloutTimeout: 60,
    });
    const c = new WorkerProcess(redis.url, "sig", ["--id", "told"]);
    const r = new Redis(redis.url, { maxRetriesPerRequest: 1 });
    let d: WorkerProcess | null = null;
    try {
      const learner = train(cfg, deps(cfg));
      await until(
        async () => {
          const p = await r.xpending(keys("sig").tasks, "workers").catch(() => null) as any;
          return Array.isArray(p) && (p[3] ?? []).some((x: any) => x[0] === "told");
        },
        30_000,
        "the worker to take a task",
      );
      await sleep(500);
      const rc = await c.signal("SIGTERM", 4_000);
      assert.match(rc.log, /stopping on a signal: abandoned chunk 0 of iteration 1/);
      d = new WorkerProcess(redis.url, "sig", ["--id", "finisher"]); // takes the chunk over
      assert.equal((await learner).env_steps, 8 * 20);
    } finally {
      await c.kill();
      await d?.kill();
      r.disconnect();
      await redis.stop();
    }
  },
);

Deno.test(
  "--rollout-env workers: the learner never makes the env; evaluations on a worker equal local ones",
  opts,
  () =>
    withWorker("remote", async (redis) => {
      const d = await config(redis.url, "remote", {
        env: "matrix/climbing",
        envOptions: {},
        seed: 2,
        evalEvery: 1,
        rolloutEnv: "workers",
      });
      const refuse = {
        ...envs.get("matrix/climbing"),
        create: () => Promise.reject(new Error("the learner must not make this env")),
      };
      const b = await train(d, { env: refuse, algo: algos.get(d.algo) });
      await assertSameRuns(await inProcess(d), b, "remote envs");
    }),
);

Deno.test(
  "env sessions are signed: forged and replayed requests and replies are dropped, the real ones used",
  opts,
  async () => {
    await initBackend("wasm");
    const redis = await RedisServer.start();
    const r = new Redis(redis.url, { maxRetriesPerRequest: 1 });
    const run = "sess";
    const { worker, stop, log } = inProcessWorker(redis.url, run);
    let env: RemoteVecEnv | undefined;
    let rep: Awaited<typeof worker> | null = null;
    try {
      const cfg = await config(redis.url, run, { env: "matrix/climbing", envOptions: {} });
      env = await RemoteVecEnv.open(cfg, {}, 4);
      const local = await makeEnv(envs.get("matrix/climbing"), { options: {}, numEnvs: 4 });
      assert.deepEqual(env.spec, local.spec);
      assert.deepEqual(await env.reset(3), await local.reset(3));
      // the session the reset opened: its id is in the last session task
      const last = await r.xrevrange(keys(run).tasks, "+", "-", "COUNT", 1);
      const sid = JSON.parse(last[0]![1][1]!).sid as string;
      const s = sessionKeys(run, sid);
      const key = await RunKey.of(SECRET, run), other = await RunKey.of(SECRET + "-other", run);
      // requests a writer without the secret (or a replayer) could push: an unsigned close, the
      // learner's own kind of close signed for another place in the session, one under another
      // secret; a worker that took any of them would end the session before the step below
      const close = encodeRequest({ op: "close" });
      await r.rpush(s.req, Buffer.from(close));
      await r.rpush(s.req, Buffer.from(await signSession(key, "request", sid, 7, close)));
      await r.rpush(s.req, Buffer.from(await signSession(other, "request", sid, 1, close)));
      await until(async () => (await r.llen(s.req)) === 0, 10_000, "the worker reading them");
      // replies: a step of all-ones obs unsigned, signed for another session, signed as a request,
      // and under another secret; the learner must drop all four and use the worker's reply
      const actions = new Int32Array([0, 1, 2, 0, 1, 2, 0, 1]);
      const want = await local.step(actions);
      const fake = encodeStep({ ...want, obs: new Float32Array(want.obs.length).fill(1) });
      await r.rpush(s.rep, Buffer.from(fake));
      await r.rpush(s.rep, Buffer.from(await signSession(key, "reply", "0".repeat(16), 1, fake)));
      await r.rpush(s.rep, Buffer.from(await signSession(key, "request", sid, 1, fake)));
      await r.rpush(s.rep, Buffer.from(await signSession(other, "reply", sid, 1, fake)));
      assert.deepEqual(await env.step(actions), want);
      assert.equal(env.forgedReplies, 4);
      await local.close();
      await env.close();
      stop.abort();
      rep = await worker;
    } finally {
      await env?.close();
      stop.abort();
      await worker.catch(() => {});
      r.disconnect();
      await redis.stop();
    }
    assert.equal(rep.refused, 3, log.join("\n"));
    assert.match(log.join("\n"), /ignoring env-session requests not signed/);
  },
);

Deno.test(
  "a worker killed mid-chunk is taken over by a late one; nothing counted twice",
  opts,
  async () => {
    await initBackend("wasm");
    const redis = await RedisServer.start();
    const r = new Redis(redis.url, { maxRetriesPerRequest: 1 });
    const run = "kill";
    // 20 steps x 60 ms: a chunk takes 1.2 s; a task left unfinished for 1 s is taken over
    const cfg = await config(redis.url, run, {
      envOptions: { delayMs: 60 },
      rolloutChunks: 2,
      rolloutClaim: 1,
      totalSteps: 8 * 20 * 3,
      rolloutTimeout: 60,
    });
    const a = new WorkerProcess(redis.url, run, ["--id", "doomed"]);
    let b: WorkerProcess | null = null;
    try {
      const learner = train(cfg, deps(cfg));
      // once "doomed" holds a task (pending in the workers group), kill it mid-chunk
      await until(
        async () => {
          const p = await r.xpending(keys(run).tasks, "workers").catch(() => null) as any;
          return Array.isArray(p) && (p[3] ?? []).some((x: any) => x[0] === "doomed");
        },
        30_000,
        "the first worker to take a task",
      );
      await sleep(300);
      await a.kill();
      b = new WorkerProcess(redis.url, run, ["--id", "late"]); // joins after the run started
      const s = await learner;
      assert.equal(s.iterations, 3);
      assert.equal(s.env_steps, 8 * 20 * 3);
      for (const m of await lines(cfg.out!)) assert.equal(m.rollout_chunks, 2);
      const log = await b.kill();
      assert.match(log, /done|waiting/);
    } finally {
      await a.kill();
      await b?.kill();
      r.disconnect();
      await redis.stop();
    }
  },
);

Deno.test(
  "a slow worker: the learner settles for the quorum after the time-out, and never waits forever",
  opts,
  async () => {
    await initBackend("wasm");
    const redis = await RedisServer.start();
    const run = "slow";
    try {
      // no worker at all: the learner gives up after the time-out with a line that says what to do
      const none = await config(redis.url, run, { rolloutTimeout: 1, totalSteps: 160 });
      await assert.rejects(
        () => train(none, deps(none)),
        /Only 0 of 1 rollout chunks .* within --rollout-timeout 1s .*deno task worker --redis/,
      );
      // one worker doing two chunks of 3 s each in turn; the learner waits 5 s for both, then
      // proceeds with the half it has (quorum 0.5): fewer env steps; the worker gives up the
      // other half as soon as it sees the learner has moved on
      const cfg = await config(redis.url, run, {
        envOptions: { delayMs: 150 },
        rolloutChunks: 2,
        rolloutQuorum: 0.5,
        rolloutTimeout: 5,
        rolloutClaim: 30,
        totalSteps: 8 * 20 * 3,
      });
      const w = new WorkerProcess(redis.url, run);
      const r = new Redis(redis.url, { maxRetriesPerRequest: 1 });
      try {
        // the clock starts once the worker listens (its process takes seconds to start)
        await until(
          async () => {
            const c = await r.xinfo("CONSUMERS", keys(run).tasks, "workers").catch(() => []);
            return (c as unknown[]).length > 0;
          },
          60_000,
          "the worker to listen",
        );
        const s = await train(cfg, deps(cfg));
        const ms = await lines(cfg.out!);
        assert.equal(ms.length, 3);
        const chunks = ms.map((m) => m.rollout_chunks!);
        assert.ok(chunks.some((c) => c === 1), `chunks per iteration ${chunks}`);
        assert.equal(s.env_steps, chunks.reduce((a, c) => a + c * 4 * 20, 0));
        const log = await w.kill();
        assert.match(log, /abandoned chunk 1 of iteration 1: the learner moved on/);
      } finally {
        r.disconnect();
        await w.kill();
      }
    } finally {
      await redis.stop();
    }
  },
);

Deno.test(
  "Redis restarts empty mid-run: learner and worker reconnect and the run completes",
  opts,
  () =>
    withWorker("restart", async (redis) => {
      const cfg = await config(redis.url, "restart", {
        envOptions: { delayMs: 30 },
        totalSteps: 8 * 20 * 6,
        rolloutClaim: 2,
      });
      const learner = train(cfg, deps(cfg));
      await untilIterations(cfg.out!, 2);
      await redis.stop();
      await sleep(1_000);
      await redis.restart(); // empty: no persistence
      const s = await learner;
      assert.equal(s.iterations, 6);
      assert.equal(s.env_steps, 8 * 20 * 6);
      for (const m of await lines(cfg.out!)) assert.equal(m.rollout_chunks, 1);
    }),
);

Deno.test(
  "a learner killed and resumed from its checkpoint: workers act with its new version",
  opts,
  async () => {
    const redis = await RedisServer.start();
    const run = "resume";
    const out = await Deno.makeTempDir({ prefix: "baton_dist_" });
    const w = new WorkerProcess(redis.url, run);
    const flags = [
      "--env",
      "matrix/climbing",
      "--algo",
      "mappo",
      "--num-envs",
      "8",
      "--rollout-length",
      "20",
      "--total-steps",
      String(8 * 20 * 40),
      "--eval-every",
      "0",
      "--eval-episodes",
      "10",
      "--checkpoint-every",
      "1",
      "--threads",
      "1",
      "--quiet",
      "--rollout",
      redis.url,
      "--rollout-run",
      run,
    ];
    try {
      const first = new Deno.Command(Deno.execPath(), {
        args: ["run", "-A", "train.ts", ...flags, "--out", join(out, "run")],
        cwd: ROOT,
        stdout: "null",
        stderr: "null",
      }).spawn();
      await untilIterations(join(out, "run"), 3);
      first.kill("SIGKILL"); // a crash: no goodbye
      await first.status;
      const resumed = await new Deno.Command(Deno.execPath(), {
        args: ["run", "-A", "train.ts", "--resume", join(out, "run"), "--rollout", redis.url],
        cwd: ROOT,
        env: { NO_COLOR: "1" },
        stdout: "piped",
        stderr: "piped",
      }).output();
      const err = new TextDecoder().decode(resumed.stderr);
      assert.equal(resumed.code, 0, err);
      const s = JSON.parse(await Deno.readTextFile(join(out, "run", "summary.json")));
      assert.equal(s.iterations, 40);
      assert.equal(s.env_steps, 8 * 20 * 40);
      const ms = await lines(join(out, "run"));
      assert.deepEqual(ms.map((m) => m.iteration), Array.from({ length: 40 }, (_, i) => i + 1));
    } finally {
      await w.kill();
      await redis.stop();
    }
  },
);

Deno.test("malformed chunks and tasks never train: dropped, logged, counted", opts, async () => {
  await initBackend("wasm");
  const redis = await RedisServer.start();
  const r = new Redis(redis.url, { maxRetriesPerRequest: 1 });
  const run = "evil";
  const k = keys(run);
  const cfg = await config(redis.url, run, { envOptions: { delayMs: 40 }, totalSteps: 8 * 20 * 3 });
  const { worker, stop, log } = inProcessWorker(redis.url, run, { id: "in-process" });
  try {
    const learner = train(cfg, deps(cfg));
    await until(async () => ((await r.get(k.current)) ?? "").endsWith(".1"), 30_000, "iteration 1");
    const v = (await r.get(k.current))!;
    const head = (over: object) =>
      JSON.stringify({
        format: FORMAT,
        version: v,
        iteration: 1,
        chunk: 0,
        worker: "evil",
        T: 20,
        E: 8,
        episodeReturns: [],
        wins: [],
        rng: { state: [1, 2, 3, 4], spare: null },
        noise: false,
        memory: 0,
        ...over,
      });
    const f32 = (n: number, x = 0) => Buffer.from(new Float32Array(n).fill(x).buffer);
    // a chunk of the current version with a NaN reward, one with short arrays, one not JSON
    const full = (rewards: Buffer) => [
      "h",
      head({}),
      "obs",
      f32(160 * 4),
      "state",
      f32(160 * 2),
      "actions",
      Buffer.from(new Int32Array(320).buffer),
      "actionVecs",
      f32(160 * 4),
      "logp",
      f32(320),
      "values",
      f32(320),
      "rewards",
      rewards,
      "dones",
      Buffer.alloc(160),
      "avail",
      Buffer.alloc(640, 1),
      "lastValues",
      f32(16),
    ];
    // signed with the run's secret (a buggy worker): a NaN reward, short arrays, not JSON, and
    // finite but extreme rewards (3e38 wrecked the value normalisation)
    const key = await RunKey.of(SECRET, run);
    const signed = async (...parts: (string | Buffer)[]) => {
      const bytes = parts.map((p) => typeof p === "string" ? p : new Uint8Array(p));
      return [...parts, "tag", Buffer.from(await key.sign("chunk", bytes))];
    };
    await r.xadd(k.chunks, "*", ...await signed(...full(f32(160, NaN))));
    await r.xadd(k.chunks, "*", ...await signed(...full(f32(10))));
    await r.xadd(k.chunks, "*", ...await signed("h", "{not json"));
    await r.xadd(k.chunks, "*", ...await signed(...full(f32(160, 3e38))));
    // well formed but not signed (anyone who can write to Redis), or signed under another run
    await r.xadd(k.chunks, "*", ...full(f32(160, 1)));
    const other = await RunKey.of(SECRET, "another-run");
    const parts = full(f32(160, 1));
    await r.xadd(
      k.chunks,
      "*",
      ...parts,
      "tag",
      Buffer.from(
        await other.sign("chunk", parts.map((p) => typeof p === "string" ? p : new Uint8Array(p))),
      ),
    );
    const taskJson = JSON.stringify({ version: v, iteration: "one" });
    const taskTag = toHex(await key.sign("task", [taskJson]));
    await r.xadd(k.tasks, "*", "task", taskJson, "tag", taskTag); // signed, malformed
    await r.xadd(
      k.tasks,
      "*",
      "task",
      JSON.stringify({
        version: v,
        iteration: 1,
        chunk: 0,
        before: { state: [1, 2, 3, 4], spare: null },
      }),
    ); // unsigned
    // a forged run description naming an env this worker does not have: before signing, the
    // worker exited on it; now it keeps the signed one it has (the attacker keeps writing)
    // (from iteration 2 on, once the worker has built the run, as fast as Redis takes it)
    let forging = true;
    const forger = (async () => {
      await until(async () => ((await r.get(k.current)) ?? "").endsWith(".2"), 30_000, "it. 2");
      while (forging) {
        await r.set(k.config, JSON.stringify({ format: FORMAT, env: "nope/none" }));
      }
    })();
    const s = await learner;
    forging = false;
    await forger;
    assert.equal(s.iterations, 3);
    const ms = await lines(cfg.out!);
    assert.equal(ms.reduce((a, m) => a + m.rollout_dropped!, 0), 4, JSON.stringify(ms));
    assert.equal(ms.reduce((a, m) => a + m.rollout_forged!, 0), 2, JSON.stringify(ms));
    for (const m of ms) assert.equal(m.rollout_chunks, 1);
    stop.abort();
    const rep = await worker;
    assert.equal(rep.refused, 2);
    const text = log.join("\n");
    assert.match(text, /refused task/);
    assert.match(text, /ignoring tasks not signed with this worker's BATON_ROLLOUT_SECRET/);
    assert.match(text, /ignoring a run description not signed/);
    assert.equal(text.match(/ignoring a run description/g)!.length, 1, "said once");
  } finally {
    stop.abort();
    await worker.catch(() => {});
    r.disconnect();
    await redis.stop();
  }
});

/** Every regular file under `dir`, recursively. */
async function filesUnder(dir: string): Promise<string[]> {
  const out: string[] = [];
  for await (const e of Deno.readDir(dir)) {
    const p = join(dir, e.name);
    if (e.isDirectory) out.push(...await filesUnder(p));
    else if (e.isFile) out.push(p);
  }
  return out;
}

Deno.test(
  "a password in the --rollout URL of the command line reaches no file the run writes",
  opts,
  async () => {
    const pw = "Pw-from-the-url-77";
    const redis = await RedisServer.start({ password: pw });
    const withPw = redis.url.replace("redis://", `redis://:${pw}@`);
    const run = "cli-auth";
    const w = new WorkerProcess(withPw, run);
    const out = await Deno.makeTempDir({ prefix: "baton_pw_" });
    try {
      const child = await new Deno.Command(Deno.execPath(), {
        args: [
          "run",
          "-A",
          "train.ts",
          "--env",
          "slow/coin",
          "--env-opt",
          "delayMs=0",
          "--plugin",
          "tests/fixtures/slow_plugin.ts",
          "--trust-plugin",
          "--algo",
          "mappo",
          "--num-envs",
          "8",
          "--rollout-length",
          "20",
          "--total-steps",
          "320",
          "--eval-every",
          "1",
          "--eval-episodes",
          "4",
          "--checkpoint-every",
          "1",
          "--log",
          "tensorboard",
          `--rollout=${withPw}`,
          "--rollout-run",
          run,
          "--backend",
          "wasm",
          "--quiet",
          "--out",
          `${out}/run`,
        ],
        cwd: ROOT,
        env: { NO_COLOR: "1", BATON_REDIS_PASSWORD: "" },
        stdout: "piped",
        stderr: "piped",
      }).output();
      const err = new TextDecoder().decode(child.stderr);
      assert.equal(child.code, 0, err);
      const files = await filesUnder(`${out}/run`);
      for (const f of ["config.json", "summary.json", "checkpoint.json", "metrics.jsonl"]) {
        assert.ok(files.some((p) => p.endsWith(`/${f}`)), `the run wrote ${f}: ${files}`);
      }
      assert.ok(files.some((p) => p.includes("tfevents")), `a TensorBoard file: ${files}`);
      for (const f of files) {
        const bytes = await Deno.readFile(f);
        const text = new TextDecoder("latin1").decode(bytes);
        assert.ok(!text.includes(pw), `${f} holds the password`);
        assert.ok(!text.includes(SECRET), `${f} holds BATON_ROLLOUT_SECRET`);
      }
      // the command is still recorded, with the URL's credentials removed
      const cfg = JSON.parse(await Deno.readTextFile(`${out}/run/config.json`));
      assert.ok(
        cfg.meta.command.includes(`--rollout=${redis.url}`),
        JSON.stringify(cfg.meta.command),
      );
      assert.ok(!err.includes(pw) && !new TextDecoder().decode(child.stdout).includes(pw));
    } finally {
      await w.kill();
      await redis.stop();
      await Deno.remove(out, { recursive: true });
    }
  },
);

Deno.test(
  "without BATON_ROLLOUT_SECRET a learner and a worker refuse to start, in one line",
  opts,
  async () => {
    Deno.env.delete("BATON_ROLLOUT_SECRET");
    try {
      const cfg = await config("redis://127.0.0.1:1", "nosecret");
      await assert.rejects(
        () => train(cfg, deps(cfg)),
        /^Error: Distributed rollouts need a secret shared by the learner and its workers .*set BATON_ROLLOUT_SECRET on the learner/,
      );
      await assert.rejects(
        () =>
          runWorker({
            redis: "redis://127.0.0.1:1",
            run: "x",
            id: "w",
            threads: 1,
            envOptions: {},
            envs,
            algos,
          }),
        /set BATON_ROLLOUT_SECRET on the worker/,
      );
      await assert.rejects(
        () =>
          runWorker({
            redis: "redis://127.0.0.1:1",
            run: "x",
            id: "w",
            threads: 1,
            envOptions: {},
            envs,
            algos,
            secret: "short",
          }),
        /BATON_ROLLOUT_SECRET has 5 characters; use at least 16/,
      );
    } finally {
      Deno.env.set("BATON_ROLLOUT_SECRET", SECRET);
    }
  },
);

Deno.test(
  "a password-protected Redis: refused without the password, used with it, never written to disk",
  opts,
  async () => {
    await initBackend("wasm");
    const redis = await RedisServer.start({ password: "s3cret-pw" });
    const run = "auth";
    const withPw = redis.url.replace("redis://", "redis://:s3cret-pw@");
    const { worker, stop } = inProcessWorker(withPw, run);
    try {
      const bad = await config(redis.url, run, { totalSteps: 160 });
      await assert.rejects(
        () => train(bad, deps(bad)),
        /refused authentication.*BATON_REDIS_PASSWORD/,
      );
      const good = await config(withPw, run, { totalSteps: 160 });
      const s = await train(good, deps(good));
      assert.equal(s.env_steps, 160);
      for (const f of ["config.json", "checkpoint.json"]) {
        const text = await Deno.readTextFile(join(good.out!, f));
        assert.ok(!text.includes("s3cret-pw"), `${f} holds the password`);
      }
    } finally {
      stop.abort();
      await worker.catch(() => {});
      await redis.stop();
    }
  },
);

Deno.test(
  "TLS: a rediss:// server is used with the CA given, and refused without it",
  opts,
  async () => {
    await initBackend("wasm");
    const dir = await Deno.makeTempDir({ prefix: "baton_tls_" });
    const ssl = (...args: string[]) =>
      new Deno.Command("openssl", { args, cwd: dir, stdout: "null", stderr: "null" }).output();
    await ssl(
      ..."req -x509 -newkey rsa:2048 -nodes -keyout ca.key -out ca.pem -days 1 -subj /CN=baton-test-ca"
        .split(" "),
    );
    await ssl(
      ..."req -newkey rsa:2048 -nodes -keyout srv.key -out srv.csr -subj /CN=127.0.0.1".split(" "),
    );
    await Deno.writeTextFile(join(dir, "ext"), "subjectAltName=IP:127.0.0.1\n");
    await ssl(
      ..."x509 -req -in srv.csr -CA ca.pem -CAkey ca.key -CAcreateserial -out srv.pem -days 1 -extfile ext"
        .split(" "),
    );
    const ca = join(dir, "ca.pem");
    const redis = await RedisServer.start({
      tls: { cert: join(dir, "srv.pem"), key: join(dir, "srv.key"), ca },
    });
    const run = "tls";
    const { worker, stop } = inProcessWorker(redis.url, run, { tlsCa: ca });
    try {
      assert.match(redis.url, /^rediss:/);
      const good = await config(redis.url, run, { totalSteps: 160, rolloutTlsCa: ca });
      assert.equal((await train(good, deps(good))).env_steps, 160);
      // without the CA the self-signed server is not trusted: no connection, one clear line
      const bad = await config(redis.url, run, { totalSteps: 160 });
      await assert.rejects(
        () => train(bad, deps(bad)),
        /Cannot reach Redis at rediss:.*(certificate|self)/i,
      );
    } finally {
      stop.abort();
      await worker.catch(() => {});
      await redis.stop();
    }
  },
);

Deno.test(
  "one learner per run: a second learner on the same run name is refused while the first trains on",
  opts,
  () =>
    withWorker("lease", async (redis) => {
      const first = await config(redis.url, "lease", {
        envOptions: { delayMs: 100 },
        totalSteps: 8 * 20 * 8, // about 16 s of rollouts
      });
      const running = train(first, deps(first));
      await sleep(1_000);
      const second = await config(redis.url, "lease", { totalSteps: 160 });
      await assert.rejects(
        () => train(second, deps(second)),
        /Another learner is using --rollout-run lease .*choose another --rollout-run/,
      );
      const s = await running;
      assert.equal(s.env_steps, 8 * 20 * 8);
    }),
);

Deno.test(
  "--rollout-lag 1: the next batch is collected during the update, one version behind",
  opts,
  () =>
    withWorker("lag", async (redis) => {
      const cfg = await config(redis.url, "lag", {
        envOptions: { delayMs: 40 },
        rolloutLag: 1,
        totalSteps: 8 * 20 * 5,
      });
      const s = await train(cfg, deps(cfg));
      assert.equal(s.env_steps, 8 * 20 * 5);
      const ms = await lines(cfg.out!);
      assert.deepEqual(ms.map((m) => m.rollout_lag), [0, 1, 1, 1, 1]);
      assert.deepEqual(ms.map((m) => m.rollout_chunks), [1, 1, 1, 1, 1]);
      for (const m of ms) assert.ok(Number.isFinite(m["losses/policy"]!));
      // each batch was published before the previous update: the last iteration published a
      // sixth, which no update used (the workers dropped it when the learner closed)
      const r = new Redis(redis.url, { maxRetriesPerRequest: 1 });
      const tasks = await r.xrange(keys("lag").tasks, "-", "+");
      r.disconnect();
      const its = tasks.map(([, f]) => JSON.parse(f[1]!).iteration as number);
      assert.deepEqual([...new Set(its)].sort((a, b) => a - b), [1, 2, 3, 4, 5, 6]);
    }),
);
