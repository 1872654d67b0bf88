/**
 * Baton's core third-party packages (tfjs and zod), with fully specified `npm:` specifiers so
 * that the module also works when imported from a URL (a remote module does not see the local
 * import map). The same versions are pinned in `deno.json`'s import map; the tfjs backends
 * are imported in `core/backend.ts` and mujoco-js in `envs/mamujoco/mamujoco.ts`, each with
 * its full specifier for the same reason. Change a version in all of those places at once.
 *
 * @module
 */
/** tfjs, the tensor and autodiff library Baton runs on. */
export * as tf from "npm:@tensorflow/tfjs@4.22.0";
/** zod, the schema library every config and message is validated with. */
export { z } from "npm:zod@4.6.7";
/** The tfjs tensor types that Baton's public signatures name. */
export type {
  Scalar,
  Tensor,
  Tensor1D,
  Tensor2D,
  Tensor3D,
  Variable,
} from "npm:@tensorflow/tfjs@4.22.0";
/** The zod types that Baton's public signatures name. */
export type { ZodType } from "npm:zod@4.6.7";
/** zod's output type, what `z.infer` names in Baton's option and config types. */
export type { output } from "npm:zod@4.6.7/v4/core";
