// The same numbers on webgpu as on wasm: forward values, gradients, one BPPO update, and no
// tensor leak across training iterations. Runs on Deno's software adapter (llvmpipe) here;
// ignored with a message only where Deno finds no WebGPU adapter at all. Not a test file of its
// own: tests/webgpu_test.ts runs it in a child process (see there for why).
import assert from "node:assert/strict";
import {
  type AlgoState,
  defaultAlgoRegistry,
  defaultEnvRegistry,
  type EnvSpec,
  initBackend,
  Rng,
  type Rollout,
  tf,
  train,
} from "../mod.ts";
import { discrete } from "../core/spaces.ts";
import type { Bppo } from "../algos/bppo.ts";
import { assertClose, entries, smallConfig } from "./_helpers.ts";
import { disposeBatch, prepareBatch } from "../algos/ppo/mod.ts";

const adapter = await (globalThis.navigator as any)?.gpu?.requestAdapter?.().catch(() => null);
const ignore = !adapter;
if (ignore) console.error("webgpu_test: no WebGPU adapter in this Deno, tests are ignored");

const algos = defaultAlgoRegistry();
const spec: EnvSpec = {
  numAgents: 2,
  obsDim: 3,
  stateDim: 2,
  actionSpace: discrete(3),
  episodeLimit: 1,
};

function rollout(N: number): Rollout {
  const rng = new Rng(11), noiseRng = new Rng(12);
  const n = 2, A = 3;
  const actions = Int32Array.from({ length: N * n }, () => rng.int(A));
  const actionVecs = new Float32Array(N * n * A);
  actions.forEach((a, k) => (actionVecs[k * A + a] = 1));
  return {
    T: N,
    E: 1,
    n,
    obs: Float32Array.from({ length: N * n * 3 }, () => rng.normal()),
    state: Float32Array.from({ length: N * 2 }, () => rng.normal()),
    avail: new Uint8Array(N * n * A).fill(1),
    actions,
    actionVecs,
    logp: new Float32Array(N * n).fill(Math.log(1 / 3)),
    values: Float32Array.from({ length: N * n }, () => rng.normal()),
    rewards: Float32Array.from({ length: N }, () => rng.normal()),
    dones: new Uint8Array(N).fill(1),
    advantages: Float32Array.from({ length: N * n }, () => rng.normal()),
    returns: Float32Array.from({ length: N * n }, () => rng.normal()),
    // Gumbel noise for the paper estimator's reparameterised action (not the noise that chose
    // these actions, which does not matter for comparing two backends on the same numbers)
    noise: Float32Array.from({ length: N * n * A }, () => noiseRng.gumbel()),
  };
}

/** Forward, gradient and one update of a small BPPO on one backend, as plain numbers. */
export async function probe(backend: "wasm" | "webgpu") {
  await initBackend(backend);
  const algo = algos.get("bppo").create(spec, {
    // adamEps 1: Adam's first step is lr g / (|g| + eps), so a large eps keeps the comparison
    // well-conditioned where a gradient is near zero (with 1e-5 float noise flips its sign).
    options: algos.get("bppo").options.parse({
      hidden: 8,
      epochs: 2,
      peerScale: "sum",
      adamEps: 1,
      lr: 0.05,
      criticLr: 0.05,
    }),
    rng: new Rng(1),
  }) as Bppo;
  const r = rollout(12);
  const tb = prepareBatch(algo.agents, {
    ...r,
    returns: r.returns.slice(),
    values: r.values.slice(),
  });
  const fwd = Array.from(
    await tf.tidy(() => algo.agents.evaluate(1, tb.agents[1]!, tb.u).logp).data(),
  );
  const vars = algo.agents.actorVars(1);
  const { value, grads } = tf.variableGrads(
    () =>
      tf.neg(
        tf.mean(tf.mul(algo.agents.evaluate(1, tb.agents[1]!, tb.u).logp, tb.agents[1]!.adv)),
      ) as tf.Scalar,
    vars,
  );
  const grad = Array.from(await grads[vars[0]!.name]!.data());
  tf.dispose([value, ...Object.values(grads)]);
  disposeBatch(tb);
  const metrics = await algo.update(r, { rng: new Rng(2), progress: 0 });
  const state: AlgoState = await algo.getState();
  algo.dispose();
  return { fwd, grad, metrics, state };
}

Deno.test({
  name: "webgpu agrees with wasm: forward, gradients and one BPPO update (peer term on)",
  ignore,
  async fn() {
    const w = await probe("wasm");
    const g = await probe("webgpu");
    assertClose(g.fwd, w.fwd, { atol: 1e-4, rtol: 1e-3 });
    assertClose(g.grad, w.grad, { atol: 1e-4, rtol: 1e-2 });
    for (const key of ["actor0/head/W", "actor1/head/W", "actor0/cond/0/W", "critic1/head/W"]) {
      assertClose(g.state.tensors[key]!.data, w.state.tensors[key]!.data, {
        atol: 1e-4,
        rtol: 1e-2,
      });
    }
    assertClose([g.metrics["losses/policy"]!], [w.metrics["losses/policy"]!], {
      atol: 1e-4,
      rtol: 1e-2,
    });
    assert.ok(Math.abs(w.metrics["bppo/peer_abs"]!) > 0, "the peer term took part");
    await initBackend("wasm");
  },
});

Deno.test({
  name: "webgpu training keeps the tensor count and GPU memory flat across iterations",
  ignore,
  async fn() {
    const info = await initBackend("webgpu");
    assert.equal(info.name, "webgpu");
    const counts: number[] = [], bytes: number[] = [];
    const cfg = await smallConfig({
      algo: "bppo",
      backend: "webgpu",
      numEnvs: 4,
      rolloutLength: 5,
      totalSteps: 80,
      evalEvery: 0,
      evalEpisodes: 2,
      algoOptions: { epochs: 1, hidden: 8 },
    });
    await train(cfg, {
      ...entries(cfg, defaultEnvRegistry(), algos),
      backend: info,
      hooks: [{
        onIteration: () => {
          const m = tf.memory() as any;
          counts.push(m.numTensors);
          bytes.push(m.numBytesInGPU ?? m.numBytes);
        },
      }],
    });
    assert.equal(counts.length, 4);
    assert.equal(new Set(counts.slice(1)).size, 1, `tensor counts ${counts}`);
    assert.equal(new Set(bytes.slice(1)).size, 1, `GPU bytes ${bytes}`);
    await initBackend("wasm");
  },
});

Deno.test({
  name: "addAll sums any number of tensors on webgpu (tf.addN stops after 6 inputs there)",
  ignore,
  async fn() {
    const { addAll } = await import("../core/nets.ts");
    await initBackend("webgpu");
    const ts = Array.from({ length: 10 }, (_, i) => tf.fill([i + 1], 1).sum());
    assert.equal((await addAll(ts).data())[0], 55);
    tf.dispose(ts);
    await initBackend("wasm");
  },
});

Deno.test({
  name:
    "--backend auto's measurement: a policy training step timed on WebGPU and on the fused kernels",
  ignore,
  async fn() {
    await initBackend("webgpu");
    const { policyStepMs } = await import("../core/fused/measure.ts");
    const before = tf.memory().numTensors;
    const ms = await policyStepMs(512); // the decision uses 4096 rows; fewer keep this check short
    assert.ok(ms.tfjs > 0 && ms.fused > 0, JSON.stringify(ms));
    // on this software adapter the fused kernels win by far: auto would take wasm + fused
    assert.ok(ms.fused < ms.tfjs, `fused ${ms.fused} ms, llvmpipe WebGPU ${ms.tfjs} ms`);
    assert.equal(tf.memory().numTensors, before, "the measurement frees its tensors");
    await initBackend("wasm");
  },
});
