/**
 * The fused kernels' WebAssembly instance (core/fused/kernels.c) and its memory: a bump arena of
 * 16-byte-aligned float32 buffers. Parameters, gradients and optimiser slots are allocated once
 * ({@link Kernels.alloc}); a pass's activations come from a scratch region that is released as a
 * stack ({@link Kernels.mark}, {@link Kernels.release}). Views are re-made after the memory grows.
 *
 * One instance per thread ({@link kernels}); a Worker gets its own.
 *
 * @module
 */
import { KERNELS_WASM } from "./kernels_wasm.ts";

/** A float32 (or int32) buffer in the kernels' memory: byte offset and length in elements. */
export interface Buf {
  /** Byte offset in the wasm memory (16-byte aligned). */
  readonly ptr: number;
  /** Length in elements. */
  readonly n: number;
}

/** The C functions, as exported (pointers are byte offsets). */
export interface KernelExports {
  readonly memory: WebAssembly.Memory;
  readonly __heap_base: WebAssembly.Global;
  gemm_nn(
    A: number,
    B: number,
    C: number,
    bias: number,
    M: number,
    K: number,
    N: number,
    acc: number,
    act: number,
  ): void;
  gemm_tn(A: number, B: number, C: number, M: number, K: number, N: number, acc: number): void;
  transpose(src: number, dst: number, R: number, C: number): void;
  act_bwd(dy: number, y: number, dz: number, n: number, act: number): void;
  col_sum(x: number, out: number, M: number, N: number, acc: number): void;
  axpby(a: number, x: number, b: number, y: number, n: number): void;
  sum_sq(x: number, n: number): number;
  tanh_inplace(x: number, n: number): void;
  exp_inplace(x: number, n: number): void;
  log_inplace(x: number, n: number): void;
  layernorm_fwd(
    x: number,
    g: number,
    b: number,
    y: number,
    xhat: number,
    rstd: number,
    M: number,
    N: number,
  ): void;
  layernorm_bwd(
    dy: number,
    xhat: number,
    rstd: number,
    g: number,
    dx: number,
    dg: number,
    db: number,
    M: number,
    N: number,
    acc: number,
  ): void;
  cat_fwd(
    logits: number,
    avail: number,
    actions: number,
    lsm: number,
    probs: number,
    logp: number,
    ent: number,
    M: number,
    A: number,
  ): void;
  cat_bwd(
    lsm: number,
    probs: number,
    ent: number,
    actions: number,
    dlogp: number,
    dent: number,
    dlogits: number,
    M: number,
    A: number,
  ): void;
  ppo_clip_grad(
    logp: number,
    logpOld: number,
    adv: number,
    Mk: number,
    dlogp: number,
    dpeer: number,
    stats: number,
    M: number,
    clip: number,
    total: number,
    strict: number,
  ): void;
  gumbel_peer_bwd(
    lsm: number,
    noise: number,
    g: number,
    actions: number,
    dpeer: number,
    dlogits: number,
    M: number,
    A: number,
    tau: number,
    w: number,
    takenOnly: number,
  ): void;
  gather_rows(src: number, idx: number, dst: number, count: number, width: number): void;
  gru_fwd(...ptrsThenLCH: number[]): void;
  gru_bwd(...ptrsThenLCH: number[]): void;
  gauss_fwd(
    mu: number,
    logStd: number,
    act: number,
    z: number,
    logp: number,
    M: number,
    D: number,
  ): void;
  gauss_bwd(
    z: number,
    logStd: number,
    dlogp: number,
    dmu: number,
    dls: number,
    M: number,
    D: number,
  ): void;
  gauss_peer_bwd(
    g: number,
    noise: number,
    logStd: number,
    dpeer: number,
    dmu: number,
    dls: number,
    M: number,
    D: number,
    w: number,
  ): void;
  value_clip_grad(
    v: number,
    vOld: number,
    ret: number,
    dv: number,
    M: number,
    clip: number,
    delta: number,
    total: number,
  ): number;
  gelu_fwd(x: number, y: number, n: number): void;
  gelu_bwd(dy: number, x: number, dx: number, n: number): void;
  attn_fwd(
    Q: number,
    K: number,
    V: number,
    P: number,
    Y: number,
    B: number,
    L: number,
    D: number,
    H: number,
    causal: number,
  ): void;
  attn_bwd(
    dY: number,
    Q: number,
    K: number,
    V: number,
    P: number,
    dQ: number,
    dK: number,
    dV: number,
    B: number,
    L: number,
    D: number,
    H: number,
    causal: number,
  ): void;
  adam(
    w: number,
    g: number,
    m: number,
    v: number,
    n: number,
    scale: number,
    b1: number,
    b2: number,
    step: number,
    sqrtBc2: number,
    eps: number,
  ): void;
}

/** Activation codes of the kernels. */
export const ACT = { none: 0, relu: 1, tanh: 2 } as const;

/** Which build of the kernels: with relaxed SIMD's fused multiply-add, or SIMD128 only. */
export type KernelVariant = "relaxed" | "baseline";

const modules = new Map<KernelVariant, WebAssembly.Module | null>();

function wasmModule(variant: KernelVariant): WebAssembly.Module | null {
  if (!modules.has(variant)) {
    const bin = atob(KERNELS_WASM[variant]);
    const bytes = new Uint8Array(bin.length);
    for (let i = 0; i < bin.length; i++) bytes[i] = bin.charCodeAt(i);
    let m: WebAssembly.Module | null = null;
    try {
      m = new WebAssembly.Module(bytes);
    } catch (e) {
      if (variant === "baseline") throw e; // no SIMD128 at all: nothing to fall back to
    }
    modules.set(variant, m);
  }
  return modules.get(variant)!;
}

/** @returns the build this runtime compiles: relaxed where it can, else baseline */
export function bestVariant(): KernelVariant {
  return wasmModule("relaxed") ? "relaxed" : "baseline";
}

/**
 * Rows `start .. start + count - 1` of a row-major buffer, as a buffer (no copy).
 * @param b the buffer
 * @param width elements per row
 * @param start first row
 * @param count rows
 * @returns the part
 */
export function rowsOf(b: Buf, width: number, start: number, count: number): Buf {
  return { ptr: b.ptr + 4 * start * width, n: count * width };
}

/**
 * A function that gathers rows `idx` of a row-major buffer into new scratch (a minibatch), or
 * returns the buffer itself when `idx` is null; the index buffer is uploaded once, on first use.
 * @param kern the kernels (inside a scratch mark)
 * @param idx the rows, or null for all
 * @returns `rows(buffer, width)`
 */
export function gatherer(kern: Kernels, idx: Int32Array | null): (b: Buf, width: number) => Buf {
  let ib: Buf | null = null;
  return (b, w) => {
    if (!idx) return b;
    if (!ib) {
      ib = kern.scratch(idx.length);
      kern.i32(ib).set(idx);
    }
    const out = kern.scratch(idx.length * w);
    kern.k.gather_rows(b.ptr, ib.ptr, out.ptr, idx.length, w);
    return out;
  };
}

/** One instance of the kernels with its arena. */
export class Kernels {
  /** The C functions. */
  readonly k: KernelExports;
  #top: number;
  #marks: number[] = [];
  /** Freed long-lived blocks (byte offset and size), sorted by offset, adjacent ones merged. */
  #free: { ptr: number; bytes: number }[] = [];
  #f32 = new Float32Array(0);
  #i32 = new Int32Array(0);

  /** The build in use. */
  readonly variant: KernelVariant;

  /**
   * Instantiates the module (synchronously: it is small).
   * @param variant the build (default: relaxed where the runtime compiles it)
   */
  constructor(variant: KernelVariant = bestVariant()) {
    const m = wasmModule(variant);
    if (!m) throw new Error(`this runtime cannot compile the ${variant} kernels`);
    this.variant = variant;
    this.k = new WebAssembly.Instance(m, {}).exports as unknown as KernelExports;
    this.#top = align(this.k.__heap_base.value as number);
    this.#views();
  }

  #views(): void {
    if (this.#f32.buffer !== this.k.memory.buffer) {
      this.#f32 = new Float32Array(this.k.memory.buffer as ArrayBuffer);
      this.#i32 = new Int32Array(this.k.memory.buffer as ArrayBuffer);
    }
  }

  #take(n: number, zero: boolean): Buf {
    const ptr = this.#top, end = align(ptr + 4 * Math.max(n, 1));
    const have = this.k.memory.buffer.byteLength;
    if (end > have) {
      try {
        this.k.memory.grow(Math.ceil((end - have) / 65536));
      } catch {
        throw new Error(
          `the fused kernels need ${Math.ceil(end / 2 ** 20)} MiB, more than WebAssembly's ` +
            `4 GiB memory allows: split the update (--algo-opt minibatches=<more>) or use ` +
            `--kernels tfjs`,
        );
      }
    }
    this.#top = end;
    this.#views();
    if (zero) this.#f32.fill(0, ptr / 4, end / 4);
    return { ptr, n };
  }

  /**
   * A zeroed buffer that lives as long as this instance (parameters, slots).
   * @param n elements
   * @returns the buffer
   */
  alloc(n: number): Buf {
    if (this.#marks.length) throw new Error("Kernels.alloc inside a scratch mark: allocate first");
    this.#lower();
    const bytes = align(4 * Math.max(n, 1));
    const i = this.#free.findIndex((f) => f.bytes >= bytes); // first fit among freed blocks
    if (i < 0) return this.#take(n, true);
    const f = this.#free[i]!, ptr = f.ptr;
    if (f.bytes === bytes) this.#free.splice(i, 1);
    else this.#free[i] = { ptr: ptr + bytes, bytes: f.bytes - bytes };
    this.#views();
    this.#f32.fill(0, ptr / 4, (ptr + bytes) / 4);
    return { ptr, n };
  }

  /**
   * Gives back a buffer from {@link alloc} (a disposed network's parameters), for later
   * allocations to reuse: an instance serves every run of its thread, so a process that makes
   * and disposes many algorithms stays the size of the largest set alive at once.
   * @param b the buffer (not used again)
   */
  free(b: Buf): void {
    const bytes = align(4 * Math.max(b.n, 1));
    const list = this.#free;
    list.push({ ptr: b.ptr, bytes });
    list.sort((x, y) => x.ptr - y.ptr);
    for (let i = list.length - 1; i > 0; i--) { // merge neighbours
      const a = list[i - 1]!, c = list[i]!;
      if (a.ptr + a.bytes === c.ptr) {
        list.splice(i - 1, 2, { ptr: a.ptr, bytes: a.bytes + c.bytes });
      }
    }
    // outside a mark, a freed block at the top lowers the arena; inside one (another pass of this
    // thread is running: its scratch sits above) the block waits on the list for the next alloc
    this.#lower();
  }

  /** Lowers the top over a freed block that ends at it (only when no scratch is live). */
  #lower(): void {
    const last = this.#free.at(-1);
    if (!this.#marks.length && last && last.ptr + last.bytes === this.#top) {
      this.#top = last.ptr;
      this.#free.pop();
    }
  }

  /**
   * A buffer released by the enclosing {@link release}.
   * by the enclosing mark's release. Its contents are whatever was there (every kernel that
   * writes a scratch output overwrites it) unless `zero`.
   * @param n elements
   * @param zero whether to zero it
   * @returns the buffer
   */
  scratch(n: number, zero = false): Buf {
    if (!this.#marks.length) throw new Error("Kernels.scratch outside a mark");
    return this.#take(n, zero);
  }

  /** @returns a mark; {@link release} frees every scratch buffer taken after it */
  mark(): number {
    this.#marks.push(this.#top);
    return this.#marks.length;
  }

  /**
   * Frees the scratch taken since the mark.
   * @param m what {@link mark} returned
   */
  release(m: number): void {
    if (m !== this.#marks.length) throw new Error("Kernels.release out of order");
    this.#top = this.#marks.pop()!;
  }

  /**
   * @param b a buffer
   * @returns a float32 view of it (valid until the memory next grows)
   */
  f32(b: Buf): Float32Array {
    this.#views();
    return this.#f32.subarray(b.ptr / 4, b.ptr / 4 + b.n);
  }

  /**
   * @param b a buffer
   * @returns an int32 view of it (valid until the memory next grows)
   */
  i32(b: Buf): Int32Array {
    this.#views();
    return this.#i32.subarray(b.ptr / 4, b.ptr / 4 + b.n);
  }

  /**
   * Frees the scratch taken since mark `m`, and every mark made after it (after an error left
   * inner marks open).
   * @param m what {@link mark} returned
   */
  unwind(m: number): void {
    while (this.#marks.length >= m) this.#top = this.#marks.pop()!;
  }

  /** The arena's top: bytes up to the last live buffer (freed blocks below it included). */
  get used(): number {
    return this.#top;
  }
}

function align(p: number): number {
  return Math.ceil(p / 16) * 16; // not a bit mask: offsets pass 2^31 (wasm32 has 4 GiB)
}

let shared: Kernels | null = null;

/** @returns this thread's kernels instance (made on first use) */
export function kernels(): Kernels {
  return shared ??= new Kernels();
}
