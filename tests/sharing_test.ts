// Parameter sharing (--algo-opt share=true): one actor and one critic for all agents with an
// agent-id one-hot input, one optimiser each, the update batched over agents; refused (with the
// reason) by the sequential algorithms.
import assert from "node:assert/strict";
import {
  type Adam,
  defaultAlgoRegistry,
  discrete,
  type EnvSpec,
  initBackend,
  loadCheckpoint,
  Rng,
  type Rollout,
  tf,
  train,
} from "../mod.ts";
import type { Mappo } from "../algos/mappo.ts";
import { type PpoAgents, ppoOptions } from "../algos/ppo/mod.ts";
import { assertClose, cli, entries, smallConfig } from "./_helpers.ts";

Deno.test("share=true: one actor and one critic, and agents still act differently (agent-id input)", async () => {
  await initBackend("wasm");
  // penalty k=0 pays 10 only for the distinct joint actions (2, 0) and (0, 2): a shared policy
  // without the agent id would give both agents the same action (at most 2)
  const cfg = await smallConfig({
    env: "matrix/penalty",
    envOptions: { k: 0 },
    algo: "mappo",
    algoOptions: { share: true },
    numEnvs: 16,
    rolloutLength: 50,
    totalSteps: 16_000,
    evalEpisodes: 20,
    seed: 0,
  });
  const s = await train(cfg, entries(cfg));
  assert.equal(s.final_eval_return, 10);
  const j = s.greedy_joint_action!;
  assert.notEqual(j[0], j[1], "the two agents act differently");
  const keys = Object.keys((await loadCheckpoint(cfg.out!)).algo.tensors);
  assert.ok(
    keys.some((k) => k.startsWith("actor0/")) && keys.some((k) => k.startsWith("critic0/")),
  );
  assert.ok(
    !keys.some((k) => k.startsWith("actor1/") || k.startsWith("critic1/")),
    "one network each",
  );
  assert.ok(!keys.some((k) => k.startsWith("adam2/")), "one optimiser per network");
  await Deno.remove(cfg.out!, { recursive: true });
});

Deno.test("share=true is refused by bppo and happo with the reason", async () => {
  for (const algo of ["bppo", "happo"]) {
    const r = await cli("--algo", algo, "--algo-opt", "share=true", "--quiet");
    assert.equal(r.code, 2);
    assert.match(
      r.stderr,
      new RegExp(`share=true for ${algo}: its agents are updated one at a time`),
    );
  }
});

/** One update of `mappo` with the given options from a synthetic rollout; returns the gradients
 * each optimiser was handed (in the order of its variables) and the update's metrics. */
async function oneUpdate(
  spec: EnvSpec,
  share: boolean,
  over: Record<string, unknown>,
  r: Rollout,
  weights: (ag: PpoAgents) => void,
) {
  const algo = defaultAlgoRegistry().get("mappo").create(spec, {
    options: ppoOptions.parse({
      share,
      featureNorm: false,
      epochs: 1,
      minibatches: 1,
      hidden: 8,
      ...over,
    }),
    rng: new Rng(5),
    threads: 1,
    rolloutLength: r.T,
  }) as Mappo;
  const ag = algo.agents;
  weights(ag);
  const seen: { actor: Float32Array[][]; critic: Float32Array[][] } = { actor: [], critic: [] };
  const capture = (opts: Adam[], into: Float32Array[][]) =>
    opts.forEach((o, i) => {
      o.step = (grads: tf.Tensor[]) => {
        into[i] = grads.map((g) => g.dataSync().slice() as Float32Array);
        return tf.scalar(0);
      };
    });
  capture(ag.actorOpts, seen.actor);
  capture(ag.criticOpts, seen.critic);
  const metrics = await algo.update(r, { rng: new Rng(1), progress: 0 });
  const names = {
    actor: ag.actorOpts.map((_, i) =>
      ag.actorVars(i).map((v) => v.name.replace(/^baton\d+\//, ""))
    ),
    critic: ag.criticOpts.map((_, i) =>
      ag.criticVars(i).map((v) => v.name.replace(/^baton\d+\//, ""))
    ),
  };
  algo.dispose();
  return { seen, metrics, names };
}

for (const recurrent of ["none", "gru"] as const) {
  Deno.test(`share=true equals per-agent mappo when the networks hold equal weights and ignore the id (${recurrent})`, async () => {
    await initBackend("wasm");
    const n = 3, obsDim = 5, stateDim = 4, A = 4, T = 6, E = 4;
    const spec: EnvSpec = {
      numAgents: n,
      obsDim,
      stateDim,
      actionSpace: discrete(A),
      episodeLimit: T,
    };
    // a synthetic rollout: random observations, actions, advantages and returns
    const rng = new Rng(11);
    const normals = (k: number) => Float32Array.from({ length: k }, () => rng.normal());
    const actions = Int32Array.from({ length: T * E * n }, () => rng.int(A));
    const actionVecs = new Float32Array(T * E * n * A);
    actions.forEach((a, k) => actionVecs[k * A + a] = 1);
    const H = 8, M = recurrent === "gru" ? 2 * n * H : 0;
    const r: Rollout = {
      T,
      E,
      n,
      obs: normals(T * E * n * obsDim),
      state: normals(T * E * stateDim),
      avail: null,
      actions,
      actionVecs,
      logp: Float32Array.from({ length: T * E * n }, () => -Math.log(A) + 0.1 * rng.normal()),
      values: normals(T * E * n),
      rewards: normals(T * E),
      dones: new Uint8Array(T * E),
      advantages: normals(T * E * n),
      returns: normals(T * E * n),
      memory: M ? Float32Array.from({ length: T * E * M }, () => 0.5 * rng.normal()) : null,
      starts: M ? Uint8Array.from({ length: T * E }, () => (rng.uniform() < 0.2 ? 1 : 0)) : null,
    };
    const over = { recurrent, chunk: 3 };
    // the shared networks' weights, with the rows that read the agent id zeroed
    const sharedW = new Map<string, Float32Array>();
    const shared = await oneUpdate(spec, true, over, r, (ag) => {
      for (const [name, v] of ag.named) {
        if (/base\/0\/W$/.test(name)) { // [in + n, hidden]: zero the id rows
          const w = v.dataSync().slice();
          w.fill(0, (v.shape[0]! - n) * v.shape[1]!);
          v.assign(tf.tensor(w, v.shape));
        }
        sharedW.set(
          name.replace(/^(actor|critic)0\//, "$1/"),
          v.dataSync().slice() as Float32Array,
        );
      }
    });
    // per-agent networks: every agent gets the shared weights (less the id rows)
    const perAgent = await oneUpdate(spec, false, over, r, (ag) => {
      for (const [name, v] of ag.named) {
        const w = sharedW.get(name.replace(/^(actor|critic)\d+\//, "$1/"))!;
        v.assign(tf.tensor(w.slice(0, v.size), v.shape));
      }
    });
    // the same forward pass: equal losses (the shared loss is the mean over agents' rows)
    for (const k of ["losses/policy", "losses/entropy", "losses/value"]) {
      assert.ok(k in shared.metrics, `metric ${k}`);
      assertClose([shared.metrics[k]!], [perAgent.metrics[k]!], { atol: 1e-5, rtol: 1e-4 });
    }
    // the shared gradient is the mean of the agents' gradients (the id rows aside)
    for (const kind of ["actor", "critic"] as const) {
      assert.equal(shared.seen[kind].length, 1, "one optimiser");
      shared.names[kind][0]!.forEach((name, j) => {
        const sh = shared.seen[kind][0]![j]!;
        const mean = new Float32Array(perAgent.seen[kind][0]![j]!.length);
        for (let i = 0; i < n; i++) {
          const key = name.replace(/^(actor|critic)0\//, `$1${i}/`);
          const g = perAgent.seen[kind][i]![perAgent.names[kind][i]!.indexOf(key)]!;
          g.forEach((x, q) => mean[q]! += x / n);
        }
        assertClose(sh.slice(0, mean.length), mean, { atol: 1e-6, rtol: 1e-3 });
        if (sh.length > mean.length) { // the id rows do get a gradient: the id is learnable
          assert.ok(sh.slice(mean.length).some((x) => x !== 0), `${name}: id rows`);
        }
      });
    }
  });
}
