/**
 * MA-MuJoCo: HalfCheetah-2x3 env steps/s at E = 1, 16, 128 and the physics of the same models
 * in wasm next to Debian's native libmujoco (C driver built here).
 *
 * @module
 */
import type { BenchOptions } from "./_opts.ts";

const MUJOCO_DRIVER = `#include <mujoco/mujoco.h>
#include <stdio.h>
#include <stdlib.h>
#include <math.h>
#include <time.h>
/* argv: model.xml steps frame_skip. Prints physics steps per second (sin controls). */
int main(int argc, char** argv) {
  char err[1000];
  mjModel* m = mj_loadXML(argv[1], 0, err, 1000);
  if (!m) { fprintf(stderr, "%s\\n", err); return 1; }
  mjData* d = mj_makeData(m);
  long n = atol(argv[2]); int skip = atoi(argv[3]);
  struct timespec t0, t1; double acc = 0;
  clock_gettime(CLOCK_MONOTONIC, &t0);
  for (long i = 0; i < n; i++) {
    for (int u = 0; u < m->nu; u++) d->ctrl[u] = sin(0.01 * i + u);
    for (int k = 0; k < skip; k++) mj_step(m, d);
    acc += d->qpos[0] + d->qvel[0];
    if (i % 1000 == 999) mj_resetData(m, d);
  }
  clock_gettime(CLOCK_MONOTONIC, &t1);
  double s = (t1.tv_sec - t0.tv_sec) + 1e-9 * (t1.tv_nsec - t0.tv_nsec);
  printf("%f %f %s\\n", n * skip / s, acc, mj_version() ? "ok" : "");
  return 0;
}
`;

/**
 * MA-MuJoCo: HalfCheetah-2x3 env steps/s at E = 1, 16, 128 (mujoco-js wasm, this process),
 * and the physics alone (mj_step with controls written, same model) in wasm next to Debian's
 * native libmujoco (a C driver compiled here with gcc; `apt-get install libmujoco-dev`).
 */
/**
 * Runs this benchmark and prints its table.
 * @param o shared bench flags
 */
export async function run(o: BenchOptions): Promise<void> {
  const { loadMujoco, compileModel, MamujocoVecEnv } = await import(
    "../envs/mamujoco/mamujoco.ts"
  );
  const { ROBOTS } = await import("../envs/mamujoco/robots.ts");
  const mj = await loadMujoco();
  const seconds = o.quick ? 0.5 : 2;
  console.log("\n## MA-MuJoCo (mujoco-js 3.3.8 wasm vs native libmujoco), one core");
  console.log("| robot | physics steps/s wasm | native (Debian libmujoco) | wasm / native |");
  console.log("|---|---:|---:|---:|");
  const dir = await Deno.makeTempDir({ prefix: "baton_mj_bench_" });
  let driver: string | null = null;
  try {
    await Deno.writeTextFile(`${dir}/step.c`, MUJOCO_DRIVER);
    const cc = await new Deno.Command("gcc", {
      args: ["-O2", `${dir}/step.c`, "-o", `${dir}/step`, "-lmujoco", "-lm"],
      stderr: "piped",
    }).output();
    if (cc.code === 0) driver = `${dir}/step`;
    else {console.log(
        `(native driver not built: ${
          new TextDecoder().decode(cc.stderr).split("\n")[0]
        }; apt-get install libmujoco-dev gcc)`,
      );}
  } catch (err) {
    console.log(`(native driver not built: ${(err as Error).message})`);
  }
  let nativeCheetah = NaN;
  for (const name of ["HalfCheetah", "Hopper", "Ant"]) {
    const r = ROBOTS[name]!;
    const m = compileModel(mj, r.xml, name), d = new mj.MjData(m);
    const nu = m.nu as number;
    let steps = 0, acc = 0;
    const ctrl = d.ctrl as Float64Array, qpos = d.qpos as Float64Array; // views, fetched once
    const t0 = performance.now();
    while (performance.now() - t0 < seconds * 1000) {
      for (let i = 0; i < 100; i++, steps++) {
        for (let u = 0; u < nu; u++) ctrl[u] = Math.sin(0.01 * steps + u);
        for (let k = 0; k < r.frameSkip; k++) mj.mj_step(m, d);
        acc += qpos[0]!;
        if (steps % 1000 === 999) mj.mj_resetData(m, d);
      }
    }
    const wasm = (steps * r.frameSkip) / ((performance.now() - t0) / 1000);
    d.delete();
    m.delete();
    let native = NaN;
    if (driver) {
      await Deno.writeTextFile(`${dir}/${name}.xml`, r.xml);
      const n = Math.max(1000, Math.round((wasm / r.frameSkip) * seconds * 2));
      const out = await new Deno.Command(driver, {
        args: [`${dir}/${name}.xml`, String(n), String(r.frameSkip)],
        stdout: "piped",
        stderr: "piped",
      }).output();
      if (out.code === 0) native = Number(new TextDecoder().decode(out.stdout).split(" ")[0]);
      else console.log(`(native ${name}: ${new TextDecoder().decode(out.stderr).trim()})`);
    }
    if (name === "HalfCheetah") nativeCheetah = native;
    console.log(
      `| ${name} | ${Math.round(wasm).toLocaleString("en-US")} | ${
        Number.isFinite(native) ? Math.round(native).toLocaleString("en-US") : "-"
      } | ${Number.isFinite(native) ? (wasm / native).toFixed(2) : "-"} |`,
    );
    if (!Number.isFinite(acc)) console.log("(wasm state diverged)");
  }
  console.log(
    "\n| env | E | env steps/s | physics steps/s inside env.step (x5) | / native physics |",
  );
  console.log("|---|---:|---:|---:|---:|");
  for (const E of [1, 16, 128]) {
    const env = new MamujocoVecEnv(mj, "HalfCheetah", "2x3", E, {
      obsk: 1,
      episodeLimit: 1000,
      obs: "local",
    });
    await env.reset(0);
    const a = new Float32Array(E * 6);
    let steps = 0, envMs = 0;
    const t0 = performance.now();
    while (performance.now() - t0 < seconds * 1000) {
      for (let i = 0; i < a.length; i++) a[i] = Math.sin(0.1 * steps + i);
      const t1 = performance.now();
      await env.step(a);
      envMs += performance.now() - t1;
      steps++;
    }
    const rate = (steps * E) / (envMs / 1000);
    await env.close();
    console.log(
      `| mamujoco/HalfCheetah-2x3 | ${E} | ${Math.round(rate).toLocaleString("en-US")} | ${
        Math.round(rate * 5).toLocaleString("en-US")
      } | ${Number.isFinite(nativeCheetah) ? ((rate * 5) / nativeCheetah).toFixed(2) : "-"} |`,
    );
  }
  console.log(
    "Target (issue #6): the wasm env within 2x of native physics speed (last column >= 0.5).",
  );
  await Deno.remove(dir, { recursive: true });
}
