/**
 * End to end: env-steps/s and seconds per update for each algorithm on matrix/climbing with the
 * reference configuration (50 envs x 200 steps, 15 epochs, 1 minibatch).
 *
 * @module
 */
import {
  defaultAlgoRegistry,
  defaultEnvRegistry,
  initBackend,
  train,
  trainConfig,
} from "../mod.ts";
import type { BenchOptions } from "./_opts.ts";

/**
 * Runs this benchmark and prints its table.
 * @param o shared bench flags
 */
export async function run(o: BenchOptions): Promise<void> {
  await initBackend("wasm");
  const algos = defaultAlgoRegistry();
  const names = o.algos ?? algos.list().map((a) => a.name);
  const iters = o.quick ? 2 : 4;
  const rows = new Map<string, number>();
  console.log(
    `\n## End to end: matrix/climbing, 50 envs x 200 steps, 15 epochs, 1 minibatch (${iters} iterations, first dropped)`,
  );
  console.log(
    "| algo | env-steps/s | rollout s/iter | update s/iter | iteration s | sequential per-agent updates (share of iteration) | feedback s |",
  );
  console.log("|---|---:|---:|---:|---:|---:|---:|");
  for (const algo of names) {
    const recs: Record<string, number | null>[] = [];
    const out = await Deno.makeTempDir({ prefix: "baton_bench_" });
    await train(
      trainConfig.parse({
        env: "matrix/climbing",
        algo,
        numEnvs: 50,
        rolloutLength: 200,
        totalSteps: 10_000 * iters,
        evalEvery: 0,
        evalEpisodes: 10,
        quiet: true,
        out,
      }),
      {
        env: defaultEnvRegistry().get("matrix/climbing"),
        algo: algos.get(algo),
        hooks: [{ onIteration: (r) => void recs.push(r) }],
      },
    );
    await Deno.remove(out, { recursive: true });
    const rs = recs.slice(1);
    rows.set(
      algo,
      10_000 / (rs.reduce((s, r) => s + (r.rollout_s ?? 0) + (r.update_s ?? 0), 0) / rs.length),
    );
    const avg = (k: string) => rs.reduce((s, r) => s + (r[k] ?? 0), 0) / rs.length;
    const it = avg("rollout_s") + avg("update_s");
    const seq = rs[0]!["time/sequential_s"] !== undefined
      ? `${avg("time/sequential_s").toFixed(2)} s (${
        (100 * avg("time/sequential_s") / it).toFixed(0)
      }%)`
      : "-";
    const fb = rs[0]!["time/feedback_s"] !== undefined ? avg("time/feedback_s").toFixed(3) : "-";
    console.log(
      `| ${algo} | ${Math.round(10_000 / it)} | ${avg("rollout_s").toFixed(3)} | ${
        avg("update_s").toFixed(3)
      } | ${it.toFixed(2)} | ${seq} | ${fb} |`,
    );
  }
  console.log(
    "For context (not measured here): the BPTA authors' PyTorch BPPO with an MLP policy made 1,080-1,200 env-steps/s at these settings on one thread of this machine type (docs/bpta.md §4b); a side-by-side PyTorch BPPO in this bench is open work.",
  );
}
