/**
 * Message authentication between a learner and its rollout workers: every run description,
 * parameter set, task, env session (its task, requests and replies) and trajectory chunk that
 * crosses Redis carries an HMAC-SHA-256 tag under a secret only they hold
 * (`BATON_ROLLOUT_SECRET`, the same on the learner and every worker; never written to a file by
 * Baton). Anyone who can write to Redis but lacks the secret can no longer feed the learner
 * trajectories or evaluation steps, nor the workers parameters or env actions: a message whose
 * tag does not verify is dropped, counted and reported.
 *
 * The tag covers a kind (`chunk`, `task`, ...), the run's namespace and each part with its
 * length, so a tag of one message never verifies another (nor the same message in another run).
 *
 * @module
 */

/** The environment variable that holds the run's shared secret. */
export const SECRET_VAR = "BATON_ROLLOUT_SECRET";

/** The fewest characters a secret may have. */
export const MIN_SECRET_LENGTH = 16;

/** What a tag authenticates. */
export type TagKind = "config" | "params" | "task" | "session" | "request" | "reply" | "chunk";

/** The length of a tag in bytes (HMAC-SHA-256). */
export const TAG_BYTES = 32;

/** A run's message key: signs and verifies. */
export class RunKey {
  readonly #key: CryptoKey;
  readonly #run: string;

  private constructor(key: CryptoKey, run: string) {
    this.#key = key;
    this.#run = run;
  }

  /**
   * The key of run `run` from a secret.
   * @param secret the shared secret (at least {@link MIN_SECRET_LENGTH} characters)
   * @param run the run's namespace (`--rollout-run`)
   * @returns the key
   */
  static async of(secret: string, run: string): Promise<RunKey> {
    if (secret.length < MIN_SECRET_LENGTH) {
      throw new Error(
        `${SECRET_VAR} has ${secret.length} characters; use at least ${MIN_SECRET_LENGTH} (e.g. export ${SECRET_VAR}=$(head -c 32 /dev/urandom | base64))`,
      );
    }
    const key = await crypto.subtle.importKey(
      "raw",
      new TextEncoder().encode(secret),
      { name: "HMAC", hash: "SHA-256" },
      false,
      ["sign", "verify"],
    );
    return new RunKey(key, run);
  }

  /**
   * The key of run `run` from `BATON_ROLLOUT_SECRET`; one line saying how to set it if unset.
   * @param run the run's namespace
   * @param who "learner" or "worker" (for the message)
   * @returns the key
   */
  static async fromEnv(run: string, who: "learner" | "worker"): Promise<RunKey> {
    let secret: string | undefined;
    try {
      secret = Deno.env.get(SECRET_VAR);
    } catch { /* no env permission: reported as unset */ }
    if (!secret) {
      throw new Error(
        `Distributed rollouts need a secret shared by the learner and its workers (every message through Redis is signed with it): set ${SECRET_VAR} on the ${who} and every other machine of the run, e.g. export ${SECRET_VAR}=$(head -c 32 /dev/urandom | base64)`,
      );
    }
    return await RunKey.of(secret, run);
  }

  #message(kind: TagKind, parts: readonly (string | Uint8Array)[]): Uint8Array {
    const enc = new TextEncoder();
    const all = [
      enc.encode(kind),
      enc.encode(this.#run),
      ...parts.map((p) => typeof p === "string" ? enc.encode(p) : p),
    ];
    const out = new Uint8Array(all.reduce((a, p) => a + 8 + p.length, 0));
    const view = new DataView(out.buffer);
    let at = 0;
    for (const p of all) {
      view.setFloat64(at, p.length); // each part's length first: no two splits collide
      out.set(p, at + 8);
      at += 8 + p.length;
    }
    return out;
  }

  /**
   * The tag of a message.
   * @param kind what it is
   * @param parts its parts, in order
   * @returns the tag's bytes
   */
  async sign(kind: TagKind, parts: readonly (string | Uint8Array)[]): Promise<Uint8Array> {
    const data = this.#message(kind, parts);
    return new Uint8Array(await crypto.subtle.sign("HMAC", this.#key, data as BufferSource));
  }

  /**
   * Whether `tag` is the tag of the message (compared in constant time by WebCrypto).
   * @param kind what it is
   * @param parts its parts, in order
   * @param tag the tag it came with (bytes, or hex)
   * @returns true when it verifies
   */
  async verify(
    kind: TagKind,
    parts: readonly (string | Uint8Array)[],
    tag: Uint8Array | string | null | undefined,
  ): Promise<boolean> {
    const bytes = typeof tag === "string" ? fromHex(tag) : tag;
    if (!bytes || bytes.length !== TAG_BYTES) return false;
    const data = this.#message(kind, parts);
    return await crypto.subtle.verify(
      "HMAC",
      this.#key,
      bytes as BufferSource,
      data as BufferSource,
    );
  }
}

/**
 * Hex of bytes.
 * @param b bytes
 * @returns lower-case hex
 */
export function toHex(b: Uint8Array): string {
  return Array.from(b, (x) => x.toString(16).padStart(2, "0")).join("");
}

/**
 * Bytes of hex (null when it is not hex of whole bytes).
 * @param s hex
 * @returns bytes or null
 */
export function fromHex(s: string): Uint8Array | null {
  if (!/^(?:[0-9a-f]{2})*$/.test(s)) return null;
  const out = new Uint8Array(s.length / 2);
  for (let i = 0; i < out.length; i++) out[i] = parseInt(s.slice(2 * i, 2 * i + 2), 16);
  return out;
}

/**
 * A signed text value: `<hex tag>.<text>` (for string keys such as the run description).
 * @param key the run key
 * @param kind what it is
 * @param text the value
 * @returns the stored form
 */
export async function signText(key: RunKey, kind: TagKind, text: string): Promise<string> {
  return `${toHex(await key.sign(kind, [text]))}.${text}`;
}

/**
 * The text of a signed value, or null when its tag does not verify.
 * @param key the run key
 * @param kind what it should be
 * @param stored the stored form
 * @returns the text, or null
 */
export async function openText(key: RunKey, kind: TagKind, stored: string): Promise<string | null> {
  const dot = stored.indexOf(".");
  if (dot !== 2 * TAG_BYTES) return null;
  const text = stored.slice(dot + 1);
  return (await key.verify(kind, [text], stored.slice(0, dot))) ? text : null;
}

/**
 * Signed bytes: the tag, then the bytes.
 * @param key the run key
 * @param kind what it is
 * @param bytes the value
 * @param context parts the tag also covers but the stored form does not carry (an env
 *   session's id and a request's sequence number: a message never verifies in another session
 *   or at another place in its own)
 * @returns tag and value in one array
 */
export async function signBytes(
  key: RunKey,
  kind: TagKind,
  bytes: Uint8Array,
  context: readonly string[] = [],
): Promise<Uint8Array> {
  const out = new Uint8Array(TAG_BYTES + bytes.length);
  out.set(await key.sign(kind, [...context, bytes]));
  out.set(bytes, TAG_BYTES);
  return out;
}

/**
 * The bytes of a signed value, or null when its tag does not verify.
 * @param key the run key
 * @param kind what it should be
 * @param stored tag and value
 * @param context the parts it was signed with beside the value (see {@link signBytes})
 * @returns the value, or null
 */
export async function openBytes(
  key: RunKey,
  kind: TagKind,
  stored: Uint8Array,
  context: readonly string[] = [],
): Promise<Uint8Array | null> {
  if (stored.length < TAG_BYTES) return null;
  const bytes = stored.subarray(TAG_BYTES);
  const tag = stored.subarray(0, TAG_BYTES);
  return (await key.verify(kind, [...context, bytes], tag)) ? bytes : null;
}
