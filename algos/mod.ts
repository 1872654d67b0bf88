/**
 * The built-in algorithms and their registry.
 *
 * @module
 */
import { AlgoRegistry } from "../core/registry.ts";
import { armappoEntry, ippoEntry, mappoEntry } from "./mappo.ts";
import { bppoEntry } from "./bppo.ts";
import { happoEntry } from "./happo.ts";
import { matEntry } from "./mat/mat.ts";

export { AlgoRegistry } from "../core/registry.ts";
export { Mappo } from "./mappo.ts";
export {
  Bppo,
  type BppoOptions,
  bppoOptions,
  clipRowNorms,
  paperTrainAction,
  type PeerInputs,
  successorSignal,
  trainAction,
} from "./bppo.ts";
export {
  type ActorTerms,
  clippedProduct,
  SequentialPpo,
  sequentialSurrogate,
} from "./sequential.ts";
export { Happo, type HappoOptions, happoOptions } from "./happo.ts";
export { Mat, matEntry, type MatOptions, matOptions } from "./mat/mat.ts";
export { type MatHead, MatModel, type MatSizes } from "./mat/model.ts";
export type { Attention, DecodeBlock, EncodeBlock } from "../core/transformer.ts";
export * from "./ppo/mod.ts";

/** Returns a registry with the built-in algorithms. */
export function defaultAlgoRegistry(): AlgoRegistry {
  const r = new AlgoRegistry();
  for (const e of [bppoEntry, mappoEntry, ippoEntry, armappoEntry, happoEntry, matEntry]) {
    r.register(e);
  }
  return r;
}
