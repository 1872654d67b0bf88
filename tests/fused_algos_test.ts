// `--kernels fused` against `--kernels tfjs` on whole updates: the same algorithm, seed and
// rollout give the same parameters, Adam slots and diagnostics to float tolerance (the fused
// path's gradients are written out; tfjs's are autodiff). Configurations: BPPO's paper and
// reference estimators, minibatches, availability masks, a random chain order, the factor and
// peer term on and off; and the refusals of what the fused path does not cover yet.
import assert from "node:assert/strict";
import {
  type AlgoState,
  defaultAlgoRegistry,
  discrete,
  type EnvSpec,
  initBackend,
  Rng,
  type Rollout,
} from "../mod.ts";
import { box } from "../core/spaces.ts";
import { tf } from "../core/deps.ts";
import { kernels } from "../core/fused/kernels.ts";
import { disposeBatch, prepareBatch } from "../algos/ppo/batch.ts";
import type { PpoAgents } from "../algos/ppo/agents.ts";
import { assertClose } from "./_helpers.ts";

const algos = defaultAlgoRegistry();
const SPEC: EnvSpec = {
  numAgents: 3,
  obsDim: 5,
  stateDim: 4,
  actionSpace: discrete(4),
  episodeLimit: 8,
};

/** A random rollout with masks, Gumbel noise, and behaviour log-probs near the policy's (box
 * actions: Gaussian actions and their standard-normal noise). */
function rollout(spec: EnvSpec, T: number, E: number, seed: number, memoryH = 0): Rollout {
  const rng = new Rng(seed), n = spec.numAgents, N = T * E;
  const boxA = spec.actionSpace.kind === "box";
  const A = spec.actionSpace.kind === "discrete" ? spec.actionSpace.n : spec.actionSpace.dim;
  const f = (len: number, s = 1) => Float32Array.from({ length: len }, () => s * rng.normal());
  const avail = boxA ? null : new Uint8Array(N * n * A);
  const actions = boxA ? f(N * n * A) : new Int32Array(N * n);
  const actionVecs = boxA ? Float32Array.from(actions) : new Float32Array(N * n * A);
  if (!boxA) {
    for (let q = 0; q < N * n; q++) {
      for (let c = 0; c < A; c++) avail![q * A + c] = rng.uniform() < 0.75 ? 1 : 0;
      const a = rng.int(A);
      avail![q * A + a] = 1;
      actions[q] = a;
      actionVecs[q * A + a] = 1;
    }
  }
  return {
    T,
    E,
    n,
    obs: f(N * n * spec.obsDim),
    state: f(N * spec.stateDim),
    avail,
    actions,
    actionVecs,
    logp: Float32Array.from(
      { length: N * n },
      () => (boxA ? -A * 1.42 : -Math.log(A)) + 0.3 * rng.normal(),
    ),
    values: f(N * n),
    rewards: f(N),
    dones: new Uint8Array(N),
    advantages: f(N * n),
    returns: f(N * n),
    noise: boxA ? f(N * n * A) : Float32Array.from({ length: N * n * A }, () => rng.gumbel()),
    ...(memoryH
      ? {
        memory: f(N * 2 * n * memoryH, 0.5), // every agent's actor then critic GRU state
        starts: Uint8Array.from({ length: N }, (_, q) => (q < E || q % 7 === 0 ? 1 : 0)),
      }
      : {}),
  };
}

async function after(
  name: string,
  opts: Record<string, unknown>,
  kernels: "tfjs" | "fused",
  r: Rollout,
  updates = 2,
  threads = 1,
  spec = SPEC,
) {
  const entry = algos.get(name);
  const algo = entry.create(spec, {
    options: entry.options.parse({ hidden: 16, epochs: 3, ...opts }),
    rng: new Rng(1),
    threads,
    kernels,
  });
  const metrics = [];
  for (let u = 0; u < updates; u++) {
    algo.beginIteration?.(new Rng(10 + u));
    metrics.push(await algo.update(r, { rng: new Rng(2 + u), progress: u / updates }));
  }
  const st: AlgoState = await algo.getState();
  await algo.close?.();
  algo.dispose();
  return { tensors: st.tensors, metrics };
}

/**
 * Asserts that two updates' states and metrics (timings aside) agree: every tensor within
 * `tensors`, every metric within `metrics` (and the fused side logs every metric tfjs logs).
 */
function assertSameUpdates(
  b: Awaited<ReturnType<typeof after>>,
  a: Awaited<ReturnType<typeof after>>,
  tol: { tensors: { atol: number; rtol: number }; metrics: { atol: number; rtol: number } },
): void {
  for (const key of Object.keys(a.tensors)) {
    assertClose(b.tensors[key]!.data, a.tensors[key]!.data, tol.tensors);
  }
  for (const [u, m] of a.metrics.entries()) {
    for (const [k, v] of Object.entries(m)) {
      if (k.startsWith("time/")) continue;
      const w = b.metrics[u]![k];
      assert.ok(w !== undefined, `fused metrics lack ${k}`);
      assertClose([w], [v], tol.metrics);
    }
  }
}

const CASES: [string, Record<string, unknown>][] = [
  ["paper estimator, one minibatch", {}],
  ["paper estimator, 2 minibatches, clip 0.05", { minibatches: 2, clip: 0.05 }],
  ["reference estimator, 2 minibatches", { estimator: "reference", minibatches: 2 }],
  ["reference, summed feedback, peer weight 1/4", {
    estimator: "reference",
    peerScale: "sum",
    peerWeight: 0.25,
  }],
  ["random chain order, tau 0.5", { order: "random", gumbelTemperature: 0.5 }],
  ["peer term and factor off", { peerWeight: 0, useFactor: false }],
  ["tanh, 2 layers, no feature norm", { activation: "tanh", layers: 2, featureNorm: false }],
  ["pathwise estimator", { estimator: "pathwise" }],
  ["pathwise, 2 minibatches, random order, tau 0.7", {
    estimator: "pathwise",
    minibatches: 2,
    order: "random",
    gumbelTemperature: 0.7,
  }],
];

for (const [label, opts] of CASES) {
  Deno.test(`fused kernels: a BPPO update equals tfjs's (${label})`, async () => {
    await initBackend("cpu");
    const r = rollout(SPEC, 12, 4, 3);
    const a = await after("bppo", opts, "tfjs", r);
    const b = await after("bppo", opts, "fused", r);
    const keys = Object.keys(a.tensors);
    assert.deepEqual(Object.keys(b.tensors), keys);
    let actorKeys = 0;
    for (const key of keys) {
      const tol = key.startsWith("adam") ? { atol: 2e-5, rtol: 2e-3 } : { atol: 2e-5, rtol: 1e-3 };
      if (key.startsWith("actor")) actorKeys++;
      assertClose(b.tensors[key]!.data, a.tensors[key]!.data, tol);
    }
    assert.ok(actorKeys >= 3 * 8, `actor tensors compared: ${actorKeys}`);
    for (const [u, m] of a.metrics.entries()) {
      for (const [name, v] of Object.entries(m)) {
        if (name.startsWith("time/")) continue;
        const w = b.metrics[u]![name];
        assert.ok(w !== undefined, `fused metrics lack ${name}`);
        assertClose([w], [v], { atol: 1e-5, rtol: 2e-3 });
      }
    }
  });
}

for (
  const [name, opts] of [
    ["mappo", {}],
    ["armappo", { minibatches: 2 }],
    ["ippo", { activation: "tanh" }],
    ["happo", { minibatches: 2 }],
  ] as [string, Record<string, unknown>][]
) {
  Deno.test(`fused kernels: a ${name} update equals tfjs's`, async () => {
    await initBackend("cpu");
    const r = rollout(SPEC, 12, 4, 4);
    const a = await after(name, opts, "tfjs", r);
    const b = await after(name, opts, "fused", r);
    assertSameUpdates(b, a, {
      tensors: { atol: 2e-5, rtol: 2e-3 },
      metrics: { atol: 1e-5, rtol: 2e-3 },
    });
  });
}

const BOX: EnvSpec = { ...SPEC, actionSpace: box(3, -1, 1) };
for (
  const [name, opts] of [
    ["bppo", {}],
    ["bppo", { estimator: "reference", peerScale: "sum", minibatches: 2 }],
    ["bppo", { estimator: "pathwise" }],
    ["mappo", { entropyCoef: 0.05 }],
    ["happo", {}],
  ] as [string, Record<string, unknown>][]
) {
  Deno.test(`fused kernels: a ${name} update with Gaussian actions equals tfjs's (${JSON.stringify(opts)})`, async () => {
    await initBackend("cpu");
    const r = rollout(BOX, 12, 4, 8);
    const a = await after(name, opts, "tfjs", r, 2, 1, BOX);
    const b = await after(name, opts, "fused", r, 2, 1, BOX);
    assert.ok(Object.keys(a.tensors).some((k) => k.endsWith("logStd")), "a logStd is compared");
    assertSameUpdates(b, a, {
      tensors: { atol: 2e-5, rtol: 2e-3 },
      metrics: { atol: 1e-5, rtol: 2e-3 },
    });
  });
}

for (
  const [name, opts, spec] of [
    ["bppo", { recurrent: "gru", chunk: 4 }, SPEC],
    ["bppo", { recurrent: "gru", chunk: 3, minibatches: 2, estimator: "reference" }, SPEC],
    ["mappo", { recurrent: "gru", chunk: 4, minibatches: 2 }, SPEC],
    ["bppo", { recurrent: "gru", chunk: 6 }, BOX],
  ] as [string, Record<string, unknown>, EnvSpec][]
) {
  Deno.test(`fused kernels: a recurrent (GRU) ${name} update equals tfjs's (${JSON.stringify(opts)}, ${spec.actionSpace.kind})`, async () => {
    await initBackend("cpu");
    const r = rollout(spec, 12, 4, 11, 16);
    const a = await after(name, opts, "tfjs", r, 2, 1, spec);
    const b = await after(name, opts, "fused", r, 2, 1, spec);
    assert.ok(Object.keys(a.tensors).some((k) => k.includes("gru")), "GRU tensors are compared");
    assertSameUpdates(b, a, {
      tensors: { atol: 3e-5, rtol: 3e-3 },
      metrics: { atol: 2e-5, rtol: 3e-3 },
    });
  });
}

// Gradients themselves, not only where Adam takes them: Adam's first step is lr sign(g) and its
// slots compare g only down to their absolute tolerance. With eps = 1e3 a step is
// lr g / (|g| + eps) ~ g / 10 (lr 100), so an epoch's change of each parameter is its gradient
// (scaled; for BPPO and
// HAPPO each agent's own, taken after its successors' updates), compared relative to its size.
// Two updates: the first from the near-uniform initial policies (where the entropy bonus has no
// gradient), the second from the far-from-uniform ones the first leaves.
async function stepsOf(
  name: string,
  opts: Record<string, unknown>,
  kernels: "tfjs" | "fused",
  r: Rollout,
  spec: EnvSpec,
): Promise<AlgoState["tensors"][]> {
  const entry = algos.get(name);
  const algo = entry.create(spec, {
    options: entry.options.parse({ hidden: 16, ...opts }),
    rng: new Rng(1),
    threads: 1,
    kernels,
  });
  const states = [(await algo.getState()).tensors];
  for (let u = 0; u < 2; u++) {
    algo.beginIteration?.(new Rng(10 + u));
    await algo.update(r, { rng: new Rng(2 + u), progress: u / 2 });
    states.push((await algo.getState()).tensors);
  }
  await algo.close?.();
  algo.dispose();
  return states;
}

for (
  const [name, opts, spec] of [
    ["bppo", {}, SPEC],
    ["bppo", { estimator: "reference", peerScale: "sum" }, SPEC],
    ["bppo", { estimator: "pathwise" }, SPEC],
    ["bppo", {}, BOX],
    ["bppo", { estimator: "pathwise" }, BOX],
    ["mappo", {}, SPEC],
    ["armappo", {}, BOX],
    ["happo", {}, SPEC],
    ["bppo", { recurrent: "gru", chunk: 4 }, SPEC],
  ] as [string, Record<string, unknown>, EnvSpec][]
) {
  Deno.test(`fused kernels: every gradient of a ${name} update equals tfjs autodiff's (${JSON.stringify(opts)}, ${spec.actionSpace.kind})`, async () => {
    await initBackend("cpu");
    // (a large entropy bonus, so its term is a visible part of each gradient)
    const linear = {
      epochs: 1,
      lr: 100,
      criticLr: 100,
      adamEps: 1e3,
      maxGradNorm: 0,
      entropyCoef: 0.3,
      ...opts,
    };
    const r = rollout(spec, 12, 4, 13, opts.recurrent ? 16 : 0);
    const a = await stepsOf(name, linear, "tfjs", r, spec);
    const b = await stepsOf(name, linear, "fused", r, spec);
    let moved = 0;
    for (const u of [1, 2]) {
      for (const key of Object.keys(a[u]!)) {
        if (key.startsWith("adam") || key.includes("/adam")) continue;
        const da = a[u]![key]!.data.map((x, i) => x - a[u - 1]![key]!.data[i]!);
        const db = b[u]![key]!.data.map((x, i) => x - b[u - 1]![key]!.data[i]!);
        const scale = da.reduce((m, x) => Math.max(m, Math.abs(x)), 0);
        if (scale > 0) moved++;
        try {
          assertClose(db, da, { atol: 2e-3 * scale + 1e-6, rtol: 2e-3 });
        } catch (e) {
          throw new Error(`update ${u}, ${key}: ${(e as Error).message}`);
        }
      }
    }
    assert.ok(moved >= 16, `${moved} tensors moved`);
  });
}

Deno.test("fused kernels: critics on a Worker (2 threads) give bit-identical results to one thread", async () => {
  await initBackend("wasm");
  const r = rollout(SPEC, 12, 4, 6);
  const one = await after("bppo", { minibatches: 2 }, "fused", r, 2, 1);
  const two = await after("bppo", { minibatches: 2 }, "fused", r, 2, 2);
  for (const key of Object.keys(one.tensors)) {
    assert.deepEqual(two.tensors[key]!.data, one.tensors[key]!.data, key);
  }
  assert.equal(two.metrics[1]!["losses/value"], one.metrics[1]!["losses/value"]);
});

Deno.test("fused kernels: a parameter update moves the actors (the comparison is not vacuous)", async () => {
  await initBackend("cpu");
  const r = rollout(SPEC, 12, 4, 3);
  const a = await after("bppo", {}, "fused", r, 1);
  const z = await after("bppo", {}, "fused", r, 0);
  const d = a.tensors["actor0/head/W"]!.data.reduce(
    (s, v, q) => s + Math.abs(v - z.tensors["actor0/head/W"]!.data[q]!),
    0,
  );
  assert.ok(d > 1e-4, `the update changed agent 0's head by ${d}`);
});

Deno.test("fused kernels: what the fused path does not cover yet is refused with the option to change", async () => {
  await initBackend("cpu");
  const make = (spec: EnvSpec, opts: Record<string, unknown>) =>
    algos.get("bppo").create(spec, {
      options: algos.get("bppo").options.parse({ hidden: 8, ...opts }),
      rng: new Rng(1),
      threads: 1,
      kernels: "fused",
    });
  const wide: EnvSpec = { ...SPEC, actionSpace: discrete(300) };
  const before = tf.memory().numTensors;
  assert.throws(() => make(wide, {}), /up to 256 actions.*--kernels tfjs/);
  assert.equal(tf.memory().numTensors, before, "a refused algorithm leaves no tensor behind");
  const shared = () =>
    algos.get("mappo").create(SPEC, {
      options: algos.get("mappo").options.parse({ hidden: 8, share: true }),
      rng: new Rng(1),
      threads: 1,
      kernels: "fused",
    });
  assert.throws(shared, /share=true.*--kernels tfjs/);
});

Deno.test("fused kernels: acting gives tfjs's actions and log-probs, and follows a loaded checkpoint", async () => {
  await initBackend("cpu");
  const make = (kernels: "tfjs" | "fused", seed: number) =>
    algos.get("bppo").create(SPEC, {
      options: algos.get("bppo").options.parse({ hidden: 16 }),
      rng: new Rng(seed),
      threads: 1,
      kernels,
    });
  const E = 7, rng = new Rng(9);
  const input = {
    obs: Float32Array.from({ length: E * 3 * SPEC.obsDim }, () => rng.normal()),
    state: Float32Array.from({ length: E * SPEC.stateDim }, () => rng.normal()),
    avail: null,
    E,
  };
  const a = make("tfjs", 1), b = make("fused", 1);
  for (const greedy of [false, true]) {
    const x = await a.act(input, { rng: new Rng(3), greedy });
    const y = await b.act(input, { rng: new Rng(3), greedy });
    assert.deepEqual(Array.from(y.actions), Array.from(x.actions));
    assertClose(y.logp, x.logp, { atol: 1e-5 });
  }
  // an update, then its state loaded into a fused learner that started elsewhere
  await b.update(rollout(SPEC, 12, 4, 3), { rng: new Rng(2), progress: 0 });
  const c = make("fused", 77);
  await c.act(input, { rng: new Rng(3), greedy: true }); // its fused copy is now of seed 77
  await c.setState(await b.getState());
  const yb = await b.act(input, { rng: new Rng(4), greedy: false });
  const yc = await c.act(input, { rng: new Rng(4), greedy: false });
  assert.deepEqual(Array.from(yc.actions), Array.from(yb.actions));
  assert.deepEqual(Array.from(yc.logp), Array.from(yb.logp));
  for (const x of [a, b, c]) x.dispose();
});

Deno.test("fused kernels: recurrent acting gives tfjs's actions, log-probs and next memory", async () => {
  await initBackend("cpu");
  const make = (kernels: "tfjs" | "fused") =>
    algos.get("bppo").create(SPEC, {
      options: algos.get("bppo").options.parse({ hidden: 16, recurrent: "gru" }),
      rng: new Rng(1),
      threads: 1,
      kernels,
    });
  const E = 5, rng = new Rng(12), n = 3, H = 16;
  const input = {
    obs: Float32Array.from({ length: E * n * SPEC.obsDim }, () => rng.normal()),
    state: Float32Array.from({ length: E * SPEC.stateDim }, () => rng.normal()),
    avail: null,
    E,
    memory: Float32Array.from({ length: E * 2 * n * H }, () => 0.5 * rng.normal()),
    starts: Uint8Array.from([0, 1, 0, 0, 1]),
  };
  const a = make("tfjs"), b = make("fused");
  const x = await a.act(input, { rng: new Rng(3), greedy: false });
  const y = await b.act(input, { rng: new Rng(3), greedy: false });
  assert.deepEqual(Array.from(y.actions), Array.from(x.actions));
  assertClose(y.logp, x.logp, { atol: 1e-5 });
  assertClose(y.memory!, x.memory!, { atol: 1e-5 });
  a.dispose(), b.dispose();
});

Deno.test("fused kernels: critic values equal tfjs's before and after updates, on 1 and 2 threads", async () => {
  await initBackend("wasm");
  const E = 6, rng = new Rng(13);
  const input = {
    obs: Float32Array.from({ length: E * 3 * SPEC.obsDim }, () => rng.normal()),
    state: Float32Array.from({ length: E * SPEC.stateDim }, () => rng.normal()),
    avail: null,
    E,
  };
  const r = rollout(SPEC, 12, 4, 3);
  for (const threads of [1, 2]) {
    const make = (kernels: "tfjs" | "fused") =>
      algos.get("mappo").create(SPEC, {
        options: algos.get("mappo").options.parse({ hidden: 16 }),
        rng: new Rng(1),
        threads,
        kernels,
      });
    const a = make("tfjs"), b = make("fused");
    let first: Float32Array = new Float32Array(0);
    for (let u = 0; u < 3; u++) {
      const va = await a.values!(input), vb = await b.values!(input);
      assertClose(vb, va, { atol: 1e-4, rtol: 1e-3 });
      if (u > 0) assert.ok(vb.some((v, q) => Math.abs(v - first[q]!) > 1e-4), "the values moved");
      if (u === 0) first = vb;
      await a.update(r, { rng: new Rng(2 + u), progress: 0 });
      await b.update(r, { rng: new Rng(2 + u), progress: 0 });
    }
    for (const x of [a, b]) {
      await x.close?.();
      x.dispose();
    }
  }
});

Deno.test("fused kernels: an update that failed mid-way leaves its scratch marked; dispose frees it and the parameters", async () => {
  await initBackend("cpu");
  const kern = kernels(), top = kern.used;
  const algo = algos.get("bppo").create(SPEC, {
    options: algos.get("bppo").options.parse({ hidden: 8 }),
    rng: new Rng(1),
    threads: 1,
    kernels: "fused",
  }) as unknown as { agents: PpoAgents; dispose(): void };
  const tb = prepareBatch(algo.agents, rollout(SPEC, 6, 2, 1));
  algo.agents.fused!.begin(tb); // the update's scratch, marked: a throw here leaves it so
  assert.throws(() => kern.alloc(1), /inside a scratch mark/);
  algo.dispose();
  disposeBatch(tb);
  assert.equal(kern.used, top, "the arena is back where it was");
  kern.free(kern.alloc(1)); // and parameters can be allocated again
});
