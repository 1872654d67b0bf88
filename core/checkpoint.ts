/**
 * Checkpoints: one JSON file holding the resolved config, progress counters, the trainer's
 * RNG state and the algorithm's tensors (base64 float32). Written to a temporary file and
 * renamed, so a crash never leaves a half-written checkpoint.
 *
 * Format 2 carries SHA-256 digests: one per tensor (over its name, shape and data, so a flipped
 * bit names the tensor) and one over the whole file without its `digest` field (counters,
 * config, extras and the tensors' digests). A file whose content does not match is refused.
 * They detect corruption and edits, not a forger who recomputes them: a checkpoint is as
 * trusted as the directory it is read from. Format 1 files (no digests) still load, with a
 * warning that their content is not verified.
 *
 * @module
 */
import { dirname, join } from "node:path";
import type { AlgoState } from "./algorithm.ts";
import type { RngState } from "./rng.ts";
import { tf, z } from "./deps.ts";
import { formatZodError } from "./errors.ts";

const i32 = z.int().min(-0x80000000).max(0xffffffff); // xoshiro words, signed or not
/** The checkpoint file's schema: everything is checked before a run uses it. */
const checkpointFile = z.object({
  format: z.enum(["baton-checkpoint/1", "baton-checkpoint/2"]),
  digest: z.string().regex(/^sha256:[0-9a-f]{64}$/).optional(),
  config: z.record(z.string(), z.unknown()),
  iteration: z.int().min(0),
  envSteps: z.int().min(0),
  wallSeconds: z.number().min(0),
  rng: z.tuple([i32, i32, i32, i32]),
  algo: z.object({
    tensors: z.record(
      z.string(),
      z.object({
        shape: z.array(z.int().min(0)),
        data: z.string(),
        sha256: z.string().regex(/^[0-9a-f]{64}$/).optional(),
      }),
    ),
    extra: z.record(z.string(), z.unknown()),
  }),
});

/** Everything needed to continue a run. */
export interface Checkpoint {
  /** File format tag (written as 2; 1 is read, without digests). */
  readonly format: "baton-checkpoint/1" | "baton-checkpoint/2";
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
  const tensors: Record<string, { shape: number[]; data: string; sha256: string }> = {};
  for (const [k, t] of Object.entries(ck.algo.tensors)) {
    const data = b64(t.data);
    tensors[k] = { shape: t.shape, data, sha256: await tensorDigest(k, t.shape, data) };
  }
  const body = {
    ...ck,
    format: "baton-checkpoint/2",
    algo: { tensors, extra: ck.algo.extra },
  };
  const text = JSON.stringify({ digest: `sha256:${await sha256(JSON.stringify(body))}`, ...body });
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

async function sha256(text: string): Promise<string> {
  const d = await crypto.subtle.digest("SHA-256", new TextEncoder().encode(text));
  return Array.from(new Uint8Array(d), (b) => b.toString(16).padStart(2, "0")).join("");
}

/** A tensor's digest: over its name, shape and base64 data. */
function tensorDigest(name: string, shape: number[], data: string): Promise<string> {
  return sha256(JSON.stringify([name, shape, data]));
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
  // a FIFO, device or socket would be waited on (or read without end): only regular files
  const info = await Deno.stat(file).catch(() => null);
  if (!info) throw new Error(`Cannot read checkpoint as "${file}" does not exist`);
  if (!info.isFile) {
    throw new Error(
      `Cannot read checkpoint ${file}: it is not a regular file (a FIFO, device or socket); point --resume at a run directory whose checkpoint.json Baton wrote`,
    );
  }
  let raw: any;
  try {
    raw = JSON.parse(await Deno.readTextFile(file));
  } catch (err) {
    throw new Error(`Cannot read checkpoint ${file}: ${(err as Error).message}`);
  }
  if (raw?.format !== "baton-checkpoint/1" && raw?.format !== "baton-checkpoint/2") {
    throw new Error(`Cannot read checkpoint ${file} as it is not a baton-checkpoint/1 or /2 file`);
  }
  const parsed = checkpointFile.safeParse(raw);
  if (!parsed.success) {
    throw new Error(`Cannot use checkpoint ${file}: ${formatZodError(parsed.error)}`);
  }
  const changed =
    `: the file was changed or corrupted after Baton wrote it (resume from an intact copy, or start a new run)`;
  if (parsed.data.format === "baton-checkpoint/2") {
    for (const [k, t] of Object.entries(parsed.data.algo.tensors)) {
      if (!t.sha256 || t.sha256 !== await tensorDigest(k, t.shape, t.data)) {
        throw new Error(
          `Cannot use checkpoint ${file}: tensor "${k}" does not match its digest${changed}`,
        );
      }
    }
    const { digest, ...body } = raw;
    if (!digest || digest !== `sha256:${await sha256(JSON.stringify(body))}`) {
      throw new Error(
        `Cannot use checkpoint ${file}: its content does not match its digest${changed}`,
      );
    }
  } else {
    console.error(
      `Warning: checkpoint ${file} is format 1 (written before digests): its content is not verified`,
    );
  }
  const tensors: AlgoState["tensors"] = {};
  for (const [k, t] of Object.entries(parsed.data.algo.tensors)) {
    let data: Float32Array;
    try {
      data = unb64(t.data);
    } catch {
      throw new Error(
        `Cannot use checkpoint ${file}: tensor "${k}" is not base64 of float32 values${changed}`,
      );
    }
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
  const { digest: _d, ...rest } = parsed.data;
  return { ...rest, algo: { tensors, extra: parsed.data.algo.extra } };
}

/**
 * Assigns a checkpoint's tensor to a variable, refusing a missing name or another shape with one
 * line (every algorithm's `setState` restores its variables and optimiser slots this way).
 * @param state the algorithm state of a checkpoint
 * @param name the tensor's checkpoint name
 * @param v the variable to assign
 */
export function assignTensor(state: AlgoState, name: string, v: tf.Variable): void {
  const t = state.tensors[name];
  if (!t) {
    throw new Error(
      `Checkpoint has no tensor "${name}": was it saved by another algorithm or size?`,
    );
  }
  if (t.shape.join(",") !== v.shape.join(",")) {
    throw new Error(`Checkpoint tensor "${name}" has shape [${t.shape}], expected [${v.shape}]`);
  }
  v.assign(tf.tensor(t.data, t.shape));
}
