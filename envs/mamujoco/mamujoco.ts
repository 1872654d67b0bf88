/**
 * Multi-agent MuJoCo on real MuJoCo physics (the official wasm build, `mujoco-js`, MuJoCo
 * 3.3.8): `mamujoco/HalfCheetah-2x3`, `mamujoco/Ant-4x2`, ... (see `README.md`).
 *
 * One compiled model per env instance and one `MjData` per parallel env; resets reuse the
 * data (`mj_resetData`), so nothing is allocated in the wasm heap after construction and
 * `close()` frees every handle.
 *
 * @module
 */
import { z } from "../../core/deps.ts";
import { box } from "../../core/spaces.ts";
import type { Rng } from "../../core/rng.ts";
import { type EnvBuffers, type EnvSpec, VecEnvBase } from "../../core/vec_env.ts";
import type { EnvEntry } from "../../core/registry.ts";
import { observationReads, type Read, type Robot, ROBOTS } from "./robots.ts";

type Mujoco = any;
type Handle = any;

let mujoco: Promise<Mujoco> | null = null;
let fileCounter = 0;

/** The MuJoCo wasm module, loaded once per process (about 150 ms). */
export function loadMujoco(): Promise<Mujoco> {
  // a dynamic import: the 11 MB module is parsed only by runs that use MuJoCo
  mujoco ??= import("npm:mujoco-js@0.0.7").then((m) => (m.default as () => Promise<Mujoco>)());
  return mujoco;
}

/**
 * Compiles an MJCF string with mujoco-js (through its in-memory file system).
 * @param mj the module
 * @param xml the model
 * @param name used in error messages
 * @returns the model handle (call `.delete()` when done)
 */
export function compileModel(mj: Mujoco, xml: string, name: string): Handle {
  try {
    mj.FS.mkdir("/baton");
  } catch { /* exists */ }
  const path = `/baton/${name}-${fileCounter++}.xml`;
  mj.FS.writeFile(path, xml);
  let m: Handle;
  try {
    m = mj.MjModel.loadFromXML(path);
  } catch (err) {
    throw new Error(`Cannot compile the MuJoCo model of ${name}: ${(err as Error).message}`);
  } finally {
    mj.FS.unlink(path);
  }
  if (!m) throw new Error(`Cannot compile the MuJoCo model of ${name}: loadFromXML returned null`);
  return m;
}

/** Views into one MjData (re-fetched if the wasm heap grew and detached them). */
interface Views {
  qpos: Float64Array;
  qvel: Float64Array;
  ctrl: Float64Array;
  xpos: Float64Array;
  cfrc: Float64Array;
}

/** One recorded episode of env 0, for replays: capsule/sphere outlines in a 2-D projection. */
export interface MujocoRecording {
  readonly robot: string;
  /** Which world axes the picture shows: side (x, z) or top (x, y). */
  readonly view: "side" | "top";
  /** Geom radii, one per drawn geom. */
  readonly radii: number[];
  /** Per step: for each drawn geom x1, y1, x2, y2 (equal ends for spheres). */
  readonly frames: number[][];
  readonly rewards: number[];
  /** Per step: the reward's forward-velocity term (weight included). */
  readonly forward: number[];
  /** Per step: the control cost paid (weight included, on the applied, clipped controls). */
  readonly control: number[];
  /**
   * Over the episode: action components the policy emitted, how many fell outside their
   * actuator's range (the env clips them: a policy pushing past the range pays the full control
   * cost and gets nothing more for it), and the sum of their absolute values.
   */
  readonly actions: { count: number; outOfRange: number; absSum: number };
}

/** The batched MA-MuJoCo env. */
export class MamujocoVecEnv extends VecEnvBase {
  readonly robot: Robot;
  readonly model: Handle;
  readonly datas: Handle[];
  readonly views: Views[];
  readonly nq: number;
  readonly nv: number;
  readonly dt: number;
  /** Per agent: its actuators in action order. */
  readonly actuators: number[][];
  /** Per agent: its observation reads (padded with zeros to obsDim). */
  readonly obsReads: Read[][];
  readonly stateReads: readonly Read[];
  readonly qpos0: Float64Array;
  readonly ctrlLow: Float64Array;
  readonly ctrlHigh: Float64Array;
  #closed = false;
  /** Set to an array to record env 0's episodes. */
  recordings: MujocoRecording[] | null = null;

  constructor(
    readonly mj: Mujoco,
    robotName: string,
    readonly partition: string,
    numEnvs: number,
    readonly opts: { obsk: number; episodeLimit: number; obs: "local" | "global" },
  ) {
    const robot = ROBOTS[robotName];
    if (!robot) throw new Error(`Unknown MA-MuJoCo robot "${robotName}"`);
    const parts = robot.partitions[partition];
    if (!parts) {
      throw new Error(
        `Unknown partition "${partition}" of ${robotName}: known ${
          Object.keys(robot.partitions).join(", ")
        }`,
      );
    }
    const model = compileModel(mj, robot.xml, robotName);
    const nq = model.nq as number, nv = model.nv as number;
    const obsReads = parts.map((p) =>
      opts.obs === "global" ? [...robot.state] : observationReads(robot, p, opts.obsk, { nq, nv })
    );
    const nAgents = parts.length;
    const obsDim = Math.max(...obsReads.map((r) => r.length)) +
      (opts.obs === "global" ? nAgents : 0);
    const actDim = Math.max(...parts.map((p) => p.length));
    const spec: EnvSpec = {
      numAgents: nAgents,
      obsDim,
      stateDim: robot.state.length,
      actionSpace: box(actDim, -1, 1),
      episodeLimit: opts.episodeLimit,
    };
    super(spec, numEnvs);
    this.robot = robot;
    this.model = model;
    this.nq = nq;
    this.nv = nv;
    this.dt = (model.opt.timestep as number) * robot.frameSkip;
    this.obsReads = obsReads;
    this.stateReads = robot.state;
    this.actuators = parts.map((p) => p.map((label) => robot.nodes[label]!.act!));
    this.qpos0 = Float64Array.from(model.qpos0 as Float64Array);
    const range = model.actuator_ctrlrange as Float64Array;
    this.ctrlLow = Float64Array.from({ length: model.nu }, (_, i) => range[2 * i]!);
    this.ctrlHigh = Float64Array.from({ length: model.nu }, (_, i) => range[2 * i + 1]!);
    this.datas = Array.from({ length: numEnvs }, () => new mj.MjData(model));
    this.views = this.datas.map((d) => this.#views(d));
  }

  #views(d: Handle): Views {
    return { qpos: d.qpos, qvel: d.qvel, ctrl: d.ctrl, xpos: d.xpos, cfrc: d.cfrc_ext };
  }

  #v(e: number): Views {
    let v = this.views[e]!;
    if (v.qpos.length === 0) v = this.views[e] = this.#views(this.datas[e]);
    return v;
  }

  /** Size of the wasm heap in bytes (for leak checks). */
  heapBytes(): number {
    return this.#v(0).qpos.buffer.byteLength;
  }

  protected resetEnv(e: number, rng: Rng): void {
    const { mj, model } = this, d = this.datas[e];
    mj.mj_resetData(model, d);
    const v = this.#v(e), s = this.robot.noise.scale;
    for (let i = 0; i < this.nq; i++) v.qpos[i] = this.qpos0[i]! + (rng.uniform() * 2 - 1) * s;
    for (let i = 0; i < this.nv; i++) {
      v.qvel[i] = this.robot.noise.qvel === "normal"
        ? s * rng.normal()
        : (rng.uniform() * 2 - 1) * s;
    }
    mj.mj_forward(model, d);
    if (e === 0 && this.recordings) {
      this.recordings.push({
        robot: this.robot.name,
        view: this.robot.name === "Swimmer" ? "top" : "side",
        radii: this.#drawnGeoms().map((g) => (this.model.geom_size as Float64Array)[g * 3]!),
        frames: [this.#frame()],
        rewards: [],
        forward: [],
        control: [],
        actions: { count: 0, outOfRange: 0, absSum: 0 },
      });
    }
  }

  #drawnGeoms(): number[] {
    const type = this.model.geom_type as Int32Array;
    return Array.from({ length: this.model.ngeom as number }, (_, g) => g).filter((g) =>
      type[g] !== 0 // not the floor plane
    );
  }

  #frame(): number[] {
    const d = this.datas[0];
    const pos = d.geom_xpos as Float64Array, mat = d.geom_xmat as Float64Array;
    const size = this.model.geom_size as Float64Array, type = this.model.geom_type as Int32Array;
    const side = this.robot.name !== "Swimmer";
    const out: number[] = [];
    for (const g of this.#drawnGeoms()) {
      const half = type[g] === 3 ? size[g * 3 + 1]! : 0; // capsule half-length; sphere 0
      const ax = mat[g * 9 + 2]!, ay = mat[g * 9 + 5]!, az = mat[g * 9 + 8]!;
      const px = pos[g * 3]!, py = pos[g * 3 + 1]!, pz = pos[g * 3 + 2]!;
      const r3 = (x: number) => Math.round(x * 1000) / 1000;
      out.push(
        r3(px - ax * half),
        r3(side ? pz - az * half : py - ay * half),
        r3(px + ax * half),
        r3(side ? pz + az * half : py + ay * half),
      );
    }
    return out;
  }

  protected stepEnvs(actions: Int32Array | Float32Array, buf: EnvBuffers): void {
    const { mj, model, robot } = this;
    const n = this.spec.numAgents, D = (this.spec.actionSpace as { dim: number }).dim;
    for (let e = 0; e < this.numEnvs; e++) {
      const d = this.datas[e];
      let v = this.#v(e);
      let ctrlCost = 0, outOfRange = 0, absSum = 0, count = 0;
      const recording = e === 0 && !!this.recordings?.length; // the counts are for the replay only
      for (let a = 0; a < n; a++) {
        const acts = this.actuators[a]!;
        for (let j = 0; j < acts.length; j++) {
          const u = acts[j]!;
          const raw = actions[(e * n + a) * D + j]!;
          // clip to the actuator's range; the control cost is paid on what is applied
          const c = raw < this.ctrlLow[u]!
            ? this.ctrlLow[u]!
            : raw > this.ctrlHigh[u]!
            ? this.ctrlHigh[u]!
            : raw;
          v.ctrl[u] = c;
          ctrlCost += c * c;
          if (recording) {
            if (c !== raw) outOfRange++;
            absSum += Math.abs(raw), count++;
          }
        }
      }
      const xBefore = robot.forwardFrom === "torso" ? v.xpos[3]! : v.qpos[0]!;
      for (let k = 0; k < robot.frameSkip; k++) mj.mj_step(model, d);
      if (robot.contactCost > 0) mj.mj_rnePostConstraint(model, d);
      v = this.#v(e);
      const xAfter = robot.forwardFrom === "torso" ? v.xpos[3]! : v.qpos[0]!;
      let finite = true;
      for (let i = 0; i < this.nq; i++) if (!Number.isFinite(v.qpos[i]!)) finite = false;
      for (let i = 0; i < this.nv; i++) if (!Number.isFinite(v.qvel[i]!)) finite = false;
      const healthy = finite && (robot.healthy ? robot.healthy(v.qpos, v.qvel) : true);
      let contact = 0;
      if (robot.contactCost > 0) {
        for (let i = 0; i < v.cfrc.length; i++) {
          const f = Math.min(Math.max(v.cfrc[i]!, -1), 1);
          contact += f * f;
        }
      }
      // Gymnasium v5: forward velocity + healthy reward - control cost - contact cost
      const forward = robot.forwardWeight * ((xAfter - xBefore) / this.dt);
      const control = robot.ctrlCost * ctrlCost;
      const reward = finite
        ? forward + (healthy ? robot.healthyReward : 0) - control - robot.contactCost * contact
        : 0;
      buf.reward[e] = reward;
      buf.done[e] = healthy ? 0 : 1;
      if (recording) {
        const rec = this.recordings![this.recordings!.length - 1]!;
        rec.frames.push(this.#frame());
        rec.rewards.push(reward);
        rec.forward.push(finite ? forward : 0);
        rec.control.push(finite ? control : 0);
        rec.actions.count += count, rec.actions.outOfRange += outOfRange;
        rec.actions.absSum += absSum;
      }
    }
  }

  #read(v: Views, r: Read): number {
    const x = r.from === "qpos" ? v.qpos[r.i]! : r.from === "qvel" ? v.qvel[r.i]! : v.cfrc[r.i]!;
    return r.clip === undefined ? x : Math.min(Math.max(x, -r.clip), r.clip);
  }

  protected observe(buf: EnvBuffers): void {
    const n = this.spec.numAgents, O = this.spec.obsDim, S = this.spec.stateDim;
    const global = this.opts.obs === "global";
    buf.obs.fill(0);
    for (let e = 0; e < this.numEnvs; e++) {
      const v = this.#v(e);
      for (let a = 0; a < n; a++) {
        const reads = this.obsReads[a]!, o = (e * n + a) * O;
        for (let k = 0; k < reads.length; k++) buf.obs[o + k] = this.#read(v, reads[k]!);
        if (global) buf.obs[o + O - n + a] = 1;
      }
      for (let k = 0; k < S; k++) buf.state[e * S + k] = this.#read(v, this.stateReads[k]!);
    }
  }

  override close(): Promise<void> {
    if (!this.#closed) {
      this.#closed = true;
      for (const d of this.datas) d.delete();
      this.model.delete();
    }
    return Promise.resolve();
  }
}

/** Options of every `mamujoco/*` env. */
export const mamujocoOptions = z.strictObject({
  obsk: z.int().min(0).default(1).describe(
    "graph distance of the joints an agent observes (MA-MuJoCo agent_obsk)",
  ),
  episodeLimit: z.int().positive().default(1000).describe("steps before truncation"),
  obs: z.enum(["local", "global"]).default("local").describe(
    "local: MA-MuJoCo's obsk observation; global: the full single-agent observation + one-hot agent id (HARL/BPTA code)",
  ),
});

/** One registry entry per robot and partition. */
export const mamujocoEnvs: EnvEntry<typeof mamujocoOptions>[] = Object.values(ROBOTS).flatMap((
  r,
) =>
  Object.entries(r.partitions).map(([p, parts]) => ({
    id: `mamujoco/${r.name}-${p}`,
    description:
      `${r.name} (Gymnasium v5 rules) split into ${parts.length} agents (${p}), native MuJoCo 3.3.8 wasm`,
    options: mamujocoOptions,
    create: async (o: z.infer<typeof mamujocoOptions>, ctx: { numEnvs: number }) =>
      new MamujocoVecEnv(await loadMujoco(), r.name, p, ctx.numEnvs, o),
  }))
);
