/**
 * Registries of environments and algorithms. A registry is data: one `register` call per
 * entry, lookup by key, and `list()` for discovery (`deno task train --list`).
 *
 * @module
 */
import { nearest, plural } from "./text.ts";
import { z } from "./deps.ts";
import type { EnvSpec, VecEnv } from "./vec_env.ts";
import { formatZodError } from "./errors.ts";
import type { AlgoEntry } from "./algorithm.ts";

/** How an environment is built: options are already validated by the entry's schema. */
export interface EnvContext {
  /** Number of parallel environments E. */
  readonly numEnvs: number;
}

/** One registered environment. */
export interface EnvEntry<S extends z.ZodType = z.ZodType> {
  /** `family/name`, for example `matrix/climbing`. */
  readonly id: string;
  /** One line for listings. */
  readonly description: string;
  /** Schema of the env's options (`--env-opt key=value`), with defaults and descriptions. */
  readonly options: S;
  /** JSON Schema of the options, when `options` cannot describe itself (sandboxed plugins). */
  readonly jsonSchema?: unknown;
  /** Builds the batched env. */
  create(options: z.infer<S>, ctx: EnvContext): VecEnv | Promise<VecEnv>;
}

const ID = /^[a-z0-9_.-]+\/[A-Za-z0-9_.-]+$/;

/**
 * A table of entries keyed by a name: one `register` call per entry, lookup by key with an
 * error that lists the known keys, and `list()` for discovery. Serves envs and algorithms.
 */
export class Registry<T> {
  readonly #entries = new Map<string, T>();

  /**
   * Creates it.
   * @param noun what an entry is, for messages (`env`, `algorithm`)
   * @param keyOf an entry's key
   */
  constructor(readonly noun: string, readonly keyOf: (e: T) => string) {}

  /**
   * Adds an entry; throws on a duplicate key.
   * @param entry the entry
   */
  register(entry: T): void {
    const key = this.keyOf(entry);
    if (this.#entries.has(key)) {
      throw new Error(`Cannot register ${this.noun} "${key}": it is already registered`);
    }
    this.#entries.set(key, entry);
  }

  /** Returns the entry for `key`, or throws naming the known keys. */
  get(key: string): T {
    const e = this.#entries.get(key);
    if (!e) throw new Error(this.unknown(key));
    return e;
  }

  /** The one-line error for a key that is not registered: the nearest names, or what exists. */
  unknown(key: string): string {
    const keys = [...this.#entries.keys()];
    const near = nearest(key, keys);
    if (near.length) {
      return `Unknown ${this.noun} "${key}": did you mean ${near.join(" or ")}? (--list shows all ${
        plural(keys.length, this.noun)
      })`;
    }
    const family = key.includes("/") ? key.slice(0, key.indexOf("/") + 1) : null;
    const same = family ? keys.filter((k) => k.startsWith(family)) : [];
    if (same.length) {
      return `Unknown ${this.noun} "${key}": the ${family!.slice(0, -1)} family has ${
        same.join(", ")
      }`;
    }
    const families = [...new Set(keys.map((k) => k.includes("/") ? k.split("/")[0] + "/*" : k))];
    return `Unknown ${this.noun} "${key}": known ${this.noun}s are ${
      families.join(", ")
    } (--list shows all ${plural(keys.length, this.noun)})`;
  }

  /** Returns whether `key` is registered. */
  has(key: string): boolean {
    return this.#entries.has(key);
  }

  /** Returns every entry, in registration order. */
  list(): T[] {
    return [...this.#entries.values()];
  }
}

/** Algorithms by name. */
export class AlgoRegistry extends Registry<AlgoEntry<any>> {
  constructor() {
    super("algorithm", (e) => e.name);
  }
}

/** Environments by `family/name` id. */
export class EnvRegistry extends Registry<EnvEntry<any>> {
  constructor() {
    super("env", (e) => e.id);
  }

  /**
   * Adds an entry; throws on a malformed or duplicate id.
   * @param entry the env
   */
  override register(entry: EnvEntry<any>): void {
    if (!ID.test(entry.id)) {
      throw new Error(
        `Cannot register env as id "${entry.id}" is not of the form family/name (lowercase family)`,
      );
    }
    super.register(entry);
  }

  /** Returns every entry, sorted by id. */
  override list(): EnvEntry[] {
    return super.list().sort((a, b) => a.id.localeCompare(b.id));
  }

  /**
   * Validates options and builds the env.
   * @param id the env id
   * @param ctx options (raw, validated here) and the number of envs
   * @returns the env
   */
  async make(
    id: string,
    ctx: { options?: Record<string, unknown> } & EnvContext,
  ): Promise<VecEnv> {
    return await makeEnv(this.get(id), ctx);
  }
}

/**
 * Validates options and builds an env from its entry.
 * @param entry the env's entry
 * @param ctx options (raw, validated here) and the number of envs
 * @returns the env
 */
export async function makeEnv(
  entry: EnvEntry,
  ctx: { options?: Record<string, unknown> } & EnvContext,
): Promise<VecEnv> {
  const { options, ...rest } = ctx;
  const env = await entry.create(
    parseOptions(entry.options, options ?? {}, `env ${entry.id}`),
    rest,
  );
  const spec = envSpecSchema.safeParse(env.spec);
  if (!spec.success || env.numEnvs !== ctx.numEnvs) {
    await env.close();
    throw new Error(
      `Env ${entry.id} reported an unusable spec: ${
        spec.success
          ? `numEnvs ${env.numEnvs}, asked for ${ctx.numEnvs}`
          : formatZodError(spec.error)
      }`,
    );
  }
  return env;
}

const big = 1 << 20;
/** Sane bounds of an env spec: a bad spec fails when the env is made, not as runaway memory. */
export const envSpecSchema: z.ZodType<EnvSpec> = z.looseObject({
  numAgents: z.int().min(1).max(4096),
  obsDim: z.int().min(1).max(big),
  stateDim: z.int().min(1).max(big),
  actionSpace: z.union([
    z.looseObject({ kind: z.literal("discrete"), n: z.int().min(1).max(1 << 16) }),
    z.looseObject({
      kind: z.literal("box"),
      dim: z.int().min(1).max(1 << 16),
      low: z.number(),
      high: z.number(),
    }),
  ]),
  episodeLimit: z.int().min(1).max(1e8),
  optimalReturn: z.number().optional(),
  agentObsDims: z.array(z.int().min(1)).optional(),
  agentActions: z.array(z.int().min(1)).optional(),
}).superRefine((s, ctx) => {
  const per = (key: "agentObsDims" | "agentActions", max: number, what: string) => {
    const v = s[key];
    if (!v) return;
    if (v.length !== s.numAgents) {
      ctx.addIssue({
        code: "custom",
        path: [key],
        message: `needs one entry per agent (${s.numAgents})`,
      });
    } else if (v.some((d) => d > max)) {
      ctx.addIssue({
        code: "custom",
        path: [key],
        message: `each entry is at most ${what} (${max})`,
      });
    }
  };
  per("agentObsDims", s.obsDim, "obsDim");
  if (s.agentActions && s.actionSpace.kind !== "discrete") {
    ctx.addIssue({
      code: "custom",
      path: ["agentActions"],
      message: "only for discrete action spaces",
    });
  } else if (s.actionSpace.kind === "discrete") {
    per("agentActions", s.actionSpace.n, "the action count");
  }
}) as unknown as z.ZodType<EnvSpec>;

/**
 * Parses options against a schema, turning zod issues into one readable error.
 * @param schema the options schema
 * @param raw the raw options
 * @param what names the owner in the message, e.g. `env matrix/penalty`
 * @returns the parsed options
 */
export function parseOptions<S extends z.ZodType>(
  schema: S,
  raw: Record<string, unknown>,
  what: string,
): z.infer<S> {
  const r = schema.safeParse(raw);
  if (!r.success) {
    const shape = (schema as unknown as { shape?: Record<string, unknown> }).shape;
    const names = shape ? Object.keys(shape) : [];
    const unknown = r.error.issues.flatMap((i) =>
      i.code === "unrecognized_keys" ? (i as { keys: string[] }).keys : []
    );
    const near = unknown.flatMap((k) => nearest(k, names, 1));
    const allowed = shape
      ? ` (${near.length ? `did you mean ${near.join(", ")}? ` : ""}allowed options: ${
        names.join(", ") || "none"
      })`
      : "";
    throw new Error(`Invalid options for ${what}: ${formatZodError(r.error)}${allowed}`);
  }
  return r.data;
}
