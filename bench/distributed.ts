/**
 * Distributed rollouts through Redis (issue #20's targets): env steps/s with 1, 2 and 4 rollout
 * workers on an env that costs 5 ms per step (a Python bridge env that sleeps, `sleepy_vec.py`),
 * measured in alternating short runs (1, 2, 4, 1, 2, 4, ...) against the same four running
 * workers, so every side sees the same machine; and the broker's own cost per trajectory chunk
 * (encode, XADD, XREADGROUP, decode and checks, copy into the batch, XACK) next to the raw
 * round trip of the same bytes through Redis. Redis is a loopback redis-server started here.
 *
 * @module
 */
import { join } from "node:path";
import { Redis } from "npm:ioredis@6.0.0";
import { defaultAlgoRegistry, defaultEnvRegistry, train, trainConfig } from "../mod.ts";
import { hasRedisServer, RedisServer } from "../distributed/local_redis.ts";
import {
  decodeChunk,
  encodeChunk,
  GROUPS,
  keys,
  scatterChunk,
  specOf,
} from "../distributed/protocol.ts";
import { ensureGroups } from "../distributed/redis.ts";
import { RolloutBuffers } from "../core/rollout.ts";
import type { BenchOptions } from "./_opts.ts";

const HERE = new URL(".", import.meta.url).pathname;
const ROOT = join(HERE, "..");
const DELAY = 0.005, EW = 4, T = 100;
const ENV_OPTS = { factory: "sleepy_vec:make", pythonPath: [HERE], python: "/usr/bin/python3" };
// the learner and the workers (child processes inherit it) sign what crosses Redis
if (!Deno.env.get("BATON_ROLLOUT_SECRET")) {
  Deno.env.set("BATON_ROLLOUT_SECRET", "bench-secret-0123456789");
}

function startWorker(url: string, id: string): Deno.ChildProcess {
  return new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      "-A",
      "worker.ts",
      "--redis",
      url,
      "--run",
      "bench",
      "--id",
      id,
      "--quiet",
      "--env-opt",
      `factory=${ENV_OPTS.factory}`,
      "--env-opt",
      `pythonPath=${JSON.stringify(ENV_OPTS.pythonPath)}`,
      "--env-opt",
      `python=${ENV_OPTS.python}`,
    ],
    cwd: ROOT,
    env: { NO_COLOR: "1", RUST_BACKTRACE: "0" },
    stdout: "null",
    stderr: "null",
  }).spawn();
}

/** Env steps and seconds (rollout + update) of a short run with K chunks, first iteration dropped. */
async function side(
  url: string,
  K: number,
  iters: number,
  lag = 0,
): Promise<[number, number, number]> {
  const out = await Deno.makeTempDir({ prefix: "baton_bench_dist_" });
  let steps = 0, roll = 0, upd = 0, seen = 0;
  const cfg = trainConfig.parse({
    env: "bridge/vector",
    envOptions: { ...ENV_OPTS, kwargs: { delay: DELAY } },
    algo: "mappo",
    algoOptions: { epochs: 2 },
    numEnvs: EW * K,
    rolloutLength: T,
    totalSteps: EW * K * T * (iters + 1),
    evalEvery: 0,
    evalEpisodes: 1,
    threads: 1,
    quiet: true,
    out,
    rollout: url,
    rolloutRun: "bench",
    rolloutChunks: K,
    rolloutClaim: 60,
    rolloutLag: lag,
  });
  await train(cfg, {
    env: defaultEnvRegistry().get(cfg.env),
    algo: defaultAlgoRegistry().get(cfg.algo),
    hooks: [{
      onIteration: (r) => {
        if (seen++ === 0) return;
        steps += EW * K * T;
        roll += r.rollout_s ?? 0;
        upd += r.update_s ?? 0;
      },
    }],
  });
  await Deno.remove(out, { recursive: true }).catch(() => {});
  return [steps, roll, upd];
}

/** Milliseconds per chunk through Baton's protocol and through a raw XADD/XREAD of its bytes. */
async function overhead(url: string, reps: number): Promise<[number, number, number]> {
  const spec = { numAgents: 3, obsDim: 5, stateDim: 15, actionSpace: { kind: "discrete", n: 4 } };
  const info = specOf(spec as any);
  const buf = new RolloutBuffers(T, EW, spec as any, 0);
  buf.avail!.fill(1);
  const learnerBuf = new RolloutBuffers(T, EW, spec as any, 0);
  const lastValues = new Float32Array(EW * 3);
  const r = new Redis(url);
  const k = keys("overhead");
  await ensureGroups(r, "overhead");
  const head = {
    version: "0123456789abcdef.1",
    iteration: 1,
    chunk: 0,
    worker: "bench",
    T,
    E: EW,
    episodeReturns: [],
    wins: [] as (0 | 1)[],
    rng: { state: [1, 2, 3, 4] as [number, number, number, number], spare: null },
    memory: 0,
  };
  const entry = encodeChunk(head, buf, lastValues, info);
  const bytes = entry.reduce((a, x) => a + (typeof x === "string" ? x.length : x.byteLength), 0);
  const asBuffers = (e: (string | Uint8Array)[]) =>
    e.map((x) => typeof x === "string" ? x : Buffer.from(x.buffer, x.byteOffset, x.byteLength));
  const baton = async () => {
    await r.xadd(k.chunks, "*", ...asBuffers(encodeChunk(head, buf, lastValues, info)));
    const res = await r.xreadgroupBuffer(
      "GROUP",
      GROUPS.chunks,
      "bench",
      "COUNT",
      1,
      "STREAMS",
      k.chunks,
      ">",
    ) as any;
    const [id, fields] = res[0][1][0];
    scatterChunk(decodeChunk(fields, info), learnerBuf, 0, info);
    await r.xack(k.chunks, GROUPS.chunks, id);
    await r.xdel(k.chunks, id);
  };
  const blob = Buffer.alloc(bytes, 7);
  const raw = async () => {
    const id = await r.xadd("raw", "*", "b", blob);
    await r.xrangeBuffer("raw", id!, id!);
    await r.xdel("raw", id!);
  };
  for (let i = 0; i < 5; i++) { // warm-up
    await baton();
    await raw();
  }
  let tb = 0, tr = 0;
  for (let i = 0; i < reps; i++) { // alternating, one of each per round
    let t0 = performance.now();
    await baton();
    tb += performance.now() - t0;
    t0 = performance.now();
    await raw();
    tr += performance.now() - t0;
  }
  r.disconnect();
  return [tb / reps, tr / reps, bytes];
}

/**
 * Runs this benchmark and prints its tables.
 * @param o shared bench flags
 */
export async function run(o: BenchOptions): Promise<void> {
  console.log(
    `\n## Distributed rollouts through Redis: env at ${
      DELAY * 1000
    } ms per step, ${EW} envs x ${T} steps per worker chunk`,
  );
  if (!hasRedisServer()) {
    console.log("(skipped: redis-server is not installed; sudo apt-get install redis-server)");
    return;
  }
  const redis = await RedisServer.start();
  const workers = [0, 1, 2, 3].map((i) => startWorker(redis.url, `bench-${i}`));
  try {
    // sides: busy workers (chunks per iteration) and lag; the last collects during the update
    const sides: [number, number][] = [[1, 0], [2, 0], [4, 0], [4, 1]];
    const rounds = o.quick ? 1 : 3, iters = o.quick ? 2 : 4;
    const sum = new Map(sides.map((x) => [x.join(), [0, 0, 0]]));
    for (let round = 0; round < rounds; round++) {
      for (const [K, lag] of sides) {
        const [s, ro, up] = await side(redis.url, K, iters, lag);
        const acc = sum.get(`${K},${lag}`)!;
        acc[0]! += s;
        acc[1]! += ro;
        acc[2]! += up;
      }
    }
    const sps = (K: number, lag = 0) => {
      const [s, ro, up] = sum.get(`${K},${lag}`)!;
      return s! / (ro! + up!);
    };
    console.log(
      `${rounds} alternating rounds of ${iters} timed iterations per side; four workers run throughout (a side with K chunks keeps K busy)\n`,
    );
    console.log(
      "| workers busy | env steps/s | vs 1 worker | of linear | rollout s/iter | update s/iter |",
    );
    console.log("|---:|---:|---:|---:|---:|---:|");
    for (const [K, lag] of sides) {
      const [, ro, up] = sum.get(`${K},${lag}`)!, n = rounds * iters;
      console.log(
        `| ${K}${lag ? " (--rollout-lag 1)" : ""} | ${Math.round(sps(K, lag))} | ${
          (sps(K, lag) / sps(1)).toFixed(2)
        }x | ${(sps(K, lag) / sps(1) / K).toFixed(2)} | ${(ro! / n).toFixed(3)} | ${
          (up! / n).toFixed(3)
        } |`,
      );
    }
    console.log(
      `\nTarget: >= 0.8 of linear from 1 to 4 workers. Ideal env-bound rate: ${
        Math.round(EW / DELAY)
      } env steps/s per worker.`,
    );
    const [tb, tr, bytes] = await overhead(redis.url, o.quick ? 30 : 200);
    console.log(
      `\nBroker cost per chunk (${
        (bytes / 1024).toFixed(0)
      } KiB: ${EW} envs x ${T} steps, 3 agents), alternating:\n`,
    );
    console.log("| path | ms per chunk | MB/s |");
    console.log("|---|---:|---:|");
    console.log(
      `| Baton: encode, XADD, XREADGROUP, decode and check, copy into the batch, XACK, XDEL | ${
        tb.toFixed(3)
      } | ${(bytes / 1e3 / tb).toFixed(0)} |`,
    );
    console.log(
      `| raw: XADD of the same bytes as one field, XRANGE, XDEL | ${tr.toFixed(3)} | ${
        (bytes / 1e3 / tr).toFixed(0)
      } |`,
    );
  } finally {
    for (const w of workers) {
      try {
        w.kill("SIGTERM");
      } catch { /* gone */ }
    }
    await Promise.all(workers.map((w) => w.status));
    await redis.stop();
  }
}
