/**
 * Array helpers for data-sized arrays. A spread into a call (`xs.push(...ys)`,
 * `Math.max(...ys)`) passes every element as an argument on the stack and throws
 * `RangeError: Maximum call stack size exceeded` past ~100k elements; these loop instead.
 * Use them wherever the length comes from data (episodes, steps, envs), never a spread.
 *
 * @module
 */

/**
 * Appends every element of `src` to `dst` (as `dst.push(...src)`, without the stack limit).
 * @param dst the array to grow
 * @param src what to append
 * @returns dst
 */
export function appendAll<T>(dst: T[], src: ArrayLike<T>): T[] {
  for (let i = 0; i < src.length; i++) dst.push(src[i]!);
  return dst;
}

/**
 * The largest element (as `Math.max(...xs)`, without the stack limit): -Infinity when empty,
 * NaN when any element is NaN.
 * @param xs numbers
 * @returns the maximum
 */
export function maxOf(xs: ArrayLike<number>): number {
  let m = -Infinity;
  for (let i = 0; i < xs.length; i++) {
    const x = xs[i]!;
    if (Number.isNaN(x)) return NaN;
    if (x > m) m = x;
  }
  return m;
}

/**
 * The smallest element (as `Math.min(...xs)`, without the stack limit): Infinity when empty,
 * NaN when any element is NaN.
 * @param xs numbers
 * @returns the minimum
 */
export function minOf(xs: ArrayLike<number>): number {
  let m = Infinity;
  for (let i = 0; i < xs.length; i++) {
    const x = xs[i]!;
    if (Number.isNaN(x)) return NaN;
    if (x < m) m = x;
  }
  return m;
}
