// The x86 rows of the kernel table: AVX2 (operands widened to int16 for GEMMs; for GEMVs the sign trick for
// narrow-range weights, the nibble split otherwise; the direct tile for 7-bit weights), AVX-512 VNNI on 256-bit and 512-bit registers, and the AVX2 row quantizer and element-wise loops that the
// VNNI rows share. Each function carries its own target attribute and runs only where qk_kernels hands out
// its row (checked at run time).
#include "../kernels.h"
#include "../simd_math.h"

#include <math.h>
#include <stdlib.h>

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

/// The float epilogue's tail (finish_float) on 8 dequantized values of row i, columns j..j+7, and the store.
__attribute__((target("avx2"), always_inline)) static inline void store8_f32(const qk_epilogue *e, int i, int j, __m256 y) {
    if (e->bias) y = _mm256_add_ps(y, _mm256_loadu_ps(e->bias + j));
    y = activate8(e->activation, y);
    if (e->residual) y = _mm256_add_ps(y, _mm256_loadu_ps(e->residual + (size_t)i * e->ldc + j));
    _mm256_storeu_ps(e->c_f32 + (size_t)i * e->ldc + j, y);
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
    store8_f32(e, i, j, _mm256_mul_ps(scale, _mm256_cvtepi32_ps(acc)));
}

/// Asks for the cache lines that the epilogue of rows [i, i + rows) x `panels` panels at column `col` will read
/// (the residual) and write (int32 or float outputs), so that they arrive while the tile's products run; without
/// it the epilogue waits on them (MiniLM's layers at 4096 rows keep their residual and outputs in L3 or DRAM).
AVX2 __attribute__((always_inline)) static inline void prefetch_epilogue(const qk_epilogue *e, int i, int rows, int col, int panels) {
    for (int r = 0; r < rows; r++) {
        size_t at = (size_t)(i + r) * e->ldc + col;
        for (int p = 0; p < panels; p++) {
            if (e->residual) _mm_prefetch((const char *)(e->residual + at + QK_PANEL * p), _MM_HINT_T0);
            if (e->mode == 0) __builtin_prefetch(e->c_i32 + at + QK_PANEL * p, 1, 3);
            else if (e->mode != 2) __builtin_prefetch(e->c_f32 + at + QK_PANEL * p, 1, 3);
        }
    }
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
                                                     int n, int n0, int n1, const qk_epilogue *e) {                  \
        (void)n;                                                                                                      \
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
// AVX-VNNI: the same vpdpbusd, VEX-encoded, on CPUs without AVX-512 (the tile's 12 accumulators, 2 weight vectors and
// the broadcast fit the 16 ymm registers).
#define QK_AVXVNNI_DOT(ACC, AV, W) ACC = _mm256_dpbusd_avx_epi32(ACC, AV, W)
QK_GEMM_BODY("avx2,avxvnni", gemm_avxvnni, QK_VNNI_SETUP, QK_AVXVNNI_DOT)

// AVX2 with the sign trick, for narrow-range weights (no code is -128): with a' = a - 128 in [-128, 127],
// vpmaddubsw(|a'|, sign(a') w) sums pairs of products whose magnitudes are at most 128 * 127, so no pair sum
// saturates, and vpmaddwd against ones sums the pairs into int32 lanes: 3 instructions per 32 products (the
// nibble split above needs 4 multiplies). sum_k a' w = sum_k a w - 128 sum_k w, so the tile adds 128 sum_k
// W[j][k] (the packed trailer) before the epilogue. On Zen 3 vpsignb, vpmaddubsw and vpmaddwd share the two
// vector-multiply pipes (measured: 1.3-1.5 cycles per 32 products against 1 for vpmaddubsw + vpmaddwd alone), so
// small weights (7-bit codes, |w| <= 64) take the direct tile instead: vpmaddubsw(a, w) cannot saturate
// (2 * 255 * 64 < 2^15) and the sign instruction goes, 1.4x the products per cycle.
//
// The wide tile is exact for every code at the direct tile's count of multiplies: both operands widened to int16
// (UINT8 inputs zero-extended, INT8 weights sign-extended), vpmaddwd(a, w) sums each pair of products into an
// int32 lane (|a w| <= 255 * 128, no saturation): 2 multiplies per 32 products against the sign trick's 3 and the
// nibble split's 4. The widening runs once per cache block, into thread-local buffers: the block's MB rows of A
// (widen_rows) and each panel pair's weights (widen_panels); a GEMM of fewer than QK_WIDE_MIN_ROWS rows (a GEMV)
// would not amortise it and keeps the sign trick or the nibble split.
// Measured on Zen 4 as the AVX2 class (`quanta bench gemm --isa avx2`): 2048 x 1920 x 1920 at 304-310 GOP/s
// against the sign trick's 264 and the nibble split's 186 (the direct tile: 418); its loop is 4 weight loads, 2
// broadcasts, 8 vpmaddwd and 8 vpaddd per 128 products, so it is bound by dispatch width there, not multiplies.
// A register tile is 2 rows x 2 panels (8 accumulators, 4 weight vectors, the row's a' and |a'|): measured on
// Zen 3 against 3-6 rows x 1 panel and 3 rows x 2 panels, which spill or issue more broadcasts per product (and
// for the wide tile on Zen 4 against 3 rows x 2 panels, which spills: 211 GOP/s).
enum { MR_SIGN = 2, QK_WIDE_MIN_ROWS = 8, QK_GEMV_PANELS = 4 };

/// How a tile multiplies: the sign trick, the direct tile (small weights) or the widened operands.
enum { QK_SIGN, QK_DIRECT, QK_WIDE };

/// The k groups [g0, g1) of `rows` rows of A and the 2 * `panels` column vectors of a panel pair, added to
/// acc[r][c]: QK_DIRECT sum_k a w by vpmaddubsw(a, w); QK_SIGN the sign trick's sum_k (a - 128) w; QK_WIDE
/// sum_k a w by vpmaddwd on the widened rows `wide_a` (`width` int16 each) and panels `wide_w` (widen_panels).
AVX2 __attribute__((always_inline)) static inline void tile_dot(int kind, const uint8_t *a, int lda, const int16_t *wide_a, int width,
                                                                int rows, const int8_t *panel, const int16_t *wide_w, int groups,
                                                                int panels, int g0, int g1, __m256i acc[MR_SIGN][2 * QK_GEMV_PANELS]) {
    const __m256i ones = _mm256_set1_epi16(1), bias = _mm256_set1_epi8((char)0x80);
    if (kind == QK_WIDE) {
        for (int g = g0; g < g1; g++) {
            for (int p = 2 * g; p < 2 * g + 2; p++) {
                __m256i w[4];
                for (int c = 0; c < 2 * panels; c++) w[c] = _mm256_load_si256((const __m256i *)(wide_w + ((size_t)p * 4 + c) * 16));
                for (int r = 0; r < MR_SIGN; r++) {
                    if (r < rows) {
                        int32_t pair;
                        memcpy(&pair, wide_a + (size_t)r * width + 2 * p, 4);
                        __m256i broadcast = _mm256_set1_epi32(pair);
                        for (int c = 0; c < 2 * panels; c++) acc[r][c] = _mm256_add_epi32(acc[r][c], _mm256_madd_epi16(broadcast, w[c]));
                    }
                }
            }
        }
        return;
    }
    for (int g = g0; g < g1; g++) {
        __m256i w[2 * QK_GEMV_PANELS];
        for (int c = 0; c < 2 * panels; c++)
            w[c] = _mm256_loadu_si256((const __m256i *)(panel + ((size_t)(c / 2) * groups + g) * 64 + 32 * (c % 2)));
        for (int r = 0; r < MR_SIGN; r++) {
            if (r < rows) {
                int32_t bytes;
                memcpy(&bytes, a + (size_t)r * lda + 4 * (size_t)g, 4);
                __m256i broadcast = _mm256_set1_epi32(bytes);
                if (kind == QK_DIRECT) {
                    for (int c = 0; c < 2 * panels; c++) acc[r][c] = _mm256_add_epi32(acc[r][c], _mm256_madd_epi16(_mm256_maddubs_epi16(broadcast, w[c]), ones));
                    continue;
                }
                __m256i shifted = _mm256_xor_si256(broadcast, bias), magnitude = _mm256_abs_epi8(shifted);
                for (int c = 0; c < 2 * panels; c++) {
                    __m256i pairs = _mm256_maddubs_epi16(magnitude, _mm256_sign_epi8(w[c], shifted));
                    acc[r][c] = _mm256_add_epi32(acc[r][c], _mm256_madd_epi16(pairs, ones));
                }
            }
        }
    }
}

/// Rows [0, rows) of A zero-extended to int16, `width` (4 k groups) per row.
AVX2 static void widen_rows(const uint8_t *a, int lda, int rows, int width, int16_t *out) {
    for (int r = 0; r < rows; r++) {
        const uint8_t *row = a + (size_t)r * lda;
        int16_t *to = out + (size_t)r * width;
        int c = 0;
        for (; c + 16 <= width; c += 16) _mm256_storeu_si256((__m256i *)(to + c), _mm256_cvtepu8_epi16(_mm_loadu_si128((const __m128i *)(row + c))));
        for (; c < width; c++) to[c] = row[c];
    }
}

/// The `panels` panels at `panel` sign-extended to int16 in k pairs: for pair p, 4 vectors of 8 columns (panel 0's
/// columns 0-7 and 8-15, then panel 1's), lane j = (W[j][2p], W[j][2p + 1]), the operand of vpmaddwd against a
/// broadcast pair of inputs. A packed group holds column j's 4 codes in lane j of each half; the shuffle takes
/// each lane's first two bytes to the low 8 bytes of its 128-bit half and the last two to the high 8, and the
/// permutation gathers the halves' first pairs into the low 128 bits.
AVX2 static void widen_panels(const int8_t *panel, int groups, int panels, int16_t *out) {
    const __m256i pick = _mm256_setr_epi8(0, 1, 4, 5, 8, 9, 12, 13, 2, 3, 6, 7, 10, 11, 14, 15,
                                          0, 1, 4, 5, 8, 9, 12, 13, 2, 3, 6, 7, 10, 11, 14, 15);
    for (int q = 0; q < panels; q++) {
        const int8_t *source = panel + (size_t)q * groups * 64;
        for (int g = 0; g < groups; g++) {
            for (int h = 0; h < 2; h++) {
                __m256i codes = _mm256_loadu_si256((const __m256i *)(source + (size_t)g * 64 + 32 * h));
                __m256i pairs = _mm256_permute4x64_epi64(_mm256_shuffle_epi8(codes, pick), _MM_SHUFFLE(3, 1, 2, 0));
                int c = 2 * q + h;
                _mm256_store_si256((__m256i *)(out + ((size_t)(2 * g) * 4 + c) * 16), _mm256_cvtepi8_epi16(_mm256_castsi256_si128(pairs)));
                _mm256_store_si256((__m256i *)(out + ((size_t)(2 * g + 1) * 4 + c) * 16), _mm256_cvtepi8_epi16(_mm256_extracti128_si256(pairs, 1)));
            }
        }
    }
}

AVX2 __attribute__((always_inline)) static inline void avx2_exact_tile(int kind, const uint8_t *a, int lda, const int16_t *wide_a, int width,
                                                                      int rows, const int8_t *panel, const int16_t *wide_w, int groups,
                                                                      int panels, int i, int col, int n1, const int32_t *sums,
                                                                      const qk_epilogue *e) {
    __m256i acc[MR_SIGN][2 * QK_GEMV_PANELS];
    for (int r = 0; r < MR_SIGN; r++) for (int c = 0; c < 2 * QK_GEMV_PANELS; c++) acc[r][c] = _mm256_setzero_si256();
    prefetch_epilogue(e, i, rows, col, panels);
    tile_dot(kind, a, lda, wide_a, width, rows, panel, wide_w, groups, panels, 0, groups, acc);
    for (int c = 0; c < 2 * panels; c++) {
        int j = col + 8 * c, valid = n1 - j;
        if (valid <= 0) break;
        __m256i offset = kind != QK_SIGN ? _mm256_setzero_si256() : _mm256_slli_epi32(_mm256_loadu_si256((const __m256i *)(sums + j)), 7);
        for (int r = 0; r < rows; r++) store8(e, i + r, j, _mm256_add_epi32(acc[r][c], offset), valid < 8 ? valid : 8);
    }
}

/// Mode 3 (activations in blocks of QK_BLOCK) on the exact int32 partial sums of tile_dot, from which mode 3's
/// t_b = sum (a - 128) w: per block, two fused multiply-adds per accumulator, S_b t_b and S_b (128 + Z_b) W_b,
/// the operations of qk_gemm_blocks_generic in the same order. Measured on Zen 3 against 1-panel tiles and an
/// integer zero-point correction (vpmulld per accumulator and block), both slower.
__attribute__((target("avx2,fma"), always_inline)) static inline void avx2_exact_blocks_tile(int kind, const uint8_t *a, int lda,
                                                                                  const int16_t *wide_a, int width, int rows,
                                                                                  const int8_t *panel, const int16_t *wide_w, int groups,
                                                                                  int panels, int i, int col, int n1, const qk_epilogue *e) {
    int blocks = groups / (QK_BLOCK / 4);
    const int16_t *sums = e->block_sums + (size_t)(col / QK_PANEL) * blocks * QK_PANEL;
    __m256 total[MR_SIGN][2 * QK_GEMV_PANELS];
    for (int r = 0; r < MR_SIGN; r++) for (int c = 0; c < 2 * QK_GEMV_PANELS; c++) total[r][c] = _mm256_setzero_ps();
    prefetch_epilogue(e, i, rows, col, panels);
    for (int b = 0; b < blocks; b++) {
        __m256i acc[MR_SIGN][2 * QK_GEMV_PANELS];
        for (int r = 0; r < MR_SIGN; r++) for (int c = 0; c < 2 * QK_GEMV_PANELS; c++) acc[r][c] = _mm256_setzero_si256();
        tile_dot(kind, a, lda, wide_a, width, rows, panel, wide_w, groups, panels, b * (QK_BLOCK / 4), (b + 1) * (QK_BLOCK / 4), acc);
        __m256 weight_sum[2 * QK_GEMV_PANELS];
        for (int c = 0; c < 2 * panels; c++) {
            const int16_t *at = sums + ((size_t)(c / 2) * blocks + b) * QK_PANEL + (c % 2) * 8;
            __m256i w_b = _mm256_cvtepi16_epi32(_mm_loadu_si128((const __m128i *)at));
            weight_sum[c] = _mm256_cvtepi32_ps(w_b);
            // sum_k a w less 128 W_b: mode 3's exact t_b = sum_k (a - 128) w.
            if (kind != QK_SIGN) for (int r = 0; r < rows; r++) acc[r][c] = _mm256_sub_epi32(acc[r][c], _mm256_slli_epi32(w_b, 7));
        }
        for (int r = 0; r < rows; r++) {
            size_t rb = (size_t)(i + r) * blocks + b;
            __m256 scale = _mm256_set1_ps(e->a_scale[rb]), offset = _mm256_set1_ps(e->a_scale[rb] * (float)(128 + e->a_zero[rb]));
            for (int c = 0; c < 2 * panels; c++) {
                total[r][c] = _mm256_fmadd_ps(scale, _mm256_cvtepi32_ps(acc[r][c]), total[r][c]);
                total[r][c] = _mm256_fmadd_ps(offset, weight_sum[c], total[r][c]);
            }
        }
    }
    for (int c = 0; c < 2 * panels; c++) {
        int j = col + 8 * c, valid = n1 - j;
        if (valid <= 0) break;
        for (int r = 0; r < rows; r++) {
            if (valid >= 8) {
                store8_f32(e, i + r, j, _mm256_mul_ps(_mm256_loadu_ps(e->w_scale + j), total[r][c]));
                continue;
            }
            float lanes[8];
            _mm256_storeu_ps(lanes, total[r][c]);
            for (int t = 0; t < valid; t++) e->c_f32[(size_t)(i + r) * e->ldc + j + t] = finish_float(e, i + r, j + t, e->w_scale[j + t] * lanes[t]);
        }
    }
}

/// The loops of the multi-panel kernels: blocks of MB rows (in L2), groups of WIDTH panels in [n0, n1) (the last
/// may have fewer), then TILES, which runs the row tiles of rows [i0, i1) of the group at `panel`; BLOCK_START
/// runs first in each block of rows, GROUP_START first for each group of panels.
/// A 512-bit VNNI GEMV (one row, decoding) takes one panel at a time (QK_GEMV_WIDTH): each thread then reads its
/// weights as one sequential stream, which Zen 4's prefetchers keep near the DRAM read rate. Measured on Zen 4 (2
/// threads, the int8 GEMVs of a SmolLM2 token, 135 MB): AVX2's sign trick 130-145 tokens/s on 2 panels, 182-193 on
/// one; 512-bit VNNI 160-185 on 4 panels, 199-205 on one. The AVX2 GEMV takes qk_avx2_gemv_panels() (kernels.h):
/// on Zen 3 one stream per thread stays far below the read rate.
#define QK_GEMV_WIDTH(WIDTH) (m == 1 ? 1 : (WIDTH))
#define QK_FOR_PANELS(WIDTH, BLOCK_START, GROUP_START, TILES)                                                    \
    for (int i0 = 0; i0 < m; i0 += MB) {                                                                          \
        int i1 = i0 + MB < m ? i0 + MB : m;                                                                       \
        BLOCK_START                                                                                               \
        for (int col = n0; col < n1; col += (WIDTH) * QK_PANEL) {                                                 \
            const int8_t *panel = packed + (size_t)(col / QK_PANEL) * groups * 64;                                \
            int panels = (n1 - col + QK_PANEL - 1) / QK_PANEL < (WIDTH) ? (n1 - col + QK_PANEL - 1) / QK_PANEL : (WIDTH); \
            GROUP_START                                                                                           \
            TILES                                                                                                 \
        }                                                                                                         \
    }

/// The loops of the sign-trick, direct (small-weight) and wide tiles of `kind`, for the per-row epilogues and for
/// mode 3 (activations in blocks); QK_WIDE needs `wide_a` (MB rows of k_groups(k) * 4 int16) and `wide_w`
/// (k_groups(k) * 128 int16), 32-byte aligned.
__attribute__((target("avx2,fma"))) static void gemm_avx2_tiles(int kind, const uint8_t *a, int m, int k, int lda, const int8_t *packed,
                                                               int n, int n0, int n1, int16_t *wide_a, int16_t *wide_w, const qk_epilogue *e) {
    int groups = k_groups(k), width = 4 * groups, blocks = e->mode == 3;
    const int32_t *sums = column_sums(packed, n, k);
#define QK_AVX2_TILE(KIND, ROWS, PANELS)                                                                                       \
    if (blocks) avx2_exact_blocks_tile(KIND, a + (size_t)i * lda, lda, wide_a + (size_t)(i - i0) * width, width, ROWS, panel,  \
                                      wide_w, groups, PANELS, i, col, n1, e);                                                  \
    else avx2_exact_tile(KIND, a + (size_t)i * lda, lda, wide_a + (size_t)(i - i0) * width, width, ROWS, panel, wide_w, groups,  \
                        PANELS, i, col, n1, sums, e);
#define QK_AVX2_PANELS(KIND, ROWS)                                                                                             \
    if (panels == 2) { QK_AVX2_TILE(KIND, ROWS, 2) }                                                                           \
    else if (ROWS == 1 && KIND != QK_WIDE && panels == 4) { QK_AVX2_TILE(KIND, 1, 4) }                                         \
    else if (ROWS == 1 && KIND != QK_WIDE && panels == 3) { QK_AVX2_TILE(KIND, 1, 3) }                                         \
    else { QK_AVX2_TILE(KIND, ROWS, 1) }
#define QK_AVX2_ROWS(KIND, MR)                                                                                                 \
    for (; i + MR <= i1; i += MR) { QK_AVX2_PANELS(KIND, MR) }                                                                 \
    if (i1 - i == 2) { QK_AVX2_PANELS(KIND, 2) } else if (i1 - i == 1) { QK_AVX2_PANELS(KIND, 1) }
    QK_FOR_PANELS(m == 1 ? qk_avx2_gemv_panels() : 2, if (kind == QK_WIDE) widen_rows(a + (size_t)i0 * lda, lda, i1 - i0, width, wide_a);,
                            if (kind == QK_WIDE) widen_panels(panel, groups, panels, wide_w);, {
        int i = i0;
        if (kind == QK_WIDE) { QK_AVX2_ROWS(QK_WIDE, MR_SIGN) }
        else if (kind == QK_DIRECT) { QK_AVX2_ROWS(QK_DIRECT, MR_SIGN) }
        else { QK_AVX2_ROWS(QK_SIGN, MR_SIGN) }
    })
#undef QK_AVX2_ROWS
#undef QK_AVX2_PANELS
#undef QK_AVX2_TILE
}

/// The exact AVX2 GEMM of any weights, for the per-row epilogues and mode 3: the direct tile for small weights;
/// else the wide tile where there are QK_WIDE_MIN_ROWS rows or more; else the sign trick for narrow-range weights
/// and `fallback` (the nibble split, or the portable kernel for mode 3) for the rest.
AVX2 static void gemm_avx2_exact(const uint8_t *a, int m, int k, int lda, const int8_t *packed, int n, int n0, int n1,
                                 const qk_epilogue *e, qk_gemm_kernel fallback) {
    if (small_weights(packed, n, k)) {
        gemm_avx2_tiles(QK_DIRECT, a, m, k, lda, packed, n, n0, n1, NULL, NULL, e);
        return;
    }
    size_t width = 4 * (size_t)k_groups(k), rows_bytes = (size_t)MB * width * 2, panel_bytes = width * 64;
    int16_t *wide = m >= QK_WIDE_MIN_ROWS ? aligned_alloc(32, rows_bytes + panel_bytes) : NULL;
    if (wide) {
        gemm_avx2_tiles(QK_WIDE, a, m, k, lda, packed, n, n0, n1, wide, wide + rows_bytes / 2, e);
        free(wide);
    } else if (narrow_range(packed, n, k)) {
        gemm_avx2_tiles(QK_SIGN, a, m, k, lda, packed, n, n0, n1, NULL, NULL, e);
    } else {
        fallback(a, m, k, lda, packed, n, n0, n1, e);
    }
}

// AVX-512 VNNI on 512-bit registers: one 64-byte weight group is a whole panel (16 columns x 4 k) in one
// zmm, so a register tile of MR512 = 6 rows x 4 panels (24 accumulators) needs 4 weight loads and 6 broadcasts
// per 24 vpdpbusd (Zen 4, 2048x1920x1920: 0.90-0.94x oneDNN's u8s8f32 with 12 rows x 2 panels, whose 14 loads per
// 24 products were the difference; 0.99x with this tile).
#define VNNI512 __attribute__((target("avx2,fma,avx512f,avx512bw,avx512vl,avx512vnni")))

/// acc[r][p] = the products of k groups [g0, g1) (g0 < g1) of row r of A (r < rows <= max_rows) and panel p of
/// the `panels` (<= 4) consecutive panels at `panel`: per group, one load per panel, one broadcast of the row's 4
/// bytes, one vpdpbusd per panel. The first group sets acc rather than adding to it, so that the caller's array
/// needs no zeroing (which the compiler turns into a memset call per tile).
VNNI512 __attribute__((always_inline)) static inline void vnni512_dot(const uint8_t *a, int lda, int max_rows, int rows, const int8_t *panel,
                                                                     int groups, int panels, int g0, int g1, __m512i (*acc)[4]) {
    const size_t panel_stride = (size_t)groups * 64;
#define QK_VNNI512_GROUP(FIRST)                                                                                  \
    __m512i w[4];                                                                                                \
    for (int p = 0; p < panels; p++) w[p] = _mm512_loadu_si512(panel + p * panel_stride + (size_t)g * 64);     \
    for (int r = 0; r < max_rows; r++) {                                                                         \
        if (r < rows) {                                                                                          \
            int32_t bytes;                                                                                       \
            memcpy(&bytes, a + (size_t)r * lda + 4 * (size_t)g, 4);                                              \
            __m512i av = _mm512_set1_epi32(bytes);                                                               \
            for (int p = 0; p < panels; p++) acc[r][p] = _mm512_dpbusd_epi32(FIRST ? _mm512_setzero_si512() : acc[r][p], av, w[p]); \
        }                                                                                                        \
    }
    { int g = g0; QK_VNNI512_GROUP(1) }
    for (int g = g0 + 1; g < g1; g++) { QK_VNNI512_GROUP(0) }
#undef QK_VNNI512_GROUP
}

/// store8_f32 on 16 columns.
VNNI512 __attribute__((always_inline)) static inline void store16_f32(const qk_epilogue *e, int i, int j, __m512 y) {
    if (e->bias) y = _mm512_add_ps(y, _mm512_loadu_ps(e->bias + j));
    y = activate16(e->activation, y);
    if (e->residual) y = _mm512_add_ps(y, _mm512_loadu_ps(e->residual + (size_t)i * e->ldc + j));
    _mm512_storeu_ps(e->c_f32 + (size_t)i * e->ldc + j, y);
}

/// store8 on the 16 accumulators of row i, columns j..j+15 (`valid` of them inside C): modes 0 and 1 at 16 lanes,
/// the rest through store8 on each half.
VNNI512 __attribute__((always_inline)) static inline void store16(const qk_epilogue *e, int i, int j, __m512i acc, int valid) {
    if (valid < 16 || e->mode == 2) {
        store8(e, i, j, _mm512_castsi512_si256(acc), valid < 8 ? valid : 8);
        if (valid > 8) store8(e, i, j + 8, _mm512_extracti64x4_epi64(acc, 1), valid - 8 < 8 ? valid - 8 : 8);
        return;
    }
    if (e->a_zero && e->w_sum) acc = _mm512_add_epi32(acc, _mm512_mullo_epi32(_mm512_set1_epi32(e->a_zero[i]), _mm512_loadu_si512(e->w_sum + j)));
    if (e->mode == 0) {
        _mm512_storeu_si512(e->c_i32 + (size_t)i * e->ldc + j, acc);
        return;
    }
    __m512 scale = _mm512_mul_ps(_mm512_set1_ps(e->a_scale[i]), _mm512_loadu_ps(e->w_scale + j));
    store16_f32(e, i, j, _mm512_mul_ps(scale, _mm512_cvtepi32_ps(acc)));
}

VNNI512 __attribute__((always_inline)) static inline void gemm_vnni512_tile(const uint8_t *a, int lda, int rows, const int8_t *panel, int groups, int panels,
                                              int i, int col, int n1, const qk_epilogue *e) {
    __m512i acc[MR512][4];
    prefetch_epilogue(e, i, rows, col, panels);
    vnni512_dot(a, lda, MR512, rows, panel, groups, panels, 0, groups, acc);
    for (int r = 0; r < rows; r++) {
        for (int p = 0; p < panels; p++) {
            int j = col + QK_PANEL * p;
            if (j < n1) store16(e, i + r, j, acc[r][p], n1 - j);
        }
    }
}

/// Rows [i0, i1) of the `panels` panels at `panel` in tiles of MAX (<= 6) rows, then one tile of the rows left,
/// each through TILE with a constant row count and panel count (QK_PANEL_COUNTS: 2 or 4 at most), so that the
/// tile's accumulators stay in registers.
#define QK_UP_TO_2_PANELS(TILE, ROWS)                                                                     \
    if (panels == 2) TILE(a + (size_t)i * lda, lda, ROWS, panel, groups, 2, i, col, n1, e);                 \
    else TILE(a + (size_t)i * lda, lda, ROWS, panel, groups, 1, i, col, n1, e);
#define QK_UP_TO_4_PANELS(TILE, ROWS)                                                                     \
    if (panels == 4) TILE(a + (size_t)i * lda, lda, ROWS, panel, groups, 4, i, col, n1, e);                 \
    else if (panels == 3) TILE(a + (size_t)i * lda, lda, ROWS, panel, groups, 3, i, col, n1, e);            \
    else { QK_UP_TO_2_PANELS(TILE, ROWS) }
#define QK_ROW_TILES(TILE, MAX, QK_PANEL_COUNTS)                                                          \
    int i = i0;                                                                                           \
    for (; i + (MAX) <= i1; i += (MAX)) { QK_PANEL_COUNTS(TILE, MAX) }                                    \
    switch (i1 - i) {                                                                                     \
    case 5: { QK_PANEL_COUNTS(TILE, 5) } break;                                                           \
    case 4: { QK_PANEL_COUNTS(TILE, 4) } break;                                                           \
    case 3: { QK_PANEL_COUNTS(TILE, 3) } break;                                                           \
    case 2: { QK_PANEL_COUNTS(TILE, 2) } break;                                                           \
    case 1: { QK_PANEL_COUNTS(TILE, 1) } break;                                                           \
    default: break;                                                                                       \
    }

VNNI512 static void gemm_vnni512(const uint8_t *a, int m, int k, int lda, const int8_t *packed, int n, int n0, int n1,
                                const qk_epilogue *e) {
    (void)n;
    int groups = k_groups(k);
    QK_FOR_PANELS(QK_GEMV_WIDTH(4), , , { QK_ROW_TILES(gemm_vnni512_tile, MR512, QK_UP_TO_4_PANELS) })
}

/// Mode 3 (activations in blocks of QK_BLOCK) on 512-bit VNNI: per block, vpdpbusd's exact sum_k a w less 128 W_b
/// is mode 3's t_b = sum_k (a - 128) w, then the two fused multiply-adds of qk_gemm_blocks_generic, S_b t_b and
/// S_b (128 + Z_b) W_b, in the same order. A tile of MR512_BLOCKS rows x 2 panels holds its int32 block sums
/// and its float totals in registers (24 zmm).
enum { MR512_BLOCKS = 6 };

VNNI512 __attribute__((always_inline)) static inline void gemm_vnni512_blocks_tile(const uint8_t *a, int lda, int rows, const int8_t *panel,
                                                                                  int groups, int panels, int i, int col, int n1,
                                                                                  const qk_epilogue *e) {
    int blocks = groups / (QK_BLOCK / 4);
    const int16_t *sums = e->block_sums + (size_t)(col / QK_PANEL) * blocks * QK_PANEL;
    __m512 total[MR512_BLOCKS][2];
    for (int r = 0; r < MR512_BLOCKS; r++) total[r][0] = total[r][1] = _mm512_setzero_ps();
    prefetch_epilogue(e, i, rows, col, panels);
    for (int b = 0; b < blocks; b++) {
        __m512i acc[MR512_BLOCKS][4];
        vnni512_dot(a, lda, MR512_BLOCKS, rows, panel, groups, panels, b * (QK_BLOCK / 4), (b + 1) * (QK_BLOCK / 4), acc);
        __m512i w_b[2];
        __m512 weight_sum[2];
        for (int p = 0; p < panels; p++) {
            w_b[p] = _mm512_cvtepi16_epi32(_mm256_loadu_si256((const __m256i *)(sums + ((size_t)p * blocks + b) * QK_PANEL)));
            weight_sum[p] = _mm512_cvtepi32_ps(w_b[p]);
            w_b[p] = _mm512_slli_epi32(w_b[p], 7);
        }
        for (int r = 0; r < rows; r++) {
            size_t rb = (size_t)(i + r) * blocks + b;
            __m512 scale = _mm512_set1_ps(e->a_scale[rb]), offset = _mm512_set1_ps(e->a_scale[rb] * (float)(128 + e->a_zero[rb]));
            for (int p = 0; p < panels; p++) {
                __m512 t = _mm512_cvtepi32_ps(_mm512_sub_epi32(acc[r][p], w_b[p]));
                total[r][p] = _mm512_fmadd_ps(offset, weight_sum[p], _mm512_fmadd_ps(scale, t, total[r][p]));
            }
        }
    }
    for (int r = 0; r < rows; r++) {
        for (int p = 0; p < panels; p++) {
            int j = col + QK_PANEL * p, valid = n1 - j;
            if (valid >= QK_PANEL) {
                store16_f32(e, i + r, j, _mm512_mul_ps(_mm512_loadu_ps(e->w_scale + j), total[r][p]));
                continue;
            }
            float lanes[QK_PANEL];
            _mm512_storeu_ps(lanes, total[r][p]);
            for (int t = 0; t < valid; t++) e->c_f32[(size_t)(i + r) * e->ldc + j + t] = finish_float(e, i + r, j + t, e->w_scale[j + t] * lanes[t]);
        }
    }
}

VNNI512 static void gemm_blocks_vnni512(const uint8_t *a, int m, int k, int lda, const int8_t *packed, int n, int n0, int n1,
                                       const qk_epilogue *e) {
    (void)n;
    int groups = k_groups(k);
    QK_FOR_PANELS(QK_GEMV_WIDTH(2), , , { QK_ROW_TILES(gemm_vnni512_blocks_tile, MR512_BLOCKS, QK_UP_TO_2_PANELS) })
}

/// AVX2's GEMM and mode 3 (also the 256-bit VNNI row's mode 3): gemm_avx2_exact, with the nibble split or the
/// portable kernel for a GEMV of full-range weights.
AVX2 static void gemm_avx2_any(const uint8_t *a, int m, int k, int lda, const int8_t *packed, int n, int n0, int n1,
                               const qk_epilogue *e) {
    gemm_avx2_exact(a, m, k, lda, packed, n, n0, n1, e, gemm_avx2);
}
AVX2 static void gemm_blocks_avx2_any(const uint8_t *a, int m, int k, int lda, const int8_t *packed, int n, int n0, int n1,
                                      const qk_epilogue *e) {
    gemm_avx2_exact(a, m, k, lda, packed, n, n0, n1, e, qk_gemm_blocks_generic);
}

AVX2 static inline __m256 input8(const float *row, const float *column_scale, int c) {
    __m256 v = _mm256_loadu_ps(row + c);
    return column_scale ? _mm256_mul_ps(v, _mm256_loadu_ps(column_scale + c)) : v;
}

/// The codes of the 32 inputs from column c0 (qk_code_u8 lane by lane: t = x / S clamped to [Z, 255 + Z],
/// rounded half to even by the 1.5 * 2^23 trick, less Z), packed to 32 bytes.
AVX2 static inline __m256i codes32(const float *row, const float *column_scale, int c0, __m256 inverse8, __m256 zero8, __m256 upper8) {
    const __m256 magic = _mm256_set1_ps(12582912.0f);
    __m256i codes[4];
    for (int q = 0; q < 4; q++) {
        __m256 t = _mm256_min_ps(_mm256_max_ps(_mm256_mul_ps(input8(row, column_scale, c0 + 8 * q), inverse8), zero8), upper8);
        codes[q] = _mm256_cvttps_epi32(_mm256_sub_ps(_mm256_sub_ps(_mm256_add_ps(t, magic), magic), zero8));
    }
    // Codes lie in [0, 255]: two saturating packs, then undo their per-128-bit-lane interleave.
    __m256i words = _mm256_packs_epi32(codes[0], codes[1]), words2 = _mm256_packs_epi32(codes[2], codes[3]);
    return _mm256_permutevar8x32_epi32(_mm256_packus_epi16(words, words2), _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7));
}

AVX2 static void quantize_row_avx2(const float *row, int k, const float *column_scale, uint8_t *out, float *scale, int32_t *zero_point) {
    __m256 lo8 = _mm256_setzero_ps(), hi8 = _mm256_setzero_ps();
    int c = 0;
    for (; c + 8 <= k; c += 8) {
        __m256 v = input8(row, column_scale, c);
        lo8 = _mm256_min_ps(v, lo8);   // v < lo ? v : lo, as the scalar loop
        hi8 = _mm256_max_ps(v, hi8);
    }
    float lanes_lo[8], lanes_hi[8], lo = 0, hi = 0;
    _mm256_storeu_ps(lanes_lo, lo8);
    _mm256_storeu_ps(lanes_hi, hi8);
    for (int l = 0; l < 8; l++) { lo = lanes_lo[l] < lo ? lanes_lo[l] : lo; hi = lanes_hi[l] > hi ? lanes_hi[l] : hi; }
    widen_range(row, column_scale, c, k, &lo, &hi);
    float z;
    qk_row_parameters(lo, hi, scale, &z);
    float inverse = 1 / *scale;
    __m256 inverse8 = _mm256_set1_ps(inverse), zero8 = _mm256_set1_ps(z), upper8 = _mm256_set1_ps(255 + z);
    __m256 magic = _mm256_set1_ps(12582912.0f);
    for (c = 0; c + QK_BLOCK <= k; c += QK_BLOCK) _mm256_storeu_si256((__m256i *)(out + c), codes32(row, column_scale, c, inverse8, zero8, upper8));
    for (; c + 8 <= k; c += 8) {
        __m256 t = _mm256_mul_ps(input8(row, column_scale, c), inverse8);
        t = _mm256_min_ps(_mm256_max_ps(t, zero8), upper8);
        __m256 code = _mm256_sub_ps(_mm256_sub_ps(_mm256_add_ps(t, magic), magic), zero8);
        int32_t codes[8];
        _mm256_storeu_si256((__m256i *)codes, _mm256_cvttps_epi32(code));
        for (int l = 0; l < 8; l++) out[c + l] = (uint8_t)codes[l];
    }
    for (; c < k; c++) out[c] = qk_code_u8(row_input(row, column_scale, c), inverse, z);
    *zero_point = (int32_t)z;
}

/// The minimum (is_max = 0) or maximum of the 8 lanes of v (order-free, so equal to the scalar loop's).
AVX2 static inline float reduce8(__m256 v, int is_max) {
    __m128 x = _mm_max_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    if (!is_max) x = _mm_min_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    __m128 y = is_max ? _mm_max_ps(x, _mm_movehl_ps(x, x)) : _mm_min_ps(x, _mm_movehl_ps(x, x));
    y = is_max ? _mm_max_ss(y, _mm_shuffle_ps(y, y, 1)) : _mm_min_ss(y, _mm_shuffle_ps(y, y, 1));
    return _mm_cvtss_f32(y);
}

/// qk_quantize_rows_u8_blocks' row: each block of QK_BLOCK = 4 vectors quantized in registers (range reduced
/// across lanes, codes packed to bytes), the float operations of qk_quantize_row_generic on each block.
AVX2 static void quantize_blocks_avx2(const float *row, int k, const float *column_scale, uint8_t *out, float *scales, int32_t *zero_points) {
    for (int b = 0; b < k / QK_BLOCK; b++) {
        int c0 = b * QK_BLOCK;
        __m256 v[4], lo8 = _mm256_setzero_ps(), hi8 = _mm256_setzero_ps();
        for (int q = 0; q < 4; q++) {
            v[q] = input8(row, column_scale, c0 + 8 * q);
            lo8 = _mm256_min_ps(v[q], lo8);
            hi8 = _mm256_max_ps(v[q], hi8);
        }
        float z;
        qk_row_parameters(reduce8(lo8, 0), reduce8(hi8, 1), scales + b, &z);
        __m256 inverse8 = _mm256_set1_ps(1 / scales[b]), zero8 = _mm256_set1_ps(z), upper8 = _mm256_set1_ps(255 + z);
        _mm256_storeu_si256((__m256i *)(out + c0), codes32(row, column_scale, c0, inverse8, zero8, upper8));
        zero_points[b] = (int32_t)z;
    }
}

AVX2 static void activate_avx2(int activation, float *x, size_t n) {
    size_t i = 0;
    for (; i + 8 <= n; i += 8) {
        _mm256_storeu_ps(x + i, activate8(activation, _mm256_loadu_ps(x + i)));
    }
    for (; i < n; i++) x[i] = activation == QK_ACTIVATION_GELU ? qk_gelu(x[i]) : qk_silu(x[i]);
}

AVX2 static void silu_multiply_avx2(float *gate, const float *up, size_t n) {
    size_t i = 0;
    for (; i + 8 <= n; i += 8) _mm256_storeu_ps(gate + i, _mm256_mul_ps(silu8(_mm256_loadu_ps(gate + i)), _mm256_loadu_ps(up + i)));
    for (; i < n; i++) gate[i] = qk_silu(gate[i]) * up[i];
}

/// e^(p[i] - max) in place; returns the sum (8 partial sums, then lane order).
AVX2 static float exponentiate_avx2(float *p, int count, float maximum) {
    __m256 m = _mm256_set1_ps(maximum), sums = _mm256_setzero_ps();
    int i = 0;
    for (; i + 8 <= count; i += 8) {
        __m256 e = exp8(_mm256_sub_ps(_mm256_loadu_ps(p + i), m));
        _mm256_storeu_ps(p + i, e);
        sums = _mm256_add_ps(sums, e);
    }
    float lanes[8], sum = 0;
    _mm256_storeu_ps(lanes, sums);
    for (int l = 0; l < 8; l++) sum += lanes[l];
    for (; i < count; i++) { p[i] = qk_exp(p[i] - maximum); sum += p[i]; }
    return sum;
}

/// The element-wise kernels at 16 lanes (AVX-512), for the 512-bit VNNI row: the same bits as the AVX2 ones.
AVX512 static void activate_avx512(int activation, float *x, size_t n) {
    size_t i = 0;
    for (; i + 16 <= n; i += 16) _mm512_storeu_ps(x + i, activate16(activation, _mm512_loadu_ps(x + i)));
    activate_avx2(activation, x + i, n - i);
}

AVX512 static void silu_multiply_avx512(float *gate, const float *up, size_t n) {
    size_t i = 0;
    for (; i + 16 <= n; i += 16) _mm512_storeu_ps(gate + i, _mm512_mul_ps(silu16(_mm512_loadu_ps(gate + i)), _mm512_loadu_ps(up + i)));
    silu_multiply_avx2(gate + i, up + i, n - i);
}

/// exponentiate_avx2 with 16 exponentials per step; the sum still runs in exponentiate_avx2's 8 partial sums and
/// order (each lane l < 8 adds element i + l, then i + 8 + l).
AVX512 static float exponentiate_avx512(float *p, int count, float maximum) {
    __m512 m = _mm512_set1_ps(maximum);
    __m256 sums = _mm256_setzero_ps();
    int i = 0;
    for (; i + 16 <= count; i += 16) {
        __m512 e = exp16(_mm512_sub_ps(_mm512_loadu_ps(p + i), m));
        _mm512_storeu_ps(p + i, e);
        sums = _mm256_add_ps(_mm256_add_ps(sums, _mm512_castps512_ps256(e)), _mm256_castpd_ps(_mm512_extractf64x4_pd(_mm512_castps_pd(e), 1)));
    }
    if (i + 8 <= count) {
        __m256 e = exp8(_mm256_sub_ps(_mm256_loadu_ps(p + i), _mm256_set1_ps(maximum)));
        _mm256_storeu_ps(p + i, e);
        sums = _mm256_add_ps(sums, e);
        i += 8;
    }
    float lanes[8], sum = 0;
    _mm256_storeu_ps(lanes, sums);
    for (int l = 0; l < 8; l++) sum += lanes[l];
    for (; i < count; i++) { p[i] = qk_exp(p[i] - maximum); sum += p[i]; }
    return sum;
}

/// qk_gemv_f32 on AVX2: 16 lanes per row in two ymm registers, folded by the tree of sum_lanes: the portable row's
/// operations in the same order. While x fits a quarter of L1 (k <= QK_GEMV_ONE_ROW_K) one row at a time, so
/// that each thread reads one sequential stream, which the prefetchers keep near the DRAM read rate; longer
/// rows 4 at a time, so that x (which no longer stays in L1 beside the stream) is loaded once for 4 rows.
/// Measured on Zen 4 (2 threads, 113 MB of weights): k = 576, one row 95% of a plain read, 4 rows 65-70%;
/// k = 8192, one row 74%, 4 rows 94%.
enum { QK_GEMV_ONE_ROW_K = 2048 };

AVX2 static inline float reduce_lanes(__m256 low, __m256 high) {
    __m256 s8 = _mm256_add_ps(low, high);
    __m128 s4 = _mm_add_ps(_mm256_castps256_ps128(s8), _mm256_extractf128_ps(s8, 1));
    __m128 s2 = _mm_add_ps(s4, _mm_movehl_ps(s4, s4));
    return _mm_cvtss_f32(_mm_add_ss(s2, _mm_shuffle_ps(s2, s2, 1)));
}

/// Rows [j, j + ROWS) of qk_gemv_f32.
__attribute__((target("avx2,fma"), always_inline)) static inline void gemv_f32_rows(const float *w, int j, int ROWS, int k, const float *x,
                                                                                  float *y, int accumulate) {
    int body = k / QK_DOT_LANES * QK_DOT_LANES;
    __m256 acc[4][2];
    for (int r = 0; r < ROWS; r++) acc[r][0] = acc[r][1] = _mm256_setzero_ps();
    for (int c = 0; c < body; c += QK_DOT_LANES) {
        __m256 x0 = _mm256_loadu_ps(x + c), x1 = _mm256_loadu_ps(x + c + 8);
        for (int r = 0; r < ROWS; r++) {
            const float *row = w + (size_t)(j + r) * k + c;
            acc[r][0] = _mm256_fmadd_ps(_mm256_loadu_ps(row), x0, acc[r][0]);
            acc[r][1] = _mm256_fmadd_ps(_mm256_loadu_ps(row + 8), x1, acc[r][1]);
        }
    }
    for (int r = 0; r < ROWS; r++) {
        const float *row = w + (size_t)(j + r) * k;
        float s = reduce_lanes(acc[r][0], acc[r][1]);
        for (int c = body; c < k; c++) s = fmaf(row[c], x[c], s);
        finish_dot(y + j + r, s, accumulate);
    }
}

__attribute__((target("avx2,fma"))) static void gemv_f32_avx2(const float *w, int rows, int k, const float *x, float *y, int accumulate) {
    int j = 0;
    if (k > QK_GEMV_ONE_ROW_K) for (; j + 4 <= rows; j += 4) gemv_f32_rows(w, j, 4, k, x, y, accumulate);
    for (; j < rows; j++) gemv_f32_rows(w, j, 1, k, x, y, accumulate);
}

const qk_kernel_table qk_avx2_kernels = { gemm_avx2_any, gemm_blocks_avx2_any, quantize_row_avx2, quantize_blocks_avx2, activate_avx2, silu_multiply_avx2, exponentiate_avx2, gemv_f32_avx2 };
const qk_kernel_table qk_vnni_kernels = { gemm_vnni, gemm_blocks_avx2_any, quantize_row_avx2, quantize_blocks_avx2, activate_avx2, silu_multiply_avx2, exponentiate_avx2, gemv_f32_avx2 };
const qk_kernel_table qk_avxvnni_kernels = { gemm_avxvnni, gemm_blocks_avx2_any, quantize_row_avx2, quantize_blocks_avx2, activate_avx2, silu_multiply_avx2, exponentiate_avx2, gemv_f32_avx2 };
const qk_kernel_table qk_vnni512_kernels = { gemm_vnni512, gemm_blocks_vnni512, quantize_row_avx2, quantize_blocks_avx2, activate_avx512, silu_multiply_avx512, exponentiate_avx512, gemv_f32_avx2 };

#endif
