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
export const PROTOCOL_VERSION = 2;
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
  z.object({ t: z.literal("obs"), arrays: z.array(arrayMeta) }),
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
  const list = Object.entries(arrays);
  const headJson = JSON.stringify(header);
  // the header bytes depend on the header and the arrays' names, dtypes and sizes only; a step
  // request repeats them every time, so they are encoded once
  let key = headJson;
  for (const [name, a] of list) key += `|${name}:${a.constructor.name}:${a.length}`;
  let layout = layouts.get(key);
  if (!layout) {
    const metas: z.infer<typeof arrayMeta>[] = [];
    let offset = 0;
    for (const [name, a] of list) {
      const dtype = (Object.keys(CTORS) as DType[]).find((k) => a instanceof CTORS[k])!;
      metas.push({ name, dtype, shape: [a.length], offset, nbytes: a.byteLength });
      offset += a.byteLength + ((4 - (a.byteLength % 4)) % 4);
    }
    const hb = enc.encode(JSON.stringify({ ...header, arrays: metas }));
    const hpad = (4 - ((4 + hb.length) % 4)) % 4;
    const prefix = new Uint8Array(8 + hb.length + hpad);
    const dv = new DataView(prefix.buffer);
    dv.setUint32(0, 4 + hb.length + hpad + offset, true);
    dv.setUint32(4, hb.length, true);
    prefix.set(hb, 8);
    layout = { prefix, offsets: metas.map((m) => m.offset), payload: offset };
    if (layouts.size >= 64) layouts.clear();
    layouts.set(key, layout);
  }
  const out = new Uint8Array(layout.prefix.length + layout.payload);
  out.set(layout.prefix);
  list.forEach(([, a], i) => {
    out.set(
      new Uint8Array(a.buffer, a.byteOffset, a.byteLength),
      layout.prefix.length + layout.offsets[i]!,
    );
  });
  return out;
}

/** Encoded frame prefixes (length, header length, header, padding) by header and array sizes. */
const layouts = new Map<string, { prefix: Uint8Array; offsets: number[]; payload: number }>();

/**
 * Incremental decoder: push bytes as they arrive, take whole frames out. Throws
 * {@link ProtocolError} on anything malformed (lengths, JSON, header schema, array bounds).
 */
export class FrameDecoder {
  // Received chunks not yet decoded, from #head on; every byte is copied at most once (into a
  // frame that spans chunks), so decoding is linear in the bytes received.
  #parts: Uint8Array<ArrayBuffer>[] = [];
  #head = 0;
  #total = 0;

  /** @param maxFrameBytes frames above this size are rejected */
  constructor(readonly maxFrameBytes = MAX_FRAME_BYTES) {}

  /**
   * Appends received bytes. The decoder keeps (and decoded arrays may view) `chunk` itself:
   * the caller must not reuse it.
   */
  push(chunk: Uint8Array): void {
    if (!chunk.length) return;
    this.#parts.push(
      chunk.buffer instanceof ArrayBuffer ? chunk as Uint8Array<ArrayBuffer> : chunk.slice(),
    );
    this.#total += chunk.length;
  }

  /** @returns bytes received but not yet decoded */
  get pending(): number {
    return this.#total;
  }

  /** Removes and returns the next `n` bytes: a view when one chunk holds them, else one copy. */
  #take(n: number): Uint8Array<ArrayBuffer> {
    const first = this.#parts[this.#head]!;
    let out: Uint8Array<ArrayBuffer>;
    if (first.length >= n) {
      out = first.subarray(0, n);
      this.#parts[this.#head] = first.subarray(n);
    } else {
      out = new Uint8Array(n);
      for (let at = 0; at < n;) {
        const part = this.#parts[this.#head]!;
        const k = Math.min(part.length, n - at);
        out.set(part.subarray(0, k), at);
        this.#parts[this.#head] = part.subarray(k);
        at += k;
        if (!this.#parts[this.#head]!.length) this.#head++;
      }
    }
    while (this.#head < this.#parts.length && !this.#parts[this.#head]!.length) this.#head++;
    if (this.#head > 64 && this.#head * 2 > this.#parts.length) {
      this.#parts = this.#parts.slice(this.#head);
      this.#head = 0;
    }
    if (this.#head >= this.#parts.length) {
      this.#parts = [];
      this.#head = 0;
    }
    this.#total -= n;
    return out;
  }

  /** @returns the first 4 bytes as a little-endian uint32, without consuming them */
  #peekLength(): number {
    let v = 0, got = 0;
    for (let i = this.#head; got < 4; i++) {
      const part = this.#parts[i]!;
      for (let j = 0; j < part.length && got < 4; j++, got++) v += part[j]! * 2 ** (8 * got);
    }
    return v;
  }

  /** @returns the next whole frame, or null if more bytes are needed */
  next(): ServerFrame | null {
    if (this.#total < 4) return null;
    const len = this.#peekLength();
    if (len > this.maxFrameBytes) {
      throw new ProtocolError(`Frame of ${len} bytes exceeds the ${this.maxFrameBytes}-byte limit`);
    }
    if (len < 4) {
      throw new ProtocolError(`Frame of ${len} bytes is shorter than its header length field`);
    }
    if (this.#total < 4 + len) return null;
    this.#take(4);
    return this.#decodeBody(this.#take(len));
  }

  /** The last header text with its validated parse and array plan: a child's replies repeat it. */
  #last: { text: string; known: Decoded } | null = null;

  #decodeBody(body: Uint8Array<ArrayBuffer>): ServerFrame {
    const dv = new DataView(body.buffer, body.byteOffset, body.byteLength);
    const hlen = dv.getUint32(0, true);
    if (4 + hlen > body.length) {
      throw new ProtocolError(`Header length ${hlen} runs past the frame (${body.length} bytes)`);
    }
    let text: string;
    try {
      text = dec.decode(body.subarray(4, 4 + hlen));
    } catch (err) {
      throw new ProtocolError(`Header is not valid UTF-8 JSON: ${(err as Error).message}`);
    }
    if (this.#last?.text !== text) this.#last = { text, known: plan(parseHeader(text), hlen) };
    return decodeArrays(body, this.#last.known);
  }
}

/** A validated header and where its arrays lie in a body, checked once per header text. */
interface Decoded {
  header: z.infer<typeof serverHeader>;
  arrays: {
    name: string;
    Ctor: (typeof CTORS)[DType];
    at: number;
    count: number;
    nbytes: number;
  }[];
  /** body bytes the arrays need */
  end: number;
}

function plan(header: z.infer<typeof serverHeader>, hlen: number): Decoded {
  const start = 4 + hlen + ((4 - ((4 + hlen) % 4)) % 4);
  let end = start;
  const arrays = header.arrays.map((m) => {
    const Ctor = CTORS[m.dtype];
    const count = m.shape.reduce((a, b) => a * b, 1);
    if (count * Ctor.BYTES_PER_ELEMENT !== m.nbytes) {
      throw new ProtocolError(
        `Array ${m.name}: shape [${m.shape}] does not match ${m.nbytes} bytes`,
      );
    }
    end = Math.max(end, start + m.offset + m.nbytes);
    return { name: m.name, Ctor, at: start + m.offset, count, nbytes: m.nbytes };
  });
  return { header, arrays, end };
}

/** JSON-parses and zod-validates one header. */
function parseHeader(text: string): z.infer<typeof serverHeader> {
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (err) {
    throw new ProtocolError(`Header is not valid UTF-8 JSON: ${(err as Error).message}`);
  }
  const parsed = serverHeader.safeParse(raw);
  if (!parsed.success) throw new ProtocolError(`Malformed header: ${formatZodError(parsed.error)}`);
  return parsed.data;
}

function decodeArrays(body: Uint8Array<ArrayBuffer>, known: Decoded): ServerFrame {
  if (known.end > body.length) {
    const m = known.arrays.find((m) => m.at + m.nbytes > body.length)!;
    throw new ProtocolError(`Array ${m.name} runs past the frame`);
  }
  const data: Record<string, WireArray> = {};
  for (const { name, Ctor, at: a, count, nbytes } of known.arrays) {
    const at = body.byteOffset + a;
    // a view into the received bytes when aligned (the server pads to 4), else a copy
    data[name] = at % Ctor.BYTES_PER_ELEMENT === 0
      ? new Ctor(body.buffer, at, count)
      : new Ctor(body.slice(a, a + nbytes).buffer);
  }
  return { ...known.header, data };
}
