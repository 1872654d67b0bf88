/**
 * Action spaces: {@link Discrete} (n choices) and {@link Box} (a real vector with bounds).
 *
 * @module
 */

/** A choice among `n` actions, encoded for other agents as a one-hot vector of length n. */
export interface Discrete {
  /** Discriminant. */
  readonly kind: "discrete";
  /** Number of actions. */
  readonly n: number;
}

/** A real vector of `dim` components with per-component bounds. */
export interface Box {
  /** Discriminant. */
  readonly kind: "box";
  /** Number of components. */
  readonly dim: number;
  /** Lower bound of every component. */
  readonly low: number;
  /** Upper bound of every component. */
  readonly high: number;
}

/** Any action space. */
export type Space = Discrete | Box;

/** Returns a discrete space with n actions. */
export function discrete(n: number): Discrete {
  if (!Number.isInteger(n) || n < 1) {
    throw new Error(`Cannot build Discrete space as n must be a positive integer: current ${n}`);
  }
  return { kind: "discrete", n };
}

/** Returns a box space of `dim` components in [low, high]. */
export function box(dim: number, low = -1, high = 1): Box {
  if (!Number.isInteger(dim) || dim < 1) {
    throw new Error(`Cannot build Box space as dim must be a positive integer: current ${dim}`);
  }
  if (!(low < high)) throw new Error(`Cannot build Box space as low < high fails: ${low}, ${high}`);
  return { kind: "box", dim, low, high };
}

/**
 * The length of an action's vector encoding: n for discrete (one-hot), dim for a box.
 * @param s the space
 * @returns its vector length
 */
export function actionVecDim(s: Space): number {
  return s.kind === "discrete" ? s.n : s.dim;
}
