/**
 * The base of every PPO-family algorithm.
 *
 * @module
 */
import type {
  ActInput,
  ActOutput,
  Algorithm,
  AlgoState,
  Metrics,
  Rollout,
  UpdateContext,
} from "../../core/algorithm.ts";
import type { Rng } from "../../core/rng.ts";
import type { PpoAgents } from "./agents.ts";
import { actChain, criticValues } from "./acting.ts";
import { agentsState, setAgentsState } from "./state.ts";
import { CriticPool } from "./critic_pool.ts";
import { disposeFusedCritics } from "./fused_critics.ts";

/**
 * Base of every PPO-family algorithm: acting, values, checkpoint state and disposal go to the
 * shared {@link PpoAgents}; a subclass writes only `update` (and `beginIteration` if needed).
 */
export abstract class PpoAlgorithm implements Algorithm {
  /** Runs the critics' epochs, on other threads when it may (critic_pool.ts). */
  readonly critics: CriticPool;

  /**
   * Creates it.
   * @param name the algorithm's name
   * @param agents its per-agent networks
   * @param threads threads the update may use, the calling one included (default 1)
   */
  constructor(readonly name: string, readonly agents: PpoAgents, threads = 1) {
    this.critics = new CriticPool(agents, threads);
  }

  /**
   * `make()`, or, when it throws, this algorithm disposed and the error passed on: for a
   * subclass constructor's steps after its networks exist (the fused kernels' copies), so a
   * refused option leaves no tensor behind.
   * @param make the step
   * @returns what it made
   */
  protected orDispose<T>(make: () => T): T {
    try {
      return make();
    } catch (e) {
      this.dispose();
      throw e;
    }
  }

  /** What the run should be told once (the input normalisation chosen). */
  get notes(): readonly string[] {
    return this.agents.notes;
  }

  /** Where acting and updates run (`--kernels` resolved). */
  get kernels(): "tfjs" | "fused" {
    return this.agents.kernels;
  }

  /** Floats of GRU state carried per env (0 for feed-forward networks). */
  get memorySize(): number {
    return this.agents.memorySize;
  }

  /** One learning update (the algorithm itself), with the learning rates already scheduled. */
  protected abstract learn(batch: Rollout, ctx: UpdateContext): Promise<Metrics>;

  /**
   * One update: sets the learning-rate schedule's factor for this point of the run
   * (`lrSchedule`, from `ctx.progress`), then learns.
   */
  async update(batch: Rollout, ctx: UpdateContext): Promise<Metrics> {
    const lrScale = this.agents.applyLrSchedule(ctx.progress);
    return { ...(await this.learn(batch, ctx)), lr_scale: lrScale };
  }

  /** Called before each rollout: warms the critic workers. */
  beginIteration(_rng: Rng): void {
    this.critics.warm();
  }

  act(x: ActInput, ctx: { rng: Rng; greedy: boolean }): Promise<ActOutput> {
    return actChain(this.agents, x, ctx);
  }

  values(x: ActInput): Promise<Float32Array> {
    return criticValues(this.agents, x);
  }

  getState(): Promise<AlgoState> {
    return agentsState(this.agents);
  }

  setState(s: AlgoState): Promise<void> {
    setAgentsState(this.agents, s);
    return Promise.resolve();
  }

  /** Ends the critic workers and waits for them (see {@link CriticPool.close}). */
  close(): Promise<void> {
    return this.critics.close();
  }

  dispose(): void {
    this.critics.dispose();
    this.agents.fused?.dispose();
    disposeFusedCritics(this.agents);
    this.agents.dispose();
  }
}
