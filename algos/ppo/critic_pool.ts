/**
 * The critics' epochs on other threads, beside the actor chain. In PPO the critic update of an
 * iteration reads only the rollout (inputs, value targets, old values) and writes only the
 * critics' variables, so it can run at the same time as the actors' update without changing
 * what either computes (docs/architecture.md, "Use every core").
 *
 * With `threads = 1`, or on a backend that cannot be used from a Worker (WebGPU), the critics run
 * on the calling thread. With `threads = T > 1`, up to `T - 1` Workers, each with its own tfjs
 * backend, update the critics of a share of the agents (agent i on worker `i mod W`). Every
 * worker draws the same minibatch index sets from one seed, and the result is bit-identical to
 * the single-thread path on the cpu and wasm backends (tests/threads_test.ts).
 *
 * @module
 */
import { tf, z } from "../../core/deps.ts";
import type { Metrics } from "../../core/algorithm.ts";
import type { Rng } from "../../core/rng.ts";
import type { PpoAgents } from "./agents.ts";
import { stackRows, type TrainBatch } from "./batch.ts";
import { type CriticRows, type CriticStats, updateCritics } from "./critic.ts";

const f32 = z.custom<Float32Array>((x) => x instanceof Float32Array, "expected a Float32Array");

/** The critic state of one agent as it crosses a thread boundary. */
export const criticSlotsSchema = z.object({
  /** Variables by checkpoint name (`critic{i}/...`). */
  params: z.record(z.string(), f32),
  /** Adam first moments, in `criticVars(i)` order. */
  m: z.array(f32),
  /** Adam second moments, in `criticVars(i)` order. */
  v: z.array(f32),
  /** Adam step count. */
  t: z.int().min(0),
  /** The learning-rate schedule's factor for this update. */
  lrScale: z.number().min(0).max(1),
});
/** Parsed {@link criticSlotsSchema}. */
export type CriticSlots = z.infer<typeof criticSlotsSchema>;

/** A message to a critic worker. */
export const criticRequestSchema = z.discriminatedUnion("type", [
  z.object({ type: z.literal("close") }),
  z.object({
    type: z.literal("init"),
    backend: z.enum(["wasm", "cpu"]),
    spec: z.record(z.string(), z.unknown()),
    opts: z.record(z.string(), z.unknown()),
  }),
  z.object({
    type: z.literal("update"),
    agents: z.array(z.int().min(0)),
    N: z.int().positive(),
    seed: z.int().nullable(),
    criticDim: z.int().positive(),
    rows: z.array(
      z.object({
        criticIn: f32,
        ret: f32,
        vOld: f32,
        hCritic: f32.nullable(),
        keep: f32.nullable(),
      }),
    ),
    slots: z.array(criticSlotsSchema),
  }),
]);

/** A critic worker's answer. */
export const criticReplySchema = z.discriminatedUnion("type", [
  z.object({ type: z.literal("ready") }),
  z.object({
    type: z.literal("done"),
    slots: z.array(criticSlotsSchema),
    loss: z.array(z.array(z.number())),
    gradNorm: z.array(z.array(z.number())),
    seconds: z.number(),
  }),
  z.object({ type: z.literal("error"), message: z.string() }),
  z.object({ type: z.literal("closed") }),
]);
type CriticReply = z.infer<typeof criticReplySchema>;

/**
 * Reads agent i's critic variables and Adam slots.
 * @param ag the agents
 * @param i the agent
 * @returns copies of the values
 */
export function readCriticSlots(ag: PpoAgents, i: number): CriticSlots {
  const params: Record<string, Float32Array> = {};
  for (const [name, v] of ag.named) {
    if (name.startsWith(`critic${i}/`)) params[name] = Float32Array.from(v.dataSync());
  }
  const s = ag.criticOpts[i]!.slots();
  const copy = (ts: tf.Variable[]) => ts.map((t) => Float32Array.from(t.dataSync()));
  return { params, m: copy(s.m), v: copy(s.v), t: s.t, lrScale: ag.criticOpts[i]!.lrScale };
}

/**
 * Writes agent i's critic variables and Adam slots.
 * @param ag the agents
 * @param i the agent
 * @param s values from {@link readCriticSlots}
 */
export function writeCriticSlots(ag: PpoAgents, i: number, s: CriticSlots): void {
  const set = (v: tf.Variable, data: Float32Array | undefined, what: string) => {
    if (!data || data.length !== v.size) {
      throw new Error(`critic slots of agent ${i}: ${what} has the wrong size`);
    }
    const t = tf.tensor(data, v.shape);
    v.assign(t);
    t.dispose();
  };
  for (const [name, v] of ag.named) {
    if (name.startsWith(`critic${i}/`)) set(v, s.params[name], name);
  }
  const sl = ag.criticOpts[i]!.slots();
  sl.m.forEach((t, j) => set(t, s.m[j], `adam m${j}`));
  sl.v.forEach((t, j) => set(t, s.v[j], `adam v${j}`));
  ag.criticOpts[i]!.setStep(s.t);
  ag.criticOpts[i]!.lrScale = s.lrScale;
  ag.criticVersion++;
}

/** One Worker that updates the critics of a share of the agents. */
class CriticWorker {
  readonly #w: Worker;
  #pending: { resolve: (r: CriticReply) => void; reject: (e: Error) => void } | null = null;
  #dead: Error | null = null;

  constructor() {
    this.#w = new Worker(new URL("./critic_worker.ts", import.meta.url), { type: "module" });
    this.#w.onmessage = (e) => {
      const p = this.#pending;
      this.#pending = null;
      const r = criticReplySchema.safeParse(e.data);
      if (!r.success) p?.reject(new Error(`critic worker sent a malformed reply: ${r.error}`));
      else if (r.data.type === "error") p?.reject(new Error(`critic worker: ${r.data.message}`));
      else p?.resolve(r.data);
    };
    this.#w.onerror = (e) => {
      e.preventDefault();
      this.#dead = new Error(`critic worker crashed: ${e.message}`);
      this.#pending?.reject(this.#dead);
      this.#pending = null;
    };
  }

  /** Sends one request and waits for its answer (one at a time). */
  request(msg: z.infer<typeof criticRequestSchema>): Promise<CriticReply> {
    if (this.#dead) return Promise.reject(this.#dead);
    return new Promise((resolve, reject) => {
      this.#pending = { resolve, reject };
      const transfer = msg.type === "update"
        ? [
          ...msg.rows.flatMap((r) => [
            r.criticIn.buffer,
            r.ret.buffer,
            r.vOld.buffer,
            ...(r.hCritic && r.keep ? [r.hCritic.buffer, r.keep.buffer] : []),
          ]),
          ...msg.slots.flatMap((s) => [
            ...Object.values(s.params).map((a) => a.buffer),
            ...s.m.map((a) => a.buffer),
            ...s.v.map((a) => a.buffer),
          ]),
        ]
        : [];
      this.#w.postMessage(msg, transfer as ArrayBuffer[]);
    });
  }

  /**
   * Asks the worker to free its backend and end its event loop, waits for its answer (at most
   * `timeoutMs`), then gives its thread a moment to tear its isolate down. A process that exits
   * while a worker thread is still being torn down (what `terminate()` alone leaves behind for up
   * to 2 s) has aborted here in glibc ("double free or corruption") after all its work was done.
   */
  async close(timeoutMs = 2000): Promise<void> {
    if (!this.#dead && !this.#pending) {
      let timer: ReturnType<typeof setTimeout> | undefined;
      await Promise.race([
        this.request({ type: "close" }).catch(() => {}),
        new Promise<void>((r) => timer = setTimeout(r, timeoutMs)),
      ]);
      clearTimeout(timer);
      await new Promise((r) => setTimeout(r, 100));
    }
    this.terminate();
  }

  terminate(): void {
    this.#w.terminate();
    this.#pending?.reject(new Error("critic worker terminated"));
    this.#pending = null;
  }
}

/**
 * Runs each iteration's critic update, on Workers when `threads > 1` (see the module doc).
 * Call {@link start} before the actors' update and await its promise after it.
 */
export class CriticPool {
  #workers: CriticWorker[] | null = null;
  #ready: Promise<void> | null = null;

  /**
   * Creates it.
   * @param ag the agents whose critics it updates
   * @param threads threads the update may use, the calling one included (1 = no Worker)
   */
  constructor(readonly ag: PpoAgents, readonly threads: number) {}

  /** How many Workers update critics (0 = the calling thread does). */
  get workerCount(): number {
    const backend = tf.getBackend();
    if (this.threads <= 1 || (backend !== "wasm" && backend !== "cpu")) return 0;
    return Math.min(this.threads - 1, this.ag.nets);
  }

  /**
   * The critics to update and their rows: one per agent, or, with shared networks, the one
   * critic on every agent's rows stacked (n N rows).
   */
  #critics(tb: TrainBatch): { agents: number[]; rows: CriticRows[]; N: number; made: tf.Tensor[] } {
    if (!this.ag.shared) {
      return { agents: tb.agents.map((_, i) => i), rows: tb.agents, N: tb.N, made: [] };
    }
    const row = stackRows(this.ag, tb, ["criticIn", "ret", "vOld", "hCritic", "keep"] as const);
    return {
      agents: [0],
      rows: [row],
      N: this.ag.n * tb.N,
      made: (Object.values(row) as (tf.Tensor | null)[]).filter((t): t is tf.Tensor => t !== null),
    };
  }

  /**
   * Starts the critics' epochs on an update's batch. The critics' variables must not be read
   * until the returned promise resolves; the actors' may be updated meanwhile.
   * @param tb the update's tensors
   * @param rng draws the minibatch shuffling seed (only when there are several minibatches)
   * @returns the critic metrics, once the critics hold their updated values
   */
  start(tb: TrainBatch, rng: Rng): Promise<Metrics> {
    const seed = this.ag.opts.minibatches > 1 ? rng.nextUint32() | 0 : null;
    const p = this.workerCount === 0 ? this.#inline(tb, seed) : this.#onWorkers(tb, seed);
    p.catch(() => {}); // awaited by the caller after the actors; not an unhandled rejection meanwhile
    return p;
  }

  async #inline(tb: TrainBatch, seed: number | null): Promise<Metrics> {
    const c = this.#critics(tb);
    const stats = await updateCritics(this.ag, { agents: c.agents, rows: c.rows, N: c.N, seed });
    tf.dispose(c.made);
    return {
      ...criticMetrics(this.ag.nets, [{ agents: c.agents, stats }]),
      "time/critic_s": stats.seconds,
    };
  }

  async #onWorkers(tb: TrainBatch, seed: number | null): Promise<Metrics> {
    const W = this.workerCount;
    const c = this.#critics(tb);
    // read everything the workers need now, before the actors' update changes any tensor
    const groups = Array.from({ length: W }, (_, w) => {
      const agents = c.agents.filter((i) => i % W === w);
      return {
        agents,
        rows: agents.map((i) => {
          const a = c.rows[i]!;
          const copy = (t: tf.Tensor) => Float32Array.from(t.dataSync());
          return {
            criticIn: copy(a.criticIn),
            ret: copy(a.ret),
            vOld: copy(a.vOld),
            hCritic: a.hCritic ? copy(a.hCritic) : null,
            keep: a.keep ? copy(a.keep) : null,
          };
        }),
        slots: agents.map((i) => readCriticSlots(this.ag, i)),
      };
    });
    tf.dispose(c.made);
    const workers = await this.#start(W);
    const replies = await Promise.all(groups.map((g, w) =>
      workers[w]!.request({
        type: "update",
        agents: g.agents,
        N: c.N,
        seed,
        criticDim: this.ag.criticDim,
        rows: g.rows,
        slots: g.slots,
      })
    ));
    const parts: { agents: number[]; stats: CriticStats }[] = [];
    replies.forEach((r, w) => {
      if (r.type !== "done") throw new Error(`critic worker answered ${r.type}`);
      groups[w]!.agents.forEach((i, j) => writeCriticSlots(this.ag, i, r.slots[j]!));
      parts.push({ agents: groups[w]!.agents, stats: r });
    });
    return {
      ...criticMetrics(this.ag.nets, parts),
      "time/critic_s": Math.max(...parts.map((p) => p.stats.seconds)),
    };
  }

  /** Creates the workers once and initialises their backends. */
  async #start(W: number): Promise<CriticWorker[]> {
    if (!this.#workers) {
      const ws = Array.from({ length: W }, () => new CriticWorker());
      this.#workers = ws;
      const { rng: _rng, ...opts } = this.ag.opts;
      this.#ready = Promise.all(ws.map((w) =>
        w.request({
          type: "init",
          backend: tf.getBackend() as "wasm" | "cpu",
          spec: this.ag.spec as unknown as Record<string, unknown>,
          opts: { ...opts, kernels: this.ag.kernels } as unknown as Record<string, unknown>,
        })
      )).then(() => {});
    }
    await this.#ready;
    return this.#workers;
  }

  /** Starts the workers (if any) so that their backends load while the first rollout runs. */
  warm(): void {
    const W = this.workerCount;
    if (W > 0 && !this.#workers) this.#start(W).catch(() => {}); // a failure shows at start()
  }

  /** Ends the workers and waits for them (see `CriticWorker.close`). */
  async close(): Promise<void> {
    const ws = this.#workers ?? [];
    this.#workers = null;
    this.#ready = null;
    await Promise.all(ws.map((w) => w.close()));
  }

  /** Stops the workers without waiting (prefer {@link close}). */
  dispose(): void {
    for (const w of this.#workers ?? []) w.terminate();
    this.#workers = null;
  }
}

/**
 * The critic metrics of an update from per-agent statistics, summed in agent order (so the
 * numbers do not depend on how agents were split over threads).
 * @param n number of agents
 * @param parts which agents each part updated and their statistics
 * @returns mean value loss and mean critic gradient norm over agents and last-epoch minibatches
 */
export function criticMetrics(
  n: number,
  parts: readonly { agents: readonly number[]; stats: CriticStats }[],
): Metrics {
  const B = parts[0]?.stats.loss.length ?? 0;
  let loss = 0, norm = 0;
  for (let b = 0; b < B; b++) {
    const l = new Float64Array(n), g = new Float64Array(n);
    for (const p of parts) {
      p.agents.forEach((i, j) => {
        l[i] = p.stats.loss[b]![j]!;
        g[i] = p.stats.gradNorm[b]![j]!;
      });
    }
    loss += l.reduce((a, x) => a + x, 0) / n;
    norm += g.reduce((a, x) => a + x, 0) / n;
  }
  return {
    "losses/value": loss / Math.max(B, 1),
    "losses/critic_grad_norm": norm / Math.max(B, 1),
  };
}
