/**
 * The Worker behind {@link CriticPool} (critic_pool.ts): it owns a tfjs backend of its own and
 * a copy of the critics' shapes; each request brings the critics' current values, Adam slots and
 * the rows of an update, and the answer carries the updated values back.
 *
 * @module
 */
/// <reference lib="deno.worker" />
import { initBackend } from "../../core/backend.ts";
import { Rng } from "../../core/rng.ts";
import { tf } from "../../core/deps.ts";
import type { EnvSpec } from "../../core/vec_env.ts";
import { PpoAgents } from "./agents.ts";
import type { PpoOptions } from "./options.ts";
import { updateCritics } from "./critic.ts";
import { criticRequestSchema, readCriticSlots, writeCriticSlots } from "./critic_pool.ts";

let ag: PpoAgents | null = null;

self.onmessage = async (e: MessageEvent) => {
  try {
    const msg = criticRequestSchema.parse(e.data);
    if (msg.type === "close") { // free the backend's memory, answer, and end this thread
      ag?.dispose();
      ag = null;
      tf.disposeVariables();
      self.postMessage({ type: "closed" });
      self.close();
      return;
    }
    if (msg.type === "init") {
      await initBackend(msg.backend);
      ag?.dispose();
      ag = new PpoAgents(msg.spec as unknown as EnvSpec, {
        ...(msg.opts as unknown as PpoOptions),
        conditioned: false,
        rng: new Rng(0), // initial values are overwritten by every request
      });
      ag.kernels = msg.opts.kernels === "fused" ? "fused" : "tfjs"; // the caller's critic path
      self.postMessage({ type: "ready" });
      return;
    }
    if (!ag) throw new Error("update before init");
    if (msg.criticDim !== ag.criticDim) throw new Error("critic input width differs from init");
    const a = ag;
    msg.agents.forEach((i, j) => writeCriticSlots(a, i, msg.slots[j]!));
    const rows = msg.rows.map((r) => ({
      criticIn: tf.tensor2d(r.criticIn, [msg.N, a.criticDim]),
      ret: tf.tensor1d(r.ret),
      vOld: tf.tensor1d(r.vOld),
      hCritic: r.hCritic ? tf.tensor2d(r.hCritic, [msg.N, a.H]) : null,
      keep: r.keep ? tf.tensor1d(r.keep) : null,
    }));
    const stats = await updateCritics(a, { agents: msg.agents, rows, N: msg.N, seed: msg.seed });
    for (const r of rows) {
      tf.dispose([r.criticIn, r.ret, r.vOld, r.hCritic, r.keep].filter((t) => t !== null));
    }
    const slots = msg.agents.map((i) => readCriticSlots(a, i));
    const transfer = slots.flatMap((s) => [
      ...Object.values(s.params).map((x) => x.buffer),
      ...s.m.map((x) => x.buffer),
      ...s.v.map((x) => x.buffer),
    ]);
    self.postMessage({ type: "done", slots, ...stats }, transfer as ArrayBuffer[]);
  } catch (err) {
    self.postMessage({ type: "error", message: (err as Error).stack ?? String(err) });
  }
};
