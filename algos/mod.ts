/**
 * The built-in algorithms and their registry.
 *
 * @module
 */
import type { AlgoEntry } from "../core/algorithm.ts";
import { armappoEntry, ippoEntry, mappoEntry } from "./mappo.ts";
import { bppoEntry, happoEntry } from "./bppo.ts";

export { Mappo } from "./mappo.ts";
export { Bppo, bppoOptions, happoOptions, sg, trainAction } from "./bppo.ts";

/** Algorithms by name. */
export class AlgoRegistry {
  readonly #entries = new Map<string, AlgoEntry<any>>();

  /** Adds an algorithm; throws on duplicates. */
  register(e: AlgoEntry<any>): void {
    if (this.#entries.has(e.name)) throw new Error(`Algorithm "${e.name}" is already registered`);
    this.#entries.set(e.name, e);
  }

  /** @returns the entry, or throws naming the known algorithms */
  get(name: string): AlgoEntry<any> {
    const e = this.#entries.get(name);
    if (!e) {
      throw new Error(
        `Unknown algorithm "${name}": known algorithms are ${[...this.#entries.keys()].join(", ")}`,
      );
    }
    return e;
  }

  /** @returns every entry */
  list(): AlgoEntry<any>[] {
    return [...this.#entries.values()];
  }
}

/** @returns a registry with the built-in algorithms */
export function defaultAlgoRegistry(): AlgoRegistry {
  const r = new AlgoRegistry();
  for (const e of [bppoEntry, mappoEntry, ippoEntry, armappoEntry, happoEntry]) r.register(e);
  return r;
}
