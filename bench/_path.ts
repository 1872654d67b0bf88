import { fileURLToPath } from "node:url";
import { dirname as d } from "node:path";

/** @returns the path of a file URL */
export function fromFileUrl(u: URL): string {
  return fileURLToPath(u);
}

/** @returns the directory of a path */
export function dirname(p: string): string {
  return d(p);
}
