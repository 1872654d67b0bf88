/**
 * Baton's bridge protocol, Deno side: frame encoding and an incremental, defensive decoder.
 * See PROTOCOL.md. A frame is `u32 LE length` + body; the body is `u32 LE header length`,
 * the header JSON, zero padding to 4 bytes, then the arrays' raw little-endian bytes.
 *
 * @module
 */
import { z } from "../../core/deps.ts";
import { formatZodError } from "../../core/errors.ts";

/** Protocol version spoken by this client. */
export const PROTOCOL_VERSION = 1;
/** Frames larger than this are rejected as malformed (default 256 MiB). */
export const MAX_FRAME_BYTES = 256 * 1024 * 1024;

/** Typed arrays a frame can carry. */
export type WireArray = Float32Array | Int32Array | Uint8Array | Int8Array;
const CTORS = { f32: Float32Array, i32: Int32Array, u8: Uint8Array, i8: Int8Array } as const;
type DType = keyof typeof CTORS;

const arrayMeta = z.strictObject({
  name: z.string(),
  dtype: z.enum(["f32", "i32", "u8", "i8"]),
  shape: z.array(z.int().min(0)),
  offset: z.int().min(0),
  nbytes: z.int().min(0),
});

const spec = z.object({
  numAgents: z.int().positive(),
  obsDim: z.int().positive(),
  stateDim: z.int().positive(),
  action: z.discriminatedUnion("kind", [
    z.object({ kind: z.literal("discrete"), n: z.int().positive() }),
    z.object({
      kind: z.literal("box"),
      dim: z.int().positive(),
      low: z.number(),
      high: z.number(),
    }),
  ]),
  episodeLimit: z.int().positive(),
});

/** Every header the Python side may send, validated before use. */
export const serverHeader = z.discriminatedUnion("t", [
  z.object({
    t: z.literal("ready"),
    v: z.int(),
    spec,
    numEnvs: z.int().positive(),
    python: z.string(),
    arrays: z.array(arrayMeta),
  }),
  z.object({
    t: z.literal("obs"),
    episodes: z.object({
      returns: z.array(z.number()),
      lengths: z.array(z.int()),
      wins: z.array(z.int()),
    }),
    arrays: z.array(arrayMeta),
  }),
  z.object({ t: z.literal("bye"), arrays: z.array(arrayMeta) }),
  z.object({
    t: z.literal("error"),
    kind: z.enum(["import", "adapter", "protocol"]),
    message: z.string(),
    module: z.string().nullable().optional(),
    traceback: z.string().optional(),
    arrays: z.array(arrayMeta),
  }),
]);

/** A decoded frame from the server. */
export type ServerFrame = z.infer<typeof serverHeader> & { data: Record<string, WireArray> };
/** The env spec a server reports. */
export type WireSpec = z.infer<typeof spec>;

/** A malformed frame: the stream cannot be trusted any further. */
export class ProtocolError extends Error {
  override name = "ProtocolError";
}

const enc = new TextEncoder();
const dec = new TextDecoder("utf-8", { fatal: true });

/**
 * Encodes one frame.
 * @param header JSON-serialisable fields (without `arrays`)
 * @param arrays named typed arrays
 * @returns the bytes to write
 */
export function encodeFrame(
  header: Record<string, unknown>,
  arrays: Record<string, WireArray> = {},
): Uint8Array {
  const metas: z.infer<typeof arrayMeta>[] = [];
  let offset = 0;
  for (const [name, a] of Object.entries(arrays)) {
    const dtype = (Object.keys(CTORS) as DType[]).find((k) => a instanceof CTORS[k])!;
    metas.push({ name, dtype, shape: [a.length], offset, nbytes: a.byteLength });
    offset += a.byteLength + ((4 - (a.byteLength % 4)) % 4);
  }
  const hb = enc.encode(JSON.stringify({ ...header, arrays: metas }));
  const hpad = (4 - ((4 + hb.length) % 4)) % 4;
  const bodyLen = 4 + hb.length + hpad + offset;
  const out = new Uint8Array(4 + bodyLen);
  const dv = new DataView(out.buffer);
  dv.setUint32(0, bodyLen, true);
  dv.setUint32(4, hb.length, true);
  out.set(hb, 8);
  let p = 8 + hb.length + hpad;
  for (const [, a] of Object.entries(arrays)) {
    out.set(new Uint8Array(a.buffer, a.byteOffset, a.byteLength), p);
    p += a.byteLength + ((4 - (a.byteLength % 4)) % 4);
  }
  return out;
}

/**
 * Incremental decoder: push bytes as they arrive, take whole frames out. Throws
 * {@link ProtocolError} on anything malformed (lengths, JSON, header schema, array bounds).
 */
export class FrameDecoder {
  #buf = new Uint8Array(0);

  /** @param maxFrameBytes frames above this size are rejected */
  constructor(readonly maxFrameBytes = MAX_FRAME_BYTES) {}

  /** Appends received bytes. */
  push(chunk: Uint8Array): void {
    const next = new Uint8Array(this.#buf.length + chunk.length);
    next.set(this.#buf);
    next.set(chunk, this.#buf.length);
    this.#buf = next;
  }

  /** @returns bytes received but not yet decoded */
  get pending(): number {
    return this.#buf.length;
  }

  /** @returns the next whole frame, or null if more bytes are needed */
  next(): ServerFrame | null {
    if (this.#buf.length < 4) return null;
    const dv = new DataView(this.#buf.buffer, this.#buf.byteOffset, this.#buf.byteLength);
    const len = dv.getUint32(0, true);
    if (len > this.maxFrameBytes) {
      throw new ProtocolError(`Frame of ${len} bytes exceeds the ${this.maxFrameBytes}-byte limit`);
    }
    if (len < 4) {
      throw new ProtocolError(`Frame of ${len} bytes is shorter than its header length field`);
    }
    if (this.#buf.length < 4 + len) return null;
    const body = this.#buf.slice(4, 4 + len);
    this.#buf = this.#buf.slice(4 + len);
    return decodeBody(body);
  }
}

function decodeBody(body: Uint8Array): ServerFrame {
  const dv = new DataView(body.buffer, body.byteOffset, body.byteLength);
  const hlen = dv.getUint32(0, true);
  if (4 + hlen > body.length) {
    throw new ProtocolError(`Header length ${hlen} runs past the frame (${body.length} bytes)`);
  }
  let raw: unknown;
  try {
    raw = JSON.parse(dec.decode(body.subarray(4, 4 + hlen)));
  } catch (err) {
    throw new ProtocolError(`Header is not valid UTF-8 JSON: ${(err as Error).message}`);
  }
  const parsed = serverHeader.safeParse(raw);
  if (!parsed.success) throw new ProtocolError(`Malformed header: ${formatZodError(parsed.error)}`);
  const start = 4 + hlen + ((4 - ((4 + hlen) % 4)) % 4);
  const data: Record<string, WireArray> = {};
  for (const m of parsed.data.arrays) {
    const Ctor = CTORS[m.dtype];
    const count = m.shape.reduce((a, b) => a * b, 1);
    if (count * Ctor.BYTES_PER_ELEMENT !== m.nbytes) {
      throw new ProtocolError(
        `Array ${m.name}: shape [${m.shape}] does not match ${m.nbytes} bytes`,
      );
    }
    const a = start + m.offset;
    if (a + m.nbytes > body.length) throw new ProtocolError(`Array ${m.name} runs past the frame`);
    data[m.name] = new Ctor(body.slice(a, a + m.nbytes).buffer);
  }
  return { ...parsed.data, data };
}
