/**
 * Registries of environments and algorithms. A registry is data: one `register` call per
 * entry, lookup by id, and `list()` for discovery (`deno task train --list`).
 *
 * @module
 */
import type { z } from "./deps.ts";
import type { VecEnv } from "./vec_env.ts";
import { formatZodError } from "./errors.ts";

/** How an environment is built: options are already validated by the entry's schema. */
export interface EnvContext {
  /** Number of parallel environments E. */
  readonly numEnvs: number;
  /** Python interpreter for subprocess bridges (`--python`, default python3). */
  readonly python?: string;
  /** Child processes a bridge spreads the E envs over (`--bridge-workers`, default 1). */
  readonly bridgeWorkers?: number;
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

/** A table of environments keyed by id. */
export class EnvRegistry {
  readonly #entries = new Map<string, EnvEntry>();

  /**
   * Adds an entry; throws on a malformed or duplicate id.
   * @param entry the env
   */
  register(entry: EnvEntry<any>): void {
    if (!ID.test(entry.id)) {
      throw new Error(
        `Cannot register env as id "${entry.id}" is not of the form family/name (lowercase family)`,
      );
    }
    if (this.#entries.has(entry.id)) {
      throw new Error(`Cannot register env as id "${entry.id}" is already registered`);
    }
    this.#entries.set(entry.id, entry);
  }

  /** @returns the entry for `id`, or throws naming the known ids */
  get(id: string): EnvEntry {
    const e = this.#entries.get(id);
    if (!e) {
      throw new Error(
        `Unknown env "${id}": known envs are ${[...this.#entries.keys()].join(", ")}`,
      );
    }
    return e;
  }

  /** @returns whether `id` is registered */
  has(id: string): boolean {
    return this.#entries.has(id);
  }

  /** @returns every entry, sorted by id */
  list(): EnvEntry[] {
    return [...this.#entries.values()].sort((a, b) => a.id.localeCompare(b.id));
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
    const entry = this.get(id);
    const { options, ...rest } = ctx;
    return await entry.create(parseOptions(entry.options, options ?? {}, `env ${id}`), rest);
  }
}

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
    const allowed = shape ? ` (allowed options: ${Object.keys(shape).join(", ") || "none"})` : "";
    throw new Error(`Invalid options for ${what}: ${formatZodError(r.error)}${allowed}`);
  }
  return r.data;
}
