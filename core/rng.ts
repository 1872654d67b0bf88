/**
 * A small, fast, seedable random number generator (sfc32 seeded through splitmix32).
 * Every stochastic function in Baton takes an explicit {@link Rng}; there is no global RNG,
 * so the same seed gives the same run.
 *
 * @module
 */

function splitmix32(state: number): [number, number] {
  state = (state + 0x9e3779b9) | 0;
  let z = state;
  z = Math.imul(z ^ (z >>> 16), 0x85ebca6b);
  z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35);
  return [state, (z ^ (z >>> 16)) >>> 0];
}

/** The serialisable state of an {@link Rng}. */
export type RngState = [number, number, number, number];

/**
 * Seeded pseudo-random numbers: uniform, integers, normal and Gumbel draws.
 *
 * @example Same seed, same numbers
 * ```ts
 * import { Rng } from "./rng.ts";
 * import assert from "node:assert/strict";
 * assert.equal(new Rng(7).uniform(), new Rng(7).uniform());
 * ```
 */
export class Rng {
  #a = 0;
  #b = 0;
  #c = 0;
  #d = 0;
  #spare: number | null = null;

  /**
   * Creates it.
   * @param seed any integer; different seeds give independent-looking streams
   */
  constructor(seed: number) {
    let s = seed | 0;
    const out: number[] = [];
    for (let i = 0; i < 4; i++) {
      const [ns, v] = splitmix32(s);
      s = ns;
      out.push(v);
    }
    [this.#a, this.#b, this.#c, this.#d] = out as RngState;
    for (let i = 0; i < 12; i++) this.nextUint32();
  }

  /** Returns a uniformly distributed unsigned 32-bit integer. */
  nextUint32(): number {
    const t = (((this.#a + this.#b) | 0) + this.#d) | 0;
    this.#d = (this.#d + 1) | 0;
    this.#a = this.#b ^ (this.#b >>> 9);
    this.#b = (this.#c + (this.#c << 3)) | 0;
    this.#c = (this.#c << 21) | (this.#c >>> 11);
    this.#c = (this.#c + t) | 0;
    return t >>> 0;
  }

  /** Returns a float in [0, 1). */
  uniform(): number {
    return this.nextUint32() / 4294967296;
  }

  /** Returns an integer in [0, n). */
  int(n: number): number {
    return Math.floor(this.uniform() * n);
  }

  /** Returns a standard normal draw (Box-Muller, the spare is kept). */
  normal(): number {
    if (this.#spare !== null) {
      const s = this.#spare;
      this.#spare = null;
      return s;
    }
    let u = 0;
    while (u === 0) u = this.uniform();
    const v = this.uniform();
    const r = Math.sqrt(-2 * Math.log(u));
    this.#spare = r * Math.sin(2 * Math.PI * v);
    return r * Math.cos(2 * Math.PI * v);
  }

  /** Returns a standard Gumbel draw, -log(-log(u)). */
  gumbel(): number {
    let u = 0;
    while (u === 0) u = this.uniform();
    return -Math.log(-Math.log(u));
  }

  /** Returns a random permutation of 0..n-1 (Fisher-Yates). */
  permutation(n: number): Int32Array {
    const p = new Int32Array(n);
    for (let i = 0; i < n; i++) p[i] = i;
    for (let i = n - 1; i > 0; i--) {
      const j = this.int(i + 1);
      const t = p[i]!;
      p[i] = p[j]!;
      p[j] = t;
    }
    return p;
  }

  /** Returns a new generator seeded from this one's stream (for sub-components). */
  fork(): Rng {
    return new Rng(this.nextUint32() | 0);
  }

  /** Returns the state, for checkpoints. */
  getState(): RngState {
    this.#spare = null;
    return [this.#a, this.#b, this.#c, this.#d];
  }

  /** Restores a state from {@link getState}. */
  setState(s: RngState): void {
    [this.#a, this.#b, this.#c, this.#d] = s;
    this.#spare = null;
  }

  /**
   * The whole stream position, the cached second normal draw included: a stream handed to
   * another process and back with it continues exactly as if it had never left (unlike
   * {@link getState}, which drops the cached draw).
   */
  getStreamState(): RngStreamState {
    return { state: [this.#a, this.#b, this.#c, this.#d], spare: this.#spare };
  }

  /** Restores a position from {@link getStreamState}. */
  setStreamState(s: RngStreamState): void {
    [this.#a, this.#b, this.#c, this.#d] = s.state;
    this.#spare = s.spare;
  }
}

/** An {@link Rng}'s exact stream position (see {@link Rng.getStreamState}). */
export interface RngStreamState {
  /** The generator's four words. */
  state: RngState;
  /** The cached normal draw, or null. */
  spare: number | null;
}
