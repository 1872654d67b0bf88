/**
 * Choosing the tfjs backend. `auto` picks WebGPU only for a hardware adapter, else wasm
 * (SIMD, from the npm package, offline), else cpu.
 *
 * @module
 */
import { tf } from "./deps.ts";
import "npm:@tensorflow/tfjs-backend-wasm@4.22.0";

/** A backend name accepted by `--backend`. */
export type BackendChoice = "auto" | "wasm" | "cpu" | "webgpu";

/** What was chosen, and why. */
export interface BackendInfo {
  readonly name: "wasm" | "cpu" | "webgpu";
  readonly reason: string;
}

async function gpuAdapter(): Promise<{ fallback: boolean; description: string } | null> {
  const gpu = (globalThis.navigator as { gpu?: any } | undefined)?.gpu;
  if (!gpu) return null;
  try {
    const a = await gpu.requestAdapter();
    if (!a) return null;
    const info = a.info ?? {};
    return {
      fallback: Boolean(info.isFallbackAdapter ?? a.isFallbackAdapter),
      description: String(info.description || info.vendor || "unknown adapter"),
    };
  } catch {
    return null;
  }
}

/**
 * Initialises a tfjs backend.
 * @param choice `auto`, `wasm`, `cpu` or `webgpu`
 * @returns the backend in use and why it was chosen
 */
export async function initBackend(choice: BackendChoice = "auto"): Promise<BackendInfo> {
  tf.enableProdMode();
  let name: BackendInfo["name"] = "wasm";
  let reason = "requested";
  if (choice === "auto") {
    const a = await gpuAdapter();
    if (a && !a.fallback) {
      name = "webgpu";
      reason = `hardware GPU adapter: ${a.description}`;
    } else {
      reason = a ? `only a software GPU adapter (${a.description}): using wasm` : "no GPU adapter";
    }
  } else name = choice;
  if (name === "webgpu") {
    await import("npm:@tensorflow/tfjs-backend-webgpu@4.22.0");
  }
  if (tf.getBackend() === name) return { name, reason };
  let ok = false;
  try {
    ok = await tf.setBackend(name);
  } catch (err) {
    reason = `${reason}; ${(err as Error).message}`;
  }
  if (!ok) {
    if (choice !== "auto") {
      throw new Error(
        `Cannot initialise tfjs backend "${name}" (${reason}): try --backend wasm or --backend cpu`,
      );
    }
    name = "cpu";
    reason = `${reason}; wasm failed to initialise, using cpu`;
    if (!(await tf.setBackend("cpu"))) throw new Error("Cannot initialise any tfjs backend");
  }
  await tf.ready();
  return { name, reason };
}
