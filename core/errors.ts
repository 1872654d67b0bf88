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
    const path = i.path.length ? i.path.join(".") : "(root)";
    const extra = i.code === "unrecognized_keys"
      ? ` (${(i as { keys: string[] }).keys.join(", ")})`
      : "";
    return `${path}: ${i.message}${extra}`;
  }).join("; ");
}
