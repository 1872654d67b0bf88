/**
 * Aggregation of runs' `marl_eval.json` (see scripts/aggregate.ts): merge into one marl-eval
 * JSON, IQM over runs with an interval per task and algorithm (a 95% percentile-bootstrap CI from
 * 5 runs on, else the range of the runs), permutation-test p-values between algorithms, and a performance
 * profile over tasks normalised per task (Agarwal et al. 2021; Gorsane et al. 2022).
 *
 * @module
 */
import { join } from "node:path";
import { z } from "../core/deps.ts";
import { iqm, permutationP, seedInterval } from "./_sweep.ts";
import { lineChart } from "./_plot.ts";

type Run = Record<string, Record<string, number | number[]>>;
type Data = Record<string, Record<string, Record<string, Record<string, Run>>>>;

async function* files(path: string): AsyncGenerator<string> {
  const st = await Deno.stat(path).catch(() => null);
  if (!st) throw new Error(`--from ${path} does not exist`);
  if (st.isFile) {
    yield path;
    return;
  }
  for await (const e of Deno.readDir(path)) {
    const p = join(path, e.name);
    if (e.isDirectory) yield* files(p);
    else if (e.name === "marl_eval.json") yield p;
  }
}

const runSchema = z.record(
  z.string(),
  z.record(z.string(), z.union([z.number(), z.array(z.number())])),
);
const dataSchema = z.record(
  z.string(),
  z.record(z.string(), z.record(z.string(), z.record(z.string(), runSchema))),
);

/** One marl_eval.json and what its run directory says about it. */
interface Source {
  file: string;
  data: Data;
  /** The run's config.json beside the file (runs written by Baton), else null. */
  config: Record<string, unknown> | null;
}

/** The training settings that make runs different experiments when they differ. */
const SETTINGS = ["numEnvs", "rolloutLength", "gamma", "gaeLambda"] as const;

const shown = (v: unknown) => (typeof v === "string" ? v : JSON.stringify(v));

/** The last evaluation's env steps of a run body (its budget), or null. */
function budgetOf(body: Run): number | null {
  let best: number | null = null;
  for (const [k, v] of Object.entries(body)) {
    const c = (v as Record<string, unknown>).step_count;
    if (k.startsWith("step_") && typeof c === "number") best = Math.max(best ?? 0, c);
  }
  return best;
}

/**
 * Regroups runs: a run written by Baton (a config.json beside its marl_eval.json) goes under its
 * env id plus the env options that differ between the runs of that env, and its algorithm plus
 * the algorithm options and training settings that differ between the runs of that algorithm;
 * runs of one group with different budgets (last evaluated env steps) are split by budget, never
 * pooled. Files without a config keep the names they carry.
 * @returns the regrouped data, one line per group saying what it pooled, and lines saying what
 *   the runs share (per env, per algorithm, and in all)
 */
function regroup(
  sources: Source[],
): { merged: Data; pooled: string[]; notes: string[]; shared: string[] } {
  const withCfg = sources.filter((s) => s.config);
  const differing = (
    runs: Record<string, unknown>[],
    pick: (c: Record<string, unknown>) => Record<string, unknown>,
  ) => {
    const keys = new Set(runs.flatMap((c) => Object.keys(pick(c))));
    return [...keys].sort().filter((k) =>
      new Set(runs.map((c) => JSON.stringify(pick(c)[k] ?? null))).size > 1
    );
  };
  const cfgs = withCfg.map((s) => s.config!);
  const byEnv = new Map<string, Record<string, unknown>[]>();
  const byAlgo = new Map<string, Record<string, unknown>[]>();
  for (const c of cfgs) {
    byEnv.set(String(c.env), [...(byEnv.get(String(c.env)) ?? []), c]);
    byAlgo.set(String(c.algo), [...(byAlgo.get(String(c.algo)) ?? []), c]);
  }
  const envKeys = new Map(
    [...byEnv].map(([e, cs]) => [
      e,
      differing(cs, (c) => (c.envOptions ?? {}) as Record<string, unknown>),
    ]),
  );
  const algoKeys = new Map(
    [...byAlgo].map(([a, cs]) => [
      a,
      differing(cs, (c) => (c.algoOptions ?? {}) as Record<string, unknown>),
    ]),
  );
  const settingKeys = differing(cfgs, (c) => Object.fromEntries(SETTINGS.map((k) => [k, c[k]])));
  // what the runs have in common: the options every run of an env (algorithm) gives one value,
  // and the settings every run gives one value, so a reader sees what was held fixed
  const common = (
    runs: Record<string, unknown>[],
    pick: (c: Record<string, unknown>) => Record<string, unknown>,
  ) => {
    const keys = [...new Set(runs.flatMap((c) => Object.keys(pick(c))))].sort();
    const all = keys.filter((k) =>
      runs.every((c) => k in pick(c)) &&
      new Set(runs.map((c) => JSON.stringify(pick(c)[k]))).size === 1
    );
    return all.map((k) => `${k}=${shown(pick(runs[0]!)[k])}`).join(", ") || "none";
  };
  const shared = [
    ...[...byEnv].map(([e, cs]) =>
      `- env \`${e}\` (${cs.length} runs), options: ${
        common(cs, (c) => (c.envOptions ?? {}) as Record<string, unknown>)
      }`
    ),
    ...[...byAlgo].map(([a, cs]) =>
      `- algorithm \`${a}\` (${cs.length} runs), options: ${
        common(cs, (c) => (c.algoOptions ?? {}) as Record<string, unknown>)
      }`
    ),
    ...(cfgs.length
      ? [
        `- every run (${cfgs.length}): ${
          common(cfgs, (c) =>
            Object.fromEntries(
              [...SETTINGS, "totalSteps", "evalEpisodes", "kernels", "threads"].map((k) => [
                k,
                c[k],
              ]).filter(([, v]) => v !== undefined),
            ))
        }`,
      ]
      : []),
  ];
  const merged: Data = {};
  const members = new Map<string, { seeds: number[]; budgets: Set<number | null>; runs: number }>();
  const put = (env: string, task: string, algo: string, run: string, body: Run) => {
    const into = (((merged[env] ??= {})[task] ??= {})[algo] ??= {});
    let name = run;
    for (let k = 2; name in into; k++) name = `${run}_${k}`; // the same seed twice
    into[name] = body;
    const key = `${env}/${task} | ${algo}`;
    const m = members.get(key) ?? { seeds: [], budgets: new Set(), runs: 0 };
    const seed = Number(/^run_(\d+)/.exec(run)?.[1]);
    if (Number.isFinite(seed)) m.seeds.push(seed);
    m.budgets.add(budgetOf(body));
    m.runs++;
    members.set(key, m);
  };
  // first pass: labels; second: budgets within a label (split when they differ)
  const labelled: { env: string; task: string; algo: string; run: string; body: Run }[] = [];
  for (const s of sources) {
    for (const [env, tasks] of Object.entries(s.data)) {
      for (const [task, algos] of Object.entries(tasks)) {
        for (const [algo, runs] of Object.entries(algos)) {
          for (const [run, body] of Object.entries(runs)) {
            if (!s.config) {
              labelled.push({ env, task, algo, run, body });
              continue;
            }
            const c = s.config;
            const eo = (c.envOptions ?? {}) as Record<string, unknown>;
            const ao = (c.algoOptions ?? {}) as Record<string, unknown>;
            const tk = envKeys.get(String(c.env)) ?? [];
            const ak = algoKeys.get(String(c.algo)) ?? [];
            const opts = [
              ...ak.map((k) => `${k}=${shown(ao[k] ?? null)}`),
              ...settingKeys.map((k) => `${k}=${shown(c[k] ?? null)}`),
            ];
            const [family, ...rest] = String(c.env).split("/");
            labelled.push({
              env: family!,
              task: (rest.join("/") || family!) +
                (tk.length ? `:${tk.map((k) => `${k}=${shown(eo[k] ?? null)}`).join(";")}` : ""),
              algo: String(c.algo) + (opts.length ? `:${opts.join(";")}` : ""),
              run,
              body,
            });
          }
        }
      }
    }
  }
  const budgets = new Map<string, Set<number | null>>();
  for (const l of labelled) {
    const k = `${l.env}/${l.task} | ${l.algo}`;
    budgets.set(k, (budgets.get(k) ?? new Set()).add(budgetOf(l.body)));
  }
  const notes: string[] = [];
  for (const l of labelled) {
    const k = `${l.env}/${l.task} | ${l.algo}`;
    const split = budgets.get(k)!.size > 1;
    if (split && !notes.some((n) => n.startsWith(k))) {
      notes.push(
        `${k}: runs with different budgets (${
          [...budgets.get(k)!].map((b) => b ?? "?").join(", ")
        } env steps) are reported apart, not pooled`,
      );
    }
    put(l.env, l.task, split ? `${l.algo} @${budgetOf(l.body) ?? "?"}` : l.algo, l.run, l.body);
  }
  const pooled = [...members].map(([k, m]) => {
    const seeds = [...new Set(m.seeds)].sort((a, b) => a - b);
    return `| ${k} | ${m.runs} | ${seeds.join(", ")} | ${
      [...m.budgets].map((b) => b?.toLocaleString("en-US") ?? "?").join(", ")
    } |`;
  });
  return { merged, pooled, notes, shared };
}

/**
 * Aggregates every marl_eval.json below `from` (folders, or marl-eval JSON files).
 * @param x folders or files, the metric, the output folder, the files' name (default `aggregate`)
 * @returns the report's Markdown (also written to `<out>/<name>.md`, with `<name>.json` and
 *   `<name>_profile.svg`)
 */
export async function aggregate(
  x: { from: string[]; metric: string; out: string; name?: string },
): Promise<string> {
  const flags = { ...x, from: x.from.join(",") };
  const name = x.name ?? "aggregate";
  const sources: Source[] = [];
  for (const root of x.from) {
    for await (const f of files(root)) {
      const parsed = dataSchema.safeParse(JSON.parse(await Deno.readTextFile(f)));
      if (!parsed.success) {
        throw new Error(`${f} is not marl-eval JSON (env > task > algorithm > run > step)`);
      }
      const config = await Deno.readTextFile(join(f, "..", "config.json")).then(
        (t) => JSON.parse(t) as Record<string, unknown>,
        () => null,
      );
      sources.push({
        file: f,
        data: parsed.data,
        config: f.endsWith("marl_eval.json") ? config : null,
      });
    }
  }
  const read = sources.length;
  if (!read) throw new Error(`no marl_eval.json under ${flags.from}`);
  const { merged, pooled, notes, shared } = regroup(sources);

  const finalMean = (r: Run): number | null => {
    const v = r.absolute_metrics?.[flags.metric];
    return Array.isArray(v) && v.length ? v.reduce((a, b) => a + b, 0) / v.length : null;
  };

  interface Row {
    task: string;
    algo: string;
    scores: number[];
  }
  const rows: Row[] = [];
  for (const [env, tasks] of Object.entries(merged)) {
    for (const [task, algos] of Object.entries(tasks)) {
      for (const [algo, runs] of Object.entries(algos)) {
        const scores = Object.values(runs).map(finalMean).filter((x): x is number => x !== null);
        if (scores.length) rows.push({ task: `${env}/${task}`, algo, scores });
      }
    }
  }
  if (!rows.length) throw new Error(`no run has absolute_metrics.${flags.metric}`);

  const f = (x: number) => (Math.abs(x) >= 100 ? x.toFixed(0) : x.toFixed(3));
  const md = [
    `# Aggregate over runs (${flags.metric})`,
    "",
    `Generated by \`deno task aggregate --from ${flags.from} --metric ${flags.metric}\` from ${read} marl_eval.json file(s).`,
    "Score of a run: the mean of its last evaluation's episodes (marl-eval's absolute metrics).",
    "IQM over runs with an interval: from 5 runs on, the 95% percentile-bootstrap CI (2,000",
    "resamples); with fewer, the range of the runs (min, max), labelled so: a bootstrap over 3 runs",
    "is always exactly their range and has no 95% meaning.",
    "",
    "Runs are grouped by env and algorithm plus the options that differ between the runs read",
    "(env options per env, algorithm options per algorithm, and numEnvs, rollout length, gamma and",
    "GAE lambda). Runs of one group with different budgets are kept apart (`@<env steps>`).",
    "",
    ...(shared.length
      ? [
        "What the runs read share (one value in every run; the options not listed differ):",
        "",
        ...shared,
        "",
      ]
      : []),
    "| group (task \\| algorithm) | runs | seeds | env steps at the last evaluation |",
    "|---|---:|---|---|",
    ...pooled,
    ...(notes.length ? ["", ...notes.map((n) => `Note: ${n}.`)] : []),
    "",
    "| task | algorithm | runs | IQM [interval] | interval | mean | per run |",
    "|---|---|---:|---:|---|---:|---|",
    ...rows.map((r) => {
      const { lo, hi, kind } = seedInterval(r.scores);
      const mean = r.scores.reduce((a, b) => a + b, 0) / r.scores.length;
      return `| ${r.task} | ${r.algo} | ${r.scores.length} | ${f(iqm(r.scores))} [${f(lo)}, ${
        f(hi)
      }] | ${kind === "95% CI" ? "95% CI" : `range of ${r.scores.length} runs`} | ${f(mean)} | ${
        r.scores.map(f).join(", ")
      } |`;
    }),
  ];
  // every pair of algorithms on a task: is the difference in mean score more than relabelling gives?
  const pairs: string[] = [];
  for (const task of [...new Set(rows.map((r) => r.task))]) {
    const here = rows.filter((r) => r.task === task);
    for (let i = 0; i < here.length; i++) {
      for (let j = i + 1; j < here.length; j++) {
        const [a, b] = [here[i]!, here[j]!];
        const p = permutationP(a.scores, b.scores);
        pairs.push(
          `| ${task} | ${a.algo} | ${b.algo} | ${
            f(
              a.scores.reduce((x, y) => x + y, 0) / a.scores.length -
                b.scores.reduce((x, y) => x + y, 0) / b.scores.length,
            )
          } | ${p < 0.001 ? "<0.001" : p.toFixed(3)} |`,
        );
      }
    }
  }
  if (pairs.length) {
    md.push(
      "",
      "Two-sided permutation tests of the difference in mean score (exact over every relabelling",
      "of the runs up to 50,000 of them, else 20,000 random ones); no correction for multiple",
      "comparisons.",
      "",
      "| task | algorithm A | algorithm B | mean A - mean B | p |",
      "|---|---|---|---:|---:|",
      ...pairs,
    );
  }

  // performance profile: normalise per task over every algorithm's runs, then the fraction above tau
  const range = new Map<string, [number, number]>();
  for (const r of rows) {
    const [a, b] = range.get(r.task) ?? [Infinity, -Infinity];
    range.set(r.task, [Math.min(a, ...r.scores), Math.max(b, ...r.scores)]);
  }
  const taus = Array.from({ length: 51 }, (_, i) => i / 50);
  const algos = [...new Set(rows.map((r) => r.algo))];
  const series = algos.map((algo) => {
    const norm = rows.filter((r) => r.algo === algo).flatMap((r) => {
      const [a, b] = range.get(r.task)!;
      return r.scores.map((s) => (b > a ? (s - a) / (b - a) : 1));
    });
    return {
      label: algo,
      x: taus,
      y: taus.map((t) => norm.filter((s) => s > t - 1e-12).length / norm.length),
    };
  });
  const svg = lineChart(series, {
    title: `Performance profile (${flags.metric}, min-max normalised per task)`,
    xLabel: "normalised score tau",
    yLabel: "fraction of runs with score >= tau",
    yRange: [0, 1],
  });
  md.push(
    "",
    `![performance profile](${name}_profile.svg)`,
    "",
    "Performance profile: for each algorithm, the fraction of its (task, run) scores at or above tau, with each task's scores min-max normalised over all algorithms' runs.",
  );
  await Deno.mkdir(flags.out, { recursive: true });
  await Deno.writeTextFile(
    join(flags.out, `${name}.json`),
    JSON.stringify(merged, null, 1) + "\n",
  );
  await Deno.writeTextFile(join(flags.out, `${name}.md`), md.join("\n") + "\n");
  await Deno.writeTextFile(join(flags.out, `${name}_profile.svg`), svg);
  return md.join("\n") + "\n";
}
