import { pathToFileURL } from "node:url";

/** @returns the file URL of an absolute path */
export function toFileUrl(path: string): string {
  return pathToFileURL(path).href;
}
