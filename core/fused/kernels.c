// Baton's fused kernels: whole-batch forward and backward passes of the small networks Baton
// trains (dense + bias + activation, LayerNorm, categorical head) and Adam, as SIMD WebAssembly.
// Built by `deno task kernels` (scripts/build_kernels.ts: clang --target=wasm32 -msimd128, no
// libc); the binary is embedded in core/fused/kernels_wasm.ts with this file's SHA-256, and
// `deno task check` refuses a binary whose source hash differs. Every kernel is tested against
// tfjs autodiff in tests/fused_test.ts. All arrays are float32, row-major, 16-byte aligned by the
// caller (core/fused/kernels.ts); sums run in a fixed order, so results are deterministic.
//
// Conventions: M rows (the batch), K inputs, N outputs. `acc` = 1 adds into the output instead
// of overwriting it. `act`: 0 none, 1 ReLU, 2 tanh.
#include <stdint.h>
#include <wasm_simd128.h>

#define EXPORT(name) __attribute__((export_name(#name)))
typedef float f32;

// a * b + c on four lanes. The relaxed build (the one Baton loads where the runtime has relaxed
// SIMD: V8, so Deno and Chrome) uses relaxed_madd, a fused multiply-add on CPUs with FMA (one
// rounding instead of two; results are then deterministic per machine, not across machines);
// the baseline build multiplies and adds.
#ifdef BATON_RELAXED
#define MADD(a, b, c) wasm_f32x4_relaxed_madd(a, b, c)
#else
#define MADD(a, b, c) wasm_f32x4_add(wasm_f32x4_mul(a, b), c)
#endif

// ---- elementary functions (no libm here): Cephes single-precision polynomials ----

// exp(x) on four lanes: x = n ln2 + r, |r| <= ln2 / 2, exp(r) by a degree-6 polynomial, 2^n by
// adding n to the exponent bits. Inputs are clamped to [-87.3, 88.3] (exp underflows to ~1e-38).
static inline v128_t vexp(v128_t x) {
  // pmin/pmax are one minps/maxps in V8; min/max carry NaN and -0 rules that cost several
  x = wasm_f32x4_pmin(wasm_f32x4_pmax(x, wasm_f32x4_splat(-87.3f)), wasm_f32x4_splat(88.3f));
  v128_t n = wasm_f32x4_floor(
      wasm_f32x4_add(wasm_f32x4_mul(x, wasm_f32x4_splat(1.44269504088896341f)),
                     wasm_f32x4_splat(0.5f)));
  v128_t r = wasm_f32x4_sub(x, wasm_f32x4_mul(n, wasm_f32x4_splat(0.693359375f)));
  r = wasm_f32x4_sub(r, wasm_f32x4_mul(n, wasm_f32x4_splat(-2.12194440e-4f)));
  v128_t z = wasm_f32x4_mul(r, r);
  v128_t y = wasm_f32x4_splat(1.9875691500e-4f);
  y = wasm_f32x4_add(wasm_f32x4_mul(y, r), wasm_f32x4_splat(1.3981999507e-3f));
  y = wasm_f32x4_add(wasm_f32x4_mul(y, r), wasm_f32x4_splat(8.3334519073e-3f));
  y = wasm_f32x4_add(wasm_f32x4_mul(y, r), wasm_f32x4_splat(4.1665795894e-2f));
  y = wasm_f32x4_add(wasm_f32x4_mul(y, r), wasm_f32x4_splat(1.6666665459e-1f));
  y = wasm_f32x4_add(wasm_f32x4_mul(y, r), wasm_f32x4_splat(5.0000001201e-1f));
  y = wasm_f32x4_add(wasm_f32x4_add(wasm_f32x4_mul(y, z), r), wasm_f32x4_splat(1.0f));
  // n as an integer without a saturating conversion (several instructions in V8): the bits of
  // n + 1.5 * 2^23 minus those of 1.5 * 2^23 are n, for |n| < 2^22
  v128_t magic = wasm_f32x4_splat(12582912.0f);
  v128_t ni = wasm_i32x4_sub(wasm_f32x4_add(n, magic), magic);
  return wasm_i32x4_add(y, wasm_i32x4_shl(ni, 23)); // y * 2^n
}

static inline f32 sexp(f32 x) { return wasm_f32x4_extract_lane(vexp(wasm_f32x4_splat(x)), 0); }

// log(x) for x > 0: x = m 2^e with m in [sqrt(1/2), sqrt(2)), log(m) by Cephes' polynomial.
static f32 slog(f32 x) {
  union { f32 f; int32_t i; } u = {x};
  int32_t e = ((u.i >> 23) & 0xff) - 126;
  u.i = (u.i & 0x807fffff) | 0x3f000000; // m in [0.5, 1)
  f32 m = u.f, fe = (f32)e;
  if (m < 0.707106781186547524f) {
    fe -= 1.0f;
    m = m + m - 1.0f;
  } else {
    m = m - 1.0f;
  }
  f32 z = m * m;
  f32 y = 7.0376836292e-2f;
  y = y * m - 1.1514610310e-1f;
  y = y * m + 1.1676998740e-1f;
  y = y * m - 1.2420140846e-1f;
  y = y * m + 1.4249322787e-1f;
  y = y * m - 1.6668057665e-1f;
  y = y * m + 2.0000714765e-1f;
  y = y * m - 2.4999993993e-1f;
  y = y * m + 3.3333331174e-1f;
  y = y * m * z;
  y += -2.12194440e-4f * fe;
  y += -0.5f * z;
  return m + y + 0.693359375f * fe;
}

// tanh on four lanes: Cephes' odd polynomial below |x| = 0.625, else 1 - 2 / (exp(2|x|) + 1),
// with the sign put back.
static inline v128_t vtanh(v128_t x) {
  v128_t ax = wasm_f32x4_abs(x);
  v128_t z = wasm_f32x4_mul(x, x);
  v128_t p = wasm_f32x4_splat(-5.70498872745e-3f);
  p = wasm_f32x4_add(wasm_f32x4_mul(p, z), wasm_f32x4_splat(2.06390887954e-2f));
  p = wasm_f32x4_add(wasm_f32x4_mul(p, z), wasm_f32x4_splat(-5.37397155531e-2f));
  p = wasm_f32x4_add(wasm_f32x4_mul(p, z), wasm_f32x4_splat(1.33314422036e-1f));
  p = wasm_f32x4_add(wasm_f32x4_mul(p, z), wasm_f32x4_splat(-3.33332819422e-1f));
  v128_t small = wasm_f32x4_add(wasm_f32x4_mul(wasm_f32x4_mul(p, z), x), x);
  v128_t e = vexp(wasm_f32x4_add(ax, ax));
  v128_t big = wasm_f32x4_sub(wasm_f32x4_splat(1.0f),
                              wasm_f32x4_div(wasm_f32x4_splat(2.0f),
                                             wasm_f32x4_add(e, wasm_f32x4_splat(1.0f))));
  big = wasm_v128_or(big, wasm_v128_and(x, wasm_i32x4_splat((int32_t)0x80000000))); // sign of x
  return wasm_v128_bitselect(small, big, wasm_f32x4_lt(ax, wasm_f32x4_splat(0.625f)));
}

static inline f32 stanh(f32 x) { return wasm_f32x4_extract_lane(vtanh(wasm_f32x4_splat(x)), 0); }

static inline v128_t vact(v128_t x, int act) {
  if (act == 1) return wasm_f32x4_pmax(wasm_f32x4_splat(0.0f), x); // x > 0 ? x : 0
  if (act == 2) return vtanh(x);
  return x;
}

static inline f32 sact(f32 x, int act) {
  if (act == 1) return x > 0.0f ? x : 0.0f;
  if (act == 2) return stanh(x);
  return x;
}

EXPORT(tanh_inplace) void tanh_inplace(f32* x, int n) {
  int i = 0;
  for (; i + 4 <= n; i += 4) wasm_v128_store(x + i, vtanh(wasm_v128_load(x + i)));
  for (; i < n; i++) x[i] = stanh(x[i]);
}

EXPORT(exp_inplace) void exp_inplace(f32* x, int n) {
  int i = 0;
  for (; i + 4 <= n; i += 4) wasm_v128_store(x + i, vexp(wasm_v128_load(x + i)));
  for (; i < n; i++) x[i] = sexp(x[i]);
}

EXPORT(log_inplace) void log_inplace(f32* x, int n) {
  for (int i = 0; i < n; i++) x[i] = slog(x[i]);
}

// ---- matrix products ----

// Dot product of n floats, four lanes then a fixed-order finish (deterministic).
static inline f32 dot(const f32* a, const f32* b, int n) {
  v128_t s = wasm_f32x4_splat(0.0f);
  int k = 0;
  for (; k + 4 <= n; k += 4) s = MADD(wasm_v128_load(a + k), wasm_v128_load(b + k), s);
  f32 t = wasm_f32x4_extract_lane(s, 0) + wasm_f32x4_extract_lane(s, 1) +
          wasm_f32x4_extract_lane(s, 2) + wasm_f32x4_extract_lane(s, 3);
  for (; k < n; k++) t += a[k] * b[k];
  return t;
}

#define COL_MAX 4096 // columns of B up to this length are copied to the stack for the tail

// C[M, N] = act(A[M, K] B[K, N] + bias) (acc = 0), or C += A B (acc = 1; bias and act unused).
// Register blocks of 4 rows x 8 columns: eight accumulators, two loads of B and four broadcasts
// of A per k. B (K x N, a layer's weights) stays in cache across the row blocks. The last N mod 8
// columns (a policy head's 3 or 11 outputs) are dot products of A's rows with a copy of B's
// column, vectorised along K.
EXPORT(gemm_nn)
void gemm_nn(const f32* A, const f32* B, f32* C, const f32* bias, int M, int K, int N, int acc,
             int act) {
  int N8 = N - N % 8;
  int i = 0;
  for (; i + 4 <= M && N8; i += 4) {
    const f32 *a0 = A + i * K, *a1 = a0 + K, *a2 = a1 + K, *a3 = a2 + K;
    f32 *c0 = C + i * N, *c1 = c0 + N, *c2 = c1 + N, *c3 = c2 + N;
    for (int j = 0; j < N8; j += 8) {
      v128_t x00, x01, x10, x11, x20, x21, x30, x31;
      if (acc) {
        x00 = wasm_v128_load(c0 + j), x01 = wasm_v128_load(c0 + j + 4);
        x10 = wasm_v128_load(c1 + j), x11 = wasm_v128_load(c1 + j + 4);
        x20 = wasm_v128_load(c2 + j), x21 = wasm_v128_load(c2 + j + 4);
        x30 = wasm_v128_load(c3 + j), x31 = wasm_v128_load(c3 + j + 4);
      } else if (bias) {
        x00 = x10 = x20 = x30 = wasm_v128_load(bias + j);
        x01 = x11 = x21 = x31 = wasm_v128_load(bias + j + 4);
      } else {
        x00 = x01 = x10 = x11 = x20 = x21 = x30 = x31 = wasm_f32x4_splat(0.0f);
      }
      const f32* b = B + j;
      for (int k = 0; k < K; k++, b += N) {
        v128_t b0 = wasm_v128_load(b), b1 = wasm_v128_load(b + 4);
        v128_t s0 = wasm_f32x4_splat(a0[k]), s1 = wasm_f32x4_splat(a1[k]);
        v128_t s2 = wasm_f32x4_splat(a2[k]), s3 = wasm_f32x4_splat(a3[k]);
        x00 = MADD(s0, b0, x00);
        x01 = MADD(s0, b1, x01);
        x10 = MADD(s1, b0, x10);
        x11 = MADD(s1, b1, x11);
        x20 = MADD(s2, b0, x20);
        x21 = MADD(s2, b1, x21);
        x30 = MADD(s3, b0, x30);
        x31 = MADD(s3, b1, x31);
      }
      if (!acc && act) {
        x00 = vact(x00, act), x01 = vact(x01, act), x10 = vact(x10, act), x11 = vact(x11, act);
        x20 = vact(x20, act), x21 = vact(x21, act), x30 = vact(x30, act), x31 = vact(x31, act);
      }
      wasm_v128_store(c0 + j, x00), wasm_v128_store(c0 + j + 4, x01);
      wasm_v128_store(c1 + j, x10), wasm_v128_store(c1 + j + 4, x11);
      wasm_v128_store(c2 + j, x20), wasm_v128_store(c2 + j + 4, x21);
      wasm_v128_store(c3 + j, x30), wasm_v128_store(c3 + j + 4, x31);
    }
  }
  for (; i < M; i++) { // row tail of the 8-column blocks
    const f32* a0 = A + i * K;
    f32* c0 = C + i * N;
    for (int j = 0; j < N8; j += 4) {
      v128_t x = acc ? wasm_v128_load(c0 + j)
                     : (bias ? wasm_v128_load(bias + j) : wasm_f32x4_splat(0.0f));
      for (int k = 0; k < K; k++) {
        x = MADD(wasm_f32x4_splat(a0[k]), wasm_v128_load(B + k * N + j), x);
      }
      wasm_v128_store(c0 + j, acc ? x : vact(x, act));
    }
  }
  if (N8 == N) return;
  f32 col[K <= COL_MAX ? K : 1] __attribute__((aligned(16)));
  for (int j = N8; j < N; j++) { // column tail
    if (K <= COL_MAX) {
      for (int k = 0; k < K; k++) col[k] = B[k * N + j];
    }
    for (int r = 0; r < M; r++) {
      f32 s;
      if (K <= COL_MAX) {
        s = dot(A + r * K, col, K);
      } else {
        s = 0.0f;
        for (int k = 0; k < K; k++) s += A[r * K + k] * B[k * N + j];
      }
      f32* c = C + r * N + j;
      *c = acc ? *c + s : sact(s + (bias ? bias[j] : 0.0f), act);
    }
  }
}

// C[K, N] = A[M, K]^T B[M, N] (acc = 0) or C += A^T B: the weight gradient x^T dz. Rows are taken
// in chunks of 256, so a chunk of A and B stays in cache while every 4 x 8 block of C (in
// registers) sweeps it; C is read and written once per chunk.
#define TN_CHUNK 256
EXPORT(gemm_tn)
void gemm_tn(const f32* A, const f32* B, f32* C, int M, int K, int N, int acc) {
  if (!acc) {
    for (int q = 0; q < K * N; q++) C[q] = 0.0f;
  }
  for (int m0 = 0; m0 < M; m0 += TN_CHUNK) {
    int m1 = m0 + TN_CHUNK < M ? m0 + TN_CHUNK : M;
    int k = 0;
    for (; k + 4 <= K; k += 4) {
      f32 *c0 = C + k * N, *c1 = c0 + N, *c2 = c1 + N, *c3 = c2 + N;
      int j = 0;
      for (; j + 8 <= N; j += 8) {
        v128_t x00 = wasm_v128_load(c0 + j), x01 = wasm_v128_load(c0 + j + 4);
        v128_t x10 = wasm_v128_load(c1 + j), x11 = wasm_v128_load(c1 + j + 4);
        v128_t x20 = wasm_v128_load(c2 + j), x21 = wasm_v128_load(c2 + j + 4);
        v128_t x30 = wasm_v128_load(c3 + j), x31 = wasm_v128_load(c3 + j + 4);
        for (int m = m0; m < m1; m++) {
          const f32* a = A + m * K + k;
          const f32* b = B + m * N + j;
          v128_t b0 = wasm_v128_load(b), b1 = wasm_v128_load(b + 4);
          v128_t s0 = wasm_f32x4_splat(a[0]), s1 = wasm_f32x4_splat(a[1]);
          v128_t s2 = wasm_f32x4_splat(a[2]), s3 = wasm_f32x4_splat(a[3]);
          x00 = MADD(s0, b0, x00);
          x01 = MADD(s0, b1, x01);
          x10 = MADD(s1, b0, x10);
          x11 = MADD(s1, b1, x11);
          x20 = MADD(s2, b0, x20);
          x21 = MADD(s2, b1, x21);
          x30 = MADD(s3, b0, x30);
          x31 = MADD(s3, b1, x31);
        }
        wasm_v128_store(c0 + j, x00), wasm_v128_store(c0 + j + 4, x01);
        wasm_v128_store(c1 + j, x10), wasm_v128_store(c1 + j + 4, x11);
        wasm_v128_store(c2 + j, x20), wasm_v128_store(c2 + j + 4, x21);
        wasm_v128_store(c3 + j, x30), wasm_v128_store(c3 + j + 4, x31);
      }
      for (; j < N; j++) {
        f32 s0 = c0[j], s1 = c1[j], s2 = c2[j], s3 = c3[j];
        for (int m = m0; m < m1; m++) {
          const f32* a = A + m * K + k;
          f32 bj = B[m * N + j];
          s0 += a[0] * bj, s1 += a[1] * bj, s2 += a[2] * bj, s3 += a[3] * bj;
        }
        c0[j] = s0, c1[j] = s1, c2[j] = s2, c3[j] = s3;
      }
    }
    for (; k < K; k++) { // tail of A's columns
      f32* c0 = C + k * N;
      int j = 0;
      for (; j + 4 <= N; j += 4) {
        v128_t x = wasm_v128_load(c0 + j);
        for (int m = m0; m < m1; m++) {
          x = MADD(wasm_f32x4_splat(A[m * K + k]), wasm_v128_load(B + m * N + j), x);
        }
        wasm_v128_store(c0 + j, x);
      }
      for (; j < N; j++) {
        f32 s = c0[j];
        for (int m = m0; m < m1; m++) s += A[m * K + k] * B[m * N + j];
        c0[j] = s;
      }
    }
  }
}

// dst[C, R] = src[R, C]^T.
EXPORT(transpose) void transpose(const f32* src, f32* dst, int R, int C) {
  for (int r = 0; r < R; r++) {
    for (int c = 0; c < C; c++) dst[c * R + r] = src[r * C + c];
  }
}

// ---- elementwise and reductions ----

// dz = dy * act'(y), from the activation's output y: ReLU 1[y > 0], tanh 1 - y^2. In place ok.
EXPORT(act_bwd) void act_bwd(const f32* dy, const f32* y, f32* dz, int n, int act) {
  int i = 0;
  v128_t zero = wasm_f32x4_splat(0.0f), one = wasm_f32x4_splat(1.0f);
  for (; i + 4 <= n; i += 4) {
    v128_t d = wasm_v128_load(dy + i), v = wasm_v128_load(y + i);
    if (act == 1) d = wasm_v128_and(d, wasm_f32x4_gt(v, zero));
    else if (act == 2) d = wasm_f32x4_mul(d, wasm_f32x4_sub(one, wasm_f32x4_mul(v, v)));
    wasm_v128_store(dz + i, d);
  }
  for (; i < n; i++) {
    f32 d = dy[i], v = y[i];
    if (act == 1) d = v > 0.0f ? d : 0.0f;
    else if (act == 2) d = d * (1.0f - v * v);
    dz[i] = d;
  }
}

// out[N] (+)= sum over rows of x[M, N]: a bias gradient.
EXPORT(col_sum) void col_sum(const f32* x, f32* out, int M, int N, int acc) {
  if (!acc) {
    for (int j = 0; j < N; j++) out[j] = 0.0f;
  }
  int j = 0;
  for (; j + 4 <= N; j += 4) {
    v128_t s = wasm_v128_load(out + j);
    for (int m = 0; m < M; m++) s = wasm_f32x4_add(s, wasm_v128_load(x + m * N + j));
    wasm_v128_store(out + j, s);
  }
  for (; j < N; j++) {
    f32 s = out[j];
    for (int m = 0; m < M; m++) s += x[m * N + j];
    out[j] = s;
  }
}

// y = a x + b y over n floats (b = 0 overwrites y).
EXPORT(axpby) void axpby(f32 a, const f32* x, f32 b, f32* y, int n) {
  v128_t va = wasm_f32x4_splat(a), vb = wasm_f32x4_splat(b);
  int i = 0;
  if (b == 0.0f) {
    for (; i + 4 <= n; i += 4) wasm_v128_store(y + i, wasm_f32x4_mul(va, wasm_v128_load(x + i)));
    for (; i < n; i++) y[i] = a * x[i];
    return;
  }
  for (; i + 4 <= n; i += 4) {
    wasm_v128_store(y + i, wasm_f32x4_add(wasm_f32x4_mul(va, wasm_v128_load(x + i)),
                                          wasm_f32x4_mul(vb, wasm_v128_load(y + i))));
  }
  for (; i < n; i++) y[i] = a * x[i] + b * y[i];
}

// sum of squares of n floats, four partial sums (lane order fixed).
EXPORT(sum_sq) f32 sum_sq(const f32* x, int n) {
  v128_t s = wasm_f32x4_splat(0.0f);
  int i = 0;
  for (; i + 4 <= n; i += 4) {
    v128_t v = wasm_v128_load(x + i);
    s = MADD(v, v, s);
  }
  f32 t = wasm_f32x4_extract_lane(s, 0) + wasm_f32x4_extract_lane(s, 1) +
          wasm_f32x4_extract_lane(s, 2) + wasm_f32x4_extract_lane(s, 3);
  for (; i < n; i++) t += x[i] * x[i];
  return t;
}

// ---- LayerNorm over the last axis, eps 1e-5 (PyTorch's nn.LayerNorm) ----

static inline f32 hsum(v128_t v) {
  return wasm_f32x4_extract_lane(v, 0) + wasm_f32x4_extract_lane(v, 1) +
         wasm_f32x4_extract_lane(v, 2) + wasm_f32x4_extract_lane(v, 3);
}

static f32 row_sum(const f32* x, int N) {
  v128_t s = wasm_f32x4_splat(0.0f);
  int j = 0;
  for (; j + 4 <= N; j += 4) s = wasm_f32x4_add(s, wasm_v128_load(x + j));
  f32 t = hsum(s);
  for (; j < N; j++) t += x[j];
  return t;
}

// xhat = (x - mean) / s, s = sqrt(var + 1e-5) (rstd[m] = 1 / s); y = xhat g + b when g is given,
// else y = xhat (y may be xhat).
EXPORT(layernorm_fwd)
void layernorm_fwd(const f32* x, const f32* g, const f32* b, f32* y, f32* xhat, f32* rstd, int M,
                   int N) {
  f32 invN = 1.0f / (f32)N;
  for (int m = 0; m < M; m++) {
    const f32* xr = x + m * N;
    f32* hr = xhat + m * N;
    f32* yr = y + m * N;
    f32 mean = row_sum(xr, N) * invN;
    v128_t vm = wasm_f32x4_splat(mean), ss = wasm_f32x4_splat(0.0f);
    int j = 0;
    for (; j + 4 <= N; j += 4) {
      v128_t c = wasm_f32x4_sub(wasm_v128_load(xr + j), vm);
      ss = MADD(c, c, ss);
    }
    f32 var = hsum(ss);
    for (; j < N; j++) var += (xr[j] - mean) * (xr[j] - mean);
    f32 r = 1.0f / __builtin_sqrtf(var * invN + 1e-5f);
    rstd[m] = r;
    v128_t vr = wasm_f32x4_splat(r);
    for (j = 0; j + 4 <= N; j += 4) {
      v128_t h = wasm_f32x4_mul(wasm_f32x4_sub(wasm_v128_load(xr + j), vm), vr);
      wasm_v128_store(hr + j, h);
      if (g) h = wasm_f32x4_add(wasm_f32x4_mul(h, wasm_v128_load(g + j)), wasm_v128_load(b + j));
      wasm_v128_store(yr + j, h);
    }
    for (; j < N; j++) {
      f32 h = (xr[j] - mean) * r;
      hr[j] = h;
      yr[j] = g ? h * g[j] + b[j] : h;
    }
  }
}

// dyg = dy g (dy when g is null); dx = (dyg - mean(dyg) - xhat mean(dyg xhat)) rstd;
// dg (+)= sum_rows(dy xhat), db (+)= sum_rows(dy) when dg is given (null: no parameter
// gradients). dx may be dy.
EXPORT(layernorm_bwd)
void layernorm_bwd(const f32* dy, const f32* xhat, const f32* rstd, const f32* g, f32* dx, f32* dg,
                   f32* db, int M, int N, int acc) {
  if (dg && !acc) {
    for (int j = 0; j < N; j++) dg[j] = 0.0f, db[j] = 0.0f;
  }
  f32 invN = 1.0f / (f32)N;
  for (int m = 0; m < M; m++) {
    const f32* dr = dy + m * N;
    const f32* hr = xhat + m * N;
    f32* xr = dx + m * N;
    v128_t s1 = wasm_f32x4_splat(0.0f), s2 = wasm_f32x4_splat(0.0f);
    int j = 0;
    for (; j + 4 <= N; j += 4) {
      v128_t d = wasm_v128_load(dr + j), h = wasm_v128_load(hr + j);
      if (dg) {
        wasm_v128_store(dg + j, MADD(d, h, wasm_v128_load(dg + j)));
        wasm_v128_store(db + j, wasm_f32x4_add(wasm_v128_load(db + j), d));
      }
      if (g) d = wasm_f32x4_mul(d, wasm_v128_load(g + j));
      s1 = wasm_f32x4_add(s1, d);
      s2 = MADD(d, h, s2);
    }
    f32 t1 = hsum(s1), t2 = hsum(s2);
    for (; j < N; j++) {
      f32 d = dr[j], h = hr[j];
      if (dg) dg[j] += d * h, db[j] += d;
      if (g) d *= g[j];
      t1 += d, t2 += d * h;
    }
    v128_t m1 = wasm_f32x4_splat(t1 * invN), m2 = wasm_f32x4_splat(t2 * invN);
    v128_t vr = wasm_f32x4_splat(rstd[m]);
    for (j = 0; j + 4 <= N; j += 4) {
      v128_t d = wasm_v128_load(dr + j), h = wasm_v128_load(hr + j);
      if (g) d = wasm_f32x4_mul(d, wasm_v128_load(g + j));
      v128_t inner = wasm_f32x4_sub(wasm_f32x4_sub(d, m1), wasm_f32x4_mul(h, m2));
      wasm_v128_store(xr + j, wasm_f32x4_mul(inner, vr));
    }
    for (; j < N; j++) {
      f32 d = g ? dr[j] * g[j] : dr[j];
      xr[j] = (d - t1 * invN - hr[j] * t2 * invN) * rstd[m];
    }
  }
}

// ---- the Multi-Agent Transformer's pieces (core/transformer.ts): GELU and attention ----

// erf on four lanes: Abramowitz and Stegun 7.1.26 (absolute error below 1.5e-7),
// erf(x) = sign(x) (1 - t (a1 + t (a2 + t (a3 + t (a4 + t a5)))) exp(-x^2)), t = 1 / (1 + p |x|).
static inline v128_t verf(v128_t x) {
  v128_t ax = wasm_f32x4_abs(x), one = wasm_f32x4_splat(1.0f);
  v128_t t = wasm_f32x4_div(one, wasm_f32x4_add(one, wasm_f32x4_mul(wasm_f32x4_splat(0.3275911f), ax)));
  v128_t y = wasm_f32x4_splat(1.061405429f);
  y = wasm_f32x4_add(wasm_f32x4_mul(y, t), wasm_f32x4_splat(-1.453152027f));
  y = wasm_f32x4_add(wasm_f32x4_mul(y, t), wasm_f32x4_splat(1.421413741f));
  y = wasm_f32x4_add(wasm_f32x4_mul(y, t), wasm_f32x4_splat(-0.284496736f));
  y = wasm_f32x4_add(wasm_f32x4_mul(y, t), wasm_f32x4_splat(0.254829592f));
  y = wasm_f32x4_mul(wasm_f32x4_mul(y, t), vexp(wasm_f32x4_neg(wasm_f32x4_mul(ax, ax))));
  v128_t r = wasm_f32x4_sub(one, y);
  return wasm_v128_or(r, wasm_v128_and(x, wasm_i32x4_splat((int32_t)0x80000000))); // sign of x
}

// GELU's exact form (PyTorch's default): y = x Phi(x) = x (1 + erf(x / sqrt 2)) / 2.
static inline v128_t vgelu(v128_t x) {
  v128_t e = verf(wasm_f32x4_mul(x, wasm_f32x4_splat(0.70710678118654752f)));
  return wasm_f32x4_mul(wasm_f32x4_mul(x, wasm_f32x4_splat(0.5f)),
                        wasm_f32x4_add(wasm_f32x4_splat(1.0f), e));
}

// dGELU/dx = Phi(x) + x phi(x), phi(x) = exp(-x^2 / 2) / sqrt(2 pi).
static inline v128_t vgelu_grad(v128_t x) {
  v128_t half = wasm_f32x4_splat(0.5f);
  v128_t Phi = wasm_f32x4_mul(half, wasm_f32x4_add(wasm_f32x4_splat(1.0f),
                                                   verf(wasm_f32x4_mul(x, wasm_f32x4_splat(0.70710678118654752f)))));
  v128_t phi = wasm_f32x4_mul(vexp(wasm_f32x4_neg(wasm_f32x4_mul(half, wasm_f32x4_mul(x, x)))),
                              wasm_f32x4_splat(0.39894228040143268f));
  return wasm_f32x4_add(Phi, wasm_f32x4_mul(x, phi));
}

// y = GELU(x) over n floats (y may be x). The tail goes through the vector code on a padded copy.
EXPORT(gelu_fwd) void gelu_fwd(const f32* x, f32* y, int n) {
  int i = 0;
  for (; i + 4 <= n; i += 4) wasm_v128_store(y + i, vgelu(wasm_v128_load(x + i)));
  if (i == n) return;
  f32 t[4] __attribute__((aligned(16))) = {0.0f, 0.0f, 0.0f, 0.0f};
  for (int j = i; j < n; j++) t[j - i] = x[j];
  wasm_v128_store(t, vgelu(wasm_v128_load(t)));
  for (int j = i; j < n; j++) y[j] = t[j - i];
}

// dx = dy GELU'(x), from the input x (dx may be dy).
EXPORT(gelu_bwd) void gelu_bwd(const f32* dy, const f32* x, f32* dx, int n) {
  int i = 0;
  for (; i + 4 <= n; i += 4) {
    wasm_v128_store(dx + i, wasm_f32x4_mul(wasm_v128_load(dy + i), vgelu_grad(wasm_v128_load(x + i))));
  }
  if (i == n) return;
  f32 t[4] __attribute__((aligned(16))) = {0.0f, 0.0f, 0.0f, 0.0f};
  for (int j = i; j < n; j++) t[j - i] = x[j];
  wasm_v128_store(t, vgelu_grad(wasm_v128_load(t)));
  for (int j = i; j < n; j++) dx[j] = dy[j] * t[j - i];
}

// y[n] += a x[n].
static inline void axpy_row(f32* y, f32 a, const f32* x, int n) {
  v128_t va = wasm_f32x4_splat(a);
  int k = 0;
  for (; k + 4 <= n; k += 4) wasm_v128_store(y + k, MADD(va, wasm_v128_load(x + k), wasm_v128_load(y + k)));
  for (; k < n; k++) y[k] += a * x[k];
}

#define ATT_MAX 1024 // longest sequence (agents) the attention kernels take

// Multi-head scaled dot-product attention over B sequences of L positions. Q, K, V and Y are
// [B L, D] rows (the projections, heads side by side: head h is columns h hs .. (h + 1) hs - 1,
// hs = D / H). Per sequence b, head h and position i: s_j = q_i . k_j / sqrt(hs) over j (j <= i
// when causal: the -1e9 mask of core/transformer.ts, whose exponentials are exactly 0), p =
// softmax(s), y_i = sum_j p_j v_j. P [B, H, L, L] keeps p for the backward pass (0 above the
// diagonal when causal).
EXPORT(attn_fwd)
void attn_fwd(const f32* Q, const f32* K, const f32* V, f32* P, f32* Y, int B, int L, int D, int H,
              int causal) {
  int hs = D / H;
  f32 scale = 1.0f / __builtin_sqrtf((f32)hs);
  for (int b = 0; b < B; b++) {
    for (int h = 0; h < H; h++) {
      for (int i = 0; i < L; i++) {
        const f32* q = Q + (b * L + i) * D + h * hs;
        f32* p = P + ((b * H + h) * L + i) * L;
        f32* y = Y + (b * L + i) * D + h * hs;
        int jn = causal ? i + 1 : L;
        f32 mx = -3.0e38f;
        for (int j = 0; j < jn; j++) {
          f32 s = dot(q, K + (b * L + j) * D + h * hs, hs) * scale;
          p[j] = s;
          if (s > mx) mx = s;
        }
        f32 z = 0.0f;
        for (int j = 0; j < jn; j++) z += (p[j] = sexp(p[j] - mx));
        f32 iz = 1.0f / z;
        for (int k = 0; k < hs; k++) y[k] = 0.0f;
        for (int j = 0; j < jn; j++) {
          p[j] *= iz;
          axpy_row(y, p[j], V + (b * L + j) * D + h * hs, hs);
        }
        for (int j = jn; j < L; j++) p[j] = 0.0f;
      }
    }
  }
}

// attn_fwd's backward: from dY [B L, D] and the saved P, writes dQ, dK, dV [B L, D]:
// dv_j = sum_i p_ij dy_i, dp_ij = dy_i . v_j, ds_ij = p_ij (dp_ij - sum_k p_ik dp_ik),
// dq_i = sum_j ds_ij k_j / sqrt(hs), dk_j = sum_i ds_ij q_i / sqrt(hs).
EXPORT(attn_bwd)
void attn_bwd(const f32* dY, const f32* Q, const f32* K, const f32* V, const f32* P, f32* dQ,
              f32* dK, f32* dV, int B, int L, int D, int H, int causal) {
  int hs = D / H;
  f32 scale = 1.0f / __builtin_sqrtf((f32)hs);
  f32 ds[ATT_MAX];
  for (int q = 0; q < B * L * D; q++) dQ[q] = 0.0f, dK[q] = 0.0f, dV[q] = 0.0f;
  for (int b = 0; b < B; b++) {
    for (int h = 0; h < H; h++) {
      for (int i = 0; i < L; i++) {
        const f32* dy = dY + (b * L + i) * D + h * hs;
        const f32* p = P + ((b * H + h) * L + i) * L;
        const f32* q = Q + (b * L + i) * D + h * hs;
        f32* dq = dQ + (b * L + i) * D + h * hs;
        int jn = causal ? i + 1 : L;
        f32 t = 0.0f;
        for (int j = 0; j < jn; j++) {
          int r = (b * L + j) * D + h * hs;
          axpy_row(dV + r, p[j], dy, hs);
          f32 dp = dot(dy, V + r, hs);
          ds[j] = dp;
          t += p[j] * dp;
        }
        for (int j = 0; j < jn; j++) {
          int r = (b * L + j) * D + h * hs;
          f32 d = p[j] * (ds[j] - t) * scale;
          axpy_row(dq, d, K + r, hs);
          axpy_row(dK + r, d, q, hs);
        }
      }
    }
  }
}

// ---- GRU over L steps of C sequences (core/nets.ts gruSeq; PyTorch's nn.GRU gates) ----

static inline v128_t vsigmoid(v128_t x) {
  v128_t one = wasm_f32x4_splat(1.0f);
  return wasm_f32x4_div(one, wasm_f32x4_add(one, vexp(wasm_f32x4_neg(x))));
}

static inline f32 ssigmoid(f32 x) { return 1.0f / (1.0f + sexp(-x)); }

// Rows are time-major (row = l C + c). Per step: u = h keep (the state is zeroed before a row
// whose keep is 0), r = sigmoid(gxr + u Whr + bhr), z = sigmoid(gxz + u Whz + bhz),
// hn = u Whn + bhn, n = tanh(gxn + r hn), h = n + z (u - n). Writes every step's h into out and
// keeps U, R, Z, Nn, HN (each [L C, H]) for gru_bwd. keep may be null (never resets).
EXPORT(gru_fwd)
void gru_fwd(const f32* gxr, const f32* gxz, const f32* gxn, const f32* h0, const f32* keep,
             const f32* Whr, const f32* Whz, const f32* Whn, const f32* bhr, const f32* bhz,
             const f32* bhn, f32* out, f32* U, f32* R, f32* Z, f32* Nn, f32* HN, int L, int C,
             int H) {
  for (int l = 0; l < L; l++) {
    int o = l * C * H;
    const f32* hp = l == 0 ? h0 : out + o - C * H;
    f32* u = U + o;
    for (int c = 0; c < C; c++) {
      f32 k = keep ? keep[l * C + c] : 1.0f;
      for (int j = 0; j < H; j++) u[c * H + j] = hp[c * H + j] * k;
    }
    gemm_nn(u, Whr, R + o, bhr, C, H, H, 0, 0);
    gemm_nn(u, Whz, Z + o, bhz, C, H, H, 0, 0);
    gemm_nn(u, Whn, HN + o, bhn, C, H, H, 0, 0);
    int n = C * H, q = 0;
    for (; q + 4 <= n; q += 4) {
      v128_t r = vsigmoid(wasm_f32x4_add(wasm_v128_load(gxr + o + q), wasm_v128_load(R + o + q)));
      v128_t z = vsigmoid(wasm_f32x4_add(wasm_v128_load(gxz + o + q), wasm_v128_load(Z + o + q)));
      v128_t hn = wasm_v128_load(HN + o + q);
      v128_t nn = vtanh(wasm_f32x4_add(wasm_v128_load(gxn + o + q), wasm_f32x4_mul(r, hn)));
      v128_t uu = wasm_v128_load(u + q);
      wasm_v128_store(R + o + q, r);
      wasm_v128_store(Z + o + q, z);
      wasm_v128_store(Nn + o + q, nn);
      wasm_v128_store(out + o + q, wasm_f32x4_add(nn, wasm_f32x4_mul(z, wasm_f32x4_sub(uu, nn))));
    }
    for (; q < n; q++) {
      f32 r = ssigmoid(gxr[o + q] + R[o + q]), z = ssigmoid(gxz[o + q] + Z[o + q]);
      f32 nn = stanh(gxn[o + q] + r * HN[o + q]);
      R[o + q] = r, Z[o + q] = z, Nn[o + q] = nn;
      out[o + q] = nn + z * (u[q] - nn);
    }
  }
}

// Back-propagation through the L steps of gru_fwd, given dy = dLoss/dout [L C, H] and the
// transposed recurrent weights WhrT, WhzT, WhnT [H, H]. With d = dy_l + dh (from step l + 1):
// dn = d (1 - z), dan = dn (1 - n^2), dar = dan hn r (1 - r), daz = d (u - n) z (1 - z),
// dhn = dan r, du = d z + [dar, daz, dhn] Wh^T, dh = du keep. Writes dar, daz, dan (the input
// projections' gradients, also the recurrent pre-activations' for r and z) and dhn, each
// [L C, H]; dh0 [C, H] the gradient of h0. scratch: [2 C H] floats.
EXPORT(gru_bwd)
void gru_bwd(const f32* dy, const f32* U, const f32* R, const f32* Z, const f32* Nn, const f32* HN,
             const f32* keep, const f32* WhrT, const f32* WhzT, const f32* WhnT, f32* dar, f32* daz,
             f32* dan, f32* dhn, f32* dh0, f32* scratch, int L, int C, int H) {
  int n = C * H;
  f32* dh = scratch;      // the gradient flowing into step l's output from step l + 1
  f32* du = scratch + n;  // of step l's u
  for (int q = 0; q < n; q++) dh[q] = 0.0f;
  v128_t one = wasm_f32x4_splat(1.0f);
  for (int l = L - 1; l >= 0; l--) {
    int o = l * n, q = 0;
    for (; q + 4 <= n; q += 4) {
      v128_t d = wasm_f32x4_add(wasm_v128_load(dy + o + q), wasm_v128_load(dh + q));
      v128_t r = wasm_v128_load(R + o + q), z = wasm_v128_load(Z + o + q);
      v128_t nn = wasm_v128_load(Nn + o + q), u = wasm_v128_load(U + o + q);
      v128_t omz = wasm_f32x4_sub(one, z);
      v128_t an = wasm_f32x4_mul(wasm_f32x4_mul(d, omz), wasm_f32x4_sub(one, wasm_f32x4_mul(nn, nn)));
      v128_t ar = wasm_f32x4_mul(wasm_f32x4_mul(an, wasm_v128_load(HN + o + q)),
                                 wasm_f32x4_mul(r, wasm_f32x4_sub(one, r)));
      v128_t az = wasm_f32x4_mul(wasm_f32x4_mul(d, wasm_f32x4_sub(u, nn)), wasm_f32x4_mul(z, omz));
      wasm_v128_store(dan + o + q, an);
      wasm_v128_store(dar + o + q, ar);
      wasm_v128_store(daz + o + q, az);
      wasm_v128_store(dhn + o + q, wasm_f32x4_mul(an, r));
      wasm_v128_store(du + q, wasm_f32x4_mul(d, z));
    }
    for (; q < n; q++) {
      f32 d = dy[o + q] + dh[q], r = R[o + q], z = Z[o + q], nn = Nn[o + q], u = U[o + q];
      f32 an = d * (1.0f - z) * (1.0f - nn * nn);
      dan[o + q] = an;
      dar[o + q] = an * HN[o + q] * r * (1.0f - r);
      daz[o + q] = d * (u - nn) * z * (1.0f - z);
      dhn[o + q] = an * r;
      du[q] = d * z;
    }
    gemm_nn(dar + o, WhrT, du, 0, C, H, H, 1, 0);
    gemm_nn(daz + o, WhzT, du, 0, C, H, H, 1, 0);
    gemm_nn(dhn + o, WhnT, du, 0, C, H, H, 1, 0);
    for (int c = 0; c < C; c++) {
      f32 k = keep ? keep[l * C + c] : 1.0f;
      for (int j = 0; j < H; j++) dh[c * H + j] = du[c * H + j] * k;
    }
  }
  for (int q = 0; q < n; q++) dh0[q] = dh[q];
}

// ---- categorical head ----

// Per row: masked logits (unavailable actions get -1e10, as core/distributions.ts maskLogits),
// lsm = log-softmax [M, A], probs = exp(lsm) [M, A], logp[m] = lsm[m, a_m] (when actions),
// ent[m] = -sum p lsm. The exponentials run over the flat [M, A] array, four lanes at a time.
EXPORT(cat_fwd)
void cat_fwd(const f32* logits, const f32* avail, const int32_t* actions, f32* lsm, f32* probs,
             f32* logp, f32* ent, int M, int A) {
  for (int m = 0; m < M; m++) { // shifted logits: l - max(l)
    const f32* l = logits + m * A;
    f32* o = lsm + m * A;
    f32 mx = -3.0e38f;
    for (int j = 0; j < A; j++) {
      f32 v = l[j];
      if (avail) v += (avail[m * A + j] - 1.0f) * 1e10f;
      o[j] = v;
      if (v > mx) mx = v;
    }
    for (int j = 0; j < A; j++) o[j] -= mx;
  }
  int n = M * A, q = 0;
  for (; q + 4 <= n; q += 4) wasm_v128_store(probs + q, vexp(wasm_v128_load(lsm + q)));
  for (; q < n; q++) probs[q] = sexp(lsm[q]);
  for (int m = 0; m < M; m++) {
    f32* o = lsm + m * A;
    f32* p = probs + m * A;
    f32 z = 0.0f;
    for (int j = 0; j < A; j++) z += p[j];
    f32 lz = slog(z), iz = 1.0f / z, h = 0.0f;
    for (int j = 0; j < A; j++) {
      o[j] -= lz;
      p[j] *= iz;
      h -= p[j] * o[j];
    }
    if (logp) logp[m] = o[actions[m]];
    if (ent) ent[m] = h;
  }
}

// dlogits = dlogp (onehot(a) - p) + dent * (-p (lsm + H)): the gradients of logp[m] and ent[m]
// (H, from cat_fwd) with respect to the logits, weighted per row (dlogp or dent may be null).
EXPORT(cat_bwd)
void cat_bwd(const f32* lsm, const f32* probs, const f32* ent, const int32_t* actions,
             const f32* dlogp, const f32* dent, f32* dlogits, int M, int A) {
  for (int m = 0; m < M; m++) {
    const f32* o = lsm + m * A;
    const f32* p = probs + m * A;
    f32* d = dlogits + m * A;
    f32 gl = dlogp ? dlogp[m] : 0.0f, ge = dent ? dent[m] : 0.0f, h = dent ? ent[m] : 0.0f;
    for (int j = 0; j < A; j++) d[j] = -gl * p[j] - ge * p[j] * (o[j] + h);
    if (dlogp) d[actions[m]] += gl;
  }
}

// ---- diagonal Gaussian head (box actions; core/distributions.ts gaussianLogp) ----

#define HALF_LOG_2PI 0.91893853320467274f

// Per row: z = (a - mu) / sigma, sigma = exp(logStd) [D]; logp = sum_d -z^2/2 - logStd_d - log(2 pi)/2.
EXPORT(gauss_fwd)
void gauss_fwd(const f32* mu, const f32* logStd, const f32* act, f32* z, f32* logp, int M, int D) {
  f32 inv[256], c = 0.0f;
  for (int d = 0; d < D; d++) inv[d] = sexp(-logStd[d]), c -= logStd[d] + HALF_LOG_2PI;
  for (int m = 0; m < M; m++) {
    f32 s = c;
    for (int d = 0; d < D; d++) {
      f32 v = (act[m * D + d] - mu[m * D + d]) * inv[d];
      z[m * D + d] = v;
      s -= 0.5f * v * v;
    }
    if (logp) logp[m] = s;
  }
}

// The gradients of sum_m dlogp[m] logp[m]: dmu = dlogp z / sigma (written), dlogStd += sum_m
// dlogp (z^2 - 1) (when dls is given).
EXPORT(gauss_bwd)
void gauss_bwd(const f32* z, const f32* logStd, const f32* dlogp, f32* dmu, f32* dls, int M, int D) {
  f32 inv[256];
  for (int d = 0; d < D; d++) inv[d] = sexp(-logStd[d]);
  for (int m = 0; m < M; m++) {
    f32 g = dlogp[m];
    for (int d = 0; d < D; d++) {
      f32 v = z[m * D + d];
      dmu[m * D + d] = g * v * inv[d];
      if (dls) dls[d] += g * (v * v - 1.0f);
    }
  }
}

// BPPO's peer term through the reparameterised box action (docs/bpta.md §3, §4c): x = a +
// (mu - sg mu) [+ (sigma - sg sigma) sg(eps) when noise is given]. Adds the gradient of
// sum_m dpeer[m] w g_m . x_m: dmu += dpeer w g; dlogStd += sum_m dpeer w g eps sigma.
EXPORT(gauss_peer_bwd)
void gauss_peer_bwd(const f32* g, const f32* noise, const f32* logStd, const f32* dpeer, f32* dmu,
                    f32* dls, int M, int D, f32 w) {
  f32 sig[256];
  for (int d = 0; d < D; d++) sig[d] = sexp(logStd[d]);
  for (int m = 0; m < M; m++) {
    f32 c = dpeer[m] * w;
    for (int d = 0; d < D; d++) {
      f32 gd = c * g[m * D + d];
      dmu[m * D + d] += gd;
      if (noise && dls) dls[d] += gd * noise[m * D + d] * sig[d];
    }
  }
}

// ---- PPO's clipped surrogate (PPO eq. 7), with the sequential factor and a peer term ----

// Per row, rho = exp(logp - logpOld), own1 = rho A Mk, own2 = clip(rho, 1 - c, 1 + c) A Mk (Mk = 1
// when null), and the surrogate L = -sum(min(own1 + peer1, own2 + peer2)) / total where the peer
// terms sg(rho) (p - sg p) and clip(sg rho) (p - sg p) have value 0 (algos/sequential.ts). As
// tfjs's autodiff of that expression, the minimum passes its gradient to the first branch where
// own1 <= own2 (strict = 1: where own1 < own2, as the split diagnostics' step() does):
//   dlogp = -rho A Mk / total on the first branch or where rho is inside the clip range (there
//   the second branch's clip passes it, its ends included), else 0;
//   dpeer = -(first ? rho : clip(rho)) / total, the weight of the peer term's gradient.
// stats (added into): [sum of the chosen own terms, rows with |rho - 1| > c,
// sum of (rho - 1) - log rho]. dpeer may be null.
// One row of ppo_clip_grad, given d = logp - logpOld and rho = exp(d); adds to st[0..2].
static inline void ppo_row(int q, f32 d, f32 rho, const f32* adv, const f32* Mk, f32* dlogp,
                           f32* dpeer, f32* st, f32 clip, f32 inv, int strict) {
  f32 lo = 1.0f - clip, hi = 1.0f + clip;
  f32 a = Mk ? adv[q] * Mk[q] : adv[q];
  f32 cr = rho < lo ? lo : rho > hi ? hi : rho;
  f32 s1 = rho * a, s2 = cr * a;
  int first = strict ? s1 < s2 : s1 <= s2;
  st[0] += first ? s1 : s2;
  dlogp[q] = (first || cr == rho) ? s1 * inv : 0.0f;
  if (dpeer) dpeer[q] = (first ? rho : cr) * inv;
  st[1] += (rho - 1.0f > clip || 1.0f - rho > clip) ? 1.0f : 0.0f;
  st[2] += rho - 1.0f - d;
}

EXPORT(ppo_clip_grad)
void ppo_clip_grad(const f32* logp, const f32* logpOld, const f32* adv, const f32* Mk, f32* dlogp,
                   f32* dpeer, f32* stats, int M, f32 clip, int total, int strict) {
  f32 inv = -1.0f / (f32)total, st[3] = {0.0f, 0.0f, 0.0f};
  int m = 0;
  for (; m + 4 <= M; m += 4) { // four rows at a time: one vexp
    v128_t d = wasm_f32x4_sub(wasm_v128_load(logp + m), wasm_v128_load(logpOld + m));
    f32 dl[4] __attribute__((aligned(16))), rho[4] __attribute__((aligned(16)));
    wasm_v128_store(dl, d);
    wasm_v128_store(rho, vexp(d));
    for (int l = 0; l < 4; l++) ppo_row(m + l, dl[l], rho[l], adv, Mk, dlogp, dpeer, st, clip, inv, strict);
  }
  for (; m < M; m++) {
    f32 d = logp[m] - logpOld[m];
    ppo_row(m, d, sexp(d), adv, Mk, dlogp, dpeer, st, clip, inv, strict);
  }
  stats[0] += st[0], stats[1] += st[1], stats[2] += st[2];
}

// ---- the critics' clipped Huber value loss (MAPPO's code base; algos/ppo/critic.ts) ----

// Per row: e1 = R - V, Vc = Vold + clip(V - Vold, -c, c), e2 = R - Vc,
// huber(e) = 0.5 q^2 + d (|e| - q), q = min(|e|, d); loss = sum(max(huber(e1), huber(e2))) / total.
// As tfjs's autodiff: max passes ties to the first term; huber'(e) = e where |e| <= d, else
// d sign(e); the clip passes the gradient where |V - Vold| <= c (ends included). dv = dloss/dV.
// Returns the sum of the max terms (divide by total for the mean).
EXPORT(value_clip_grad)
f32 value_clip_grad(const f32* v, const f32* vOld, const f32* ret, f32* dv, int M, f32 clip,
                    f32 delta, int total) {
  f32 inv = 1.0f / (f32)total, sum = 0.0f;
  for (int m = 0; m < M; m++) {
    f32 dlt = v[m] - vOld[m];
    f32 cd = dlt < -clip ? -clip : dlt > clip ? clip : dlt;
    f32 e1 = ret[m] - v[m], e2 = ret[m] - (vOld[m] + cd);
    f32 a1 = e1 < 0.0f ? -e1 : e1, a2 = e2 < 0.0f ? -e2 : e2;
    f32 q1 = a1 < delta ? a1 : delta, q2 = a2 < delta ? a2 : delta;
    f32 h1 = 0.5f * q1 * q1 + delta * (a1 - q1), h2 = 0.5f * q2 * q2 + delta * (a2 - q2);
    f32 g1 = a1 <= delta ? e1 : (e1 > 0.0f ? delta : -delta);
    f32 g2 = a2 <= delta ? e2 : (e2 > 0.0f ? delta : -delta);
    if (h1 >= h2) {
      sum += h1;
      dv[m] = -g1 * inv;
    } else {
      sum += h2;
      dv[m] = (cd == dlt) ? -g2 * inv : 0.0f;
    }
  }
  return sum;
}

// ---- BPPO's peer term through the Gumbel-softmax action (docs/bpta.md §3, §4c) ----

// Adds into dlogits the gradient of sum_m dpeer[m] * w * g_m . x_m with respect to the logits,
// where y = softmax((lsm + noise) / tau) (lsm: log-softmax of the masked logits; the softmax is
// shift-invariant) and x is the reparameterised action:
//   paper (takenOnly = 0): x = onehot(a) + y - sg(y): dl_j += dpeer w / tau * y_j (g_j - y . g);
//   reference (takenOnly = 1): x = onehot(a) + s - sg(s), s = y onehot(a):
//     dl_j += dpeer w / tau * g_a y_a (1[j = a] - y_j).
EXPORT(gumbel_peer_bwd)
void gumbel_peer_bwd(const f32* lsm, const f32* noise, const f32* g, const int32_t* actions,
                     const f32* dpeer, f32* dlogits, int M, int A, f32 tau, f32 w, int takenOnly) {
  f32 y[256];
  f32 itau = 1.0f / tau;
  for (int m = 0; m < M; m++) {
    const f32* o = lsm + m * A;
    const f32* e = noise + m * A;
    const f32* gr = g + m * A;
    f32* d = dlogits + m * A;
    f32 mx = -3.0e38f;
    for (int j = 0; j < A; j++) {
      y[j] = (o[j] + e[j]) * itau;
      if (y[j] > mx) mx = y[j];
    }
    f32 z = 0.0f;
    for (int j = 0; j < A; j++) z += (y[j] = sexp(y[j] - mx));
    f32 iz = 1.0f / z, c = dpeer[m] * w * itau;
    for (int j = 0; j < A; j++) y[j] *= iz;
    if (takenOnly) {
      int a = actions[m];
      f32 ga = gr[a] * y[a] * c;
      for (int j = 0; j < A; j++) d[j] -= ga * y[j];
      d[a] += ga;
    } else {
      f32 yg = 0.0f;
      for (int j = 0; j < A; j++) yg += y[j] * gr[j];
      for (int j = 0; j < A; j++) d[j] += c * y[j] * (gr[j] - yg);
    }
  }
}

// dst[r] = src[idx[r]] for rows of `width` floats (a minibatch's rows).
EXPORT(gather_rows)
void gather_rows(const f32* src, const int32_t* idx, f32* dst, int count, int width) {
  for (int r = 0; r < count; r++) {
    const f32* s = src + idx[r] * width;
    f32* d = dst + r * width;
    for (int c = 0; c < width; c++) d[c] = s[c];
  }
}

// ---- Adam (PyTorch's rule; the caller folds clipping into `scale` and bias corrections) ----

// g' = g scale; m = b1 m + (1 - b1) g'; v = b2 v + (1 - b2) g'^2;
// w -= step m / (sqrt(v) / sqrtBc2 + eps), step = lr / (1 - b1^t), sqrtBc2 = sqrt(1 - b2^t).
EXPORT(adam)
void adam(f32* w, const f32* g, f32* m, f32* v, int n, f32 scale, f32 b1, f32 b2, f32 step,
          f32 sqrtBc2, f32 eps) {
  v128_t vs = wasm_f32x4_splat(scale), vb1 = wasm_f32x4_splat(b1), vb2 = wasm_f32x4_splat(b2);
  v128_t v1b1 = wasm_f32x4_splat(1.0f - b1), v1b2 = wasm_f32x4_splat(1.0f - b2);
  v128_t vstep = wasm_f32x4_splat(step), vbc = wasm_f32x4_splat(sqrtBc2);
  v128_t veps = wasm_f32x4_splat(eps);
  int i = 0;
  for (; i + 4 <= n; i += 4) {
    v128_t gi = wasm_f32x4_mul(wasm_v128_load(g + i), vs);
    v128_t mi = wasm_f32x4_add(wasm_f32x4_mul(wasm_v128_load(m + i), vb1), wasm_f32x4_mul(gi, v1b1));
    v128_t vi = wasm_f32x4_add(wasm_f32x4_mul(wasm_v128_load(v + i), vb2),
                               wasm_f32x4_mul(wasm_f32x4_mul(gi, gi), v1b2));
    v128_t den = wasm_f32x4_add(wasm_f32x4_div(wasm_f32x4_sqrt(vi), vbc), veps);
    wasm_v128_store(m + i, mi);
    wasm_v128_store(v + i, vi);
    wasm_v128_store(w + i, wasm_f32x4_sub(wasm_v128_load(w + i),
                                          wasm_f32x4_mul(vstep, wasm_f32x4_div(mi, den))));
  }
  for (; i < n; i++) {
    f32 gi = g[i] * scale;
    m[i] = m[i] * b1 + gi * (1.0f - b1);
    v[i] = v[i] * b2 + gi * gi * (1.0f - b2);
    w[i] -= step * (m[i] / (__builtin_sqrtf(v[i]) / sqrtBc2 + eps));
  }
}
