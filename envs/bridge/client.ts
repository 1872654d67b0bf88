/**
 * The Deno side of a subprocess bridge: each child is `python envs/bridge/server.py`, hosting
 * a slice of the E envs; a {@link BridgeVecEnv} steps W children concurrently and gathers one
 * batch. Failures (missing interpreter or package, a crash, a hang, a malformed frame) become
 * one clear error with the child's exit code and the tail of its stderr.
 *
 * Permissions: `--allow-run=<python>` and `--allow-read` of this folder (the server script).
 *
 * @module
 */
import { fileURLToPath } from "node:url";
import { box, discrete } from "../../core/spaces.ts";
import type { EnvSpec, Step, VecEnv } from "../../core/vec_env.ts";
import {
  encodeFrame,
  FrameDecoder,
  PROTOCOL_VERSION,
  ProtocolError,
  type ServerFrame,
  type WireArray,
  type WireSpec,
} from "./protocol.ts";

/** How to start and talk to bridge children. */
export interface BridgeOptions {
  /** Python interpreter (default `python3`). */
  python: string;
  /** Adapter name on the Python side: smacv2, mamujoco, football, pettingzoo. */
  adapter: string;
  /** Adapter options (passed as JSON). */
  options: Record<string, unknown>;
  /** Seconds to wait for any answer (default 60; startup gets 4x). */
  timeoutS?: number;
  /** Extra environment variables for the child (e.g. PYTHONPATH). */
  env?: Record<string, string>;
}

function serverScript(): string {
  const url = new URL("./server.py", import.meta.url);
  if (url.protocol !== "file:") {
    throw new Error(
      `bridge/* envs need Baton as local files (the Python server script ${url.href} must be a file python can run): use a local checkout or copy of Baton`,
    );
  }
  return fileURLToPath(url);
}
const STDERR_TAIL = 4000;
const STEP = { t: "step" } as const;

function installHint(module: string, python: string): string {
  const root = module.split(".")[0]!;
  const hints: Record<string, string> = {
    smacv2:
      `${python} -m pip install git+https://github.com/oxwhirl/smacv2 (StarCraft II is needed too)`,
    gymnasium_robotics: `${python} -m pip install gymnasium-robotics mujoco`,
    gfootball: `${python} -m pip install gfootball`,
    numpy: `apt-get install python3-numpy, or ${python} -m pip install numpy`,
  };
  return hints[root] ?? `${python} -m pip install ${root}`;
}

/** One Python child process speaking the bridge protocol. */
export class BridgeChild {
  readonly #proc: Deno.ChildProcess;
  readonly #writer: WritableStreamDefaultWriter<Uint8Array>;
  readonly #decoder = new FrameDecoder();
  #stderr = "";
  readonly #reader: ReadableStreamDefaultReader<Uint8Array>;
  #busy = false;
  #deadline: { at: number; what: string; timeoutS: number } | null = null;
  #watchdog: ReturnType<typeof setTimeout> | undefined;
  #watchAt = 0;
  #dead: Error | null = null;
  #exit: Promise<Deno.CommandStatus>;
  /** Settles once an exit has been turned into the child's error (code + stderr tail). */
  #exitReported: Promise<void>;
  readonly label: string;

  /**
   * Starts a child; throws a clear error if the interpreter does not exist.
   * @param opts interpreter, adapter and environment
   * @param label names the child in messages
   */
  constructor(readonly opts: BridgeOptions, label: string) {
    this.label = label;
    const script = serverScript();
    try {
      this.#proc = new Deno.Command(opts.python, {
        args: ["-u", script],
        stdin: "piped",
        stdout: "piped",
        stderr: "piped",
        env: opts.env,
      }).spawn();
    } catch (err) {
      const e = err as Error;
      if (e.name === "NotFound") {
        throw new Error(
          `Python interpreter "${opts.python}" was not found: install Python 3 with numpy or pass --env-opt python=/path/to/python3`,
        );
      }
      throw new Error(`Cannot start the bridge with "${opts.python}": ${e.message}`);
    }
    this.#writer = this.#proc.stdin.getWriter();
    this.#reader = this.#proc.stdout.getReader();
    const stderrDone = this.#readStderr();
    this.#exit = this.#proc.status;
    this.#exitReported = this.#exit.then(async (s) => {
      // the exit can be seen before the last stderr bytes are read (busy machines): drain
      // stderr to its end first (bounded, in case a grandchild holds the pipe open)
      let timer: ReturnType<typeof setTimeout> | undefined;
      await Promise.race([
        stderrDone,
        new Promise((r) => (timer = setTimeout(r, 2000))),
      ]);
      clearTimeout(timer);
      if (!this.#dead) {
        this.#die(
          new Error(
            `Bridge ${this.label} (${opts.python}) exited with code ${s.code}${
              s.signal ? ` (signal ${s.signal})` : ""
            }${this.#stderrTail()}`,
          ),
        );
      }
    });
  }

  #stderrTail(): string {
    const t = this.#stderr.trim();
    return t ? `; its stderr ends with:\n${t.slice(-STDERR_TAIL)}` : "";
  }

  /**
   * Reads the answer to the request just written. The child's stdout is read only here, on
   * demand: an always-pending read (a reader loop) costs ~10 us more per round trip, because
   * the reply then arrives through a wake-up of the event loop instead of being there when the
   * read starts.
   */
  async #answer(): Promise<ServerFrame> {
    let f: ServerFrame | null;
    try {
      while (!(f = this.#decoder.next())) {
        const { value, done } = await this.#reader.read();
        if (done) break;
        this.#decoder.push(value);
      }
    } catch (err) {
      const e = err as Error;
      if (!(e instanceof ProtocolError)) throw e;
      this.#die(new Error(`Bridge ${this.label} sent a malformed frame: ${e.message}`));
      this.kill();
      throw this.#dead!;
    }
    if (!f) throw await this.#exitError(new Error(`Bridge ${this.label} closed its stdout`));
    return this.#deliver(f);
  }

  /** @returns the error that ended the child, waiting (bounded) for its exit code and stderr */
  async #exitError(fallback: Error): Promise<Error> {
    if (!this.#dead) {
      let t: ReturnType<typeof setTimeout> | undefined;
      await Promise.race([this.#exitReported, new Promise((r) => (t = setTimeout(r, 2500)))]);
      clearTimeout(t);
    }
    return this.#dead ?? fallback;
  }

  async #readStderr(): Promise<void> {
    const dec = new TextDecoder();
    try {
      for await (const chunk of this.#proc.stderr) {
        this.#stderr = (this.#stderr + dec.decode(chunk)).slice(-4 * STDERR_TAIL);
      }
    } catch { /* closed */ }
  }

  #deliver(f: ServerFrame): ServerFrame {
    if (f.t === "error") {
      if (f.kind === "import" && f.module) {
        throw new Error(
          `Bridge ${this.label}: "${this.opts.python}" cannot import ${f.module} (${f.message}); install it into that interpreter (${
            installHint(f.module, this.opts.python)
          }) or pick another with --env-opt python=...`,
        );
      }
      throw new Error(`Bridge ${this.label} ${f.kind} error: ${f.message}`);
    }
    return f;
  }

  #die(e: Error): void {
    if (this.#dead) return;
    this.#dead = e;
    // ends a pending read of the answer (a grandchild may still hold the pipe open)
    this.#reader.cancel().catch(() => {});
  }

  /**
   * Sends one request and waits for its answer.
   * @param header the message
   * @param arrays payload arrays
   * @param timeoutS seconds to wait
   * @returns the answer frame
   */
  async request(
    header: Record<string, unknown>,
    arrays: Record<string, WireArray> = {},
    timeoutS = this.opts.timeoutS ?? 60,
  ): Promise<ServerFrame> {
    if (this.#dead) throw this.#dead;
    if (this.#busy) throw new Error(`Bridge ${this.label}: a request is already in flight`);
    this.#busy = true;
    this.#arm(String(header.t), timeoutS);
    try {
      let unsent: Error | null = null;
      try {
        await this.#writer.write(encodeFrame(header, arrays));
      } catch (err) {
        unsent = err as Error;
      }
      // after a failed write, this reads what the child sent before it died (an import error
      // frame) or reports its exit (code + stderr) rather than a bare "broken pipe"
      const f = await this.#answer();
      if (this.#dead) throw this.#dead; // e.g. timed out while the answer arrived
      if (unsent) throw unsent;
      return f;
    } catch (err) {
      throw this.#dead ?? err;
    } finally {
      this.#busy = false;
    }
  }

  /**
   * Sets the deadline of the request in flight. One timer serves many requests: it is armed
   * only when none is pending and re-arms itself for a deadline that moved (a per-request
   * timer costs more than a fast step).
   */
  #arm(what: string, timeoutS: number): void {
    const at = performance.now() + timeoutS * 1000;
    this.#deadline = { at, what, timeoutS };
    if (this.#watchdog !== undefined && this.#watchAt <= at) return;
    clearTimeout(this.#watchdog);
    this.#watch(timeoutS * 1000);
  }

  #watch(ms: number): void {
    this.#watchAt = performance.now() + ms;
    this.#watchdog = setTimeout(() => {
      this.#watchdog = undefined;
      const d = this.#deadline;
      if (!this.#busy || this.#dead || !d) return; // idle: the next request re-arms
      const left = d.at - performance.now();
      if (left > 0) return this.#watch(left);
      this.#die(
        new Error(
          `Bridge ${this.label} did not answer "${d.what}" within ${d.timeoutS}s; the child was killed${this.#stderrTail()}`,
        ),
      );
      this.kill();
    }, ms);
    // the pending read of the child's stdout keeps Deno alive while a request waits
    Deno.unrefTimer(this.#watchdog);
  }

  /** Kills the child (idempotent). */
  kill(): void {
    try {
      this.#proc.kill("SIGKILL");
    } catch { /* already gone */ }
  }

  /** Asks the child to close, then makes sure it is gone (no zombie). */
  async close(): Promise<void> {
    if (!this.#dead) {
      try {
        await this.request({ t: "close" }, {}, 5);
      } catch { /* killed below */ }
    }
    this.#die(new Error(`Bridge ${this.label} is closed`)); // no-op if it died already
    clearTimeout(this.#watchdog);
    this.kill();
    try {
      await this.#writer.close();
    } catch { /* closed */ }
    await this.#exit;
  }

  /** @returns the child's pid (for tests) */
  get pid(): number {
    return this.#proc.pid;
  }
}

/**
 * Appends the episodes that ended in a reply (slots with `ep_length` > 0, packed first) to
 * `out`; a win is recorded only where the env reports one (`ep_won` >= 0).
 */
function endedEpisodes(
  f: ServerFrame,
  out: Step["episodes"],
  wins: { reported: boolean },
): Step["episodes"] {
  const ret = f.data.ep_return as Float32Array;
  const len = f.data.ep_length as Int32Array;
  const won = f.data.ep_won as Int8Array;
  for (let i = 0; i < len.length && len[i]! > 0; i++) {
    out.returns.push(ret[i]!);
    out.lengths.push(len[i]!);
    if (won[i]! >= 0) wins.reported = true; // then an episode without a flag is not won
    if (wins.reported) out.wins.push(Math.max(0, won[i]!));
  }
  return out;
}

function toSpec(w: WireSpec): EnvSpec {
  return {
    numAgents: w.numAgents,
    obsDim: w.obsDim,
    stateDim: w.stateDim,
    actionSpace: w.action.kind === "discrete"
      ? discrete(w.action.n)
      : box(w.action.dim, w.action.low, w.action.high),
    episodeLimit: w.episodeLimit,
  };
}

/** E envs hosted by W bridge children, stepped concurrently and gathered into one batch. */
export class BridgeVecEnv implements VecEnv {
  private constructor(
    readonly spec: EnvSpec,
    readonly numEnvs: number,
    readonly children: BridgeChild[],
    readonly slices: number[],
  ) {}

  /**
   * Starts W children and handshakes with each.
   * @param opts interpreter, adapter, options
   * @param sizes number of envs and of children
   * @returns the env
   */
  static async start(
    opts: BridgeOptions,
    sizes: { numEnvs: number; workers: number; seed?: number },
  ): Promise<BridgeVecEnv> {
    const W = Math.max(1, Math.min(sizes.workers, sizes.numEnvs));
    const slices = Array.from(
      { length: W },
      (_, w) => Math.floor(sizes.numEnvs / W) + (w < sizes.numEnvs % W ? 1 : 0),
    );
    const children: BridgeChild[] = [];
    try {
      for (let w = 0; w < W; w++) children.push(new BridgeChild(opts, `${opts.adapter}#${w}`));
      let offset = 0;
      const ready = await Promise.all(children.map((c, w) => {
        const seed = (sizes.seed ?? 0) + offset;
        offset += slices[w]!;
        return c.request(
          {
            t: "hello",
            v: PROTOCOL_VERSION,
            adapter: opts.adapter,
            options: opts.options,
            numEnvs: slices[w],
            seed,
          },
          {},
          4 * (opts.timeoutS ?? 60),
        );
      }));
      const first = ready[0]!;
      if (first.t !== "ready") throw new Error(`Bridge handshake answered "${first.t}"`);
      if (first.v !== PROTOCOL_VERSION) {
        throw new Error(`Bridge speaks protocol v${first.v}, Baton speaks v${PROTOCOL_VERSION}`);
      }
      return new BridgeVecEnv(toSpec(first.spec), sizes.numEnvs, children, slices);
    } catch (err) {
      await Promise.all(children.map((c) => c.close()));
      throw err;
    }
  }

  /** Whether the Python env has reported a win flag (then episodes without one are not won). */
  readonly #wins = { reported: false };

  #gather(frames: ServerFrame[]): Step {
    const { numAgents: n, obsDim, stateDim, actionSpace } = this.spec;
    const E = this.numEnvs;
    const A = actionSpace.kind === "discrete" ? actionSpace.n : 0;
    if (frames.length === 1) {
      // one child: its (checked) arrays are the batch, no copy
      const f = this.#checked(frames[0]!, 0, n, obsDim, stateDim, A);
      return {
        obs: f.data.obs as Float32Array,
        state: f.data.state as Float32Array,
        availActions: A ? f.data.avail as Uint8Array : null,
        reward: f.data.reward as Float32Array,
        done: f.data.done as Uint8Array,
        truncated: f.data.truncated as Uint8Array,
        episodes: endedEpisodes(f, { returns: [], lengths: [], wins: [] }, this.#wins),
      };
    }
    const out = {
      obs: new Float32Array(E * n * obsDim),
      state: new Float32Array(E * stateDim),
      availActions: A ? new Uint8Array(E * n * A) : null,
      reward: new Float32Array(E),
      done: new Uint8Array(E),
      truncated: new Uint8Array(E),
      episodes: { returns: [] as number[], lengths: [] as number[], wins: [] as number[] },
    };
    let e0 = 0;
    frames.forEach((frame, w) => {
      const f = this.#checked(frame, w, n, obsDim, stateDim, A);
      const k = this.slices[w]!;
      out.obs.set(f.data.obs as Float32Array, e0 * n * obsDim);
      out.state.set(f.data.state as Float32Array, e0 * stateDim);
      out.reward.set(f.data.reward as Float32Array, e0);
      out.done.set(f.data.done as Uint8Array, e0);
      out.truncated.set(f.data.truncated as Uint8Array, e0);
      if (out.availActions) out.availActions.set(f.data.avail as Uint8Array, e0 * n * A);
      endedEpisodes(f, out.episodes, this.#wins);
      e0 += k;
    });
    return out;
  }

  /** @returns `f` once it is an observation frame with every array of the expected length */
  #checked(
    f: ServerFrame,
    w: number,
    n: number,
    obsDim: number,
    stateDim: number,
    A: number,
  ): ServerFrame & { t: "obs" } {
    if (f.t !== "obs") {
      throw new Error(`Bridge ${this.children[w]!.label} answered "${f.t}" to a step`);
    }
    const k = this.slices[w]!;
    const need: [string, number][] = [
      ["obs", k * n * obsDim],
      ["state", k * stateDim],
      ["reward", k],
      ["done", k],
      ["truncated", k],
      ["ep_return", k],
      ["ep_length", k],
      ["ep_won", k],
      ...(A ? [["avail", k * n * A] as [string, number]] : []),
    ];
    for (const [name, len] of need) {
      if (f.data[name]?.length !== len) {
        throw new Error(
          `Bridge ${this.children[w]!.label} sent ${name} of length ${
            f.data[name]?.length
          }, expected ${len}`,
        );
      }
    }
    return f;
  }

  async reset(seed: number): Promise<Step> {
    let offset = 0;
    const frames = await Promise.all(this.children.map((c, w) => {
      const s = seed + offset;
      offset += this.slices[w]!;
      return c.request({ t: "reset", seed: s });
    }));
    return this.#gather(frames);
  }

  async step(actions: Int32Array | Float32Array): Promise<Step> {
    const per = actions.length / this.numEnvs;
    if (
      !Number.isInteger(per) ||
      per !==
        this.spec.numAgents * (this.spec.actionSpace.kind === "box" ? this.spec.actionSpace.dim : 1)
    ) {
      throw new Error(`Bridge env got ${actions.length} action values for ${this.numEnvs} envs`);
    }
    if (this.children.length === 1) {
      return this.#gather([await this.children[0]!.request(STEP, { actions })]);
    }
    let e0 = 0;
    const frames = await Promise.all(this.children.map((c, w) => {
      const k = this.slices[w]!;
      const part = actions.subarray(e0 * per, (e0 + k) * per); // encodeFrame copies it
      e0 += k;
      return c.request(STEP, { actions: part });
    }));
    return this.#gather(frames);
  }

  async close(): Promise<void> {
    await Promise.all(this.children.map((c) => c.close()));
  }
}
