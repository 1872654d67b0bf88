// Subprocess bridges, run against stand-in Python packages with the real packages' names and
// APIs (tests/bridge_stubs on PYTHONPATH), with Debian's /usr/bin/python3 and python3-numpy.
import assert from "node:assert/strict";
import { existsSync } from "node:fs";
import {
  checkVecEnv,
  defaultAlgoRegistry,
  defaultEnvRegistry,
  initBackend,
  loadCheckpoint,
  randomActions,
  Rng,
  train,
} from "../mod.ts";
import type { BridgeVecEnv } from "../envs/bridge/client.ts";
import {
  encodeFrame,
  FrameDecoder,
  ProtocolError,
  type ServerFrame,
} from "../envs/bridge/protocol.ts";
import { entries, smallConfig } from "./_helpers.ts";
import { NUMPY } from "./_requires.ts";

const PY = "/usr/bin/python3";
const STUBS = new URL("./bridge_stubs", import.meta.url).pathname;
const envs = defaultEnvRegistry();
const make = (id: string, options: Record<string, unknown>, numEnvs = 4, workers = 1) =>
  envs.make(id, {
    options: { pythonPath: [STUBS], python: PY, workers, ...options },
    numEnvs,
  });

const ADAPTERS: [string, Record<string, unknown>, string][] = [
  ["bridge/smacv2", { map: "protoss_5_vs_5" }, "mappo"],
  ["bridge/mamujoco", { scenario: "HalfCheetah", agentConf: "2x3" }, "mappo"],
  ["bridge/football", { scenario: "academy_3_vs_1_with_keeper", agents: 3 }, "mappo"],
  ["bridge/pettingzoo", { factory: "pz_coop:make_env", wonKey: "won" }, "bppo"],
  ["bridge/vector", { factory: "vec_coop:make" }, "bppo"],
];

for (const [id, options, algo] of ADAPTERS) {
  Deno.test({
    name: `${id}: conformance through the bridge, and ${algo} trains end to end`,
    ignore: !NUMPY,
  }, async () => {
    await checkVecEnv(() => make(id, options, 3, 2), { steps: 15 });
    await initBackend("wasm");
    const cfg = await smallConfig({
      env: id,
      envOptions: { pythonPath: [STUBS], python: PY, workers: 2, ...options },
      algo,
      numEnvs: 8,
      rolloutLength: 10,
      totalSteps: 240,
      evalEpisodes: 4,
      algoOptions: { epochs: 2 },
    });
    const s = await train(cfg, entries(cfg, envs, defaultAlgoRegistry()));
    assert.equal(s.env_steps, 240);
    assert.ok(Number.isFinite(s.final_eval_return));
  });
}

Deno.test({
  name: "bridge: smacv2's battle_won reaches the win rate; masks come through",
  ignore: !NUMPY,
}, async () => {
  const env = await make("bridge/smacv2", { map: "terran_10_vs_11" }, 2);
  assert.equal(env.spec.numAgents, 10);
  assert.deepEqual(env.spec.actionSpace, { kind: "discrete", n: 17 });
  let s = await env.reset(0);
  assert.equal(s.availActions![0], 0, "no-op is unavailable to a live unit");
  const rng = new Rng(0);
  const wins: number[] = [];
  for (let t = 0; t < 20; t++) {
    s = await env.step(randomActions(env, s, rng));
    wins.push(...s.episodes.wins);
  }
  assert.ok(wins.length >= 4 && wins.every((w) => w === 0 || w === 1));
  await env.close();
});

Deno.test({
  name: "bridge: ended episodes arrive as arrays; an env that does not report wins adds none",
  ignore: !NUMPY,
}, async () => {
  for (const [kwargs, withWins] of [[{}, true], [{ wins: false }, false]] as const) {
    const env = await make("bridge/vector", { factory: "vec_coop:make", kwargs }, 5, 2);
    let s = await env.reset(0);
    const rng = new Rng(2);
    const ended = { returns: [] as number[], lengths: [] as number[], wins: [] as number[] };
    for (let t = 0; t < 12; t++) {
      s = await env.step(randomActions(env, s, rng));
      const k = s.done.reduce((a, d, i) => a + (d || s.truncated[i] ? 1 : 0), 0);
      assert.equal(s.episodes.returns.length, k, "one entry per env that ended");
      ended.returns.push(...s.episodes.returns);
      ended.lengths.push(...s.episodes.lengths);
      ended.wins.push(...s.episodes.wins);
    }
    await env.close();
    assert.ok(ended.returns.length >= 10);
    assert.ok(ended.lengths.every((l) => l >= 1 && l <= 6));
    assert.equal(ended.wins.length, withWins ? ended.returns.length : 0);
  }
});

Deno.test({
  name: "bridge: a non-contiguous numpy array from the env arrives intact",
  ignore: !NUMPY,
}, async () => {
  const env = await make(
    "bridge/vector",
    { factory: "vec_coop:make", kwargs: { strided: true } },
    3,
  );
  const s = await env.reset(0);
  assert.deepEqual(
    Array.from(s.availActions!),
    Array.from({ length: 3 * 3 * 4 }, (_, i) => i % 4 < 3 ? 1 : 0),
  );
  await env.close();
});

Deno.test({
  name: "bridge: E envs over W=1 or W=3 children give the same batches, kept intact",
  ignore: !NUMPY,
}, async () => {
  const trace = async (W: number) => {
    const env = await make("bridge/pettingzoo", { factory: "pz_coop:make_env" }, 7, W);
    const rng = new Rng(1);
    const steps = [await env.reset(5)];
    for (let t = 0; t < 12; t++) steps.push(await env.step(randomActions(env, steps.at(-1)!, rng)));
    await env.close();
    // read at the end: W=1 hands out views of the received bytes, which must stay intact
    return steps.flatMap((s) => [...s.reward, ...s.done, ...s.obs]);
  };
  assert.deepEqual(await trace(3), await trace(1));
});

Deno.test("bridge failure: a missing interpreter names it and the fix", async () => {
  await assert.rejects(
    () =>
      envs.make("bridge/pettingzoo", {
        options: { factory: "pz_coop:make_env", python: "/nonexistent/python3" },
        numEnvs: 1,
      }),
    /Python interpreter "\/nonexistent\/python3" was not found: install Python 3 with numpy or pass --env-opt python=/,
  );
});

Deno.test({
  name: "bridge failure: a missing package names the interpreter, the import and the install hint",
  ignore: !NUMPY,
}, async () => {
  await assert.rejects(
    () => envs.make("bridge/smacv2", { options: { python: PY }, numEnvs: 1 }),
    /"\/usr\/bin\/python3" cannot import smacv2.* \(ModuleNotFoundError: No module named 'smacv2'\); install it into that interpreter \(\/usr\/bin\/python3 -m pip install .*smacv2.*\) or pick another with --env-opt python=/,
  );
  await assert.rejects(
    () => make("bridge/pettingzoo", { factory: "no_such_module:make" }, 1),
    /cannot import no_such_module.*-m pip install no_such_module/,
  );
});

function alive(pid: number): boolean {
  try {
    return !/State:\s+Z/.test(Deno.readTextFileSync(`/proc/${pid}/status`));
  } catch {
    return false;
  }
}

Deno.test({
  name: "bridge failure: numpy missing is named with its install hint, not a broken pipe",
  ignore: !NUMPY,
}, async () => {
  const dir = await Deno.makeTempDir();
  await Deno.mkdir(`${dir}/numpy`);
  await Deno.writeTextFile(`${dir}/numpy/__init__.py`, 'raise ImportError("no numpy here")\n');
  try {
    await assert.rejects(
      () => make("bridge/vector", { factory: "vec_coop:make", pythonPath: [dir] }, 2, 2),
      /cannot import numpy \(ImportError: no numpy here\).*apt-get install python3-numpy/,
    );
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test({
  name: "bridge failure: a crashing child stops with its exit code and stderr tail, no zombie",
  ignore: !NUMPY,
}, async () => {
  const env = await make("bridge/pettingzoo", {
    factory: "pz_coop:make_env",
    kwargs: { fail: "crash" },
  }, 2) as BridgeVecEnv;
  const pid = env.children[0]!.pid;
  let s = await env.reset(0);
  const rng = new Rng(0);
  await assert.rejects(async () => {
    for (let t = 0; t < 5; t++) s = await env.step(randomActions(env, s, rng));
  }, /exited with code 7; its stderr ends with:\npz_coop: simulated segfault in the simulator/);
  await env.close();
  assert.equal(alive(pid), false);
});

Deno.test({
  name: "bridge failure: a killed child is reported; a raising adapter is an adapter error",
  ignore: !NUMPY,
}, async () => {
  const env = await make("bridge/pettingzoo", { factory: "pz_coop:make_env" }, 2) as BridgeVecEnv;
  const s = await env.reset(0);
  Deno.kill(env.children[0]!.pid, "SIGKILL");
  await assert.rejects(
    () => env.step(randomActions(env, s, new Rng(0))),
    /exited with code \d+ \(signal SIGKILL\)|exited with code 137/,
  );
  await env.close();
  const env2 = await make("bridge/pettingzoo", {
    factory: "pz_coop:make_env",
    kwargs: { fail: "raise", fail_at: 1 },
  }, 1);
  const s2 = await env2.reset(0);
  await assert.rejects(
    () => env2.step(randomActions(env2, s2, new Rng(0))),
    /adapter error: RuntimeError: simulator exploded/,
  );
  await env2.close();
});

Deno.test(
  { name: "bridge failure: a hanging child times out and is killed", ignore: !NUMPY },
  async () => {
    const env = await make("bridge/pettingzoo", {
      factory: "pz_coop:make_env",
      kwargs: { fail: "hang", fail_at: 1 },
      timeoutS: 1,
    }, 1) as BridgeVecEnv;
    const pid = env.children[0]!.pid;
    const s = await env.reset(0);
    const t0 = performance.now();
    await assert.rejects(
      () => env.step(randomActions(env, s, new Rng(0))),
      /did not answer "step" within 1s; the child was killed/,
    );
    assert.ok(performance.now() - t0 < 5000);
    await env.close();
    assert.equal(alive(pid), false);
  },
);

Deno.test({
  name: "bridge: an env that prints to stdout does not corrupt the frames",
  ignore: !NUMPY,
}, async () => {
  const env = await make("bridge/pettingzoo", {
    factory: "pz_coop:make_env",
    kwargs: { fail: "chatty", fail_at: 1 },
  }, 2);
  let s = await env.reset(0);
  const rng = new Rng(0);
  for (let t = 0; t < 8; t++) s = await env.step(randomActions(env, s, rng));
  assert.equal(s.reward.length, 2);
  await env.close();
});

for (const fail of ["garbage", "oversized"]) {
  Deno.test({
    name: `bridge failure: a ${fail} frame is a protocol error, not a hang or a crash`,
    ignore: !NUMPY,
  }, async () => {
    const env = await make("bridge/pettingzoo", {
      factory: "pz_coop:make_env",
      kwargs: { fail, fail_at: 1 },
      timeoutS: 20,
    }, 1) as BridgeVecEnv;
    const s = await env.reset(0);
    const t0 = performance.now();
    await assert.rejects(
      () => env.step(randomActions(env, s, new Rng(0))),
      fail === "garbage"
        ? /malformed frame: (Header|Frame)/
        : /malformed frame: Frame of \d+ bytes exceeds/,
    );
    assert.ok(performance.now() - t0 < 5000);
    await env.close();
  });
}

Deno.test({
  name: "bridge failure: the trainer stops with the child's error and keeps the last checkpoint",
  ignore: !NUMPY,
}, async () => {
  await initBackend("wasm");
  const cfg = await smallConfig({
    env: "bridge/pettingzoo",
    envOptions: {
      pythonPath: [STUBS],
      factory: "pz_coop:make_env",
      kwargs: { fail: "crash", fail_at: 25 },
      python: PY,
    },
    numEnvs: 1,
    rolloutLength: 10,
    totalSteps: 100,
    checkpointEvery: 1,
    evalEpisodes: 2,
    evalEvery: 0,
    algoOptions: { epochs: 1 },
  });
  await assert.rejects(
    () => train(cfg, entries(cfg, envs, defaultAlgoRegistry())),
    /exited with code 7/,
  );
  const ck = await loadCheckpoint(cfg.out!);
  assert.equal(ck.iteration, 2);
});

Deno.test("frame decoder fuzz: random, truncated and mutated input never hangs or throws anything but ProtocolError", () => {
  const rng = new Rng(42);
  const valid = encodeFrame({ t: "obs" }, {
    obs: Float32Array.from([1, 2, 3, 4]),
    done: Uint8Array.from([1, 0, 1]),
  });
  // a valid frame round-trips (the decoder reads the server's frames; encodeFrame writes the same layout)
  const d0 = new FrameDecoder();
  d0.push(valid);
  const f = d0.next()!;
  assert.equal(f.t, "obs");
  assert.deepEqual(Array.from(f.data.obs!), [1, 2, 3, 4]);
  assert.deepEqual(Array.from(f.data.done!), [1, 0, 1]);
  let protocolErrors = 0, frames = 0;
  for (let k = 0; k < 3000; k++) {
    const d = new FrameDecoder(1 << 20);
    let bytes: Uint8Array;
    const mode = k % 4;
    if (mode === 0) bytes = Uint8Array.from({ length: rng.int(64) }, () => rng.int(256));
    else if (mode === 1) bytes = valid.slice(0, rng.int(valid.length));
    else if (mode === 3) {
      bytes = new Uint8Array(2 * valid.length); // two valid frames, arbitrary chunking
      bytes.set(valid);
      bytes.set(valid, valid.length);
    } else {
      bytes = valid.slice();
      for (let m = 0; m < 1 + rng.int(4); m++) bytes[rng.int(bytes.length)] = rng.int(256);
    }
    // feed in random-sized chunks
    try {
      for (let p = 0; p < bytes.length;) {
        const q = Math.min(bytes.length, p + 1 + rng.int(16));
        d.push(bytes.subarray(p, q));
        p = q;
        while (d.next()) frames++;
      }
    } catch (err) {
      assert.ok(
        err instanceof ProtocolError,
        `unexpected ${(err as Error).name}: ${(err as Error).message}`,
      );
      protocolErrors++;
    }
  }
  assert.ok(protocolErrors > 100, `protocol errors ${protocolErrors}`);
  assert.ok(frames >= 1500, `frames ${frames}`); // every two-frame input decodes to exactly 2
});

Deno.test("frame decoder: frames split or joined across chunks decode to the arrays sent, each its own", () => {
  const frame = (k: number) =>
    encodeFrame({ t: "obs" }, {
      obs: Float32Array.from({ length: 6 }, (_, i) => k * 10 + i),
      done: Uint8Array.from([k % 2, 1, 0]), // 3 bytes: the next array needs padding
      reward: Float32Array.from([k + 0.5]),
    });
  const stream = new Uint8Array(5 * frame(0).length);
  for (let k = 0; k < 5; k++) stream.set(frame(k), k * frame(0).length);
  const rng = new Rng(3);
  for (let trial = 0; trial < 50; trial++) {
    const d = new FrameDecoder();
    const got: ServerFrame[] = [];
    for (let p = 0; p < stream.length;) {
      // chunks from 1 byte to more than two frames, each a fresh buffer as Deno's reads are
      const q = Math.min(stream.length, p + 1 + rng.int(2.5 * frame(0).length));
      d.push(stream.slice(p, q));
      p = q;
      for (let f; (f = d.next());) got.push(f);
    }
    assert.equal(got.length, 5);
    assert.equal(d.pending, 0);
    got.forEach((f, k) => {
      // values are checked after all input was pushed: no frame's arrays alias a later one's
      assert.deepEqual(Array.from(f.data.obs!), Array.from({ length: 6 }, (_, i) => k * 10 + i));
      assert.deepEqual(Array.from(f.data.done!), [k % 2, 1, 0]);
      assert.deepEqual(Array.from(f.data.reward!), [k + 0.5]);
    });
  }
});

async function ps(args: string[]): Promise<number[]> {
  const out = await new Deno.Command("ps", {
    args: [...args, "-o", "pid=,stat="],
    stdout: "piped",
    stderr: "null",
  })
    .output();
  return new TextDecoder().decode(out.stdout).trim().split("\n").filter((l) =>
    l.trim() && !/\sZ/.test(l)
  )
    .map((l) => Number(l.trim().split(/\s+/)[0]));
}

/**
 * Starts `train.ts` on bridge/pettingzoo (stand-in package, `marker` on its PYTHONPATH so its
 * children can be told apart) for a long budget; the caller stops it.
 */
function spawnBridgeTrainer(
  marker: string,
  extra: string[],
  stderr: "piped" | "null" = "piped",
): Deno.ChildProcess {
  return new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      "-A",
      "train.ts",
      "--env",
      "bridge/pettingzoo",
      "--env-opt",
      "factory=pz_coop:make_env",
      "--env-opt",
      `pythonPath=${JSON.stringify([STUBS, marker])}`,
      "--env-opt",
      `python=${PY}`,
      "--num-envs",
      "4",
      "--total-steps",
      "10000000",
      "--eval-every",
      "0",
      "--eval-episodes",
      "2",
      "--algo",
      "mappo",
      "--out",
      `${marker}/run`,
      ...extra,
    ],
    env: { NO_COLOR: "1", RUST_BACKTRACE: "0" },
    stdout: "null",
    stderr,
  }).spawn();
}

Deno.test({
  name: "bridge: Ctrl-C stops training with a checkpoint and terminates every child",
  ignore: !NUMPY,
}, async () => {
  const marker = await Deno.makeTempDir({ prefix: "baton_sigint_" });
  const proc = spawnBridgeTrainer(marker, ["--env-opt", "workers=2", "--rollout-length", "20"]);
  let kids: number[] = [];
  for (let t = 0; t < 200 && kids.length < 4; t++) {
    await new Promise((r) => setTimeout(r, 100));
    kids = await ps(["--ppid", String(proc.pid)]); // 2 training + 2 eval bridge children
  }
  assert.ok(kids.length >= 2, `bridge children seen: ${kids.length}`);
  await new Promise((r) => setTimeout(r, 1500)); // let a few iterations run
  proc.kill("SIGINT");
  const status = await proc.status;
  const stderr = new TextDecoder().decode(
    (await proc.stderr.getReader().read()).value ?? new Uint8Array(),
  );
  assert.equal(status.code, 130, stderr);
  const survivors = () => ps(["-p", kids.join(",")]);
  for (let t = 0; t < 50 && (await survivors()).length; t++) {
    await new Promise((r) => setTimeout(r, 100));
  }
  assert.deepEqual(await survivors(), [], "no bridge child survives Ctrl-C");
  assert.ok(existsSync(`${marker}/run/checkpoint.json`), "a checkpoint was written on Ctrl-C");
});

Deno.test("frame decoder: a large frame in many small chunks decodes whole; an oversized one is refused", () => {
  const obs = new Float32Array(4 * 1024 * 1024).map((_, i) => i % 97); // a 16 MB array
  const frame = encodeFrame({ t: "obs" }, { obs });
  const dec = new FrameDecoder();
  for (let at = 0; at < frame.length; at += 16 * 1024) {
    dec.push(frame.slice(at, at + 16 * 1024));
    if (at + 16 * 1024 < frame.length) assert.equal(dec.next(), null, "not whole yet");
  }
  const f = dec.next()!;
  assert.equal(f.data.obs!.length, obs.length);
  assert.equal(f.data.obs![12345], 12345 % 97);
  // (decode speed, MB/s by chunk size, is measured by `deno task bench --only bridge`)
  assert.equal(dec.pending, 0);
  const small = new FrameDecoder(1024);
  small.push(frame.slice(0, 64));
  assert.throws(() => small.next(), /exceeds the 1024-byte limit/);
});

Deno.test({
  name: "bridge: kill -9 of the trainer leaves no Python child behind (parent-death detection)",
  ignore: !NUMPY,
}, async () => {
  const marker = await Deno.makeTempDir({ prefix: "baton_kill9_" });
  const proc = spawnBridgeTrainer(marker, [
    "--env-opt",
    `kwargs=${JSON.stringify({ fail: "hang", fail_at: 30 })}`, // busy, not reading its stdin
    "--quiet",
  ], "null");
  let kids: number[] = [];
  for (let t = 0; t < 200 && kids.length < 2; t++) {
    await new Promise((r) => setTimeout(r, 100));
    kids = await ps(["--ppid", String(proc.pid)]);
  }
  assert.ok(kids.length >= 2, `bridge children seen: ${kids.length}`);
  await new Promise((r) => setTimeout(r, 1500)); // the training child is now hanging in step()
  proc.kill("SIGKILL");
  await proc.status;
  const survivors = () => ps(["-p", kids.join(",")]);
  for (let t = 0; t < 50 && (await survivors()).length; t++) {
    await new Promise((r) => setTimeout(r, 100));
  }
  assert.deepEqual(await survivors(), [], "every bridge child exits by itself");
});
