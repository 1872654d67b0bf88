/**
 * Where per-iteration records go: `metrics.jsonl`, `metrics.csv` and the progress line.
 * Each sink is a hook the trainer calls in order; the trainer knows nothing about formats.
 *
 * @module
 */
import { join } from "node:path";

/** One iteration's metrics (see README's metric table). */
export type Record_ = Record<string, number | null>;

/** A trainer hook. */
export interface Hook {
  /** Called once per iteration with its metrics. */
  onIteration?(rec: Record_): void | Promise<void>;
  /** Called once at the end. */
  close?(): void | Promise<void>;
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

  /** @param totalSteps the run's env-step budget */
  constructor(readonly totalSteps: number) {}

  onIteration(rec: Record_): void {
    const steps = rec["env_steps"] ?? 0, sps = rec["sps"] ?? 0;
    const pct = Math.min(100, (100 * steps) / this.totalSteps);
    const eta = sps > 0 ? (this.totalSteps - steps) / sps : NaN;
    const line = `[${pct.toFixed(0).padStart(3)}%] it ${rec["iteration"]} | ${
      steps.toLocaleString("en-US")
    } steps | ${Math.round(sps).toLocaleString("en-US")} steps/s | return ${
      fmtNum(rec["train_return"])
    } | eval ${fmtNum(rec["eval_return"])} | ETA ${fmtTime(eta)}`;
    const now = performance.now();
    if (this.#tty) {
      Deno.stderr.writeSync(this.#enc.encode(`\r\x1b[2K${line}`));
    } else if (now - this.#lastPrint > 2000 || steps >= this.totalSteps) {
      Deno.stderr.writeSync(this.#enc.encode(line + "\n"));
      this.#lastPrint = now;
    }
  }

  close(): void {
    if (this.#tty) Deno.stderr.writeSync(this.#enc.encode("\n"));
  }
}
