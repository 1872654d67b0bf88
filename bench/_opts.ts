/**
 * The flags every benchmark file receives from `bench/bench.ts`.
 *
 * @module
 */

/** Shared bench flags. */
export interface BenchOptions {
  /** Fewer iterations and shorter windows. */
  readonly quick: boolean;
  /** Algorithms for the end-to-end table (null = all). */
  readonly algos: string[] | null;
}
