/**
 * Small helpers for messages people read: counts with the right plural, and the nearest known
 * name to a mistyped one.
 *
 * @module
 */

/**
 * `1 agent`, `2 agents`, `1,000 env steps`.
 * @param n the count
 * @param one the singular noun
 * @param many the plural (default: the singular with an `s`)
 * @returns the count, grouped in thousands, and the noun
 */
export function plural(n: number, one: string, many: string = `${one}s`): string {
  return `${n.toLocaleString("en-US")} ${n === 1 ? one : many}`;
}

/**
 * Edit distance (insertions, deletions, substitutions and swaps of neighbours count one each).
 * @param a one string
 * @param b the other
 * @returns the optimal string alignment distance
 */
export function editDistance(a: string, b: string): number {
  const d: number[][] = Array.from({ length: a.length + 1 }, (_, i) => [i]);
  for (let j = 1; j <= b.length; j++) d[0]![j] = j;
  for (let i = 1; i <= a.length; i++) {
    for (let j = 1; j <= b.length; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      let v = Math.min(d[i - 1]![j]! + 1, d[i]![j - 1]! + 1, d[i - 1]![j - 1]! + cost);
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) {
        v = Math.min(v, d[i - 2]![j - 2]! + 1);
      }
      d[i]![j] = v;
    }
  }
  return d[a.length]![b.length]!;
}

/**
 * The known names closest to a mistyped one (case-insensitive), best first; none when nothing is
 * close (more than a third of the name, at least 2 edits, would have to change).
 * @param name what was given
 * @param known what exists
 * @param max at most this many suggestions
 * @returns the suggestions
 */
export function nearest(name: string, known: readonly string[], max = 3): string[] {
  const low = name.toLowerCase();
  const scored = known.map((k) => {
    const kl = k.toLowerCase();
    // a name given without its family (`climbing` for `matrix/climbing`) also matches
    const tail = kl.slice(kl.indexOf("/") + 1);
    return { k, d: Math.min(editDistance(low, kl), editDistance(low, tail)) };
  });
  const limit = Math.max(2, Math.floor(name.length / 3));
  return scored.filter((s) => s.d <= limit).sort((a, b) => a.d - b.d).slice(0, max).map((s) => s.k);
}
