// INT8 GEMM C = A W^T (A uint8 activation codes, W int8 weight codes packed by qk_pack_weights), paths
// that agree bit for bit: portable C; AVX2 (sign trick or nibble split), AVX-512 VNNI on 256-bit and on
// 512-bit registers; ARM64 NEON sdot and i8mm usdot. See QuantaKernels.h.
#pragma STDC FP_CONTRACT OFF
#include "QuantaKernels.h"

#include <stdlib.h>
#include <string.h>
#include "simd_math.h"

/// Rows per register tile and rows per cache block (a block of A stays in L2 while every panel of
/// weights passes by).
enum { MR = 6, MB = 96, MR512 = 12 };

static int k_groups(int k) { return (k + 3) / 4; }
static int padded_columns(int n) { return (n + QK_PANEL - 1) / QK_PANEL * QK_PANEL; }
static size_t panel_bytes(int n, int k) { return (size_t)padded_columns(n) * (size_t)k_groups(k) * 4; }

/// The trailer after the panels: sum_k W[j][k] for each padded column j, then the narrow-range flag.
static const int32_t *column_sums(const int8_t *packed, int n, int k) { return (const int32_t *)(packed + panel_bytes(n, k)); }
static int narrow_range(const int8_t *packed, int n, int k) { return column_sums(packed, n, k)[padded_columns(n)]; }

size_t qk_packed_size(int n, int k) { return panel_bytes(n, k) + 4 * (size_t)padded_columns(n) + 64; }

void qk_pack_weights(const int8_t *w, int n, int k, int ldw, int8_t *packed) {
    int groups = k_groups(k);
    memset(packed, 0, qk_packed_size(n, k));
    int32_t *sums = (int32_t *)(packed + panel_bytes(n, k)), narrow = 1;
    for (int col = 0; col < n; col++) {
        int p = col / QK_PANEL, j = col % QK_PANEL;
        for (int kk = 0; kk < k; kk++) {
            int8_t v = w[(size_t)col * ldw + kk];
            packed[(((size_t)p * groups + kk / 4) * QK_PANEL + j) * 4 + kk % 4] = v;
            sums[col] += v;
            narrow &= v != -128;
        }
    }
    sums[padded_columns(n)] = narrow;
}

#if defined(__aarch64__)
#include <arm_neon.h>
#include <sys/auxv.h>
// Linux's hwcap bits (asm/hwcap.h) for the dot-product and int8 matrix-multiply extensions.
#define QK_HWCAP_ASIMDDP (1UL << 20)
#define QK_HWCAP2_I8MM (1UL << 13)
#if defined(__clang__)
#define QK_DOTPROD __attribute__((target("dotprod")))
#define QK_I8MM_TARGET __attribute__((target("i8mm")))
#else
#define QK_DOTPROD __attribute__((target("arch=armv8.2-a+dotprod")))
#define QK_I8MM_TARGET __attribute__((target("arch=armv8.2-a+dotprod+i8mm")))
#endif
#endif

int qk_path_supported(qk_path path) {
    switch (path) {
    case QK_PATH_PORTABLE: return 1;
#if defined(__aarch64__)
    case QK_PATH_NEON: return (getauxval(AT_HWCAP) & QK_HWCAP_ASIMDDP) != 0;
    case QK_PATH_I8MM: return (getauxval(AT_HWCAP2) & QK_HWCAP2_I8MM) != 0;
#endif
#ifdef QK_X86
    case QK_PATH_AVX2: return __builtin_cpu_supports("avx2");
    case QK_PATH_VNNI:
        return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512vl")
            && __builtin_cpu_supports("avx512vnni");
    case QK_PATH_VNNI512:
        return qk_path_supported(QK_PATH_VNNI) && __builtin_cpu_supports("avx512bw");
#endif
    default: return 0;
    }
}

qk_path qk_best_path(void) {
    const char *isa = getenv("QUANTA_ISA");
    if (isa && strcmp(isa, "avx2") == 0 && qk_path_supported(QK_PATH_AVX2)) return QK_PATH_AVX2;
    if (isa && strcmp(isa, "neon") == 0 && qk_path_supported(QK_PATH_NEON)) return QK_PATH_NEON;
    if (isa && strcmp(isa, "portable") == 0) return QK_PATH_PORTABLE;
    if (qk_path_supported(QK_PATH_I8MM)) return QK_PATH_I8MM;
    if (qk_path_supported(QK_PATH_NEON)) return QK_PATH_NEON;
    if (qk_path_supported(QK_PATH_VNNI512)) return QK_PATH_VNNI512;
    if (qk_path_supported(QK_PATH_VNNI)) return QK_PATH_VNNI;
    if (qk_path_supported(QK_PATH_AVX2)) return QK_PATH_AVX2;
    return QK_PATH_PORTABLE;
}

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

// MARK: portable

static void gemm_portable(const uint8_t *a, int m, int k, int lda, const int8_t *packed, int n0, int n1,
                          const qk_epilogue *e) {
    int groups = k_groups(k);
    for (int col = n0; col < n1; col++) {
        const int8_t *panel = packed + (size_t)(col / QK_PANEL) * groups * 4 * QK_PANEL + (col % QK_PANEL) * 4;
        for (int i = 0; i < m; i++) {
            const uint8_t *row = a + (size_t)i * lda;
            int32_t acc = 0;
            for (int kk = 0; kk < k; kk++) acc += (int32_t)row[kk] * panel[(size_t)(kk / 4) * 4 * QK_PANEL + kk % 4];
            store_one(e, i, col, acc);
        }
    }
}

#ifdef QK_X86

// MARK: shared AVX2 epilogue

/// rne(p / 2^s) for 4 int64 lanes p with |p| < 2^62 and shifts s in [1, 61] (low 32 bits of each lane), as
/// shift_right_rne: AVX2 has only logical 64-bit shifts, so p is offset by B = 2^62 (a multiple of 2^s) to
/// be non-negative; with b the parity of floor(p / 2^s), rne(p / 2^s) = floor((p + 2^(s-1) - 1 + b) / 2^s).
__attribute__((target("avx2"))) static inline __m256i shift_right_rne4(__m256i p, __m256i s) {
    const __m256i one = _mm256_set1_epi64x(1), offset = _mm256_set1_epi64x((int64_t)1 << 62);
    s = _mm256_and_si256(s, _mm256_set1_epi64x(0xFFFFFFFF));
    __m256i u = _mm256_add_epi64(p, offset);
    __m256i parity = _mm256_and_si256(_mm256_srlv_epi64(u, s), one);   // B / 2^s is even for s <= 61
    __m256i half = _mm256_sllv_epi64(one, _mm256_sub_epi64(s, one));
    __m256i v = _mm256_add_epi64(_mm256_add_epi64(u, _mm256_sub_epi64(half, one)), parity);
    return _mm256_sub_epi64(_mm256_srlv_epi64(v, s), _mm256_sllv_epi64(one, _mm256_sub_epi64(_mm256_set1_epi64x(62), s)));
}

/// clamp(q - out_zero, out_min, out_max) on 4 int64 lanes.
__attribute__((target("avx2"))) static inline __m256i clamp_code4(const qk_epilogue *e, __m256i q) {
    __m256i code = _mm256_sub_epi64(q, _mm256_set1_epi64x(e->out_zero));
    __m256i lo = _mm256_set1_epi64x(e->out_min), hi = _mm256_set1_epi64x(e->out_max);
    code = _mm256_blendv_epi8(code, lo, _mm256_cmpgt_epi64(lo, code));
    return _mm256_blendv_epi8(code, hi, _mm256_cmpgt_epi64(code, hi));
}

/// The i8i8 epilogue of 8 zero-point-corrected totals (see store_one), or 0 when some shift is outside
/// [1, 61] (the caller then takes the scalar path).
__attribute__((target("avx2"))) static inline int requantize8(const qk_epilogue *e, int i, int j, __m256i total) {
    __m256i s = _mm256_loadu_si256((const __m256i *)(e->shift + j));
    __m256i outside = _mm256_or_si256(_mm256_cmpgt_epi32(_mm256_set1_epi32(1), s), _mm256_cmpgt_epi32(s, _mm256_set1_epi32(61)));
    if (!_mm256_testz_si256(outside, outside)) return 0;
    if (e->bias_code) total = _mm256_add_epi32(total, _mm256_loadu_si256((const __m256i *)(e->bias_code + j)));
    __m256i m = _mm256_loadu_si256((const __m256i *)(e->multiplier + j));
    // Even lanes (0, 2, 4, 6) and odd lanes as 64-bit products t * M.
    __m256i even = clamp_code4(e, shift_right_rne4(_mm256_mul_epi32(total, m), s));
    __m256i odd = clamp_code4(e, shift_right_rne4(_mm256_mul_epi32(_mm256_srli_epi64(total, 32), _mm256_srli_epi64(m, 32)),
                                                  _mm256_srli_epi64(s, 32)));
    int32_t codes[8];
    _mm256_storeu_si256((__m256i *)codes, _mm256_blend_epi32(even, _mm256_slli_epi64(odd, 32), 0xAA));
    int8_t *out = e->c_i8 + (size_t)i * e->ldc + j;
    for (int t = 0; t < 8; t++) out[t] = (int8_t)codes[t];
    return 1;
}

/// Stores 8 accumulators of row i, columns j..j+7 (`valid` of them inside C).
__attribute__((target("avx2"), always_inline)) static inline void store8(const qk_epilogue *e, int i, int j, __m256i acc, int valid) {
    if (valid < 8) {
        int32_t lanes[8];
        _mm256_storeu_si256((__m256i *)lanes, acc);
        for (int t = 0; t < valid; t++) store_one(e, i, j + t, lanes[t]);
        return;
    }
    __m256i raw = acc;
    if (e->a_zero && e->w_sum) {
        acc = _mm256_add_epi32(acc, _mm256_mullo_epi32(_mm256_set1_epi32(e->a_zero[i]), _mm256_loadu_si256((const __m256i *)(e->w_sum + j))));
    }
    if (e->mode == 2) {
        if (requantize8(e, i, j, acc)) return;
        int32_t lanes[8];
        _mm256_storeu_si256((__m256i *)lanes, raw);
        for (int t = 0; t < 8; t++) store_one(e, i, j + t, lanes[t]);
        return;
    }
    if (e->mode == 0) {
        _mm256_storeu_si256((__m256i *)(e->c_i32 + (size_t)i * e->ldc + j), acc);
        return;
    }
    __m256 scale = _mm256_mul_ps(_mm256_set1_ps(e->a_scale[i]), _mm256_loadu_ps(e->w_scale + j));
    __m256 y = _mm256_mul_ps(scale, _mm256_cvtepi32_ps(acc));
    float *out = e->c_f32 + (size_t)i * e->ldc + j;
    if (e->bias) y = _mm256_add_ps(y, _mm256_loadu_ps(e->bias + j));
    y = activate8(e->activation, y);
    if (e->residual) y = _mm256_add_ps(y, _mm256_loadu_ps(e->residual + (size_t)i * e->ldc + j));
    _mm256_storeu_ps(out, y);
}

/// The body shared by both SIMD paths: for each cache block of rows, each panel, each tile of `rows` <= MR
/// rows, accumulate 16 columns in two registers per row with `DOT`, then run the epilogue.
#define QK_GEMM_BODY(TARGET, NAME, DOT_SETUP, DOT)                                                              \
    __attribute__((target(TARGET), always_inline)) static inline void NAME##_tile(                                   \
        const uint8_t *a, int lda, int rows, const int8_t *panel, int groups, int i, int col, int n1,                \
        const qk_epilogue *e) {                                                                                       \
        __m256i acc[MR][2];                                                                                           \
        for (int r = 0; r < MR; r++) acc[r][0] = acc[r][1] = _mm256_setzero_si256();                                  \
        DOT_SETUP                                                                                                     \
        for (int g = 0; g < groups; g++) {                                                                            \
            __m256i w0 = _mm256_loadu_si256((const __m256i *)(panel + (size_t)g * 64));                               \
            __m256i w1 = _mm256_loadu_si256((const __m256i *)(panel + (size_t)g * 64 + 32));                          \
            for (int r = 0; r < MR; r++) {                                                                            \
                if (r < rows) {                                                                                       \
                    int32_t bytes;                                                                                    \
                    memcpy(&bytes, a + (size_t)r * lda + 4 * (size_t)g, 4);                                           \
                    __m256i av = _mm256_set1_epi32(bytes);                                                            \
                    DOT(acc[r][0], av, w0);                                                                           \
                    DOT(acc[r][1], av, w1);                                                                           \
                }                                                                                                     \
            }                                                                                                         \
        }                                                                                                             \
        for (int r = 0; r < rows; r++) {                                                                              \
            int valid = n1 - col;                                                                                     \
            store8(e, i + r, col, acc[r][0], valid < 8 ? valid : 8);                                                  \
            if (valid > 8) store8(e, i + r, col + 8, acc[r][1], valid - 8 < 8 ? valid - 8 : 8);                       \
        }                                                                                                             \
    }                                                                                                                 \
    __attribute__((target(TARGET))) static void NAME(const uint8_t *a, int m, int k, int lda, const int8_t *packed,  \
                                                     int n0, int n1, const qk_epilogue *e) {                         \
        int groups = k_groups(k);                                                                                     \
        for (int i0 = 0; i0 < m; i0 += MB) {                                                                          \
            int i1 = i0 + MB < m ? i0 + MB : m;                                                                       \
            for (int col = n0; col < n1; col += QK_PANEL) {                                                           \
                const int8_t *panel = packed + (size_t)(col / QK_PANEL) * groups * 64;                                \
                int i = i0;                                                                                           \
                for (; i + MR <= i1; i += MR) NAME##_tile(a + (size_t)i * lda, lda, MR, panel, groups, i, col, n1, e); \
                switch (i1 - i) {                                                                                     \
                case 5: NAME##_tile(a + (size_t)i * lda, lda, 5, panel, groups, i, col, n1, e); break;               \
                case 4: NAME##_tile(a + (size_t)i * lda, lda, 4, panel, groups, i, col, n1, e); break;               \
                case 3: NAME##_tile(a + (size_t)i * lda, lda, 3, panel, groups, i, col, n1, e); break;               \
                case 2: NAME##_tile(a + (size_t)i * lda, lda, 2, panel, groups, i, col, n1, e); break;               \
                case 1: NAME##_tile(a + (size_t)i * lda, lda, 1, panel, groups, i, col, n1, e); break;               \
                default: break;                                                                                       \
                }                                                                                                     \
            }                                                                                                         \
        }                                                                                                             \
    }

// AVX2: a u8 = 16 hi + lo with hi, lo in [0, 15], so each vpmaddubsw pair sum is at most 2 * 15 * 128 and
// cannot saturate; vpmaddwd then sums the pairs into int32 lanes, weighting the high halves by 16.
#define QK_AVX2_SETUP                                                                                                \
    const __m256i nibble = _mm256_set1_epi8(0x0F), ones = _mm256_set1_epi16(1), sixteens = _mm256_set1_epi16(16);
#define QK_AVX2_DOT(ACC, AV, W)                                                                                      \
    do {                                                                                                             \
        __m256i lo_ = _mm256_and_si256(AV, nibble), hi_ = _mm256_and_si256(_mm256_srli_epi16(AV, 4), nibble);       \
        __m256i s_ = _mm256_add_epi32(_mm256_madd_epi16(_mm256_maddubs_epi16(lo_, W), ones),                        \
                                      _mm256_madd_epi16(_mm256_maddubs_epi16(hi_, W), sixteens));                   \
        ACC = _mm256_add_epi32(ACC, s_);                                                                             \
    } while (0)
QK_GEMM_BODY("avx2", gemm_avx2, QK_AVX2_SETUP, QK_AVX2_DOT)

#define QK_VNNI_SETUP
#define QK_VNNI_DOT(ACC, AV, W) ACC = _mm256_dpbusd_epi32(ACC, AV, W)
QK_GEMM_BODY("avx2,avx512f,avx512vl,avx512vnni", gemm_vnni, QK_VNNI_SETUP, QK_VNNI_DOT)

// AVX2 with the sign trick, for narrow-range weights (no code is -128): with a' = a - 128 in [-128, 127],
// vpmaddubsw(|a'|, sign(a') w) sums pairs of products whose magnitudes are at most 128 * 127, so no pair sum
// saturates, and vpmaddwd against ones sums the pairs into int32 lanes: 3 instructions per 32 products, 2 of
// them multiplies (the nibble split above needs 4 multiplies). sum_k a' w = sum_k a w - 128 sum_k w, so the
// tile adds 128 sum_k W[j][k] (the packed trailer) before the epilogue.
// A register tile is 2 rows x 2 panels (8 accumulators, 4 weight vectors, the row's a' and |a'|): measured on
// Zen 3 against 3-6 rows x 1 panel and 3 rows x 2 panels, which spill or issue more broadcasts per product.
enum { MR_SIGN = 2 };

AVX2 __attribute__((always_inline)) static inline void gemm_avx2_sign_tile(const uint8_t *a, int lda, int rows, const int8_t *panel,
                                                                           int groups, int panels, int i, int col, int n1,
                                                                           const int32_t *sums, const qk_epilogue *e) {
    __m256i acc[MR_SIGN][4];
    for (int r = 0; r < MR_SIGN; r++) acc[r][0] = acc[r][1] = acc[r][2] = acc[r][3] = _mm256_setzero_si256();
    const __m256i ones = _mm256_set1_epi16(1), bias = _mm256_set1_epi8((char)0x80);
    const int8_t *second = panel + (size_t)groups * 64;
    for (int g = 0; g < groups; g++) {
        __m256i w[4];
        w[0] = _mm256_loadu_si256((const __m256i *)(panel + (size_t)g * 64));
        w[1] = _mm256_loadu_si256((const __m256i *)(panel + (size_t)g * 64 + 32));
        if (panels == 2) {
            w[2] = _mm256_loadu_si256((const __m256i *)(second + (size_t)g * 64));
            w[3] = _mm256_loadu_si256((const __m256i *)(second + (size_t)g * 64 + 32));
        }
        for (int r = 0; r < MR_SIGN; r++) {
            if (r < rows) {
                int32_t bytes;
                memcpy(&bytes, a + (size_t)r * lda + 4 * (size_t)g, 4);
                __m256i shifted = _mm256_xor_si256(_mm256_set1_epi32(bytes), bias), magnitude = _mm256_abs_epi8(shifted);
                for (int c = 0; c < 2 * panels; c++) {
                    __m256i pairs = _mm256_maddubs_epi16(magnitude, _mm256_sign_epi8(w[c], shifted));
                    acc[r][c] = _mm256_add_epi32(acc[r][c], _mm256_madd_epi16(pairs, ones));
                }
            }
        }
    }
    for (int c = 0; c < 2 * panels; c++) {
        int j = col + 8 * c, valid = n1 - j;
        if (valid <= 0) break;
        __m256i offset = _mm256_slli_epi32(_mm256_loadu_si256((const __m256i *)(sums + j)), 7);
        for (int r = 0; r < rows; r++) store8(e, i + r, j, _mm256_add_epi32(acc[r][c], offset), valid < 8 ? valid : 8);
    }
}

/// The loops of the two-panel kernels: blocks of MB rows (in L2), pairs of panels in [n0, n1) (the last may be
/// a single panel), then TILES, which runs the row tiles of rows [i0, i1) of the pair at `panel`.
#define QK_FOR_PANEL_PAIRS(TILES)                                                                                 \
    for (int i0 = 0; i0 < m; i0 += MB) {                                                                          \
        int i1 = i0 + MB < m ? i0 + MB : m;                                                                       \
        for (int col = n0; col < n1; col += 2 * QK_PANEL) {                                                       \
            const int8_t *panel = packed + (size_t)(col / QK_PANEL) * groups * 64;                                \
            int panels = col + QK_PANEL < n1 ? 2 : 1;                                                             \
            TILES                                                                                                 \
        }                                                                                                         \
    }

AVX2 static void gemm_avx2_sign(const uint8_t *a, int m, int k, int lda, const int8_t *packed, int n, int n0, int n1,
                                const qk_epilogue *e) {
    int groups = k_groups(k);
    const int32_t *sums = column_sums(packed, n, k);
#define QK_SIGN_TILE(ROWS)                                                                                         \
    if (panels == 2) gemm_avx2_sign_tile(a + (size_t)i * lda, lda, ROWS, panel, groups, 2, i, col, n1, sums, e);     \
    else gemm_avx2_sign_tile(a + (size_t)i * lda, lda, ROWS, panel, groups, 1, i, col, n1, sums, e);
    QK_FOR_PANEL_PAIRS({
        int i = i0;
        for (; i + MR_SIGN <= i1; i += MR_SIGN) { QK_SIGN_TILE(MR_SIGN) }
        if (i < i1) { QK_SIGN_TILE(1) }
    })
#undef QK_SIGN_TILE
}

// AVX-512 VNNI on 512-bit registers: one 64-byte weight group is a whole panel (16 columns x 4 k) in one
// zmm, so a register tile of MR rows x 2 panels needs 2 weight loads and MR broadcasts per 2 MR vpdpbusd.
#define VNNI512 __attribute__((target("avx2,avx512f,avx512bw,avx512vl,avx512vnni")))

VNNI512 __attribute__((always_inline)) static inline void gemm_vnni512_tile(const uint8_t *a, int lda, int rows, const int8_t *panel, int groups, int panels,
                                              int i, int col, int n1, const qk_epilogue *e) {
    __m512i acc[MR512][2];
    for (int r = 0; r < MR512; r++) acc[r][0] = acc[r][1] = _mm512_setzero_si512();
    const int8_t *second = panel + (size_t)groups * 64;
    for (int g = 0; g < groups; g++) {
        __m512i w0 = _mm512_loadu_si512(panel + (size_t)g * 64);
        __m512i w1 = panels == 2 ? _mm512_loadu_si512(second + (size_t)g * 64) : _mm512_setzero_si512();
        for (int r = 0; r < MR512; r++) {
            if (r < rows) {
                int32_t bytes;
                memcpy(&bytes, a + (size_t)r * lda + 4 * (size_t)g, 4);
                __m512i av = _mm512_set1_epi32(bytes);
                acc[r][0] = _mm512_dpbusd_epi32(acc[r][0], av, w0);
                if (panels == 2) acc[r][1] = _mm512_dpbusd_epi32(acc[r][1], av, w1);
            }
        }
    }
    for (int r = 0; r < rows; r++) {
        for (int half = 0; half < 2 * panels; half++) {
            int j = col + 8 * half, valid = n1 - j;
            if (valid <= 0) break;
            __m512i v = acc[r][half / 2];
            store8(e, i + r, j, half % 2 ? _mm512_extracti64x4_epi64(v, 1) : _mm512_castsi512_si256(v), valid < 8 ? valid : 8);
        }
    }
}

VNNI512 static void gemm_vnni512(const uint8_t *a, int m, int k, int lda, const int8_t *packed, int n0, int n1, const qk_epilogue *e) {
    int groups = k_groups(k);
    // Constant row counts, so that each tile's accumulators stay in registers.
#define QK_TILE512(ROWS)                                                                                    \
    if (panels == 2) gemm_vnni512_tile(a + (size_t)i * lda, lda, ROWS, panel, groups, 2, i, col, n1, e);      \
    else gemm_vnni512_tile(a + (size_t)i * lda, lda, ROWS, panel, groups, 1, i, col, n1, e);
    QK_FOR_PANEL_PAIRS({
        int i = i0;
        for (; i + MR512 <= i1; i += MR512) { QK_TILE512(MR512) }
        switch (i1 - i) {
        case 11: { QK_TILE512(11) } break;
        case 10: { QK_TILE512(10) } break;
        case 9: { QK_TILE512(9) } break;
        case 8: { QK_TILE512(8) } break;
        case 7: { QK_TILE512(7) } break;
        case 6: { QK_TILE512(6) } break;
        case 5: { QK_TILE512(5) } break;
        case 4: { QK_TILE512(4) } break;
        case 3: { QK_TILE512(3) } break;
        case 2: { QK_TILE512(2) } break;
        case 1: { QK_TILE512(1) } break;
        default: break;
        }
    })
#undef QK_TILE512
}

#endif

#if defined(__aarch64__)

// MARK: ARM64

// A register tile is MR_NEON rows x 1 panel: 4 q-register accumulators per row (16 columns), 4 weight
// registers per group of 4 k. Lane c of weight register q holds column 4 q + c's four bytes, so one
// (u)sdot of it against the row's 4 activation bytes broadcast to every lane advances 4 columns by 4 k.
// The epilogue is the portable store_one per element (exact; m n of it against m n k multiply-adds).
enum { MR_NEON = 4 };

/// The body of both ARM64 paths: DOT(ACC, WEIGHTS, BYTES) accumulates one group; OFFSET is added to each
/// accumulator of column j before the epilogue.
#define QK_NEON_GEMM(TARGET, NAME, DOT, OFFSET)                                                                   \
    TARGET static void NAME(const uint8_t *a, int m, int k, int lda, const int8_t *packed, int n, int n0, int n1,  \
                            const qk_epilogue *e) {                                                              \
        int groups = k_groups(k);                                                                                 \
        const int32_t *sums = column_sums(packed, n, k);                                                          \
        (void)sums;                                                                                               \
        for (int col = n0; col < n1; col += QK_PANEL) {                                                           \
            const int8_t *panel = packed + (size_t)(col / QK_PANEL) * groups * 64;                                \
            for (int i = 0; i < m; i += MR_NEON) {                                                                \
                int rows = m - i < MR_NEON ? m - i : MR_NEON;                                                     \
                int32x4_t acc[MR_NEON][4];                                                                        \
                for (int r = 0; r < MR_NEON; r++) {                                                               \
                    for (int q = 0; q < 4; q++) acc[r][q] = vdupq_n_s32(0);                                       \
                }                                                                                                 \
                for (int g = 0; g < groups; g++) {                                                                \
                    int8x16_t w[4];                                                                               \
                    for (int q = 0; q < 4; q++) w[q] = vld1q_s8(panel + (size_t)g * 64 + 16 * q);                 \
                    for (int r = 0; r < rows; r++) {                                                              \
                        uint32_t bytes;                                                                           \
                        memcpy(&bytes, a + (size_t)(i + r) * lda + 4 * (size_t)g, 4);                             \
                        for (int q = 0; q < 4; q++) DOT(acc[r][q], w[q], bytes);                                  \
                    }                                                                                             \
                }                                                                                                 \
                for (int r = 0; r < rows; r++) {                                                                  \
                    for (int q = 0; q < 4; q++) {                                                                 \
                        int32_t lanes[4];                                                                         \
                        vst1q_s32(lanes, acc[r][q]);                                                              \
                        for (int c = 0; c < 4 && col + 4 * q + c < n1; c++) {                                     \
                            int j = col + 4 * q + c;                                                              \
                            store_one(e, i + r, j, lanes[c] + (OFFSET));                                          \
                        }                                                                                         \
                    }                                                                                             \
                }                                                                                                 \
            }                                                                                                     \
        }                                                                                                         \
    }

// sdot: both operands signed, so the activations enter as a - 128 (a xor 0x80) and 128 sum_k W[j][k] is
// added back.
#define QK_SDOT(ACC, W, BYTES) ACC = vdotq_s32(ACC, W, vreinterpretq_s8_u32(vdupq_n_u32((BYTES) ^ 0x80808080u)))
QK_NEON_GEMM(QK_DOTPROD, gemm_neon, QK_SDOT, 128 * sums[j])

// usdot (i8mm): u8 x s8 directly, no offset.
#define QK_USDOT(ACC, W, BYTES) ACC = vusdotq_s32(ACC, vreinterpretq_u8_u32(vdupq_n_u32(BYTES)), W)
QK_NEON_GEMM(QK_I8MM_TARGET, gemm_i8mm, QK_USDOT, 0)

#endif

void qk_gemm_u8s8(qk_path path, const uint8_t *a, int m, int k, int lda, const int8_t *packed, int n,
                  int n0, int n1, const qk_epilogue *e) {
    if (n0 >= n1 || m <= 0) return;
#ifdef QK_X86
    if (path == QK_PATH_VNNI512 && qk_path_supported(QK_PATH_VNNI512)) { gemm_vnni512(a, m, k, lda, packed, n0, n1, e); return; }
    if (path == QK_PATH_VNNI && qk_path_supported(QK_PATH_VNNI)) { gemm_vnni(a, m, k, lda, packed, n0, n1, e); return; }
    if (path == QK_PATH_AVX2 && qk_path_supported(QK_PATH_AVX2) && narrow_range(packed, n, k)) {
        gemm_avx2_sign(a, m, k, lda, packed, n, n0, n1, e);
        return;
    }
    if (path == QK_PATH_AVX2 && qk_path_supported(QK_PATH_AVX2)) { gemm_avx2(a, m, k, lda, packed, n0, n1, e); return; }
#endif
#if defined(__aarch64__)
    if (path == QK_PATH_I8MM && qk_path_supported(QK_PATH_I8MM)) { gemm_i8mm(a, m, k, lda, packed, n, n0, n1, e); return; }
    if (path == QK_PATH_NEON && qk_path_supported(QK_PATH_NEON)) { gemm_neon(a, m, k, lda, packed, n, n0, n1, e); return; }
#endif
    gemm_portable(a, m, k, lda, packed, n0, n1, e);
}
