/**
 * Where per-iteration records go: `metrics.jsonl`, `metrics.csv` and the progress line.
 * Each sink is a hook the trainer calls in order; the trainer knows nothing about formats.
 *
 * @module
 */
import { join } from "node:path";

/** One iteration's metrics (see README's metric table). */
export type Record_ = Record<string, number | null>;

/** What the loop tells a hook after an update, before the iteration is recorded. */
export interface UpdateInfo {
  /** The iteration being finished (1-based). */
  readonly iteration: number;
  /** The run directory. */
  readonly out: string;
}

/** Where the loop stands after an iteration was recorded. */
export interface IterationInfo {
  /** Iterations done. */
  readonly iteration: number;
  /** Iterations the run will do. */
  readonly iterations: number;
  /** Writes a checkpoint of the current state. */
  save(): Promise<void>;
}

/** A trainer hook; the loop calls each hook's methods in the order of the hook list. */
export interface Hook {
  /** Called after each update with its metrics; throwing stops the run. */
  onUpdate?(metrics: Readonly<Record<string, number>>, info: UpdateInfo): void;
  /** Called once per iteration with its record. */
  onIteration?(rec: Record_, info: IterationInfo): void | Promise<void>;
  /** Called once at the end. */
  close?(): void | Promise<void>;
}

/** Stops a run whose update produced a non-finite metric (the last checkpoint stays intact). */
export const finiteGuard: Hook = {
  onUpdate(metrics, info) {
    for (const [key, v] of Object.entries(metrics)) {
      if (!Number.isFinite(v)) {
        throw new Error(
          `Training diverged at iteration ${info.iteration}: metric ${key} is ${v}; the last good checkpoint in ${info.out} is intact`,
        );
      }
    }
  },
};

/** Writes a checkpoint every `every` iterations and after the last one. */
export class CheckpointHook implements Hook {
  /**
   * Creates it.
   * @param every checkpoint period in iterations
   */
  constructor(readonly every: number) {}

  async onIteration(_rec: Record_, info: IterationInfo): Promise<void> {
    if (info.iteration % this.every === 0 || info.iteration === info.iterations) await info.save();
  }
}

/**
 * Drops the rows after `iteration` from a run's `metrics.jsonl` and `metrics.csv`, so that a run
 * resumed from the checkpoint of that iteration records each iteration once (a kill between a
 * metrics row and its checkpoint leaves rows the checkpoint does not know).
 * @param dir the run directory
 * @param iteration the checkpoint's iteration
 */
export async function truncateMetrics(dir: string, iteration: number): Promise<void> {
  const jsonl = join(dir, "metrics.jsonl"), csv = join(dir, "metrics.csv");
  try { // the per-episode evaluation log follows the same rule
    const ev = join(dir, "evaluations.jsonl");
    const rows = (await Deno.readTextFile(ev)).split("\n").filter(Boolean);
    const kept = rows.filter((l) => (JSON.parse(l).iteration ?? 0) <= iteration);
    if (kept.length !== rows.length) {
      await Deno.writeTextFile(
        ev,
        kept.map((l) => l + "\n").join(""),
      );
    }
  } catch { /* no evaluations yet */ }
  let lines: string[];
  try {
    lines = (await Deno.readTextFile(jsonl)).split("\n").filter(Boolean);
  } catch {
    return; // no metrics yet
  }
  const keep = lines.filter((l) => (JSON.parse(l).iteration ?? 0) <= iteration);
  if (keep.length === lines.length) return;
  await Deno.writeTextFile(jsonl, keep.map((l) => l + "\n").join(""));
  try {
    const [header, ...rows] = (await Deno.readTextFile(csv)).split("\n").filter(Boolean);
    const at = header!.split(",").indexOf("iteration");
    const kept = rows.filter((r) => Number(r.split(",")[at]) <= iteration);
    await Deno.writeTextFile(csv, [header, ...kept].map((l) => l + "\n").join(""));
  } catch { /* no csv */ }
}

/** Appends records to `metrics.jsonl` and `metrics.csv` in a run directory. */
export class FileSink implements Hook {
  #columns: string[] | null = null;

  /** @param dir the run directory */
  constructor(readonly dir: string) {}

  async onIteration(rec: Record_): Promise<void> {
    await Deno.writeTextFile(join(this.dir, "metrics.jsonl"), JSON.stringify(rec) + "\n", {
      append: true,
    });
    const csv = join(this.dir, "metrics.csv");
    if (!this.#columns) {
      let header: string | null = null;
      try {
        header = (await Deno.readTextFile(csv)).split("\n")[0] || null;
      } catch { /* new file */ }
      this.#columns = header ? header.split(",") : Object.keys(rec);
      if (!header) await Deno.writeTextFile(csv, this.#columns.join(",") + "\n");
    }
    const row = this.#columns.map((c) => {
      const v = rec[c];
      return v === null || v === undefined || Number.isNaN(v) ? "" : String(v);
    });
    await Deno.writeTextFile(csv, row.join(",") + "\n", { append: true });
  }
}

function fmtNum(x: number | null | undefined, digits = 2): string {
  return x === null || x === undefined || Number.isNaN(x) ? "-" : x.toFixed(digits);
}

function fmtTime(s: number): string {
  if (!Number.isFinite(s)) return "?";
  if (s < 60) return `${Math.round(s)}s`;
  return `${Math.floor(s / 60)}m${String(Math.round(s % 60)).padStart(2, "0")}s`;
}

/** A live progress line on stderr (steps, steps/s, return, eval, ETA). */
export class ProgressLine implements Hook {
  readonly #tty = Deno.stderr.isTerminal();
  #lastPrint = 0;
  readonly #enc = new TextEncoder();
  readonly #t0 = performance.now();
  #lastReturn: { value: number; iteration: number } | null = null;

  /**
   * @param totalSteps the run's env-step budget
   * @param startSteps env steps done before this process started (a resumed run)
   */
  constructor(readonly totalSteps: number, readonly startSteps = 0) {}

  onIteration(rec: Record_): void {
    const steps = rec["env_steps"] ?? 0, sps = rec["sps"] ?? 0;
    const pct = Math.min(100, (100 * steps) / this.totalSteps);
    // the ETA follows wall time (evaluations and checkpoints included), not the training speed
    const elapsed = (performance.now() - this.#t0) / 1000;
    const done = steps - this.startSteps;
    const eta = done > 0 && elapsed > 0 ? (this.totalSteps - steps) * elapsed / done : NaN;
    const it = rec["iteration"] ?? 0;
    const ret = rec["train_return"];
    if (typeof ret === "number" && Number.isFinite(ret)) {
      this.#lastReturn = { value: ret, iteration: it };
    }
    // no episode ended in this rollout: show the last finished episodes' return, marked so
    const shownReturn = typeof ret === "number"
      ? fmtNum(ret)
      : this.#lastReturn
      ? `${fmtNum(this.#lastReturn.value)} (it ${this.#lastReturn.iteration})`
      : "- (no episode ended yet)";
    const line = `[${pct.toFixed(0).padStart(3)}%] it ${it} | ${
      steps.toLocaleString("en-US")
    } steps | ${Math.round(sps).toLocaleString("en-US")} steps/s | return ${shownReturn} | eval ${
      fmtNum(rec["eval_return"])
    } | ETA ${fmtTime(eta)}`;
    const now = performance.now();
    if (this.#tty) {
      Deno.stderr.writeSync(this.#enc.encode(`\r\x1b[2K${line}`));
    } else if (
      now - this.#lastPrint > 2000 || steps >= this.totalSteps ||
      rec["eval_return"] !== null && rec["eval_return"] !== undefined // every evaluation shows
    ) {
      Deno.stderr.writeSync(this.#enc.encode(line + "\n"));
      this.#lastPrint = now;
    }
  }

  close(): void {
    if (this.#tty) Deno.stderr.writeSync(this.#enc.encode("\n"));
  }
}
