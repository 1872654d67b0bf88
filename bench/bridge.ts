/**
 * The subprocess bridge: steps/s of a trivial Python env at E = 1, 8, 64 envs and W = 1, 2
 * children, next to the raw round-trip rate of the same payload over the same kind of pipe.
 *
 * @module
 */
import { fromFileUrl } from "./_path.ts";
import type { BenchOptions } from "./_opts.ts";

/** A child that answers each length-prefixed request with `replyBytes` zero bytes (echo.py). */
class RawPipe {
  readonly #child: Deno.ChildProcess;
  readonly #w: WritableStreamDefaultWriter<Uint8Array>;
  readonly #r: ReadableStreamDefaultReader<Uint8Array>;
  readonly #req: Uint8Array;

  constructor(reqBytes: number, readonly replyBytes: number) {
    this.#child = new Deno.Command("/usr/bin/python3", {
      args: ["-u", fromFileUrl(new URL("./echo.py", import.meta.url)), String(replyBytes)],
      stdin: "piped",
      stdout: "piped",
    }).spawn();
    this.#w = this.#child.stdin.getWriter();
    this.#r = this.#child.stdout.getReader();
    this.#req = new Uint8Array(4 + reqBytes);
    new DataView(this.#req.buffer).setUint32(0, reqBytes, true);
  }

  /** @returns round trips done in about `ms` milliseconds */
  async run(ms: number): Promise<number> {
    let n = 0;
    const t0 = performance.now();
    while (performance.now() - t0 < ms) {
      await this.#w.write(this.#req);
      let pending = 4 + this.replyBytes;
      while (pending > 0) pending -= (await this.#r.read()).value!.length;
      n++;
    }
    return n;
  }

  async close(): Promise<void> {
    await this.#w.close();
    await this.#r.cancel();
    await this.#child.status;
  }
}

/**
 * Runs this benchmark and prints its table.
 * @param o shared bench flags
 */
export async function run(o: BenchOptions): Promise<void> {
  const { BridgeVecEnv } = await import("../envs/bridge/client.ts");
  const { encodeFrame } = await import("../envs/bridge/protocol.ts");
  const stubs = fromFileUrl(new URL("../tests/bridge_stubs", import.meta.url));
  const here = fromFileUrl(new URL(".", import.meta.url));
  // bridge and raw pipe are timed in alternating windows, so a shared, noisy machine slows both
  const rounds = o.quick ? 2 : 6, windowMs = o.quick ? 250 : 300;
  console.log(
    "\n## Bridge: trivial Python env (3 agents, 4 actions) through the subprocess bridge",
  );
  console.log(
    "| env | E | W | bridge steps/s | env-steps/s | raw round trips/s (same payload, 1 pipe) | bridge / raw |",
  );
  console.log("|---|---:|---:|---:|---:|---:|---:|");
  const kinds = [
    ["trivial, batched (bridge/vector)", "vector", { factory: "trivial_vec:make", kwargs: {} }],
    ["coop task, batched (bridge/vector)", "vector", { factory: "vec_coop:make", kwargs: {} }],
    ["coop task, per env (PettingZoo)", "pettingzoo", {
      factory: "pz_coop:make_env",
      kwargs: {},
      episodeLimit: 1000,
    }],
  ] as const;
  for (const [label, adapter, options] of kinds) {
    for (const E of [1, 8, 64]) {
      let raw: RawPipe | null = null;
      for (const W of [1, 2]) {
        const env = await BridgeVecEnv.start({
          python: "/usr/bin/python3",
          adapter,
          options,
          env: { PYTHONPATH: `${stubs}:${here}` },
        }, { numEnvs: E, workers: W });
        const s0 = await env.reset(0);
        const actions = new Int32Array(E * 3);
        if (!raw) {
          const reqBytes = encodeFrame({ t: "step" }, { actions }).length - 4;
          const replyBytes = encodeFrame({ t: "obs" }, {
            obs: s0.obs,
            state: s0.state,
            reward: s0.reward,
            done: s0.done,
            truncated: s0.truncated,
            avail: s0.availActions!,
            ep_return: s0.reward,
            ep_length: new Int32Array(E),
            ep_won: new Int8Array(E),
          }).length - 4;
          raw = new RawPipe(reqBytes, replyBytes);
          await raw.run(100); // warm up
        }
        for (let i = 0; i < 50; i++) await env.step(actions); // warm up
        let steps = 0, stepMs = 0, trips = 0, tripMs = 0;
        for (let round = 0; round < rounds; round++) {
          const t0 = performance.now();
          while (performance.now() - t0 < windowMs) {
            await env.step(actions);
            steps++;
          }
          const t1 = performance.now();
          trips += await raw.run(windowMs);
          stepMs += t1 - t0;
          tripMs += performance.now() - t1;
        }
        const rate = steps / (stepMs / 1000), rawRate = trips / (tripMs / 1000);
        await env.close();
        console.log(
          `| ${label} | ${E} | ${W} | ${Math.round(rate)} | ${Math.round(rate * E)} | ${
            Math.round(rawRate)
          } | ${(rate / rawRate).toFixed(2)} |`,
        );
      }
      await raw!.close();
    }
  }
  console.log(
    `(Bridge and raw pipe alternate in ${rounds} windows of ${windowMs} ms each, so load on a shared machine hits both. The bridge rows include the Python env's own work for E envs per step: none for the trivial env (the target: bridge / raw >= 0.7 at E = 64), numpy work for the batched coop task, a Python loop over E PettingZoo envs for the per-env adapter; the raw row moves the same bytes and does nothing else.)`,
  );
  // frame decoding: one large frame pushed in chunks of several sizes (linear in the bytes)
  console.log("\n| frame decode: 64 MB frame in chunks of | MB/s |");
  console.log("|---|---:|");
  const big = encodeFrame({ t: "obs" }, { obs: new Float32Array(16 * 1024 * 1024) });
  for (const chunk of [4 * 1024, 64 * 1024, 1024 * 1024]) {
    const parts: Uint8Array[] = [];
    for (let at = 0; at < big.length; at += chunk) parts.push(big.slice(at, at + chunk));
    const { FrameDecoder } = await import("../envs/bridge/protocol.ts");
    const d = new FrameDecoder();
    const t0 = performance.now();
    for (const p of parts) d.push(p);
    d.next();
    const s = (performance.now() - t0) / 1000;
    console.log(
      `| ${chunk / 1024} KB | ${Math.round(big.length / 1e6 / s).toLocaleString("en-US")} |`,
    );
  }
}

/**
 * Native battles: env steps/s of `smax/*` at E = 1, 64, 1024 on one core (this process),
 * with a cheap scripted policy (attack the first available target, else walk east) whose
 * time is not counted. Agent-steps/s = env-steps/s x agents.
 */
