/**
 * `deno task mutants`: mutation testing of the BPTA estimators (issue 29). Each mutant is one
 * small, plausible defect in the estimator code (a flipped sign, a dropped term, the batch-mean
 * feedback the paper estimator exists to fix, ...). For each, a scratch copy of the repository
 * gets that one change, the BPTA tests run there, and a table says which tests caught it. A
 * mutant no test catches is a hole in the tests: the task exits 1.
 *
 * Usage: `deno task mutants [--only name,name] [--tests file,file]`. CI does not run it (a few
 * minutes); run it after changing `algos/estimators.ts`, `algos/bppo.ts` or `algos/sequential.ts`,
 * and `--only fused` after changing the fused path (its mutants run against
 * tests/fused_algos_test.ts and tests/fused_mat_test.ts, which compare whole updates with tfjs).
 *
 * @module
 */
import { parseArgs } from "node:util";
import { join } from "node:path";

/** One defect: replace `from` (which must occur exactly once) by `to` in `file`. */
interface Mutant {
  readonly name: string;
  readonly file: string;
  readonly from: string;
  readonly to: string;
  /** The tests that must catch it (default: the BPTA tests, {@link TESTS}). */
  readonly tests?: readonly string[];
}

/** The tests of the fused path (`--kernels fused`): whole updates, acting and values against tfjs. */
const FUSED_TESTS = ["tests/fused_algos_test.ts"];

/** The fused MAT's tests: kernels, whole updates, acting and loaded checkpoints against tfjs. */
const FUSED_MAT_TESTS = ["tests/fused_mat_test.ts"];

/** The mutants of issue 29, item 4. */
export const MUTANTS: readonly Mutant[] = [
  {
    name: "peer term sign flipped",
    file: "algos/estimators.ts",
    from: "return tf.mul(tf.sum(tf.mul(g, x), 1), weight) as tf.Tensor1D;",
    to: "return tf.mul(tf.sum(tf.mul(g, x), 1), -weight) as tf.Tensor1D;",
  },
  {
    name: "peer term removed",
    file: "algos/bppo.ts",
    from: "peer = peerTerm(x.g, xk, this.options.peerWeight);",
    to: "peer = null; void xk;",
  },
  {
    name: "feedback sign flipped",
    file: "algos/estimators.ts",
    from: "return tf.grad(total)(u) as tf.Tensor2D;",
    to: "return tf.neg(tf.grad(total)(u)) as tf.Tensor2D;",
  },
  {
    name: "fresh noise instead of the stored noise (paper)",
    file: "algos/bppo.ts",
    from: "? b.noise // the stored noise of the taken action",
    to:
      "? (ag.discrete ? gumbelNoise(b.obs.shape[0], A, rng) : tf.randomNormal([b.obs.shape[0], A]) as tf.Tensor2D)",
  },
  {
    name: "batch-mean feedback in the paper estimator",
    file: "algos/bppo.ts",
    from: 'let grad = feedbackOf(J, tb.u, paper || o.peerScale === "sum" ? "sum" : "mean");',
    to: 'let grad = feedbackOf(J, tb.u, !paper && o.peerScale === "sum" ? "sum" : "mean");',
  },
  {
    name: "per-row clip skipped (paper)",
    file: "algos/bppo.ts",
    from: "if (g && paper) clipRowNorms(g, A, o.feedbackMaxNorm);",
    to: "if (g && paper && false) clipRowNorms(g, A, o.feedbackMaxNorm);",
  },
  {
    name: "pathwise: the chain cut after one hop",
    file: "algos/estimators.ts",
    from: "for (const j of successors) chain = put(chain, j, actOf(j, chain));",
    to: "for (const j of successors.slice(0, 1)) chain = put(chain, j, actOf(j, chain));",
  },
  {
    name: "the peer value inside min()",
    file: "algos/sequential.ts",
    from: "const pGrad = tf.sub(x.peer, sg(x.peer));",
    to: "const pGrad = x.peer;",
  },
  // the fused path's BPTA maths (algos/ppo/fused.ts), caught by comparing whole updates with tfjs
  {
    name: "fused: the Gumbel-softmax temperature doubled in the peer term",
    file: "algos/ppo/fused.ts",
    from: "        p.tau,\n        p.weight,",
    to: "        2 * p.tau,\n        p.weight,",
    tests: FUSED_TESTS,
  },
  {
    name: "fused: the sigma path of the box peer term dropped (paper)",
    file: "algos/ppo/fused.ts",
    from: 'const noise = p.estimator === "paper" ? x.noise!.ptr : 0;',
    to: "const noise = 0;",
    tests: FUSED_TESTS,
  },
  {
    name: "fused: pathwise without the successors' chain",
    file: "algos/ppo/fused.ts",
    from: "for (const j of [...successors].reverse()) {",
    to: "for (const j of [...successors].reverse().slice(0, 0)) {",
    tests: FUSED_TESTS,
  },
  {
    name: "fused: the feedback's batch mean in the paper estimator",
    file: "algos/bppo.ts",
    from: 'reduce: paper || o.peerScale === "sum" ? "sum" : "mean",',
    to: 'reduce: !paper && o.peerScale === "sum" ? "sum" : "mean",',
    tests: FUSED_TESTS,
  },
  {
    name: "fused: a loaded checkpoint not re-read by acting",
    file: "algos/ppo/state.ts",
    from: "ag.fused?.markStale();",
    to: "void 0;",
    tests: FUSED_TESTS,
  },
  {
    name: "fused: the entropy bonus 1.2x in the categorical head",
    file: "algos/ppo/fused.ts",
    from: "kern.f32(dent).fill(-o.entropyCoef / B); // - c_ent mean(H)",
    to: "kern.f32(dent).fill(-1.2 * o.entropyCoef / B);",
    tests: FUSED_TESTS,
  },
  {
    name: "fused: the box peer term's weight 1.1x",
    file: "algos/ppo/fused.ts",
    from: "      B,\n      A,\n      p.weight,\n    );",
    to: "      B,\n      A,\n      1.1 * p.weight,\n    );",
    tests: FUSED_TESTS,
  },
  // the fused MAT (core/fused/transformer.ts, algos/mat/fused.ts), against its tfjs autodiff
  {
    name: "fused MAT: the cross-attention's query gradient dropped",
    file: "core/fused/transformer.ts",
    from: "const drep = addInto(g, d2.dq, ds2); // residual + query",
    to: "const drep = ds2;",
    tests: FUSED_MAT_TESTS,
  },
  {
    name: "fused MAT: the decoder's self-attention not causal",
    file: "core/fused/transformer.ts",
    from: "const ta1 = this.attn1.forward(x, x, x, B, L, true);",
    to: "const ta1 = this.attn1.forward(x, x, x, B, L, false);",
    tests: FUSED_MAT_TESTS,
  },
  {
    name: "fused MAT: the entropy bonus's sign flipped",
    file: "algos/mat/fused.ts",
    from: "kern.f32(dent).fill(-o.entropyCoef / M); // - c_ent mean(H)",
    to: "kern.f32(dent).fill(o.entropyCoef / M);",
    tests: FUSED_MAT_TESTS,
  },
  {
    name: "fused MAT: the value coefficient ignored",
    file: "algos/mat/fused.ts",
    from: "K.axpby(o.valueCoef, dv.ptr, 0, dv.ptr, M);",
    to: "K.axpby(1, dv.ptr, 0, dv.ptr, M);",
    tests: FUSED_MAT_TESTS,
  },
  {
    name: "fused MAT: a loaded checkpoint not re-read",
    file: "algos/mat/mat.ts",
    from: "this.#fresh = false; // the fused copy re-reads the loaded variables",
    to: "void 0;",
    tests: FUSED_MAT_TESTS,
  },
];

/** The tests a mutant runs against: the BPTA tests of `deno task test`. */
const TESTS = ["tests/bpta_sound_test.ts", "tests/bpta_paper_test.ts", "tests/bppo_test.ts"];

const ROOT = new URL("..", import.meta.url).pathname;

/** A scratch copy of the repository's sources (node_modules linked, not copied). */
async function scratch(): Promise<string> {
  const dir = await Deno.makeTempDir({ prefix: "baton_mutant_" });
  for await (const e of Deno.readDir(ROOT)) {
    if ([".git", "runs", "reports", "coverage"].includes(e.name)) continue;
    if (e.name === "node_modules") {
      await Deno.symlink(join(ROOT, e.name), join(dir, e.name));
      continue;
    }
    const cp = await new Deno.Command("cp", { args: ["-r", join(ROOT, e.name), dir] }).output();
    if (cp.code !== 0) throw new Error(`cannot copy ${e.name} to ${dir}`);
  }
  return dir;
}

/** Runs the tests in `dir`; returns the names of the tests that failed (empty: none). */
async function failing(dir: string, tests: string[]): Promise<{ failed: string[]; log: string }> {
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["test", "-P", "--no-check", ...tests],
    cwd: dir,
    env: { NO_COLOR: "1", RUST_BACKTRACE: "0" },
    stdout: "piped",
    stderr: "piped",
  }).output();
  const log = new TextDecoder().decode(out.stdout) + new TextDecoder().decode(out.stderr);
  const failed = [...log.matchAll(/^(.+?) \.\.\. FAILED/gm)].map((m) => m[1]!.trim());
  if (out.code !== 0 && !failed.length) failed.push("(the test run failed to start)");
  return { failed: [...new Set(failed)], log };
}

if (import.meta.main) {
  const { values } = parseArgs({
    args: Deno.args,
    options: { only: { type: "string" }, tests: { type: "string" }, help: { type: "boolean" } },
    strict: true,
  });
  if (values.help) {
    console.log("Usage: deno task mutants [--only name,name] [--tests file,file]");
    Deno.exit(0);
  }
  const only = values.only?.split(",").map((s) => s.trim());
  const forced = values.tests?.split(",");
  const chosen = MUTANTS.filter((m) => !only || only.some((o) => m.name.includes(o)));
  const testsOf = (m: Mutant) => forced ?? [...(m.tests ?? TESTS)];
  // the unmutated tree must pass first, or the table means nothing
  const base = await scratch();
  const clean = await failing(base, [...new Set(chosen.flatMap(testsOf))]);
  await Deno.remove(base, { recursive: true });
  if (clean.failed.length) {
    console.error(`the unmutated tests fail (${clean.failed.join("; ")}): fix them first`);
    Deno.exit(2);
  }
  const rows: string[] = [];
  let survived = 0;
  for (const m of chosen) {
    const dir = await scratch();
    try {
      const path = join(dir, m.file);
      const text = await Deno.readTextFile(path);
      const at = text.split(m.from).length - 1;
      if (at !== 1) throw new Error(`mutant "${m.name}": its text occurs ${at} times in ${m.file}`);
      await Deno.writeTextFile(path, text.replace(m.from, m.to));
      const { failed } = await failing(dir, testsOf(m));
      if (!failed.length) survived++;
      rows.push(`| ${m.name} | ${failed.length ? failed.join("<br>") : "**survived**"} |`);
      console.error(`${m.name}: ${failed.length ? `caught by ${failed.length}` : "SURVIVED"}`);
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  }
  console.log(["", "| mutant | caught by |", "|---|---|", ...rows].join("\n"));
  Deno.exit(survived ? 1 : 0);
}
