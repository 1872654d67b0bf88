/**
 * Envs that live on rollout workers (`--rollout-env workers`): the learner never makes the env
 * (StarCraft II, say, exists only on the worker machines). A {@link RemoteVecEnv} is a VecEnv whose
 * `reset` opens a session on a free worker (a `session` task in the task stream); the worker makes
 * the envs from the run's env id and options (its own `--env-opt` for programs and code, as for
 * rollouts), then answers `reset`/`step` requests on the session's Redis lists until the next
 * reset, a close, or 10 s without a request. The learner uses one for the env spec (a session that
 * is opened and dropped) and one for evaluations (a session per reset).
 *
 * Everything a session moves is signed with the run's key (`distributed/auth.ts`): the session
 * task, each request (kind `request`) and each reply (kind `reply`), the tags of the last two
 * covering the session id and the request's sequence number (0 for the worker's first reply, the
 * spec; then 1, 2, ... for the learner's requests, each reply carrying its request's number). A
 * message that does not verify is dropped, counted and reported once (by the learner's env and by
 * each worker), and the receiver waits on for the real one: someone who can write to Redis without
 * the secret can neither step a worker's envs nor feed the learner's evaluations, and a replayed
 * message is refused at any other place in its own session or in another.
 *
 * @module
 */
import { openBytes, RunKey, signBytes, toHex } from "./auth.ts";
import { z } from "../core/deps.ts";
import type { EnvEntry } from "../core/registry.ts";
import type { TrainConfig } from "../core/config.ts";
import type { EpisodeStats, Step, VecEnv } from "../core/vec_env.ts";
import { actionVecDim } from "../core/spaces.ts";
import { envSpecSchema } from "../core/registry.ts";
import { checkStep } from "../core/testing.ts";
import { FORMAT, keys } from "./protocol.ts";
import { type Client, connect } from "./redis.ts";

/** Seconds a worker keeps a session's envs without a request before it closes them. */
export const SESSION_IDLE_S = 10;

/** The task that asks a worker to serve a session. */
export const sessionTask = z.strictObject({
  format: z.literal(FORMAT),
  sid: z.string().regex(/^[0-9a-f]{16}$/),
  env: z.string().min(1).max(200),
  envOptions: z.record(z.string(), z.unknown()),
  numEnvs: z.int().positive().max(100_000),
});
/** See {@link sessionTask}. */
export type SessionTask = z.infer<typeof sessionTask>;

/** A session's request list and reply list. */
export function sessionKeys(run: string, sid: string): { req: string; rep: string } {
  const p = keys(run).config.replace(/config$/, `session:${sid}:`);
  return { req: p + "req", rep: p + "rep" };
}

/**
 * Signs a session message: the tag covers the kind, the session id and the sequence number.
 * @param key the run key
 * @param kind `request` (learner to worker) or `reply` (worker to learner)
 * @param sid the session id
 * @param seq the request's number (0: the worker's first reply)
 * @param bytes the message
 * @returns tag and message, as pushed to the session's list
 */
export function signSession(
  key: RunKey,
  kind: "request" | "reply",
  sid: string,
  seq: number,
  bytes: Uint8Array,
): Promise<Uint8Array> {
  return signBytes(key, kind, bytes, [sid, String(seq)]);
}

/**
 * Pops a session list until a message verifies as `kind` number `seq` of session `sid`, dropping
 * the others (each reported through `forged`); null when `timeoutS` passes first.
 * @param r the connection
 * @param list the list to pop
 * @param key the run key
 * @param kind what is expected
 * @param sid the session id
 * @param seq the expected number
 * @param timeoutS seconds to wait in all
 * @param forged called for each dropped message
 * @param aborted stops the wait between pops when it returns true
 * @returns the message, or null
 */
export async function popSigned(
  r: Client,
  list: string,
  key: RunKey,
  kind: "request" | "reply",
  sid: string,
  seq: number,
  timeoutS: number,
  forged: () => void,
  aborted: () => boolean = () => false,
): Promise<Uint8Array | null> {
  const deadline = Date.now() + timeoutS * 1000;
  while (!aborted()) {
    const left = (deadline - Date.now()) / 1000;
    if (left <= 0) return null;
    const got = await r.blpopBuffer(list, Math.max(0.01, Math.round(left * 100) / 100));
    if (!got) return null;
    const bytes = await openBytes(key, kind, new Uint8Array(got[1]), [sid, String(seq)]);
    if (bytes) return bytes;
    forged();
  }
  return null;
}

const request = z.discriminatedUnion("op", [
  z.strictObject({ op: z.literal("reset"), seed: z.int() }),
  z.strictObject({ op: z.literal("step") }),
  z.strictObject({ op: z.literal("close") }),
]);
/** A request's JSON part (a step's actions follow as bytes). */
export type SessionRequest = z.infer<typeof request>;

const stepHead = z.strictObject({
  episodes: z.strictObject({
    returns: z.array(z.number()),
    lengths: z.array(z.int().min(0)),
    wins: z.array(z.number()),
  }),
  avail: z.boolean(),
});

function frame(head: unknown, parts: ArrayBufferView[]): Uint8Array {
  const h = new TextEncoder().encode(JSON.stringify(head));
  const pad = (4 - ((4 + h.length) % 4)) % 4;
  const size = parts.reduce((a, p) => a + p.byteLength, 4 + h.length + pad);
  const out = new Uint8Array(size);
  new DataView(out.buffer).setUint32(0, h.length, true);
  out.set(h, 4);
  let o = 4 + h.length + pad;
  for (const p of parts) {
    out.set(new Uint8Array(p.buffer, p.byteOffset, p.byteLength), o);
    o += p.byteLength;
  }
  return out;
}

function unframe(bytes: Uint8Array): { head: unknown; body: Uint8Array } {
  if (bytes.length < 4) throw new Error("message shorter than its header");
  const len = new DataView(bytes.buffer, bytes.byteOffset, 4).getUint32(0, true);
  if (4 + len > bytes.length) throw new Error("header length past the end");
  const head = JSON.parse(new TextDecoder().decode(bytes.subarray(4, 4 + len)));
  const start = 4 + len + ((4 - ((4 + len) % 4)) % 4);
  return { head, body: bytes.slice(start) };
}

/**
 * Encodes a request.
 * @param r the request
 * @param actions a step's actions
 * @returns the bytes
 */
export function encodeRequest(r: SessionRequest, actions?: Int32Array | Float32Array): Uint8Array {
  return frame(r, actions ? [actions] : []);
}

/**
 * Decodes a request (the worker side).
 * @param bytes the bytes
 * @returns the request and a step's raw actions
 */
export function decodeRequest(bytes: Uint8Array): { r: SessionRequest; body: Uint8Array } {
  const { head, body } = unframe(bytes);
  return { r: request.parse(head), body };
}

/**
 * Encodes a step (the worker side): episodes and flags as JSON, the arrays as bytes.
 * @param s the step
 * @returns the bytes
 */
export function encodeStep(s: Step): Uint8Array {
  const parts: ArrayBufferView[] = [s.obs, s.state, s.reward, s.done, s.truncated];
  if (s.availActions) parts.push(s.availActions);
  return frame({ episodes: s.episodes, avail: s.availActions !== null }, parts);
}

/**
 * Decodes and checks a step against the spec (lengths, then `checkStep`'s values).
 * @param bytes the reply
 * @param env the proxy (spec and env count)
 * @param where for error messages
 * @returns the step
 */
export function decodeStep(bytes: Uint8Array, env: VecEnv, where: string): Step {
  const { head, body } = unframe(bytes);
  const h = stepHead.parse(head);
  const { numAgents: n, obsDim, stateDim, actionSpace } = env.spec;
  const E = env.numEnvs, A = actionVecDim(actionSpace);
  const sizes = [E * n * obsDim * 4, E * stateDim * 4, E * 4, E, E, h.avail ? E * n * A : 0];
  const total = sizes.reduce((a, b) => a + b, 0);
  if (body.length !== total) throw new Error(`${where}: ${body.length} bytes, expected ${total}`);
  let o = 0;
  const take = (k: number) => body.slice(o, o += sizes[k]!);
  const f32 = (b: Uint8Array) => new Float32Array(b.buffer, b.byteOffset, b.byteLength / 4);
  const step: Step = {
    obs: f32(take(0)),
    state: f32(take(1)),
    reward: f32(take(2)),
    done: take(3),
    truncated: take(4),
    availActions: h.avail ? take(5) : null,
    episodes: h.episodes as EpisodeStats,
  };
  checkStep(env, step, where);
  return step;
}

/**
 * The learner's stand-in for an env entry whose envs run on workers: options are validated here
 * (the env id must be known to the learner), envs are made by a worker.
 * @param cfg the run config (Redis URL, run name, time-out)
 * @param local the learner's entry for the env id (options schema, description)
 * @returns an entry whose `create` returns a {@link RemoteVecEnv}
 */
export function remoteEnvEntry(cfg: TrainConfig, local: EnvEntry): EnvEntry {
  return {
    ...local,
    create: (options, ctx) =>
      RemoteVecEnv.open(cfg, options as Record<string, unknown>, ctx.numEnvs),
  };
}

/** A VecEnv whose envs run on a rollout worker, one session per reset. */
export class RemoteVecEnv implements VecEnv {
  #r: Client;
  #key: RunKey;
  #sid: string | null = null;
  #seq = 0;
  #keys: { req: string; rep: string } | null = null;
  /** Replies dropped because their tag did not verify (forged, replayed, or another secret). */
  forgedReplies = 0;

  private constructor(
    readonly spec: VecEnv["spec"],
    readonly numEnvs: number,
    r: Client,
    key: RunKey,
    readonly cfg: TrainConfig,
    readonly options: Record<string, unknown>,
  ) {
    this.#r = r;
    this.#key = key;
  }

  /**
   * Connects, opens a session to learn the spec, and closes it again.
   * @param cfg the run config
   * @param options the env's validated options
   * @param numEnvs envs per session
   * @returns the proxy
   */
  static async open(
    cfg: TrainConfig,
    options: Record<string, unknown>,
    numEnvs: number,
  ): Promise<RemoteVecEnv> {
    const r = await connect(
      { url: cfg.rollout!, tlsCa: cfg.rolloutTlsCa, name: "learner-env" },
      10,
      (l) => cfg.quiet || console.error(l),
    );
    try {
      const key = await RunKey.fromEnv(cfg.rolloutRun, "learner"); // workers verify the session
      let forged = 0;
      const { sid, spec } = await openSession(r, cfg, key, options, numEnvs, () => forged++);
      const env = new RemoteVecEnv(spec, numEnvs, r, key, cfg, options);
      env.#sid = sid;
      env.#keys = sessionKeys(cfg.rolloutRun, sid);
      for (let i = 0; i < forged; i++) env.#forged();
      await env.#drop(); // the worker goes back to rollouts; each reset opens a new session
      return env;
    } catch (err) {
      r.disconnect();
      throw err;
    }
  }

  /** Counts a dropped reply; the first one is reported. */
  #forged(): void {
    if (this.forgedReplies++ === 0 && !this.cfg.quiet) {
      console.error(
        `ignoring env-session replies not signed with this learner's BATON_ROLLOUT_SECRET (forged, replayed, or a worker with another secret); said once`,
      );
    }
  }

  async #request(r: SessionRequest, what: string, actions?: Int32Array | Float32Array) {
    const k = this.#keys!, sid = this.#sid!, seq = ++this.#seq;
    const signed = await signSession(this.#key, "request", sid, seq, encodeRequest(r, actions));
    await this.#r.rpush(k.req, Buffer.from(signed));
    const got = await popSigned(
      this.#r,
      k.rep,
      this.#key,
      "reply",
      sid,
      seq,
      this.cfg.rolloutTimeout,
      () => this.#forged(),
    );
    if (!got) {
      throw new Error(
        `The worker serving env ${this.cfg.env} did not answer ${what} within --rollout-timeout ${this.cfg.rolloutTimeout}s (did it die?)`,
      );
    }
    return got;
  }

  /**
   * Resets the envs in a fresh session on a free worker.
   * @param seed the env seed
   * @returns the first step
   */
  async reset(seed: number): Promise<Step> {
    await this.#drop();
    const { sid, spec } = await openSession(
      this.#r,
      this.cfg,
      this.#key,
      this.options,
      this.numEnvs,
      () => this.#forged(),
    );
    if (JSON.stringify(spec) !== JSON.stringify(this.spec)) {
      throw new Error(`A worker's env ${this.cfg.env} has another spec than the first one's`);
    }
    this.#sid = sid;
    this.#seq = 0;
    this.#keys = sessionKeys(this.cfg.rolloutRun, sid);
    return decodeStep(await this.#request({ op: "reset", seed }, "reset"), this, "remote reset");
  }

  /**
   * Steps the session's envs.
   * @param actions the actions
   * @returns the step
   */
  async step(actions: Int32Array | Float32Array): Promise<Step> {
    if (!this.#sid) throw new Error("Cannot step a remote env before reset(seed)");
    return decodeStep(await this.#request({ op: "step" }, "step", actions), this, "remote step");
  }

  /** Closes the session (the worker goes back to rollouts); the next reset opens another. */
  pause(): Promise<void> {
    return this.#drop();
  }

  async #drop(): Promise<void> {
    if (!this.#keys) return;
    const close = await signSession(
      this.#key,
      "request",
      this.#sid!,
      ++this.#seq,
      encodeRequest({ op: "close" }),
    );
    await this.#r.rpush(this.#keys.req, Buffer.from(close)).catch(() => {});
    await this.#r.expire(this.#keys.req, 60).catch(() => {});
    this.#sid = this.#keys = null;
  }

  /** Closes the session and the connection. */
  async close(): Promise<void> {
    await this.#drop();
    this.#r.disconnect();
  }
}

async function openSession(
  r: Client,
  cfg: TrainConfig,
  key: RunKey,
  options: Record<string, unknown>,
  numEnvs: number,
  forged: () => void,
): Promise<{ sid: string; spec: VecEnv["spec"] }> {
  const sid = [...crypto.getRandomValues(new Uint8Array(8))]
    .map((b) => b.toString(16).padStart(2, "0")).join("");
  const k = keys(cfg.rolloutRun), s = sessionKeys(cfg.rolloutRun, sid);
  const t: SessionTask = { format: FORMAT, sid, env: cfg.env, envOptions: options, numEnvs };
  await r.xgroup("CREATE", k.tasks, "workers", "0", "MKSTREAM").catch(() => {});
  const json = JSON.stringify(t);
  const tag = toHex(await key.sign("session", [json]));
  await r.xadd(k.tasks, "MAXLEN", "~", 10_000, "*", "session", json, "tag", tag);
  const got = await popSigned(r, s.rep, key, "reply", sid, 0, cfg.rolloutTimeout, forged);
  if (!got) {
    throw new Error(
      `No rollout worker took env session for ${cfg.env} within --rollout-timeout ${cfg.rolloutTimeout}s: start workers with \`deno task worker --redis <url> --run ${cfg.rolloutRun}\``,
    );
  }
  const reply = JSON.parse(new TextDecoder().decode(got));
  if (reply.error) throw new Error(`A worker could not make env ${cfg.env}: ${reply.error}`);
  const spec = envSpecSchema.parse(reply.spec) as VecEnv["spec"];
  return { sid, spec };
}
