// Private to QuantaKernels: the kernel table (one row per path, the only place a path meets its kernels,
// as ggml's type_traits_cpu), the packed-weight layout's helpers and the scalar epilogue every path shares.
#ifndef QUANTA_KERNELS_PRIVATE_H
#define QUANTA_KERNELS_PRIVATE_H
#pragma STDC FP_CONTRACT OFF
#include "QuantaKernels.h"

#include <string.h>

/// Rows per register tile and rows per cache block (QK_ROW_BLOCK).
enum { MR = 6, MB = QK_ROW_BLOCK, MR512 = 6 };

/// Panels the AVX2 GEMV reads at once, i.e. weight streams per thread (qk_avx2_gemv_panels): 4 on CPUs without
/// AVX-512, 1 on the others, unless `qk_gemv_panels` (1 to 4; the kernel test) says otherwise. Measured with 2
/// threads: on Zen 3 (AVX2 only) four nearby streams per thread read 29-36 GB/s where one reads 15-27, and the
/// int8 GEMV of 1 x 8192 x 8192 goes from 3.6-3.8x to 4.2-4.7x sgemv; on Zen 4 (AVX-512, as the AVX2 class) one
/// panel was the faster (SmolLM2's int8 decode: 182-193 tokens/s on one panel, 130-145 on two).
extern int qk_gemv_panels;
int qk_avx2_gemv_panels(void);

static inline int k_groups(int k) { return (k + 3) / 4; }
static inline int padded_columns(int n) { return (n + QK_PANEL - 1) / QK_PANEL * QK_PANEL; }
static inline size_t panel_bytes(int n, int k) { return (size_t)padded_columns(n) * (size_t)k_groups(k) * 4; }

/// The trailer after the panels: sum_k W[j][k] for each padded column j, then the narrow-range flag (no code is
/// -128), then the small-weight flag (every code in [-QK_SMALL_WEIGHT, QK_SMALL_WEIGHT]).
static inline const int32_t *column_sums(const int8_t *packed, int n, int k) { return (const int32_t *)(packed + panel_bytes(n, k)); }
static inline int narrow_range(const int8_t *packed, int n, int k) { return column_sums(packed, n, k)[padded_columns(n)]; }
static inline int small_weights(const int8_t *packed, int n, int k) { return column_sums(packed, n, k)[padded_columns(n) + 1]; }

/// rne(p / 2^s) on integers, ties to even (FixedPointMultiplier.roundingShiftRight).
static inline int64_t shift_right_rne(int64_t p, int s) {
    if (s <= 0) return p * ((int64_t)1 << -s);
    if (s >= 63) return 0;
    int64_t floor = p >> s, remainder = p - floor * ((int64_t)1 << s), half = (int64_t)1 << (s - 1);
    return remainder > half || (remainder == half && (floor & 1)) ? floor + 1 : floor;
}

/// The float epilogue's tail after the dequantization: bias, activation (qk_gelu, qk_silu), residual.
static inline float finish_float(const qk_epilogue *e, int i, int j, float y) {
    if (e->bias) y = y + e->bias[j];
    if (e->activation == QK_ACTIVATION_GELU) y = qk_gelu(y);
    else if (e->activation == QK_ACTIVATION_SILU) y = qk_silu(y);
    if (e->residual) y = y + e->residual[(size_t)i * e->ldc + j];
    return y;
}

/// Mode 3's weight sum of column j over block b (qk_block_sums' layout; `blocks` = k / QK_BLOCK).
static inline int32_t block_sum(const int16_t *sums, int blocks, int j, int b) {
    return sums[((size_t)(j / QK_PANEL) * blocks + b) * QK_PANEL + j % QK_PANEL];
}

/// The epilogue of one output element (see qk_epilogue).
static inline void store_one(const qk_epilogue *e, int i, int j, int32_t acc) {
    int32_t total = acc + (e->a_zero && e->w_sum ? e->a_zero[i] * e->w_sum[j] : 0);
    size_t at = (size_t)i * e->ldc + j;
    if (e->mode == 0) {
        e->c_i32[at] = total;
    } else if (e->mode == 1) {
        e->c_f32[at] = finish_float(e, i, j, (e->a_scale[i] * e->w_scale[j]) * (float)total);
    } else {
        int64_t code = shift_right_rne((int64_t)(total + (e->bias_code ? e->bias_code[j] : 0)) * e->multiplier[j], e->shift[j]) - e->out_zero;
        e->c_i8[at] = (int8_t)(code < e->out_min ? e->out_min : code > e->out_max ? e->out_max : code);
    }
}

/// One path's kernels. The GEMM runs output columns [n0, n1) of C = A W^T (qk_gemm_u8s8; gemm_u8s8_blocks for
/// the epilogue's mode 3, activations in blocks); the row quantizers are qk_quantize_rows_u8's and
/// qk_quantize_rows_u8_blocks' per-row bodies; the element-wise kernels are qk_activate's and qk_silu_multiply's,
/// and exponentiate computes p[i] = qk_exp(p[i] - maximum) in place and returns the sum (qk_softmax); gemv_f32 is
/// qk_gemv_f32's body on rows [0, rows) of W.
typedef void (*qk_gemm_kernel)(const uint8_t *a, int m, int k, int lda, const int8_t *packed, int n, int n0, int n1, const qk_epilogue *e);
typedef struct {
    qk_gemm_kernel gemm_u8s8;
    qk_gemm_kernel gemm_u8s8_blocks;
    void (*quantize_row_u8)(const float *row, int k, const float *column_scale, uint8_t *out, float *scale, int32_t *zero_point);
    void (*quantize_blocks_u8)(const float *row, int k, const float *column_scale, uint8_t *out, float *scales, int32_t *zero_points);
    void (*activate)(int activation, float *x, size_t n);
    void (*silu_multiply)(float *gate, const float *up, size_t n);
    float (*exponentiate)(float *p, int count, float maximum);
    void (*gemv_f32)(const float *w, int rows, int k, const float *x, float *y, int accumulate);
} qk_kernel_table;

/// The kernels of `path`, or NULL where this CPU cannot run it.
const qk_kernel_table *qk_kernels(qk_path path);
/// The kernels of qk_best_path(), chosen once per process.
const qk_kernel_table *qk_active_kernels(void);

/// The portable kernels (generic.c), which an architecture's row names where it has no SIMD version.
void qk_gemm_generic(const uint8_t *a, int m, int k, int lda, const int8_t *packed, int n, int n0, int n1, const qk_epilogue *e);
void qk_gemm_blocks_generic(const uint8_t *a, int m, int k, int lda, const int8_t *packed, int n, int n0, int n1, const qk_epilogue *e);
void qk_quantize_row_generic(const float *row, int k, const float *column_scale, uint8_t *out, float *scale, int32_t *zero_point);
void qk_quantize_blocks_generic(const float *row, int k, const float *column_scale, uint8_t *out, float *scales, int32_t *zero_points);
void qk_activate_generic(int activation, float *x, size_t n);
void qk_silu_multiply_generic(float *gate, const float *up, size_t n);
float qk_exponentiate_generic(float *p, int count, float maximum);
void qk_gemv_f32_generic(const float *w, int rows, int k, const float *x, float *y, int accumulate);

/// The lanes of qk_gemv_f32's dot products and of qk_norm_rows' sums: partial sums over k = l (mod QK_DOT_LANES)
/// for l in [0, 16), which one zmm or two ymm registers hold.
enum { QK_DOT_LANES = 16 };

/// The fixed tree that adds a dot product's 16 partial sums: halves folded onto each other (8, 4, 2, 1), the
/// order a SIMD reduction takes, so every path gives the same bits.
static inline float sum_lanes(float lanes[QK_DOT_LANES]) {
    for (int width = QK_DOT_LANES / 2; width >= 1; width /= 2) {
        for (int l = 0; l < width; l++) lanes[l] = lanes[l] + lanes[l + width];
    }
    return lanes[0];
}

/// y = s, or y + s with `accumulate`: the end of each of qk_gemv_f32's rows, s = sum_lanes then the tail's fmas.
static inline void finish_dot(float *y, float s, int accumulate) { *y = accumulate ? *y + s : s; }

/// Each architecture's rows, defined in generic.c, arch/x86.c and arch/arm.c.
extern const qk_kernel_table qk_portable_kernels;
#if defined(__x86_64__) || defined(__i386__)
extern const qk_kernel_table qk_avx2_kernels, qk_vnni_kernels, qk_vnni512_kernels, qk_avxvnni_kernels;
#endif
#if defined(__aarch64__)
extern const qk_kernel_table qk_neon_kernels, qk_i8mm_kernels;
#endif

/// The value quantized: x, times the SmoothQuant input scale when there is one.
static inline float row_input(const float *row, const float *column_scale, int c) { return column_scale ? row[c] * column_scale[c] : row[c]; }

/// Widens [lo, hi] to hold the inputs of columns [from, to).
static inline void widen_range(const float *row, const float *column_scale, int from, int to, float *lo, float *hi) {
    for (int c = from; c < to; c++) {
        float v = row_input(row, column_scale, c);
        *lo = v < *lo ? v : *lo;
        *hi = v > *hi ? v : *hi;
    }
}

#endif
