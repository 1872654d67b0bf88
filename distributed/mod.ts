/**
 * Rollouts on many machines through Redis Streams: the learner's {@link redisRollouts} source
 * (what `--rollout redis://...` uses), the worker loop {@link runWorker} (what
 * `deno task worker` runs), the wire format, and a throw-away loopback {@link RedisServer} for
 * trying it on one machine. docs/distributed.md has the picture and the measured scaling.
 *
 * @example A learner and one worker in one process (needs redis-server on PATH)
 * ```ts ignore
 * import { defaultAlgoRegistry, defaultEnvRegistry, train, trainConfig } from "../mod.ts";
 * import { RedisServer, runWorker } from "./mod.ts";
 *
 * Deno.env.set("BATON_ROLLOUT_SECRET", "a secret of 16+ characters"); // signs every message
 * const redis = await RedisServer.start();
 * const stop = new AbortController();
 * const worker = runWorker({
 *   redis: redis.url, run: "demo", id: "w0", threads: 1, envOptions: {},
 *   envs: defaultEnvRegistry(), algos: defaultAlgoRegistry(), signal: stop.signal,
 * });
 * const cfg = trainConfig.parse({ totalSteps: 20_000, rollout: redis.url, rolloutRun: "demo" });
 * await train(cfg, {
 *   env: defaultEnvRegistry().get(cfg.env),
 *   algo: defaultAlgoRegistry().get(cfg.algo),
 * });
 * stop.abort();
 * await worker;
 * await redis.stop();
 * ```
 *
 * @module
 */
export { redisRollouts } from "./learner.ts";
export {
  LOCAL_ONLY_ENV_OPTIONS,
  runWorker,
  type WorkerOptions,
  type WorkerReport,
} from "./worker.ts";
export { type Client, connect, type RedisTarget } from "./redis.ts";
export { FORMAT, keys, type RunInfo, runInfo, type RunKeys } from "./protocol.ts";
export { hasRedisServer, RedisServer, type ServerTls } from "./local_redis.ts";
export { RunKey, SECRET_VAR, type TagKind } from "./auth.ts";
