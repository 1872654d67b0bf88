/**
 * Error formatting shared by the CLI, registries and bridges.
 *
 * @module
 */
import type { z } from "./deps.ts";

/**
 * Formats a zod error as one line per issue: the field, what was wrong, the value.
 * @param err the zod error
 * @returns a readable message
 */
export function formatZodError(err: z.ZodError): string {
  return err.issues.map((i) => {
    if (i.code === "unrecognized_keys") {
      const keys = (i as { keys: string[] }).keys;
      const where = i.path.length ? ` in ${i.path.join(".")}` : "";
      return `unknown ${keys.length === 1 ? "key" : "keys"} ${
        keys.map((k) => `"${k}"`).join(", ")
      }${where}`;
    }
    const path = i.path.length ? i.path.join(".") : "(root)";
    return `${path}: ${i.message}`;
  }).join("; ");
}
