#ifndef QUANTA_INTEGER_KERNELS_H
#define QUANTA_INTEGER_KERNELS_H

// The integer-only encoder's kernels (I-BERT): integer codes in, integer codes out. This header and
// integer_kernels.c use integer types only; the constants that depend on a scale are derived in Swift when a
// model is built (IntegerOperators.swift, IntegerEncoder.swift) and arrive here as integers.

#include <stdint.h>

/// A dyadic number m 2^-s (s may be negative): the integer form of a scale ratio.
typedef struct {
    int32_t mantissa;
    int32_t shift;
} qi_multiplier;

/// rne(p / 2^s), ties to even (s <= 0: p 2^-s).
int64_t qi_round_shift(int64_t p, int s);

/// floor(sqrt(n)) by Newton's iteration on integers (I-BERT's Algorithm 4), exact for every n.
uint64_t qi_sqrt(uint64_t n);

/// i-GELU's integer constants (IntegerGELU): q_b, q_c, q_1 and the shift k.
typedef struct {
    int64_t qb, qc, q1;
    int32_t shift;
} qi_gelu;

/// i-GELU of one code: q (sgn(q) ((min(|q|, -q_b) + q_b)^2 + q_c) >> k + q_1).
int64_t qi_gelu_code(int64_t q, const qi_gelu *g);

/// The widest variant of the kernels this CPU runs: 2 (AVX-512), 1 (AVX2), 0 (the baseline). A kernel's `simd`
/// argument caps it (the caller's kernel path: 2 vnni512, 1 other x86 paths, 0 portable); every variant is the
/// same integer operations, auto-vectorised, so all give the same bits.
int qi_simd_available(void);

/// y[i] = clamp(rne(rne(gelu(x[i]) / 2^pre) m / 2^s), int32 range): i-GELU requantized to the output's scale,
/// `pre` >= 0 chosen so that the narrowed code times m stays within 2^63. Needs |q_b| < 2^31 and erf's codes
/// plus q_1 within int32 (IntegerGELU's scales give both).
void qi_gelu_rows(const int32_t *x, int64_t count, const qi_gelu *g, int pre, qi_multiplier out, int32_t *y, int simd);

/// The integer softmax's constants (IntegerSoftmax): q_ln2 (< 0), q_b, q_c and the output bits (<= 8 here).
typedef struct {
    int64_t qln2, qb, qc;
    int32_t out_bits;
} qi_softmax;

/// i-exp of d <= 0: ((p + q_b)^2 + q_c) >> z with d' = max(d, 30 q_ln2), z = floor(d' / q_ln2), p = d' - z q_ln2.
int64_t qi_exp(int64_t d, const qi_softmax *s);

/// Softmax of each row of x [rows, cols] (row stride ldx) as UINT8 codes of scale 2^-out_bits into p (row
/// stride ldp): e = i-exp(x - max x), f = floor(2^k / sum e) with k = bits(sum e) + 24,
/// p = min(floor((e f + 2^(k - out_bits - 1)) / 2^(k - out_bits)), 2^out_bits - 1) (rounded, half up). Returns 0, or -1 when a row's sum reaches 2^38
/// (k past 62; IntegerSoftmax refuses the same rows).
int qi_softmax_rows(const int32_t *x, int rows, int cols, int ldx, const qi_softmax *s, uint8_t *p, int ldp, int simd);

/// I-BERT's LayerNorm codes of one row of n codes (IntegerLayerNorm): m = floor((2 sum q + n) / (2 n)),
/// y = q - m, variance sum (y >> k)^2 < 2^31 with the smallest such k, std = sqrt(variance) << k,
/// f = floor(2^j / std) with j = min(62, bits(std) + 30), out = floor(y f / 2^(j - 30)) + bias_codes.
void qi_layernorm_codes(const int32_t *x, int n, const int64_t *bias_codes, int64_t *out);

/// Integer LayerNorm of each of `rows` rows of n with the affine part folded into the requantization to one
/// output scale: with qi_layernorm_codes' mean m and normaliser f, j,
///     out[r][c] = clamp(rne(floor((x - m) f / 2^(j - 22)) g_c / 2^s_c) + bias[c], +-(2^29 - 1))
/// where g_c 2^-s_c = gamma_c sqrt(n) / 2^22 / S_out (31-bit mantissas) and bias[c] = rne(beta_c / S_out).
void qi_layernorm_rows(const int32_t *x, int rows, int n, const int32_t *channel_mantissa, const int32_t *channel_shift,
                       const int32_t *bias, int32_t *out, int simd);

/// Dynamic per-row asymmetric UINT8 quantization of int32 codes x [m, k] (row stride ldx), in integers only:
/// lo = min(0, min x), hi = max(0, max x), the step D = ceil((hi - lo) 2^15 / 255) 2^-15 rounded up to a
/// 15-bit mantissa (step[i] = rho 2^-s), inv = floor(2^44 / rho), code(v) = rne(v inv / 2^(44 - s)) (within 2^62),
/// Z = code(lo), Q = clamp(code(x), Z, Z + 255) - Z: x ~ step (Q + Z). codes [m, ldq], zero[m], step[m].
void qi_quantize_rows_u8(const int32_t *x, int m, int k, int ldx, uint8_t *codes, int ldq, int32_t *zero, qi_multiplier *step, int simd);

/// The requantization after an i8i32 product t [m, n] (row stride ldt) of row-quantized inputs:
///     y = rne(t rho_i mu_c / 2^(s_i + s_c)) + bias[c] + rne(residual[i][c] m_r / 2^s_r)
/// with row_step[i] = rho_i 2^-s_i and column c's mu_c 2^-s_c (mantissas below 2^15, so rho mu is an int32 and
/// t rho mu stays in 64 bits for |t| < 2^33), bias[n] (zeros for none), residual optional (NULL); y clamped to
/// [lo, hi] and stored as int32 (out32) or int8 (out8), row stride ldo.
void qi_requantize(const int32_t *t, int m, int n, int ldt, const qi_multiplier *row_step, const int32_t *column_mantissa,
                   const int32_t *column_shift, const int32_t *bias, const int32_t *residual, int ldr, qi_multiplier residual_scale,
                   int32_t lo, int32_t hi, int32_t *out32, int8_t *out8, int ldo, int simd);

/// One head of one sequence for the integer attention, from the INT8 Q, K, V codes of the stacked tokens
/// (row stride ld, the head's channels at column offset 0 of each pointer): the queries as UINT8 codes q + 128
/// in rows of stride ldq, the keys [length, d] (unless `keys` is NULL) and the values transposed [d, length], both contiguous.
void qi_gather_head(const int8_t *q, const int8_t *k, const int8_t *v, int ld, int length, int d, uint8_t *queries, int ldq,
                    int8_t *keys, int8_t *values_transposed);

#endif
