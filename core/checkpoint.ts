/**
 * Checkpoints: one JSON file holding the resolved config, progress counters, the trainer's
 * RNG state and the algorithm's tensors (base64 float32). Written to a temporary file and
 * renamed, so a crash never leaves a half-written checkpoint.
 *
 * @module
 */
import { dirname, join } from "node:path";
import type { AlgoState } from "./algorithm.ts";
import type { RngState } from "./rng.ts";
import { z } from "./deps.ts";
import { formatZodError } from "./errors.ts";

const i32 = z.int().min(-0x80000000).max(0xffffffff); // xoshiro words, signed or not
/** The checkpoint file's schema: everything is checked before a run uses it. */
const checkpointFile = z.object({
  format: z.literal("baton-checkpoint/1"),
  config: z.record(z.string(), z.unknown()),
  iteration: z.int().min(0),
  envSteps: z.int().min(0),
  wallSeconds: z.number().min(0),
  rng: z.tuple([i32, i32, i32, i32]),
  algo: z.object({
    tensors: z.record(
      z.string(),
      z.object({ shape: z.array(z.int().min(0)), data: z.string() }),
    ),
    extra: z.record(z.string(), z.unknown()),
  }),
});

/** Everything needed to continue a run. */
export interface Checkpoint {
  /** File format tag. */
  readonly format: "baton-checkpoint/1";
  /** The resolved run config. */
  readonly config: Record<string, unknown>;
  /** Iterations done. */
  readonly iteration: number;
  /** Env steps done. */
  readonly envSteps: number;
  /** Wall seconds so far. */
  readonly wallSeconds: number;
  /** The trainer's RNG state. */
  readonly rng: RngState;
  /** The algorithm's tensors and extras. */
  readonly algo: AlgoState;
}

function b64(data: Float32Array): string {
  const bytes = new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
  let s = "";
  for (let i = 0; i < bytes.length; i += 0x8000) {
    s += String.fromCharCode(...bytes.subarray(i, i + 0x8000));
  }
  return btoa(s);
}

function unb64(s: string): Float32Array {
  const bin = atob(s);
  const bytes = new Uint8Array(bin.length);
  for (let i = 0; i < bin.length; i++) bytes[i] = bin.charCodeAt(i);
  return new Float32Array(bytes.buffer);
}

/**
 * Writes a checkpoint atomically (temp file + rename).
 * @param path target file
 * @param ck the checkpoint
 */
export async function saveCheckpoint(path: string, ck: Checkpoint): Promise<void> {
  const tensors: Record<string, { shape: number[]; data: string }> = {};
  for (const [k, t] of Object.entries(ck.algo.tensors)) {
    tensors[k] = { shape: t.shape, data: b64(t.data) };
  }
  const text = JSON.stringify({ ...ck, algo: { tensors, extra: ck.algo.extra } });
  const dir = dirname(path);
  const tmp = join(dir, `.${crypto.randomUUID()}.tmp`);
  try {
    await Deno.mkdir(dir, { recursive: true });
    await Deno.writeTextFile(tmp, text);
    await Deno.rename(tmp, path);
  } catch (err) {
    await Deno.remove(tmp).catch(() => {});
    const e = err as Error;
    const full = /No space left|File too large|Disk quota|os error (27|28|122)\b/i.test(e.message);
    throw new Error(
      `Cannot write checkpoint ${path}: ${e.message}${
        e.name === "NotCapable"
          ? ` (the run directory needs --allow-read=${dir} and --allow-write=${dir})`
          : full
          ? `: the disk is full or a file-size limit (ulimit -f) was reached; the previous checkpoint is kept: free space, then --resume ${dir}`
          : ""
      }`,
    );
  }
}

/**
 * Reads a checkpoint file, or `checkpoint.json` inside a run directory.
 * @param path file or run directory
 * @returns the checkpoint
 */
export async function loadCheckpoint(path: string): Promise<Checkpoint> {
  let file = path;
  try {
    if ((await Deno.stat(path)).isDirectory) file = join(path, "checkpoint.json");
  } catch {
    throw new Error(`Cannot read checkpoint as "${path}" does not exist`);
  }
  let raw: any;
  try {
    raw = JSON.parse(await Deno.readTextFile(file));
  } catch (err) {
    throw new Error(`Cannot read checkpoint ${file}: ${(err as Error).message}`);
  }
  if (raw?.format !== "baton-checkpoint/1") {
    throw new Error(`Cannot read checkpoint ${file} as it is not a baton-checkpoint/1 file`);
  }
  const parsed = checkpointFile.safeParse(raw);
  if (!parsed.success) {
    throw new Error(`Cannot use checkpoint ${file}: ${formatZodError(parsed.error)}`);
  }
  const tensors: AlgoState["tensors"] = {};
  for (const [k, t] of Object.entries(parsed.data.algo.tensors)) {
    const data = unb64(t.data);
    const size = t.shape.reduce((a, b) => a * b, 1);
    if (data.length !== size) {
      throw new Error(
        `Cannot use checkpoint ${file}: tensor "${k}" has ${data.length} values for shape [${t.shape}]`,
      );
    }
    if (!data.every(Number.isFinite)) {
      throw new Error(`Cannot use checkpoint ${file}: tensor "${k}" has non-finite values`);
    }
    tensors[k] = { shape: t.shape, data };
  }
  return { ...parsed.data, algo: { tensors, extra: parsed.data.algo.extra } };
}
