/**
 * TensorBoard event files without TensorFlow: each iteration's metrics as scalar summaries in
 * `events.out.tfevents.<seconds>.baton.<pid>` inside the run directory (`--log tensorboard`),
 * which `tensorboard --logdir runs/` reads.
 *
 * The format, from the published sources (tensorflow/core/util/event.proto, summary.proto and
 * the TFRecord framing in tensorflow/core/lib/io/record_writer.cc):
 * - a file is a sequence of records: `uint64 length` (little-endian), `uint32 masked_crc32c(length
 *   bytes)`, `length` bytes of data, `uint32 masked_crc32c(data)`; CRC-32C is the Castagnoli
 *   polynomial and `masked(c) = ((c >>> 15) | (c << 17)) + 0xa282ead8` (mod 2^32);
 * - each record is an `Event` protobuf: `wall_time` (field 1, double), `step` (2, int64), and either
 *   `file_version` (3, string; the first event says "brain.Event:2") or `summary` (5, Summary);
 * - `Summary` holds repeated `value` (field 1), each with `tag` (1, string) and `simple_value`
 *   (2, float).
 * tests/tensorboard_test.ts decodes the files with a reader written separately from this one.
 *
 * @module
 */
import { join } from "node:path";
import type { Hook, IterationInfo, Record_ } from "./sinks.ts";

const CRC_TABLE = (() => {
  const t = new Uint32Array(256);
  for (let i = 0; i < 256; i++) {
    let c = i;
    for (let k = 0; k < 8; k++) c = c & 1 ? (c >>> 1) ^ 0x82f63b78 : c >>> 1;
    t[i] = c >>> 0;
  }
  return t;
})();

/**
 * CRC-32C (Castagnoli) of bytes.
 * @param b the bytes
 * @returns the checksum as an unsigned 32-bit integer
 */
export function crc32c(b: Uint8Array): number {
  let c = 0xffffffff;
  for (let i = 0; i < b.length; i++) c = CRC_TABLE[(c ^ b[i]!) & 0xff]! ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
}

/**
 * TFRecord's masked CRC: rotate right by 15 and add a constant.
 * @param b the bytes
 * @returns the masked checksum
 */
export function maskedCrc32c(b: Uint8Array): number {
  const c = crc32c(b);
  return ((((c >>> 15) | (c << 17)) >>> 0) + 0xa282ead8) >>> 0;
}

/** A minimal protobuf encoder: the wire types an Event needs. */
class Proto {
  readonly #parts: number[] = [];

  #varint(v: bigint): void {
    let x = BigInt.asUintN(64, v);
    while (x >= 0x80n) {
      this.#parts.push(Number(x & 0x7fn) | 0x80);
      x >>= 7n;
    }
    this.#parts.push(Number(x));
  }

  #key(field: number, wire: number): void {
    this.#varint(BigInt((field << 3) | wire));
  }

  double(field: number, v: number): this {
    this.#key(field, 1);
    const b = new Uint8Array(8);
    new DataView(b.buffer).setFloat64(0, v, true);
    this.#parts.push(...b);
    return this;
  }

  float(field: number, v: number): this {
    this.#key(field, 5);
    const b = new Uint8Array(4);
    new DataView(b.buffer).setFloat32(0, v, true);
    this.#parts.push(...b);
    return this;
  }

  int64(field: number, v: number): this {
    this.#key(field, 0);
    this.#varint(BigInt(Math.trunc(v)));
    return this;
  }

  bytes(field: number, b: Uint8Array): this {
    this.#key(field, 2);
    this.#varint(BigInt(b.length));
    this.#parts.push(...b);
    return this;
  }

  string(field: number, s: string): this {
    return this.bytes(field, new TextEncoder().encode(s));
  }

  done(): Uint8Array {
    return Uint8Array.from(this.#parts);
  }
}

/**
 * One `Event` protobuf.
 * @param e wall time (seconds), step, and either the file version or scalar values by tag
 * @returns the encoded message
 */
export function encodeEvent(
  e: { wallTime: number; step: number; fileVersion?: string; scalars?: [string, number][] },
): Uint8Array {
  const p = new Proto().double(1, e.wallTime).int64(2, e.step);
  if (e.fileVersion !== undefined) p.string(3, e.fileVersion);
  if (e.scalars) {
    const summary = new Proto();
    for (const [tag, v] of e.scalars) {
      summary.bytes(1, new Proto().string(1, tag).float(2, v).done());
    }
    p.bytes(5, summary.done());
  }
  return p.done();
}

/**
 * Frames one record the TFRecord way.
 * @param data the record's bytes
 * @returns length, its masked CRC, the data and its masked CRC
 */
export function tfRecord(data: Uint8Array): Uint8Array {
  const out = new Uint8Array(8 + 4 + data.length + 4);
  const v = new DataView(out.buffer);
  v.setBigUint64(0, BigInt(data.length), true);
  v.setUint32(8, maskedCrc32c(out.subarray(0, 8)), true);
  out.set(data, 12);
  v.setUint32(12 + data.length, maskedCrc32c(data), true);
  return out;
}

/**
 * Writes each iteration's record as TensorBoard scalars (tag = metric name, step = env steps),
 * one event file per run (a resumed run appends to the file it finds in its directory), written
 * through at every iteration.
 */
export class TensorBoardSink implements Hook {
  #file: Deno.FsFile | null = null;
  /** The event file's path. */
  readonly path: string;

  /**
   * Creates it; the file is made at the first iteration.
   * @param dir the run directory
   */
  constructor(readonly dir: string) {
    let existing: string | undefined;
    try {
      existing = [...Deno.readDirSync(dir)].map((e) => e.name).sort()
        .find((n) => n.startsWith("events.out.tfevents."));
    } catch { /* no directory yet */ }
    const now = Date.now() / 1000;
    this.path = join(dir, existing ?? `events.out.tfevents.${Math.floor(now)}.baton.${Deno.pid}`);
    this.#fresh = existing === undefined;
  }

  readonly #fresh: boolean;

  #write(data: Uint8Array): void {
    if (!this.#file) {
      this.#file = Deno.openSync(this.path, { create: true, append: true });
      if (this.#fresh) {
        this.#write(
          encodeEvent({ wallTime: Date.now() / 1000, step: 0, fileVersion: "brain.Event:2" }),
        );
      }
    }
    const rec = tfRecord(data);
    let off = 0;
    while (off < rec.length) off += this.#file.writeSync(rec.subarray(off));
  }

  onIteration(rec: Record_, _info: IterationInfo): void {
    const scalars = Object.entries(rec).filter(([k, v]) =>
      k !== "iteration" && k !== "env_steps" && typeof v === "number" && Number.isFinite(v)
    ) as [string, number][];
    this.#write(encodeEvent({ wallTime: Date.now() / 1000, step: rec.env_steps ?? 0, scalars }));
  }

  close(): void {
    this.#file?.close();
    this.#file = null;
  }
}
