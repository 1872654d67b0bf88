/**
 * A rollout worker: takes chunk tasks from a run's task stream (consumer group `workers`),
 * acts with the task's parameter version in its own envs, and appends the trajectory chunk to
 * the chunk stream. A task left unfinished by a dead or stalled worker is taken over
 * (`XAUTOCLAIM`) after the run's claim time; the learner keeps the first answer per chunk.
 *
 * What a worker takes from Redis is checked before use: the run description, tasks and
 * parameters are validated with zod, the env must match the learner's spec, and env options
 * that name programs (`python`, `pythonPath`, `factory`) or plugins are never taken from the
 * wire: they come from the worker's own command line.
 *
 * @module
 */
import type { Algorithm } from "../core/algorithm.ts";
import { type AlgoRegistry, type EnvRegistry, makeEnv, parseOptions } from "../core/registry.ts";
import { collect, EnvCursor, RolloutBuffers } from "../core/rollout.ts";
import { Rng } from "../core/rng.ts";
import type { VecEnv } from "../core/vec_env.ts";
import { actionVecDim } from "../core/spaces.ts";
import {
  decodeRequest,
  encodeStep,
  popSigned,
  SESSION_IDLE_S,
  sessionKeys,
  type SessionTask,
  sessionTask,
  signSession,
} from "./remote_env.ts";
import {
  chunkSeed,
  decodeParams,
  encodeChunk,
  envSeed,
  GROUPS,
  keys,
  type RunInfo,
  runInfo,
  specOf,
  task as taskSchema,
} from "./protocol.ts";
import { bytesOf, type Client, connect, ensureGroups, isNoGroup, sleep } from "./redis.ts";
import { openBytes, openText, RunKey } from "./auth.ts";

/** Env options a worker never takes from the learner: they name programs or code to run. */
export const LOCAL_ONLY_ENV_OPTIONS = ["python", "pythonPath", "factory"] as const;

/** How a worker runs. */
export interface WorkerOptions {
  /** `redis://host:port` or `rediss://` (password: URL or `BATON_REDIS_PASSWORD`). */
  readonly redis: string;
  /** The run's namespace (the learner's `--rollout-run`). */
  readonly run: string;
  /** This worker's consumer name (unique among the run's workers). */
  readonly id: string;
  /** CA file for TLS. */
  readonly tlsCa?: string;
  /** Threads the algorithm may use for acting. */
  readonly threads: number;
  /** Env options set on this host (interpreter paths, factories), over the learner's. */
  readonly envOptions: Record<string, unknown>;
  /** Envs this worker can make (its own plugins loaded). */
  readonly envs: EnvRegistry;
  /** Algorithms. */
  readonly algos: AlgoRegistry;
  /** Exit after this many seconds without a task (0: never). */
  readonly idleExit?: number;
  /** Exit after this many chunks (0: never). */
  readonly maxTasks?: number;
  /** Stops after the current task. */
  readonly signal?: AbortSignal;
  /** Log lines (default: stderr). */
  readonly log?: (line: string) => void;
  /** The run's shared secret (default: `BATON_ROLLOUT_SECRET`; distributed/auth.ts). */
  readonly secret?: string;
}

/** What a worker did. */
export interface WorkerReport {
  /** Chunks sent. */
  chunks: number;
  /** Tasks skipped because their version was no longer current. */
  stale: number;
  /** Tasks refused as malformed or not signed with the run's secret. */
  refused: number;
  /** Tasks given up midway because the learner moved on. */
  abandoned: number;
}

interface Built {
  json: string;
  info: RunInfo;
  algo: Algorithm;
  cur: EnvCursor;
  buf: RolloutBuffers;
  params: string | null;
}

/** What {@link handle} reads and updates besides its task. */
interface HandleState {
  /** What the worker is doing, for the line a signal makes it print. */
  doing: string;
  /** The run's message key. */
  readonly key: RunKey;
  /** Reports a kind of unsigned message, once per kind. */
  readonly once: (what: string) => void;
}

/** A failure no retry fixes (wrong env, mismatched spec): the worker exits with it. */
class Fatal extends Error {}

/** Thrown where a worker's wait ends because it was told to stop. */
class Stopped extends Error {}

/**
 * `p`, or a {@link Stopped} rejection as soon as `signal` aborts: a command that ioredis holds
 * while Redis is away (it waits for the connection to come back) must not hold a worker that was
 * told to stop. `p` is left to settle on its own (its failure is swallowed).
 */
function untilAborted<T>(p: Promise<T>, signal?: AbortSignal): Promise<T> {
  if (!signal) return p;
  p.catch(() => {});
  if (signal.aborted) return Promise.reject(new Stopped());
  return new Promise<T>((ok, fail) => {
    const onAbort = () => fail(new Stopped());
    signal.addEventListener("abort", onAbort, { once: true });
    p.then(ok, fail).finally(() => signal.removeEventListener("abort", onAbort));
  });
}

/**
 * Runs a worker until aborted, idle for `idleExit` seconds, or `maxTasks` chunks are sent.
 * @param o options
 * @returns counts
 */
export async function runWorker(o: WorkerOptions): Promise<WorkerReport> {
  const log = o.log ?? ((l: string) => console.error(l));
  const k = keys(o.run);
  const rep: WorkerReport = { chunks: 0, stale: 0, refused: 0, abandoned: 0 };
  const key = o.secret !== undefined
    ? await RunKey.of(o.secret, o.run)
    : await RunKey.fromEnv(o.run, "worker");
  // what the worker is doing (for the one line it prints when a signal stops it), its key, and
  // the kinds of unsigned messages it has reported (each once)
  const said = new Set<string>();
  const state: HandleState = {
    doing: "connecting to Redis",
    key,
    once: (what: string) => {
      if (said.has(what)) return;
      said.add(what);
      log(
        `[${o.id}] ignoring ${what} not signed with this worker's BATON_ROLLOUT_SECRET (forged, or the learner uses another secret); said once`,
      );
    },
  };
  const stopLine = () => {
    const mid = state.doing.startsWith("chunk");
    if (mid) rep.abandoned++;
    log(
      `[${o.id}] stopping on a signal${
        mid ? `: abandoned ${state.doing} (the learner reassigns it)` : ` while ${state.doing}`
      }`,
    );
  };
  // every wait below ends at once on the signal, whatever state Redis is in
  const wait = <T>(p: Promise<T>) => untilAborted(p, o.signal);
  let r: Client;
  try {
    r = await wait(connect({ url: o.redis, tlsCa: o.tlsCa, name: o.id }, Infinity, log, o.signal));
  } catch (err) {
    if (!(err instanceof Stopped) && !o.signal?.aborted) throw err;
    stopLine();
    return rep;
  }
  let built: Built | null = null;
  let lastWork = performance.now();
  let claimMs = 30_000;
  try {
    await wait(ensureGroups(r, o.run));
    while (!o.signal?.aborted) {
      if (o.idleExit && performance.now() - lastWork > o.idleExit * 1000) break;
      if (o.maxTasks && rep.chunks >= o.maxTasks) break;
      try {
        state.doing = "waiting for a task";
        const entry = (await wait(claimOne(r, k.tasks, o.id, claimMs))) ??
          (await wait(readOne(r, k.tasks, o.id)));
        if (!entry) continue;
        const [id, fields] = entry;
        built = await wait(handle(r, o, k, id, fields, built, rep, log, state));
        if (built) claimMs = built.info.claimSeconds * 1000;
        lastWork = performance.now();
      } catch (err) {
        if (err instanceof Stopped || o.signal?.aborted) break;
        if (err instanceof Fatal) throw err;
        if (isNoGroup(err)) {
          await wait(ensureGroups(r, o.run)).catch(() => {});
          continue;
        }
        log(`[${o.id}] ${(err as Error).message}; retrying`);
        await wait(sleep(1_000)).catch(() => {});
      }
    }
  } catch (err) {
    if (!(err instanceof Stopped)) throw err;
  } finally {
    if (o.signal?.aborted) stopLine();
    r.disconnect();
    // an abandoned chunk may still be stepping its env: close it without waiting on that
    if (built) await wait(closeBuilt(built)).catch(() => {});
  }
  return rep;
}

async function closeBuilt(b: Built): Promise<void> {
  await b.algo.close?.().catch(() => {});
  b.algo.dispose();
  await b.cur.env.close();
}

type Raw = [string, Uint8Array[]];

async function claimOne(r: Client, stream: string, me: string, idleMs: number) {
  const res = await (r as any).xautoclaimBuffer(
    stream,
    GROUPS.tasks,
    me,
    idleMs,
    "0-0",
    "COUNT",
    1,
  ) as any;
  const e = res?.[1]?.[0];
  return e ? [new TextDecoder().decode(e[0]), e[1]] as Raw : null;
}

async function readOne(r: Client, stream: string, me: string) {
  const res = await r.xreadgroupBuffer(
    "GROUP",
    GROUPS.tasks,
    me,
    "COUNT",
    1,
    "BLOCK",
    250, // short: an env session waits on this; XAUTOCLAIM runs between reads
    "STREAMS",
    stream,
    ">",
  ) as any;
  const e = res?.[0]?.[1]?.[0];
  return e ? [new TextDecoder().decode(e[0]), e[1]] as Raw : null;
}

async function handle(
  r: Client,
  o: WorkerOptions,
  k: ReturnType<typeof keys>,
  id: string,
  fields: Uint8Array[],
  built: Built | null,
  rep: WorkerReport,
  log: (l: string) => void,
  state: HandleState,
): Promise<Built | null> {
  const ack = () => r.xack(k.tasks, GROUPS.tasks, id);
  const f = new Map<string, string>();
  for (let i = 0; i + 1 < fields.length; i += 2) {
    f.set(
      new TextDecoder().decode(bytesOf(fields[i])),
      new TextDecoder().decode(bytesOf(fields[i + 1])),
    );
  }
  if (f.has("session")) { // serve an env session (the learner's spec or an evaluation)
    await ack();
    if (!(await state.key.verify("session", [f.get("session")!], f.get("tag")))) {
      rep.refused++;
      state.once("env sessions");
      return built;
    }
    state.doing = "serving an env session";
    await serveSession(r, o, f.get("session")!, log, state, rep);
    return built;
  }
  if (!(await state.key.verify("task", [f.get("task") ?? ""], f.get("tag")))) {
    rep.refused++;
    state.once("tasks");
    await ack();
    return built;
  }
  let t;
  try {
    t = taskSchema.parse(JSON.parse(f.get("task") ?? ""));
  } catch (err) {
    rep.refused++;
    log(`[${o.id}] refused task ${id}: ${(err as Error).message.split("\n")[0]}`);
    await ack();
    return built;
  }
  if ((await r.get(k.current)) !== t.version) { // the learner has moved on (or restarted)
    rep.stale++;
    await ack();
    return built;
  }
  const stored = await r.get(k.config);
  if (!stored) return built; // Redis restarted empty: the learner will republish
  let json = await openText(state.key, "config", stored);
  if (json === null) { // a forged run description: keep the last signed one, if any
    state.once("a run description");
    if (!built) return built; // the task stays pending; the learner republishes its own
    json = built.json;
  }
  if (!built || built.json !== json) {
    if (built) await closeBuilt(built);
    built = null;
    built = await build(o, json);
  }
  if (built.params !== t.version) {
    const stored = await r.getBuffer(k.params(t.version));
    if (!stored) return built; // gone already: the learner moved on; the task will be stale
    const bytes = await openBytes(state.key, "params", new Uint8Array(stored));
    if (!bytes) {
      state.once("parameters");
      return built; // the task stays pending (taken over later); its own parameters may return
    }
    try {
      await built.algo.setState(decodeParams(bytes, t.version));
    } catch (err) {
      rep.refused++;
      log(`[${o.id}] refused parameters ${t.version}: ${(err as Error).message.split("\n")[0]}`);
      await ack();
      return built;
    }
    built.params = t.version;
  }
  const { info, algo, cur, buf } = built;
  state.doing = `chunk ${t.chunk} of iteration ${t.iteration}`;
  if (!cur.step) await cur.reset(envSeed(info.seed, t.iteration, t.chunk));
  // every chunk draws the learner's agent order from the learner's stream; chunk 0 then acts
  // with that stream (one worker reproduces the in-process run), the others with their own
  let rng = new Rng(0);
  rng.setStreamState(t.before);
  algo.beginIteration?.(rng);
  if (t.chunk > 0 || t.ahead) rng = new Rng(chunkSeed(info.seed, t.iteration, t.chunk));
  // a task whose version stops being current meanwhile (the learner settled for a quorum, or
  // restarted) is abandoned: polling `current` a few times a second costs the envs nothing
  let moved = false, polling = true;
  const poll = (async () => {
    while (polling && !moved) {
      await sleep(250);
      if (polling) moved = (await r.get(k.current).catch(() => t.version)) !== t.version;
    }
  })();
  const got = await collect(algo, cur, buf, rng, t.iteration, () => moved).finally(() => {
    polling = false;
  });
  await poll;
  if (!got) {
    rep.abandoned++;
    log(`[${o.id}] abandoned chunk ${t.chunk} of iteration ${t.iteration}: the learner moved on`);
    await ack();
    return built;
  }
  const entry = encodeChunk(
    {
      version: t.version,
      iteration: t.iteration,
      chunk: t.chunk,
      worker: o.id,
      T: buf.T,
      E: buf.E,
      episodeReturns: got.episodeReturns,
      wins: got.wins as (0 | 1)[],
      rng: rng.getStreamState(),
      memory: cur.carry.M,
    },
    buf,
    got.lastValues,
    info.spec,
  );
  entry.push("tag", await state.key.sign("chunk", entry)); // verified by the learner
  await r.xadd(
    k.chunks,
    "MAXLEN",
    "~",
    10_000,
    "*",
    ...entry.map((x) =>
      typeof x === "string" ? x : Buffer.from(x.buffer, x.byteOffset, x.byteLength)
    ),
  );
  await ack();
  rep.chunks++;
  return built;
}

/** The learner's env options with the ones that name programs or code replaced by this host's. */
function hostOptions(o: WorkerOptions, given: Record<string, unknown>): Record<string, unknown> {
  const envOptions = { ...given };
  for (const key of LOCAL_ONLY_ENV_OPTIONS) delete envOptions[key];
  return Object.assign(envOptions, o.envOptions);
}

/**
 * Makes a session's envs and answers its signed requests until close or idleness; a request that
 * does not verify (forged, replayed, another secret) is dropped, counted in `rep.refused` and
 * reported once, and does not extend the session's idle time.
 */
async function serveSession(
  r: Client,
  o: WorkerOptions,
  json: string,
  log: (l: string) => void,
  state: HandleState,
  rep: WorkerReport,
): Promise<void> {
  let t: SessionTask;
  try {
    t = sessionTask.parse(JSON.parse(json));
  } catch (err) {
    log(`[${o.id}] refused env session: ${(err as Error).message.split("\n")[0]}`);
    return;
  }
  const s = sessionKeys(o.run, t.sid);
  let seq = 0; // the number of the request being answered (0: the spec, before any request)
  const reply = async (x: Uint8Array | string) => {
    const bytes = typeof x === "string" ? new TextEncoder().encode(x) : x;
    const signed = await signSession(state.key, "reply", t.sid, seq, bytes);
    await r.rpush(s.rep, Buffer.from(signed.buffer, signed.byteOffset, signed.byteLength));
    await r.expire(s.rep, 600);
  };
  const forged = () => {
    rep.refused++;
    state.once("env-session requests");
  };
  let env: VecEnv;
  try {
    if (!o.envs.has(t.env)) throw new Error(`env ${t.env} is not registered on worker ${o.id}`);
    env = await makeEnv(o.envs.get(t.env), {
      options: hostOptions(o, t.envOptions),
      numEnvs: t.numEnvs,
    });
  } catch (err) {
    await reply(JSON.stringify({ error: (err as Error).message }));
    return;
  }
  try {
    await reply(JSON.stringify({ spec: env.spec }));
    const { numAgents: n, actionSpace } = env.spec;
    const width = actionSpace.kind === "discrete" ? n : n * actionVecDim(actionSpace);
    while (!o.signal?.aborted) {
      const got = await popSigned(
        r,
        s.req,
        state.key,
        "request",
        t.sid,
        seq + 1,
        SESSION_IDLE_S,
        forged,
        () => !!o.signal?.aborted,
      );
      if (!got) break; // the learner has gone quiet: free this worker for rollouts
      seq++;
      const { r: q, body } = decodeRequest(got);
      if (q.op === "close") break;
      if (q.op === "reset") await reply(encodeStep(await env.reset(q.seed)));
      else {
        const count = body.byteLength / 4;
        if (count !== env.numEnvs * width) {
          throw new Error(`session ${t.sid}: ${count} actions, expected ${env.numEnvs * width}`);
        }
        const actions = actionSpace.kind === "discrete"
          ? new Int32Array(body.buffer, body.byteOffset, count)
          : new Float32Array(body.buffer, body.byteOffset, count);
        await reply(encodeStep(await env.step(actions)));
      }
    }
  } catch (err) {
    log(`[${o.id}] env session ${t.sid} ended: ${(err as Error).message.split("\n")[0]}`);
  } finally {
    await env.close();
    await r.del(s.req).catch(() => {});
  }
}

async function build(o: WorkerOptions, json: string): Promise<Built> {
  let info: RunInfo;
  try {
    info = runInfo.parse(JSON.parse(json));
  } catch (err) {
    throw new Fatal(
      `the run description in Redis is not valid: ${(err as Error).message.split("\n")[0]}`,
    );
  }
  if (!o.envs.has(info.env)) {
    throw new Fatal(
      `env ${info.env} is not registered on this worker${
        info.plugins.length
          ? `: load the learner's plugins with --plugin (${info.plugins.join(", ")})`
          : ""
      }`,
    );
  }
  const env = await makeEnv(o.envs.get(info.env), {
    options: hostOptions(o, info.envOptions),
    numEnvs: info.chunkEnvs,
  })
    .catch((err) => {
      throw new Fatal(`cannot make env ${info.env}: ${(err as Error).message}`);
    });
  const mine = JSON.stringify(specOf(env.spec)), theirs = JSON.stringify(info.spec);
  if (mine !== theirs) {
    await env.close();
    throw new Fatal(
      `env ${info.env} here has spec ${mine}, the learner's has ${theirs}: run the same Baton version and env options on both`,
    );
  }
  const entry = o.algos.get(info.algo);
  const algo = entry.create(env.spec, {
    options: parseOptions(entry.options, info.algoOptions, `algorithm ${info.algo}`),
    rng: new Rng(info.seed).fork(),
    threads: o.threads,
    rolloutLength: info.rolloutLength,
    kernels: info.kernels,
  });
  const cur = new EnvCursor(env, algo, info.env);
  const buf = new RolloutBuffers(
    info.rolloutLength,
    info.chunkEnvs,
    env.spec,
    algo.memorySize ?? 0,
  );
  return { json, info, algo, cur, buf, params: null };
}
