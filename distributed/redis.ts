/**
 * One Redis connection for the learner or a worker (npm `ioredis`): password from the URL or
 * `BATON_REDIS_PASSWORD`, TLS for `rediss://` (optionally pinned to a CA file), reconnection
 * with capped exponential back-off, and commands that wait through an outage instead of failing.
 *
 * @module
 */
import { Redis } from "npm:ioredis@6.0.0";
import { redactUrl } from "../core/config.ts";
import { GROUPS, keys } from "./protocol.ts";

/** How to reach Redis. */
export interface RedisTarget {
  /** `redis://[user:password@]host:port[/db]`, or `rediss://` for TLS. */
  readonly url: string;
  /** CA certificate (PEM file) the server's TLS certificate must chain to. */
  readonly tlsCa?: string;
  /** The connection's name in `CLIENT LIST` (and in log lines). */
  readonly name: string;
}

/** A connected client (the ioredis type). */
export type Client = Redis;

/**
 * Opens a connection; waits up to `waitSeconds` for the first one (a worker started before
 * Redis keeps trying with back-off), then fails with one line that says what to fix.
 * @param t where and how
 * @param waitSeconds how long the first connection may take (Infinity: forever)
 * @param log where reconnection news goes
 * @param signal gives up waiting (an aborted worker stops even before Redis is up)
 * @returns the client
 */
export async function connect(
  t: RedisTarget,
  waitSeconds: number,
  log: (line: string) => void = (l) => console.error(l),
  signal?: AbortSignal,
): Promise<Client> {
  const url = new URL(t.url);
  if (url.pathname.length > 1 && !/^\/\d{1,5}$/.test(url.pathname)) {
    throw new Error(
      `Invalid Redis URL ${redactUrl(t.url)}: the database "${
        url.pathname.slice(1)
      }" must be a number (redis://host:port/0 or no path)`,
    );
  }
  const password = decodeURIComponent(url.password) || Deno.env.get("BATON_REDIS_PASSWORD") ||
    undefined;
  const tls = url.protocol === "rediss:"
    ? {
      ...(t.tlsCa ? { ca: await Deno.readTextFile(t.tlsCa) } : {}),
      // SNI carries host names only; an IP address is checked against the certificate's IP SAN
      ...(/^[\d.]+$|:/.test(url.hostname) ? {} : { servername: url.hostname }),
    }
    : undefined;
  const where = redactUrl(t.url);
  let down = false, lastError = "";
  const r = new Redis({
    host: url.hostname,
    port: Number(url.port || 6379),
    username: decodeURIComponent(url.username) || undefined,
    password,
    db: url.pathname.length > 1 ? Number(url.pathname.slice(1)) : 0,
    tls,
    connectionName: t.name.replace(/[^\w.:-]/g, "_"),
    lazyConnect: true,
    // commands wait for the connection to come back instead of failing after a few retries
    maxRetriesPerRequest: null,
    retryStrategy: (times: number) => Math.min(100 * 2 ** Math.min(times, 5), 3_000),
    connectTimeout: 5_000,
  });
  r.on("error", (err: Error) => {
    lastError = err.message;
    if (!down) log(`[${t.name}] Redis at ${where}: ${err.message}; reconnecting`);
    down = true;
  });
  r.on("ready", () => {
    if (down) log(`[${t.name}] Redis at ${where}: connected again`);
    down = false;
  });
  const deadline = performance.now() + waitSeconds * 1000;
  for (let attempt = 0;; attempt++) {
    try {
      await r.connect();
      return r;
    } catch (err) {
      const msg = (err as Error).message;
      if (/NOAUTH|WRONGPASS|invalid password|AUTH/i.test(`${msg} ${lastError}`)) {
        r.disconnect();
        throw new Error(
          `Redis at ${where} refused authentication (${
            /AUTH|PASS/i.test(msg) ? msg : lastError
          }): set BATON_REDIS_PASSWORD or put the password in the URL (redis://:password@host:port)`,
        );
      }
      if (/DENIED|protected mode/i.test(`${msg} ${lastError}`)) {
        r.disconnect();
        throw new Error(
          `Redis at ${where} accepts only loopback clients (protected mode, no password): give it a password (requirepass) and set BATON_REDIS_PASSWORD here`,
        );
      }
      if (performance.now() > deadline || signal?.aborted) {
        r.disconnect();
        throw new Error(
          `Cannot reach Redis at ${where} (${
            lastError || msg
          }): start redis-server there, or fix the URL`,
        );
      }
      r.disconnect();
      await new Promise((ok) => setTimeout(ok, Math.min(100 * 2 ** Math.min(attempt, 5), 3_000)));
    }
  }
}

/**
 * Creates a run's consumer groups if they are missing (after a Redis restart without
 * persistence they are), reading each stream from its start.
 * @param r the client
 * @param run the run's namespace
 */
export async function ensureGroups(r: Client, run: string): Promise<void> {
  const k = keys(run);
  for (const [stream, group] of [[k.tasks, GROUPS.tasks], [k.chunks, GROUPS.chunks]]) {
    try {
      await r.xgroup("CREATE", stream!, group!, "0", "MKSTREAM");
    } catch (err) {
      if (!/BUSYGROUP/.test((err as Error).message)) throw err;
    }
  }
}

/** @returns whether an error says a stream or its group is gone (Redis restarted empty) */
export function isNoGroup(err: unknown): boolean {
  return /NOGROUP|no longer exists/i.test((err as Error)?.message ?? "");
}

/** The bytes of an ioredis reply value. */
export function bytesOf(x: unknown): Uint8Array {
  if (x instanceof Uint8Array) return x;
  return new TextEncoder().encode(String(x));
}

/** Sleeps. */
export function sleep(ms: number): Promise<void> {
  return new Promise((ok) => setTimeout(ok, ms));
}
