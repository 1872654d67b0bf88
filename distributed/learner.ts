/**
 * The learner's side of distributed rollouts (`--rollout redis://...`): each iteration it
 * publishes the parameters under a fresh version, appends one task per chunk, and takes the
 * workers' chunks from the chunk stream through its consumer group. Only chunks of the current
 * version train (the update is on-policy); duplicates (a task redone after a take-over) and
 * malformed chunks are dropped and counted. When Redis comes back empty after a restart the
 * learner recreates its groups and republishes what is still missing.
 *
 * @module
 */
import { appendAll } from "../core/arrays.ts";
import type { Algorithm, Metrics } from "../core/algorithm.ts";
import type { TrainConfig } from "../core/config.ts";
import type { VecEnv } from "../core/vec_env.ts";
import { RolloutBuffers, type RolloutSource, type SourceBatch } from "../core/rollout.ts";
import { type Rng, Rng as RngClass, type RngStreamState } from "../core/rng.ts";
import {
  type Chunk,
  decodeChunk,
  encodeParams,
  FORMAT,
  GROUPS,
  keys,
  orderSeed,
  type RunInfo,
  scatterChunk,
  specOf,
  type Task,
} from "./protocol.ts";
import { bytesOf, type Client, connect, ensureGroups, isNoGroup } from "./redis.ts";
import { RunKey, signBytes, signText, toHex } from "./auth.ts";

/** A stream entry as ioredis returns it with binary values. */
type Entry = [Uint8Array, Uint8Array[]];

/** How long a learner's lease on its run lasts unless renewed (it renews every LEASE_MS / 5). */
export const LEASE_MS = 10_000;

/** Chunks kept in the task stream at most (older entries are trimmed). */
const STREAM_MAX = 10_000;

/**
 * The rollout source of a `--rollout redis://...` run.
 * @param x the config, the learner's env (for its spec) and algorithm
 * @returns the source; its `start` connects
 */
export function redisRollouts(
  x: { cfg: TrainConfig; env: VecEnv; algo: Algorithm; out: string },
): Promise<RolloutSource> {
  const { cfg } = x;
  if (cfg.numEnvs % cfg.rolloutChunks !== 0) {
    throw new Error(
      `Invalid flag --rollout-chunks ${cfg.rolloutChunks}: it must divide --num-envs ${cfg.numEnvs} (each chunk is num-envs / rollout-chunks envs)`,
    );
  }
  // the shared secret is checked before anything connects
  return RunKey.fromEnv(cfg.rolloutRun, "learner").then((key) =>
    new RedisRollouts(cfg, x.env, key, x.algo.kernels ?? "tfjs")
  );
}

class RedisRollouts implements RolloutSource {
  readonly #cfg: TrainConfig;
  readonly #info: RunInfo;
  readonly #spec: VecEnv["spec"];
  readonly #k: ReturnType<typeof keys>;
  readonly #K: number;
  readonly #nonce: string;
  readonly #consumer: string;
  #r: Client | null = null;
  #quiet: boolean;
  #renew: ReturnType<typeof setInterval> | null = null;
  #ahead: { iteration: number; v: string; params: Uint8Array; before: RngStreamState } | null =
    null;
  #kept: string[] = [];
  #lost: string | null = null;
  readonly #key: RunKey;

  constructor(cfg: TrainConfig, env: VecEnv, key: RunKey, kernels: "tfjs" | "fused") {
    this.#key = key;
    this.#cfg = cfg;
    this.#spec = env.spec;
    this.#K = cfg.rolloutChunks;
    this.#k = keys(cfg.rolloutRun);
    this.#quiet = cfg.quiet;
    const bytes = crypto.getRandomValues(new Uint8Array(8));
    // a learner's incarnation: versions of a restarted learner never match an earlier one's
    this.#nonce = [...bytes].map((b) => b.toString(16).padStart(2, "0")).join("");
    this.#consumer = `learner-${this.#nonce}`;
    this.#info = {
      format: FORMAT,
      env: cfg.env,
      envOptions: cfg.envOptions,
      algo: cfg.algo,
      algoOptions: cfg.algoOptions,
      kernels,
      seed: cfg.seed,
      rolloutLength: cfg.rolloutLength,
      chunkEnvs: cfg.numEnvs / cfg.rolloutChunks,
      chunks: cfg.rolloutChunks,
      claimSeconds: cfg.rolloutClaim,
      plugins: cfg.plugins,
      spec: specOf(env.spec),
    };
  }

  #log(line: string): void {
    if (!this.#quiet) console.error(line);
  }

  async start(_seed: number): Promise<void> {
    this.#r = await connect(
      { url: this.#cfg.rollout!, tlsCa: this.#cfg.rolloutTlsCa, name: this.#consumer },
      10,
      (l) => this.#log(l),
    );
    await this.#takeLease();
    await ensureGroups(this.#r, this.#cfg.rolloutRun);
    await this.#r.set(this.#k.config, await this.#signedInfo());
  }

  /** The run description as stored: signed (distributed/auth.ts). */
  #signedInfo(): Promise<string> {
    return signText(this.#key, "config", JSON.stringify(this.#info));
  }

  /**
   * One learner per run: take the run's lease (waiting out a dead learner's), then renew it in
   * the background, updates included. Two live learners on one run would overwrite each other's
   * parameters and tasks.
   */
  async #takeLease(): Promise<void> {
    const r = this.#r!, key = this.#k.learner, me = this.#nonce;
    const until = performance.now() + LEASE_MS + 2_000;
    let said = false;
    while ((await r.set(key, me, "PX", LEASE_MS, "NX")) !== "OK") {
      if (performance.now() > until) {
        throw new Error(
          `Another learner is using --rollout-run ${this.#cfg.rolloutRun} on this Redis (its lease keeps being renewed): choose another --rollout-run, or stop that learner`,
        );
      }
      if (!said) {
        this.#log(
          `[learner] run ${this.#cfg.rolloutRun} is leased by another learner; waiting up to ${
            (LEASE_MS + 2_000) / 1000
          }s for the lease to expire (a learner that died leaves one behind)`,
        );
        said = true;
      }
      await new Promise((ok) => setTimeout(ok, 500));
    }
    const renew = setInterval(async () => {
      try {
        const owner = await r.get(key);
        if (owner === null) await r.set(key, me, "PX", LEASE_MS, "NX"); // Redis restarted empty
        else if (owner === me) await r.pexpire(key, LEASE_MS);
        else this.#lost = owner;
      } catch { /* Redis is down: the next renewal tries again */ }
    }, LEASE_MS / 5);
    Deno.unrefTimer(renew as unknown as number); // the lease never keeps the process alive
    this.#renew = renew;
  }

  /** Publishes the version's parameters, makes it current and appends the missing tasks. */
  async #publish(
    v: string,
    params: Uint8Array,
    iteration: number,
    before: RngStreamState,
    missing: number[],
  ): Promise<void> {
    const r = this.#r!;
    await ensureGroups(r, this.#cfg.rolloutRun);
    await r.set(this.#k.config, await this.#signedInfo());
    const signed = await signBytes(this.#key, "params", params);
    await r.set(this.#k.params(v), Buffer.from(signed), "EX", 86_400);
    await r.set(this.#k.current, v);
    const ahead = this.#cfg.rolloutLag === 1;
    for (const chunk of missing) {
      const json = JSON.stringify({ version: v, iteration, chunk, before, ahead } as Task);
      const tag = toHex(await this.#key.sign("task", [json]));
      await r.xadd(this.#k.tasks, "MAXLEN", "~", STREAM_MAX, "*", "task", json, "tag", tag);
    }
  }

  async collect(
    x: {
      algo: Algorithm;
      buf: RolloutBuffers;
      rng: Rng;
      iteration: number;
      before: RngStreamState;
    },
  ): Promise<SourceBatch> {
    const r = this.#r!;
    const cfg = this.#cfg;
    if (this.#lost) {
      throw new Error(
        `Another learner (${this.#lost}) took over --rollout-run ${cfg.rolloutRun} while this one was not renewing its lease`,
      );
    }
    const got = new Map<number, Chunk>();
    const missing = () => [...Array(this.#K).keys()].filter((c) => !got.has(c));
    // with --rollout-lag 1 this batch was published ahead, with the parameters before the last
    // update; otherwise it is published now with the current ones
    const ahead = this.#ahead?.iteration === x.iteration ? this.#ahead : null;
    this.#ahead = null;
    const v = ahead ? ahead.v : `${this.#nonce}.${x.iteration}`;
    const params = ahead ? ahead.params : encodeParams(v, await x.algo.getState());
    if (!ahead) {
      await this.#publish(v, params, x.iteration, x.before, missing());
      await this.#forget(v);
    }
    let stale = 0, dropped = 0, forged = 0;
    const t0 = performance.now();
    const timeoutMs = cfg.rolloutTimeout * 1000;
    while (got.size < this.#K) {
      const waited = performance.now() - t0;
      if (waited > timeoutMs) {
        if (got.size >= Math.ceil(cfg.rolloutQuorum * this.#K)) break;
        throw new Error(
          `Only ${got.size} of ${this.#K} rollout chunks of iteration ${x.iteration} arrived within --rollout-timeout ${cfg.rolloutTimeout}s (quorum ${cfg.rolloutQuorum}): start workers with \`deno task worker --redis <url> --run ${cfg.rolloutRun}\`, or raise --rollout-timeout`,
        );
      }
      let res: [Uint8Array, Entry[]][] | null;
      try {
        res = await r.xreadgroupBuffer(
          "GROUP",
          GROUPS.chunks,
          this.#consumer,
          "COUNT",
          16,
          "BLOCK",
          Math.max(1, Math.min(500, Math.ceil(timeoutMs - waited))),
          "STREAMS",
          this.#k.chunks,
          ">",
        ) as any;
      } catch (err) {
        if (!isNoGroup(err)) throw err;
        // Redis came back without our streams: recreate them and ask again for what is missing
        this.#log(`[learner] Redis lost the run's streams; republishing iteration ${x.iteration}`);
        await this.#publish(v, params, x.iteration, ahead?.before ?? x.before, missing());
        continue;
      }
      if (!res) {
        // nothing arrived: a Redis that restarted empty has no current version; republish
        if ((await r.get(this.#k.current)) !== v) {
          await this.#publish(v, params, x.iteration, ahead?.before ?? x.before, missing());
        }
        continue;
      }
      for (const [, entries] of res) {
        for (const [idBytes, fields] of entries) {
          const id = new TextDecoder().decode(idBytes);
          let c: Chunk | null = null;
          const entry = fields.map(bytesOf);
          if (!(await verifyChunk(this.#key, entry))) {
            if (forged++ === 0) { // once per iteration: a flood must not flood the log too
              this.#log(
                `[learner] dropped chunk ${id}: its tag does not verify (forged, or a worker with another BATON_ROLLOUT_SECRET)`,
              );
            }
          } else {
            try {
              c = decodeChunk(entry, this.#info.spec);
            } catch (err) {
              dropped++;
              this.#log(`[learner] dropped malformed chunk ${id}: ${(err as Error).message}`);
            }
          }
          if (c) {
            const h = c.head;
            const fits = h.T === cfg.rolloutLength && h.E === this.#info.chunkEnvs &&
              h.chunk < this.#K && h.memory === memoryOf(x.buf);
            if (h.version !== v || !fits) stale++; // an older version's, or a wrong shape
            else if (got.has(h.chunk)) stale++; // a redone task's second answer
            else got.set(h.chunk, c);
          }
          await r.xack(this.#k.chunks, GROUPS.chunks, id);
          await r.xdel(this.#k.chunks, id);
        }
      }
    }
    const chunks = [...got.keys()].sort((a, b) => a - b);
    const Ew = this.#info.chunkEnvs;
    const buf = chunks.length === this.#K
      ? x.buf
      : new RolloutBuffers(cfg.rolloutLength, Ew * chunks.length, this.#spec, memoryOf(x.buf));
    const lastValues = new Float32Array(buf.E * this.#info.spec.numAgents);
    const episodeReturns: number[] = [], wins: number[] = [];
    chunks.forEach((c, slot) => {
      const ch = got.get(c)!;
      scatterChunk(ch, buf, slot * Ew, this.#info.spec);
      lastValues.set(ch.fields.lastValues as Float32Array, slot * Ew * this.#info.spec.numAgents);
      appendAll(episodeReturns, ch.head.episodeReturns);
      appendAll(wins, ch.head.wins);
    });
    if (cfg.rolloutLag === 1) {
      // the next batch starts now, with the parameters this one was collected with: workers
      // step their envs while the learner updates (the update's PPO ratio is taken against the
      // behaviour policy's stored log-probabilities, which corrects the one version of lag)
      const nv = `${this.#nonce}.${x.iteration + 1}`;
      const np = encodeParams(nv, await x.algo.getState());
      const nb = this.orderStream(x.iteration + 1)!.getStreamState();
      await this.#publish(nv, np, x.iteration + 1, nb, [...Array(this.#K).keys()]);
      await this.#forget(nv);
      this.#ahead = { iteration: x.iteration + 1, v: nv, params: np, before: nb };
    } else {
      // chunk 0 acted with the learner's own stream: continue from where it left it
      const first = got.get(0);
      if (first) x.rng.setStreamState(first.head.rng);
      // nobody should work on this version any more
      await r.set(this.#k.current, `${this.#nonce}.0`);
    }
    const metrics: Metrics = {
      rollout_lag: ahead ? 1 : 0,
      rollout_chunks: chunks.length,
      rollout_wait_s: (performance.now() - t0) / 1000,
      rollout_stale: stale,
      rollout_dropped: dropped,
      rollout_forged: forged,
    };
    return { buf, lastValues, episodeReturns, wins, metrics };
  }

  /** Drops the parameters of versions before `v` (keeps `v` and, ahead, the one in use). */
  async #forget(v: string): Promise<void> {
    const keep = this.#kept.filter((k) => k !== v).slice(-1); // the batch being waited for
    for (const old of this.#kept) {
      if (old !== v && !keep.includes(old)) await this.#r!.del(this.#k.params(old));
    }
    this.#kept = [...keep, v];
  }

  /**
   * With `--rollout-lag 1`, `beginIteration` draws from a stream of (seed, iteration): the
   * workers need it before the learner gets to that iteration.
   * @param iteration the iteration (1-based)
   * @returns the stream, or null (the trainer's own)
   */
  orderStream(iteration: number): Rng | null {
    return this.#cfg.rolloutLag === 1 ? new RngClass(orderSeed(this.#cfg.seed, iteration)) : null;
  }

  async close(): Promise<void> {
    if (this.#renew !== null) clearInterval(this.#renew);
    this.#renew = null;
    if (!this.#r) return;
    try {
      for (const v of this.#kept) await this.#r.del(this.#k.params(v));
      await this.#r.set(this.#k.current, `${this.#nonce}.0`); // workers drop what is ahead
      if ((await this.#r.get(this.#k.learner)) === this.#nonce) await this.#r.del(this.#k.learner);
      this.#r.disconnect();
    } catch { /* closing anyway */ }
    this.#r = null;
  }
}

function memoryOf(buf: RolloutBuffers): number {
  return buf.memory ? buf.memory.length / (buf.T * buf.E) : 0;
}

/**
 * Whether a chunk entry's `tag` field is the tag of its other fields, in order.
 * @param key the run key
 * @param entry the entry's field/value list
 * @returns true when it verifies
 */
async function verifyChunk(key: RunKey, entry: Uint8Array[]): Promise<boolean> {
  const parts: Uint8Array[] = [];
  let tag: Uint8Array | null = null;
  const dec = new TextDecoder();
  for (let i = 0; i + 1 < entry.length; i += 2) {
    if (dec.decode(entry[i]!) === "tag") tag = entry[i + 1]!;
    else parts.push(entry[i]!, entry[i + 1]!);
  }
  return tag !== null && await key.verify("chunk", parts, tag);
}
