// The Multi-Agent Transformer's networks (algos/mat/model.ts): the decoder's one teacher-forced
// pass equals decoding agent by agent, and agent i never depends on a later agent's action.
import assert from "node:assert/strict";
import { box, discrete, type EnvSpec, initBackend, Rng, tf } from "../mod.ts";
import { MatModel } from "../algos/mat/model.ts";
import { assertClose } from "./_helpers.ts";

const spec = (actions: "discrete" | "box"): EnvSpec => ({
  numAgents: 4,
  obsDim: 6,
  stateDim: 6,
  actionSpace: actions === "discrete" ? discrete(3) : box(2),
  episodeLimit: 10,
});

/** A model with weights of a useful size (the initial gains are tiny by design). */
function model(kind: "discrete" | "box", seed: number): MatModel {
  const rng = new Rng(seed);
  const m = new MatModel(spec(kind), {
    blocks: 2,
    heads: 2,
    embed: 8,
    logStdInit: -0.5,
    rng,
    name: `t_mat_${kind}_${seed}`,
  });
  for (const v of m.variables()) {
    v.assign(tf.tensor(Float32Array.from({ length: v.size }, () => 0.5 * rng.normal()), v.shape));
  }
  return m;
}

function actionVecs(m: MatModel, B: number, rng: Rng): Float32Array {
  const out = new Float32Array(B * m.n * m.A);
  for (let r = 0; r < B * m.n; r++) {
    if (m.discrete) out[r * m.A + rng.int(m.A)] = 1;
    else for (let c = 0; c < m.A; c++) out[r * m.A + c] = rng.normal();
  }
  return out;
}

for (const kind of ["discrete", "box"] as const) {
  Deno.test(`MAT decoder (${kind}): one teacher-forced pass equals decoding agent by agent`, async () => {
    await initBackend("cpu");
    const m = model(kind, 1), rng = new Rng(2), B = 3, { n, A, slot } = m;
    const obs = tf.tensor3d(Float32Array.from({ length: B * n * 6 }, () => rng.normal()), [
      B,
      n,
      6,
    ]);
    const { rep } = m.encode(obs);
    const acts = actionVecs(m, B, rng);
    const forced = m.decode(tf.tensor3d(m.shiftActions(acts, B), [B, n, slot]), rep).arraySync();
    // auto-regressive: position i + 1 is filled only after agent i has "acted"
    const shifted = new Float32Array(B * n * slot);
    for (let b = 0; b < B; b++) if (m.discrete) shifted[b * n * slot] = 1;
    for (let i = 0; i < n; i++) {
      const step = m.decode(tf.tensor3d(shifted, [B, n, slot]), rep).arraySync();
      for (let b = 0; b < B; b++) {
        assertClose(step[b]![i]!, forced[b]![i]!, { atol: 1e-5, rtol: 1e-5 });
        if (i + 1 < n) {
          for (let c = 0; c < A; c++) {
            shifted[(b * n + i + 1) * slot + (m.discrete ? 1 : 0) + c] = acts[(b * n + i) * A + c]!;
          }
        }
      }
    }
    m.dispose();
  });

  Deno.test(`MAT decoder (${kind}): agent i's output ignores the actions of agents i, i+1, ...`, async () => {
    await initBackend("cpu");
    const m = model(kind, 3), rng = new Rng(4), B = 2, { n, A, slot } = m;
    const obs = tf.tensor3d(Float32Array.from({ length: B * n * 6 }, () => rng.normal()), [
      B,
      n,
      6,
    ]);
    const { rep } = m.encode(obs);
    const acts = actionVecs(m, B, rng);
    const base = m.decode(tf.tensor3d(m.shiftActions(acts, B), [B, n, slot]), rep).arraySync();
    for (let j = 0; j < n; j++) {
      const other = acts.slice();
      for (let b = 0; b < B; b++) {
        for (let c = 0; c < A; c++) {
          other[(b * n + j) * A + c] = m.discrete
            ? Number(c === (acts.indexOf(1, (b * n + j) * A) - (b * n + j) * A + 1) % A)
            : acts[(b * n + j) * A + c]! + 2;
        }
      }
      const moved = m.decode(tf.tensor3d(m.shiftActions(other, B), [B, n, slot]), rep).arraySync();
      for (let b = 0; b < B; b++) {
        for (let i = 0; i < n; i++) {
          const d = Math.max(...moved[b]![i]!.map((v, c) => Math.abs(v - base[b]![i]![c]!)));
          if (i <= j) {
            assert.ok(d < 1e-5, `agent ${i} moved by ${d} when agent ${j}'s action changed`);
          } else if (i === j + 1) assert.ok(d > 1e-6, `agent ${i} should see agent ${j} (${d})`);
        }
      }
    }
    m.dispose();
  });
}

Deno.test("MAT encoder: one value per agent, every agent sees every other", async () => {
  await initBackend("cpu");
  const m = model("discrete", 5), rng = new Rng(6), B = 2, n = 4;
  const data = Float32Array.from({ length: B * n * 6 }, () => rng.normal());
  const a = m.encode(tf.tensor3d(data, [B, n, 6]));
  assert.deepEqual(a.value.shape, [B, n]);
  assert.deepEqual(a.rep.shape, [B, n, 8]);
  data[3 * 6] += 1; // the last agent's observation (batch row 0)
  const b = m.encode(tf.tensor3d(data, [B, n, 6]));
  const v0 = a.value.arraySync(), v1 = b.value.arraySync();
  assert.ok(Math.abs(v1[0]![0]! - v0[0]![0]!) > 1e-5, "agent 0's value sees agent 3");
  assert.equal(v1[1]![0], v0[1]![0], "another batch row does not");
  m.dispose();
});

Deno.test("--algo mat trains end to end on discrete (matrix) and continuous (plugin) envs", async () => {
  const { defaultEnvRegistry, loadPlugin, train } = await import("../mod.ts");
  const { entries, smallConfig } = await import("./_helpers.ts");
  await initBackend("wasm");
  const envs = defaultEnvRegistry();
  await loadPlugin(envs, "./tests/fixtures/coin_plugin.ts");
  for (const env of ["matrix/climbing", "coin/target"]) {
    const cfg = await smallConfig({
      env,
      algo: "mat",
      numEnvs: 8,
      rolloutLength: 25,
      totalSteps: 400,
      evalEpisodes: 4,
      algoOptions: { epochs: 2, embed: 16, heads: 2 },
    });
    const rows: Record<string, number | null>[] = [];
    const s = await train(cfg, {
      ...entries(cfg, envs),
      hooks: [{ onIteration: (r) => void rows.push(r) }],
    });
    assert.equal(s.env_steps, 400);
    assert.ok(Number.isFinite(s.final_eval_return), `${env}: ${s.final_eval_return}`);
    for (const k of ["losses/policy", "losses/value", "losses/entropy", "losses/approx_kl"]) {
      assert.ok(Number.isFinite(rows[1]![k]!), `${env} ${k}: ${rows[1]![k]}`);
    }
    await Deno.remove(cfg.out!, { recursive: true });
  }
});

Deno.test("--algo mat: --resume continues exactly where an uninterrupted run would be", async () => {
  const { loadCheckpoint, train } = await import("../mod.ts");
  const { entries, smallConfig, timelessRows } = await import("./_helpers.ts");
  await initBackend("wasm");
  const base = {
    env: "matrix/climbing",
    algo: "mat",
    seed: 4,
    numEnvs: 8,
    rolloutLength: 25,
    totalSteps: 800,
    checkpointEvery: 1,
    evalEpisodes: 4,
    algoOptions: { epochs: 2, embed: 16 },
  };
  const rows = timelessRows;
  const full = await smallConfig(base), part = await smallConfig({ ...base, totalSteps: 400 });
  await train(full, entries(full));
  await train(part, entries(part));
  const ck = await loadCheckpoint(part.out!);
  await train({ ...part, totalSteps: 800 }, { ...entries(part), resume: ck });
  assert.deepEqual(await rows(part.out!), await rows(full.out!));
  await Deno.remove(full.out!, { recursive: true });
  await Deno.remove(part.out!, { recursive: true });
});

for (const kind of ["discrete", "box"] as const) {
  Deno.test(`MAT order=random (${kind}): the update's first pass gives back the acting log-probs (ratio 1)`, async () => {
    const { Mat, matOptions } = await import("../algos/mat/mat.ts");
    await initBackend("cpu");
    const s = spec(kind), E = 16, n = s.numAgents;
    const rng = new Rng(9);
    const mat = new Mat(s, {
      ...matOptions.parse({ order: "random", embed: 8, heads: 2, epochs: 1 }),
      rng,
    });
    // weights of a useful size: at the initial gains every order gives near-uniform policies
    for (const v of mat.model.variables()) {
      v.assign(tf.tensor(Float32Array.from({ length: v.size }, () => 0.5 * rng.normal()), v.shape));
    }
    // a non-identity decoding order
    for (let k = 0; k < 20 && mat.order.every((o, p) => o === p); k++) mat.beginIteration(rng);
    assert.ok(!mat.order.every((o, p) => o === p), `order ${mat.order}`);
    const obs = Float32Array.from({ length: E * n * s.obsDim }, () => rng.normal());
    const state = new Float32Array(E * s.stateDim);
    const out = await mat.act({ obs, state, avail: null, E }, { rng, greedy: false });
    const zeros = new Float32Array(E * n);
    const m = await mat.update({
      T: 1,
      E,
      n,
      obs,
      state,
      avail: null,
      actions: out.actions,
      actionVecs: out.actionVecs,
      logp: out.logp,
      values: out.values!,
      rewards: new Float32Array(E),
      dones: new Uint8Array(E),
      advantages: Float32Array.from(zeros, () => rng.normal()),
      returns: zeros,
    }, { rng, progress: 0 });
    // one epoch, one minibatch: the ratios are taken before the only step
    assert.ok(Math.abs(m["losses/approx_kl"]!) < 1e-6, `approx KL ${m["losses/approx_kl"]}`);
    assert.equal(m["losses/clip_frac"], 0);
    mat.dispose();
  });
}

Deno.test("MAT: acting and values leave no tensor behind", async () => {
  const { Mat, matOptions } = await import("../algos/mat/mat.ts");
  await initBackend("cpu");
  const s = spec("discrete"), E = 4, rng = new Rng(12);
  const mat = new Mat(s, { ...matOptions.parse({ embed: 8 }), rng });
  const x = {
    obs: Float32Array.from({ length: E * s.numAgents * s.obsDim }, () => rng.normal()),
    state: new Float32Array(E * s.stateDim),
    avail: null,
    E,
  };
  await mat.act(x, { rng, greedy: false }); // warm-up: anything created once is not a leak
  const before = tf.memory().numTensors;
  for (let k = 0; k < 3; k++) {
    await mat.act(x, { rng, greedy: false });
    await mat.values(x);
  }
  assert.equal(tf.memory().numTensors, before);
  mat.dispose();
});

Deno.test("mat: no observation LayerNorm over fewer than 3 features (auto), said once; layer forces it", async () => {
  await initBackend("cpu");
  const { Mat, matOptions } = await import("../algos/mat/mat.ts");
  const small: EnvSpec = {
    numAgents: 2,
    obsDim: 2,
    stateDim: 2,
    actionSpace: discrete(3),
    episodeLimit: 1,
  };
  const auto = new Mat(small, { ...matOptions.parse({}), rng: new Rng(0) });
  const forced = new Mat(small, { ...matOptions.parse({ obsNorm: "layer" }), rng: new Rng(0) });
  const names = (m: { model: MatModel }) => m.model.variables().map((v) => v.name);
  assert.ok(!names(auto).some((n) => n.includes("obs_norm")), "auto leaves the norm out");
  assert.ok(names(forced).some((n) => n.includes("obs_norm")), "layer keeps it");
  assert.match(auto.notes.join("\n"), /no observation LayerNorm \(2 observation features/);
  assert.equal(forced.notes.length, 0);
  auto.dispose(), forced.dispose();
});
