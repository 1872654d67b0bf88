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
  /** The backend in use. */
  readonly name: "wasm" | "cpu" | "webgpu";
  /** Why it was chosen. */
  readonly reason: string;
  /** Something the user should know about the choice (a forced WebGPU on a software adapter). */
  readonly warning?: string;
}

/**
 * Whether this Linux machine has no GPU device node at all (no `/dev/dri/renderD*`, no NVIDIA
 * or WSL device). Then `auto` does not ask Deno for an adapter: the answer could only be a
 * software one, which `auto` rejects anyway, and asking loads Mesa's GL driver into the process
 * (its teardown at exit once aborted a test run with a glibc heap error). Other systems, or a
 * `/dev` we may not read, are probed as before.
 */
function noGpuDevice(): boolean {
  if (Deno.build.os !== "linux") return false;
  try {
    for (const dev of ["/dev/nvidia0", "/dev/dxg"]) {
      try {
        Deno.statSync(dev);
        return false;
      } catch (err) {
        if (!(err instanceof Deno.errors.NotFound)) throw err;
      }
    }
    try {
      for (const e of Deno.readDirSync("/dev/dri")) if (e.name.startsWith("renderD")) return false;
    } catch (err) {
      if (!(err instanceof Deno.errors.NotFound)) throw err;
    }
    return true;
  } catch {
    return false; // no permission to look: probe
  }
}

async function gpuAdapter(
  probe = false,
): Promise<{ fallback: boolean; description: string } | null> {
  const gpu = (globalThis.navigator as { gpu?: any } | undefined)?.gpu;
  if (!gpu || (!probe && noGpuDevice())) return null;
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
      reason = a
        ? `only a software GPU adapter (${a.description}): using wasm`
        : noGpuDevice()
        ? "no GPU device on this machine"
        : "no GPU adapter";
    }
  } else name = choice;
  let warning: string | undefined;
  if (choice === "webgpu") {
    // asked for: look even without a GPU device node (Mesa's llvmpipe answers then)
    const a = await gpuAdapter(true);
    if (a?.fallback || noGpuDevice()) {
      warning =
        `--backend webgpu runs on a software adapter (${
          a?.description ?? "no GPU device on this machine"
        }), which is ` +
        "tens of times slower than --backend wasm here; it is meant for testing, not training";
    }
  }
  if (name === "webgpu") {
    await import("npm:@tensorflow/tfjs-backend-webgpu@4.22.0");
  }
  if (tf.getBackend() === name) return { name, reason, warning };
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
  if (choice === "auto" && name === "webgpu") { // measured, not assumed (core/fused/measure.ts)
    const { policyStepMs } = await import("./fused/measure.ts");
    const ms = await policyStepMs();
    const figures = `a policy training step took ${ms.tfjs.toFixed(1)} ms on WebGPU and ${
      ms.fused.toFixed(1)
    } ms on the fused kernels`;
    if (ms.fused < ms.tfjs) {
      await tf.setBackend("wasm");
      await tf.ready();
      return {
        name: "wasm",
        reason: `${reason}, but ${figures}: using wasm and the fused kernels`,
      };
    }
    reason = `${reason}; ${figures}`;
  }
  return { name, reason, warning };
}
