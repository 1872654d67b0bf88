/**
 * What crosses Redis between the learner and its rollout workers: key names, the run
 * description, tasks, parameters and trajectory chunks, each validated with zod on arrival
 * (docs/distributed.md has the picture).
 *
 * Keys of run `r` (all under `baton:r:`):
 * - `config`: the run description ({@link runInfo}), JSON;
 * - `current`: the parameter version workers should act with;
 * - `params:<version>`: that version's parameters ({@link encodeParams});
 * - `tasks`: stream of chunk tasks ({@link task}), consumer group `workers`;
 * - `chunks`: stream of trajectory chunks ({@link encodeChunk}), consumer group `learner`.
 *
 * @module
 */
import { z } from "../core/deps.ts";
import type { AlgoState } from "../core/algorithm.ts";
import type { EnvSpec } from "../core/vec_env.ts";
import { actionVecDim } from "../core/spaces.ts";
import type { RolloutBuffers } from "../core/rollout.ts";

/** The protocol's name and version, checked on both sides. */
export const FORMAT = "baton-rollout/2";

/** The Redis keys of one run (see the module's list). */
export interface RunKeys {
  /** The run description. */
  readonly config: string;
  /** The current parameter version. */
  readonly current: string;
  /** A version's parameters. */
  readonly params: (version: string) => string;
  /** The task stream. */
  readonly tasks: string;
  /** The chunk stream. */
  readonly chunks: string;
  /** The learner's lease: its nonce, expiring unless renewed (one learner per run). */
  readonly learner: string;
}

/**
 * The Redis keys of one run.
 * @param run the run's namespace
 * @returns its keys
 */
export function keys(run: string): RunKeys {
  const p = `baton:${run}:`;
  return {
    config: p + "config",
    current: p + "current",
    params: (version: string) => p + "params:" + version,
    tasks: p + "tasks",
    chunks: p + "chunks",
    learner: p + "learner",
  };
}

/** The consumer group of the task stream (every worker) and of the chunk stream (the learner). */
export const GROUPS = { tasks: "workers", chunks: "learner" } as const;

const version = z.string().regex(/^[0-9a-f]{16}\.[0-9]{1,9}$/, "nonce.iteration");
const i32 = z.int().min(-0x80000000).max(0x7fffffff);
const rngStream = z.strictObject({
  state: z.tuple([i32, i32, i32, i32]),
  spare: z.number().nullable(),
});

/** An env spec as the learner saw it: a worker's env must match it. */
const specInfo = z.strictObject({
  numAgents: z.int().positive(),
  obsDim: z.int().positive(),
  stateDim: z.int().positive(),
  actionKind: z.enum(["discrete", "box"]),
  actionDim: z.int().positive(),
});

/** The run description the learner publishes at `config`. */
export const runInfo = z.strictObject({
  format: z.literal(FORMAT),
  env: z.string().min(1).max(200),
  envOptions: z.record(z.string(), z.unknown()),
  algo: z.string().min(1).max(100),
  algoOptions: z.record(z.string(), z.unknown()),
  /** Where the learner's algorithm acts (`--kernels` resolved): workers act the same way. */
  kernels: z.enum(["tfjs", "fused"]),
  seed: z.int().min(0),
  rolloutLength: z.int().positive().max(100_000),
  chunkEnvs: z.int().positive().max(100_000),
  chunks: z.int().positive().max(10_000),
  claimSeconds: z.number().positive(),
  plugins: z.array(z.string()),
  spec: specInfo,
});
/** See {@link runInfo}. */
export type RunInfo = z.infer<typeof runInfo>;

/**
 * The spec summary a worker compares with the learner's.
 * @param spec an env spec
 * @returns its dimensions
 */
export function specOf(spec: EnvSpec): RunInfo["spec"] {
  return {
    numAgents: spec.numAgents,
    obsDim: spec.obsDim,
    stateDim: spec.stateDim,
    actionKind: spec.actionSpace.kind,
    actionDim: actionVecDim(spec.actionSpace),
  };
}

/** One task: collect chunk `chunk` of `iteration` with parameters `version`. */
export const task = z.strictObject({
  version,
  iteration: z.int().positive(),
  chunk: z.int().min(0),
  /** The learner's acting stream before `beginIteration` (every chunk draws the same order). */
  before: rngStream,
  /** Collected ahead (`--rollout-lag 1`): chunk 0 acts with its own stream too. */
  ahead: z.boolean().default(false),
});
/** See {@link task}. */
export type Task = z.infer<typeof task>;

/** The acting seed of chunk `c > 0` (chunk 0 continues the learner's own stream). */
export function chunkSeed(seed: number, iteration: number, chunk: number): number {
  return (seed * 1_000_003 + iteration * 7_919 + chunk * 104_729) % 2_147_483_647;
}

/** The stream of `beginIteration` for an iteration collected ahead (`--rollout-lag 1`). */
export function orderSeed(seed: number, iteration: number): number {
  return (seed * 7_919 + iteration * 1_000_003 + 65_537) % 2_147_483_647;
}

/** The env seed a worker resets its envs with when a run's first task reaches it. */
export function envSeed(seed: number, iteration: number, chunk: number): number {
  // chunk 0 of the first iteration matches the in-process trainer's reset seed
  return (seed * 100_003 + (iteration - 1) + chunk * 15_485_863) % 2_147_483_647;
}

// ---------------------------------------------------------------- parameters

const paramsHeader = z.strictObject({
  format: z.literal(FORMAT),
  version,
  tensors: z.array(z.strictObject({
    name: z.string().max(200),
    shape: z.array(z.int().min(0)),
    offset: z.int().min(0),
  })).max(10_000),
  extra: z.record(z.string(), z.unknown()),
});

/**
 * Packs an algorithm state as `[u32 header length][header JSON, padded to 4 bytes][float32s]`.
 * @param v the parameter version
 * @param s the state
 * @returns the bytes
 */
export function encodeParams(v: string, s: AlgoState): Uint8Array {
  let offset = 0;
  const tensors = Object.entries(s.tensors).map(([name, t]) => {
    const e = { name, shape: t.shape, offset };
    offset += t.data.length;
    return e;
  });
  const head = new TextEncoder().encode(
    JSON.stringify({ format: FORMAT, version: v, tensors, extra: s.extra }),
  );
  const pad = (4 - ((4 + head.length) % 4)) % 4;
  const start = 4 + head.length + pad;
  const out = new Uint8Array(start + offset * 4);
  new DataView(out.buffer).setUint32(0, head.length, true);
  out.set(head, 4);
  const data = new Float32Array(out.buffer, start, offset);
  Object.values(s.tensors).forEach((t, k) => data.set(t.data, tensors[k]!.offset));
  return out;
}

/**
 * Unpacks and checks {@link encodeParams} bytes.
 * @param bytes what Redis returned
 * @param want the version the task named
 * @returns the state
 * @throws Error naming what is wrong
 */
export function decodeParams(bytes: Uint8Array, want: string): AlgoState {
  if (bytes.length < 4) throw new Error("parameters: shorter than their header");
  const len = new DataView(bytes.buffer, bytes.byteOffset, 4).getUint32(0, true);
  if (4 + len > bytes.length) throw new Error("parameters: header length past the end");
  const raw = JSON.parse(new TextDecoder().decode(bytes.subarray(4, 4 + len)));
  const h = paramsHeader.parse(raw);
  if (h.version !== want) throw new Error(`parameters: version ${h.version}, task wants ${want}`);
  const start = 4 + len + ((4 - ((4 + len) % 4)) % 4);
  const count = (bytes.length - start) / 4;
  if (!Number.isInteger(count)) throw new Error("parameters: data is not whole float32s");
  const data = new Float32Array(count);
  new Uint8Array(data.buffer).set(bytes.subarray(start));
  const tensors: AlgoState["tensors"] = {};
  for (const t of h.tensors) {
    const size = t.shape.reduce((a, b) => a * b, 1);
    if (t.offset + size > count) throw new Error(`parameters: tensor ${t.name} past the end`);
    const d = data.slice(t.offset, t.offset + size);
    for (let i = 0; i < d.length; i++) {
      if (!Number.isFinite(d[i]!)) throw new Error(`parameters: tensor ${t.name} not finite`);
    }
    tensors[t.name] = { shape: t.shape, data: d };
  }
  return { tensors, extra: h.extra };
}

// ---------------------------------------------------------------- chunks

const chunkHeader = z.strictObject({
  format: z.literal(FORMAT),
  version,
  iteration: z.int().positive(),
  chunk: z.int().min(0),
  worker: z.string().max(200),
  T: z.int().positive(),
  E: z.int().positive(),
  episodeReturns: z.array(z.number()).max(10_000_000),
  wins: z.array(z.union([z.literal(0), z.literal(1)])).max(10_000_000),
  rng: rngStream,
  noise: z.boolean(),
  memory: z.int().min(0),
});
type ChunkHeader = z.infer<typeof chunkHeader>;

/**
 * The largest magnitude each float field of a chunk may hold (docs/distributed.md): finite but
 * extreme values (3e38 rewards) would otherwise pass and wreck the value normalisation.
 */
export const FIELD_BOUNDS: Readonly<Record<string, number>> = {
  obs: 1e9,
  state: 1e9,
  actionVecs: 1e6,
  logp: 1e4,
  values: 1e9,
  rewards: 1e6,
  noise: 1e3,
  memory: 1e3,
  lastValues: 1e9,
  episodeReturns: 1e12,
};

/** A decoded, checked chunk: `T` steps of `E` envs. */
export interface Chunk {
  /** Its header. */
  readonly head: ChunkHeader;
  /** The arrays by field name (as typed arrays of the rollout's types). */
  readonly fields: Record<string, Float32Array | Int32Array | Uint8Array>;
}

/** The rollout fields a chunk carries, with their element type and per-(step, env) width. */
function layout(spec: RunInfo["spec"], head: { noise: boolean; memory: number }) {
  const { numAgents: n, obsDim, stateDim, actionKind, actionDim: A } = spec;
  const disc = actionKind === "discrete";
  const f: [string, "f32" | "i32" | "u8", number][] = [
    ["obs", "f32", n * obsDim],
    ["state", "f32", stateDim],
    ["actions", disc ? "i32" : "f32", disc ? n : n * A],
    ["actionVecs", "f32", n * A],
    ["logp", "f32", n],
    ["values", "f32", n],
    ["rewards", "f32", 1],
    ["dones", "u8", 1],
  ];
  if (disc) f.push(["avail", "u8", n * A]);
  if (head.noise) f.push(["noise", "f32", n * A]);
  if (head.memory) f.push(["memory", "f32", head.memory], ["starts", "u8", 1]);
  return f;
}

/**
 * The stream entry of a collected chunk: a JSON header `h`, each rollout array as bytes, and
 * the bootstrap values `lastValues` (`[E, n]`).
 * @param head the header
 * @param buf the chunk's filled buffers
 * @param lastValues GAE's bootstrap values
 * @param spec the run's spec summary
 * @returns field/value pairs for XADD
 */
export function encodeChunk(
  head: Omit<ChunkHeader, "format" | "noise">,
  buf: RolloutBuffers,
  lastValues: Float32Array,
  spec: RunInfo["spec"],
): (string | Uint8Array)[] {
  const h: ChunkHeader = { format: FORMAT, ...head, noise: buf.noise !== null };
  const out: (string | Uint8Array)[] = ["h", JSON.stringify(h)];
  const bytes = (a: ArrayBufferView) => new Uint8Array(a.buffer, a.byteOffset, a.byteLength);
  for (const [name] of layout(spec, h)) out.push(name, bytes((buf as any)[name]));
  out.push("lastValues", bytes(lastValues));
  return out;
}

function typed(
  kind: "f32" | "i32" | "u8",
  src: Uint8Array,
): Float32Array | Int32Array | Uint8Array {
  const size = kind === "u8" ? 1 : 4;
  const out = kind === "f32"
    ? new Float32Array(src.length / size)
    : kind === "i32"
    ? new Int32Array(src.length / size)
    : new Uint8Array(src.length);
  new Uint8Array(out.buffer).set(src);
  return out;
}

/**
 * Decodes and checks a chunk entry: header schema, every array's length for its `T x E`,
 * finite floats, actions in range, 0/1 flags. Anything else is refused with the reason.
 * @param entry the XREADGROUP field/value list (values as bytes)
 * @param spec the run's spec summary
 * @returns the chunk
 * @throws Error naming the first problem
 */
export function decodeChunk(entry: Uint8Array[], spec: RunInfo["spec"]): Chunk {
  const map = new Map<string, Uint8Array>();
  for (let i = 0; i + 1 < entry.length; i += 2) {
    map.set(new TextDecoder().decode(entry[i]!), entry[i + 1]!);
  }
  const hb = map.get("h");
  if (!hb) throw new Error("no header");
  let raw: unknown;
  try {
    raw = JSON.parse(new TextDecoder().decode(hb));
  } catch {
    throw new Error("header is not JSON");
  }
  const r = chunkHeader.safeParse(raw);
  if (!r.success) {
    throw new Error(`header: ${r.error.issues[0]?.path.join(".")}: ${r.error.issues[0]?.message}`);
  }
  const head = r.data;
  const fields: Chunk["fields"] = {};
  const rows = head.T * head.E;
  for (const [name, kind, width] of [...layout(spec, head), ["lastValues", "f32", 0] as const]) {
    const src = map.get(name);
    const count = name === "lastValues" ? head.E * spec.numAgents : rows * width;
    const size = kind === "u8" ? 1 : 4;
    if (!src || src.length !== count * size) {
      throw new Error(`field ${name}: ${src?.length ?? "no"} bytes, expected ${count * size}`);
    }
    const a = typed(kind, src);
    if (kind === "f32") {
      const bound = FIELD_BOUNDS[name] ?? 1e9;
      for (let i = 0; i < a.length; i++) {
        if (!Number.isFinite(a[i]!)) throw new Error(`field ${name}: not finite at ${i}`);
        if (Math.abs(a[i]!) > bound) {
          throw new Error(`field ${name}: ${a[i]} at ${i} is outside the bound |x| <= ${bound}`);
        }
      }
    } else if (kind === "i32") {
      for (let i = 0; i < a.length; i++) {
        if (a[i]! < 0 || a[i]! >= spec.actionDim) {
          throw new Error(`field ${name}: action ${a[i]} at ${i} outside [0, ${spec.actionDim})`);
        }
      }
    } else if (name === "dones" || name === "starts" || name === "avail") {
      for (let i = 0; i < a.length; i++) {
        if (a[i]! > 1) throw new Error(`field ${name}: ${a[i]} at ${i} is not 0 or 1`);
      }
    }
    fields[name] = a;
  }
  const rb = FIELD_BOUNDS.episodeReturns!;
  head.episodeReturns.forEach((x, i) => {
    if (!Number.isFinite(x)) throw new Error(`field episodeReturns: not finite at ${i}`);
    if (Math.abs(x) > rb) {
      throw new Error(`field episodeReturns: ${x} at ${i} is outside the bound |x| <= ${rb}`);
    }
  });
  return { head, fields };
}

/**
 * Copies chunk `c`'s rows into `buf` at env offset `e0` (the rollout layout is `[T, E, ...]`,
 * so each step's rows go to their own place).
 * @param chunk the decoded chunk
 * @param buf the learner's buffers
 * @param e0 the first env index of this chunk in `buf`
 * @param spec the run's spec summary
 */
export function scatterChunk(
  chunk: Chunk,
  buf: RolloutBuffers,
  e0: number,
  spec: RunInfo["spec"],
): void {
  const { T, E } = chunk.head;
  for (const [name, , width] of layout(spec, chunk.head)) {
    const src = chunk.fields[name]!;
    let dst = (buf as any)[name] as Float32Array | Int32Array | Uint8Array | null;
    if (!dst && name === "noise") dst = buf.noise = new Float32Array(buf.actionVecs.length);
    if (!dst) throw new Error(`the learner's buffers have no ${name}`);
    for (let t = 0; t < T; t++) {
      dst.set(
        src.subarray(t * E * width, (t + 1) * E * width) as any,
        (t * buf.E + e0) * width,
      );
    }
  }
}
