#ifndef QUANTA_KERNELS_H
#define QUANTA_KERNELS_H

#include <stddef.h>
#include <stdint.h>
#include "integer_kernels.h"

// The inline functions below are exact sequences of IEEE float operations: no fused multiply-adds.
#pragma STDC FP_CONTRACT OFF

/// INT8 matrix products C = A W^T with A uint8 [m, k] (activation codes, row stride lda) and W int8 [n, k]
/// (weight codes), accumulated exactly in int32.
///
/// Weights are packed once ("pre-packed at load time") into panels of QK_PANEL = 16 output columns; within
/// a panel, k runs in groups of 4 and each group stores, for columns j = 0..15, the four bytes
/// W[16 p + j][4 g .. 4 g + 3] (64 bytes per group; k and n padded with zero weights). One 32-bit lane of
/// a vector register then holds the four weights that meet the same four broadcast activation bytes:
/// exactly the operand shape of VNNI's vpdpbusd (u8 x s8, four products summed into int32 without
/// intermediate saturation), emulated exactly on plain AVX2 and in portable C.

#define QK_PANEL 16
/// Rows of A per cache block of the GEMM kernels (a block stays in L2 while every panel of weights passes by);
/// callers that split a product by rows give each part about this many rows or more.
#define QK_ROW_BLOCK 96
/// The largest weight magnitude of AVX2's direct vpmaddubsw tile (7-bit weights): 2 * 255 * 64 < 2^15.
#define QK_SMALL_WEIGHT 64

typedef enum {
    /// Plain C: the reference every other path equals bit for bit.
    QK_PATH_PORTABLE = 0,
    /// AVX2: for small weights (every code in [-64, 64], 7-bit) vpmaddubsw(a, w) directly, whose pair sums
    /// (at most 2 * 255 * 64) cannot saturate, then vpmaddwd: 2 multiplies per 32 products, the rate of the
    /// integer pipes; for narrow-range weights (no code is -128) the sign trick, vpmaddubsw(|a - 128|,
    /// sign(a - 128) w) then vpmaddwd, with 128 sum_k W[j][k] added back (3 multiply-pipe instructions per
    /// 32 products); otherwise u8 activations split into 4-bit halves so vpmaddubsw cannot saturate.
    QK_PATH_AVX2 = 1,
    /// AVX-512 VNNI on 256-bit registers: vpdpbusd.
    QK_PATH_VNNI = 2,
    /// AVX-512 VNNI on 512-bit registers: a whole panel group per vpdpbusd.
    QK_PATH_VNNI512 = 3,
    /// ARM64 NEON with the dot-product extension: sdot of s8 a - 128 and s8 w (exact in int32), with
    /// 128 sum_k W[j][k] added back.
    QK_PATH_NEON = 4,
    /// ARM64 with i8mm: usdot multiplies the u8 activations and s8 weights directly.
    QK_PATH_I8MM = 5,
    /// AVX-VNNI (VEX-encoded vpdpbusd on 256-bit registers, no AVX-512: Intel's Alder Lake and later client cores,
    /// Sierra Forest's E-cores; Zen 5 has it too): the VNNI path's tile and products.
    QK_PATH_AVXVNNI = 6,
} qk_path;

/// The fastest path this CPU supports (detected at run time), or the path the environment variable QUANTA_ISA
/// names (`avx2`, `avxvnni`, `neon` or `portable`, where the CPU runs it): how the AVX2 class is measured on an
/// AVX-512 machine.
qk_path qk_best_path(void);
/// Whether `path` can run on this CPU.
int qk_path_supported(qk_path path);

/// Bytes of the packed form of an n x k weight: the panels, then a trailer holding sum_k W[j][k] (int32) for
/// each column padded to a multiple of QK_PANEL and a flag that no code is -128.
size_t qk_packed_size(int n, int k);
/// Packs row-major int8 W [n, k] (row stride ldw) into `packed` (qk_packed_size bytes, 4-byte aligned).
void qk_pack_weights(const int8_t *w, int n, int k, int ldw, int8_t *packed);
/// sum_k W[j][k] for each of the n rows of a packed weight (from its trailer).
const int32_t *qk_packed_row_sums(const int8_t *packed, int n, int k);

/// What happens to each int32 accumulator acc[i][j] before it is stored. With t = acc + a_zero[i] * w_sum[j]:
///   mode 0 (i8i32): c_i32 = t
///   mode 1 (i8f32): y = (a_scale[i] * w_scale[j]) * (float)t, then + bias[j], then the activation
///                   (1: qk_gelu, 2: qk_silu), then + residual[i][j]
///   mode 2 (i8i8):  c_i8 = clamp(rne((t + bias_code[j]) * multiplier[j] / 2^shift[j]) - out_zero, out_min, out_max)
///   mode 3 (i8f32, activations in blocks of QK_BLOCK along k, one scale S_b and zero point Z_b per row and
///           block, as llama.cpp's Q8 activations): each block's partial sum of the codes taken as signed bytes,
///           t_b = sum_{k in b} (A[i][k] - 128) W[j][k], is exact in int32 and rescaled in float, the zero point
///           entering through the block's weight sum W_b = block_sums(j, b):
///               s = fma(S_b * (float)(128 + Z_b), (float)W_b, fma(S_b, (float)t_b, s))  for b = 0, 1, ... from s = 0
///               y = w_scale[j] * s
///           (S_b (t_b + (128 + Z_b) W_b) = S_b sum_{k in b} (A + Z_b) W), then bias, activation and residual as
///           mode 1; a_scale and a_zero are [m][k / QK_BLOCK], k is a multiple of QK_BLOCK and block_sums comes
///           from qk_block_sums.
typedef struct {
    int mode;
    /// Per-row activation zero point Z (x~ = S (Q + Z)) and the per-column weight sums sum_k W[j][k]; either
    /// may be NULL (no correction).
    const int32_t *a_zero;
    const int32_t *w_sum;
    const float *a_scale;
    const float *w_scale;
    const float *bias;
    int activation;
    /// Added last (row stride ldc), or NULL.
    const float *residual;
    const int32_t *multiplier;
    const int32_t *shift;
    const int32_t *bias_code;
    /// Mode 3's per-block weight sums (qk_block_sums).
    const int16_t *block_sums;
    int32_t out_zero, out_min, out_max;
    int32_t *c_i32;
    float *c_f32;
    int8_t *c_i8;
    /// Row stride of the output, in elements.
    int ldc;
} qk_epilogue;

/// Output columns [n0, n1) of C = A W^T for all m rows, with the epilogue, on `path` (n0 a multiple of
/// QK_PANEL). Threads split the columns: each call touches only its own columns of C. Each row of A must
/// be readable for 4 * ceil(k / 4) bytes (the bytes past k meet zero weights). Exact for k < 2^16.
void qk_gemm_u8s8(qk_path path, const uint8_t *a, int m, int k, int lda, const int8_t *packed, int n,
                  int n0, int n1, const qk_epilogue *epilogue);

/// The block length of mode 3 (activation scales per block of k).
#define QK_BLOCK 32

/// Entries of the block sums of an n x k packed weight: sum_{k in b} W[j][k] as int16 (|sum| <= 32 * 128) for
/// each padded column j and block b, at ((j / QK_PANEL) * (k / QK_BLOCK) + b) * QK_PANEL + j % QK_PANEL, so that
/// a panel's sums for one block are 16 consecutive values.
size_t qk_block_sums_count(int n, int k);
/// Fills `sums` (qk_block_sums_count entries) from the packed weight; k a multiple of QK_BLOCK.
void qk_block_sums(const int8_t *packed, int n, int k, int16_t *sums);

/// Dynamic per-row (per-token) asymmetric UINT8 quantization of x [m, k] (row stride ldx), each value first
/// multiplied by column_scale[c] when given (SmoothQuant's input scale):
///     lo = min(0, min_c x), hi = max(0, max_c x), S = (hi - lo) / 255 (1 if 0), Z = rne(lo / S),
///     Q = clamp(rne(x * (1/S)), Z, 255 + Z) - Z,   x~ = S (Q + Z)
/// codes [m, ldq] (bytes past k untouched), scales [m], zero_points [m].
void qk_quantize_rows_u8(const float *x, int m, int k, int ldx, const float *column_scale, uint8_t *codes, int ldq,
                         float *scales, int32_t *zero_points);

/// qk_quantize_rows_u8 on each block of QK_BLOCK columns of each row (k a multiple of QK_BLOCK): scales and
/// zero_points are [m][k / QK_BLOCK] (the activations of qk_epilogue's mode 3).
void qk_quantize_rows_u8_blocks(const float *x, int m, int k, int ldx, const float *column_scale, uint8_t *codes, int ldq,
                                float *scales, int32_t *zero_points);

/// rne(v) for |v| < 2^22 without a libm call: adding and subtracting 1.5 * 2^23 rounds in the FPU
/// (IntegerFormat.roundClamped does the same in Swift; IEEE arithmetic, no fast-math, so the compiler keeps
/// both operations). Callers clamp v first.
static inline float qk_round_even(float v) {
    const float magic = 12582912.0f;
    return (v + magic) - magic;
}

/// The per-row asymmetric UINT8 parameters of values spanning [lo, hi] with lo <= 0 <= hi:
/// S = (hi - lo) / 255 (1 when that is 0), Z = rne(lo / S) (QuantizationParameters, asymmetric).
static inline void qk_row_parameters(float lo, float hi, float *scale, float *zero) {
    float s = (hi - lo) / 255.0f;
    if (!(s > 0)) s = 1;
    *scale = s;
    *zero = qk_round_even(lo / s < -4194304.0f ? -4194304.0f : lo / s);
}

/// Static (calibrated, per-tensor) INT8 input codes for the u8 x s8 kernels: with Q = rne(clamp(v / S, lower,
/// upper)) (v = x, times column_scale per column when given; 1/S passed as `inverse`), the stored byte is
/// Q + offset. For codes Q - Z of a signed format, offset = 128 - Z and the kernel's zero point is Z - 128.
void qk_quantize_rows_static_u8(const float *x, int m, int k, int ldx, const float *column_scale, float inverse,
                                int32_t lower, int32_t upper, int32_t offset, uint8_t *codes, int ldq);

/// LSQ fake quantization of x [rows, cols] (row-major) with the straight-through estimator. Element (r, c) uses
/// the parameters p = first[r] + offset[c] (any granularity: per tensor, channel, token, group, embedding group):
///     u = x * inverse[p],  code = rne(clamp(u, lowest + zero[p], highest + zero[p])) (0 for NaN),  value = scale[p] * code
/// and, when dy (dL/dvalue) is given: dx = dy where lowest + zero[p] <= u <= highest + zero[p], else 0, and
///     scale_gradient[p] += dy * (inside ? code - u : code)       (dL/ds before LSQ's gradient scale)
/// LearnedStepSize splits the rows into chunks, each with a scale_gradient of its own.
void qk_lsq_rows(const float *x, int rows, int cols, const int32_t *first, const int32_t *offset,
                 const float *scale, const float *inverse, const int32_t *zero, int32_t lowest, int32_t highest,
                 float *value, const float *dy, float *dx, double *scale_gradient);

/// ParetoQ's low-bit weight quantizers (LowBitWeight), laid out as qk_lsq_rows: k = 1, 1.5, 4 (binary,
/// ternary, SEQ two-bit), alpha = scale[p] k, u = x / alpha, u' = clamp(u, -0.99, 0.99),
///     code = sign(x) | rne(1.5 u') | 2 rne(2 u' - 0.5) + 1,   value = scale[p] code
/// and with dy: dx = dy where |u| <= 0.99 (binary: 1), else 0, and with l = code / k,
///     scale_gradient[p] += dy * k * (binary or outside ? l : l - u)     (dL/dS before the 1/sqrt(N) scale)
enum { QK_LOW_BIT_BINARY = 0, QK_LOW_BIT_TERNARY = 1, QK_LOW_BIT_TWO_BIT = 2 };
void qk_low_bit_rows(const float *x, int rows, int cols, const int32_t *first, const int32_t *offset,
                     const float *scale, int kind, float *value, const float *dy, float *dx, double *scale_gradient);

/// The UINT8 code of v: clamp(rne(v * (1/S)), Z, 255 + Z) - Z.
static inline uint8_t qk_code_u8(float v, float inverse, float zero) {
    float t = v * inverse, upper = 255 + zero;
    return (uint8_t)(int32_t)(qk_round_even(t < zero ? zero : t > upper ? upper : t) - zero);
}

/// e^x for x in [-87, 88] (clamped there): Cephes' expf, n = rne(x log2 e), r = x - n ln 2 (in two parts),
/// e^x = 2^n (1 + r + r^2 P(r)) with P of degree 5; within 2 ulp of the exact value. Every operation is a
/// single IEEE float operation in a fixed order, so the AVX2 kernels compute the same bits.
static inline float qk_exp(float x) {
    x = x < -87.0f ? -87.0f : x > 88.0f ? 88.0f : x;
    float n = qk_round_even(x * 1.44269504088896341f);
    float r = x - n * 0.693359375f;
    r = r - n * -2.12194440e-4f;
    float y = 1.9875691500e-4f;
    y = y * r + 1.3981999507e-3f;
    y = y * r + 8.3334519073e-3f;
    y = y * r + 4.1665795894e-2f;
    y = y * r + 1.6666665459e-1f;
    y = y * r + 5.0000001201e-1f;
    y = (y * (r * r) + r) + 1.0f;
    union { int32_t i; float f; } scale = { .i = ((int32_t)n + 127) << 23 };
    return y * scale.f;
}

/// GELU with erf (BERT): x/2 (1 + erf(x / sqrt 2)). With z = |x| / sqrt 2 and t = 1 / (1 + 0.3275911 z),
/// 1 - erf(z) = q = t P(t) e^(-z^2) (Abramowitz & Stegun 7.1.26, |error| <= 1.5e-7), so
/// GELU(x) = x/2 q for x < 0 (no cancellation in the tail) and x/2 (2 - q) otherwise.
static inline float qk_gelu(float x) {
    float z = (x < 0 ? -x : x) * 0.70710678118654752f;
    float t = 1.0f / (1.0f + 0.3275911f * z);
    float p = 1.061405429f;
    p = p * t + -1.453152027f;
    p = p * t + 1.421413741f;
    p = p * t + -0.284496736f;
    p = p * t + 0.254829592f;
    float q = (p * t) * qk_exp(-(z * z));
    return (0.5f * x) * (x < 0 ? q : 2.0f - q);
}

/// SiLU: x / (1 + e^-x).
static inline float qk_silu(float x) { return x / (1.0f + qk_exp(-x)); }

enum { QK_ACTIVATION_NONE = 0, QK_ACTIVATION_GELU = 1, QK_ACTIVATION_SILU = 2 };

/// x[i] = f(x[i]) for i < n, f = qk_gelu or qk_silu (AVX2 where the CPU has it; the same bits either way).
void qk_activate(int activation, float *x, size_t n);
/// gate[i] = qk_silu(gate[i]) * up[i] (LLaMA's SwiGLU).
void qk_silu_multiply(float *gate, const float *up, size_t n);
/// In place, p[i] = e^(p[i] - max) / sum_j e^(p[j] - max) over `count` values (qk_exp).
void qk_softmax(float *p, int count);
/// b[c][r] = a[r][c] for r < rows, c < columns (row strides lda and ldb): the keys of one attention head as K^T.
void qk_transpose(const float *a, int rows, int columns, int lda, float *b, int ldb);
/// Attention probabilities as UINT8 codes: qk_softmax of `count` scores in place, then the codes with the
/// fixed scale 1/255 and zero point 0 (probabilities lie in [0, 1]): codes[i] = rne(p[i] * 255).
void qk_softmax_u8(float *p, int count, uint8_t *codes);

/// cuBLASLt's COL32 order for a matrix of `rows` rows: tiles of 32 columns, each tile row-major 32 wide,
///     offset(r, c) = (c / 32) * (32 * rows) + r * 32 + c % 32
static inline size_t qk_col32_offset(int r, int c, int rows) { return (size_t)(c / 32) * 32 * (size_t)rows + (size_t)r * 32 + (size_t)(c % 32); }

enum { QK_ORDER_ROW = 0, QK_ORDER_COL32 = 1 };
enum { QK_NORM_LAYER = 0, QK_NORM_RMS = 1 };

/// A normalization over each row: LayerNorm y = (x - mean) / sqrt(var + eps) * weight + bias (biased
/// variance), or RMSNorm y = x / sqrt(mean(x^2) + eps) * weight (bias unused).
typedef struct {
    int kind;
    const float *weight;
    const float *bias;
    float epsilon;
} qk_norm;

/// y = the normalized rows of x [m, k] (row-major, y may be x). The sums run in 16 partial sums (lane l takes
/// column c = l mod 16) folded 8, 4, 2, 1, then the k mod 16 remaining columns in order: the mean first,
/// then the sum of (x - mean)^2 (RMSNorm: of x^2).
void qk_norm_rows(const qk_norm *norm, const float *x, int m, int k, float *y);

/// The normalized rows of x quantized as qk_quantize_rows_u8 does, without storing them in float: codes in
/// row order (row stride ldq) or, with order QK_ORDER_COL32, at qk_col32_offset(i, c, m) (ldq unused; the
/// buffer holds 32 * m * ceil(k / 32) bytes).
void qk_norm_quantize_rows_u8(const qk_norm *norm, const float *x, int m, int k, int ldx, int order, uint8_t *codes, int ldq,
                              float *scales, int32_t *zero_points);

/// A weight-only quantized W [n, k]: unsigned codes of `bits` = 8 (one byte each, row-major) or 4 (two per
/// byte, low nibble first, row-major; k even), and per (row, group of `group` columns) a scale and a zero
/// point: w~ = S (Q + Z). Per-channel weights have group = k.
typedef struct {
    int bits, k, group;
    const uint8_t *codes;
    const float *scales;
    const float *zero_points;
} qk_weight_only;

enum { QK_MAX_GROUPS = 1024 };

/// Y [m, n] (row stride ldy) = X W~^T + bias for output columns [n0, n1) (at most QK_MAX_GROUPS groups per row), X FP32 [m, k] (row stride ldx),
/// with AVX2/FMA when use_simd and the CPU has them (float sums, so paths agree to rounding, not bits).
void qk_gemm_weight_only(int use_simd, const float *x, int m, int ldx, const qk_weight_only *w, const float *bias,
                         float *y, int ldy, int n0, int n1);

/// Rows [n0, n1) of W~ = S (Q + Z) as FP32, row-major into out [n1 - n0, k] (for products over many rows,
/// which go to sgemm).
void qk_dequantize_weight_only(const qk_weight_only *w, int n0, int n1, float *out);

/// Makes the C allocator keep freed activation buffers for reuse (glibc: blocks up to 32 MiB come from the heap
/// instead of fresh mmaps, and the heap is not trimmed below 1 GiB). By default glibc returns every freed block
/// over its mmap threshold to the kernel, so each layer's output re-faults and re-zeroes its pages: MiniLM W8A8
/// (batch 32 x 128) ran 1.22-1.28x faster with this setting on Zen 3. Returns 1 when applied, 0 elsewhere.
int qk_keep_freed_memory(void);

/// A task of a parallel loop: called once for each index in [0, tasks).
typedef void (*qk_task)(void *context, int index);

/// Runs function(context, i) for i in [0, tasks) on the calling thread and up to `threads - 1` pool
/// workers, and returns when every task has finished. The workers are started on first use and spin
/// briefly between jobs before they sleep, so a fork-join costs about a microsecond instead of a thread
/// wake-up (decode issues a product every few microseconds). One job runs at a time: a nested call, or a
/// call while another thread's job runs, runs its tasks in order on the calling thread.
void qk_parallel_for(int tasks, int threads, qk_task function, void *context);

/// y = W x (or y + W x with `accumulate`) for row-major W [rows, k] in FP32: decoding's products, which stream W
/// from memory once. Each row's dot product runs in 16 partial sums (lane l takes k = l mod 16) folded 8, 4, 2, 1,
/// then the k mod 16 remaining terms by fmaf in order: every path gives the same bits. Rows are split over
/// `threads` threads.
void qk_gemv_f32(const float *w, int rows, int k, const float *x, float *y, int accumulate, int threads);

/// The wrapping sum of `count` 64-bit words, read by `threads` threads in equal slices: timed over a buffer
/// larger than the caches, a STREAM-style measure of the memory read rate (`quanta bench gemm`'s dram-read row).
uint64_t qk_read_words(const uint64_t *words, size_t count, int threads);

/// oneDNN's u8 x s8 matmul with f32 output, a benchmark peer loaded at run time (dlopen libdnnl.so.2);
/// nothing in Quanta needs it. NULL when it can be used, else why not.
const char *qk_onednn_unavailable(void);
typedef struct qk_onednn_matmul qk_onednn_matmul;
/// C [m, n] = scale * A W^T for u8 A [m, k] and s8 W [n, k], both row-major; W is reordered once into the
/// primitive's own layout. The buffers must outlive the matmul. NULL when oneDNN refuses.
qk_onednn_matmul *qk_onednn_matmul_create(int m, int n, int k, const uint8_t *a, const int8_t *w, float scale, float *c, int threads);
/// Runs the matmul on `threads` OpenMP threads; 0 on success.
int qk_onednn_matmul_run(const qk_onednn_matmul *matmul, int threads);
/// Frees the matmul and its reordered weights.
void qk_onednn_matmul_destroy(qk_onednn_matmul *matmul);

#endif
