// Weight-only products for decoding: FP32 activations times UINT8 (per output channel) or UINT4 (per
// group) weight codes with zero points, dequantized on the fly in registers; the weights stream from
// memory once per block of rows, which is what bounds decoding.
//
//     y[i, j] = sum_g S[j, g] (sum_{k in g} x[i, k] Q[j, k] + Z[j, g] sum_{k in g} x[i, k]) + b[j]
//
// (x~ = S (Q + Z) per group g of `group` columns; the per-channel case is one group of k columns).
#pragma STDC FP_CONTRACT OFF
#include "QuantaKernels.h"

#include <string.h>
#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#define QK_X86 1
#endif

/// The code of weight (j, k): a byte, or a nibble (low nibble first) of the row's packed bytes.
static inline int code_at(const qk_weight_only *w, int j, int k) {
    if (w->bits == 8) return w->codes[(size_t)j * w->k + k];
    uint8_t byte = w->codes[((size_t)j * w->k + k) / 2];
    return k % 2 == 0 ? byte & 15 : byte >> 4;
}

static float dot_portable(const qk_weight_only *w, int j, const float *x, int k0, int k1) {
    float s = 0;
    for (int k = k0; k < k1; k++) s += x[k] * (float)code_at(w, j, k);
    return s;
}

#ifdef QK_X86
/// sum_{k0 <= k < k1} x[k] Q[j, k] with 8 lanes and FMA; k1 - k0 a multiple of 8 (and k0 even for 4 bits).
__attribute__((target("avx2,fma"))) static float dot_avx2(const qk_weight_only *w, int j, const float *x, int k0, int k1) {
    __m256 a0 = _mm256_setzero_ps(), a1 = _mm256_setzero_ps();
    int k = k0;
    if (w->bits == 8) {
        const uint8_t *q = w->codes + (size_t)j * w->k;
        for (; k + 16 <= k1; k += 16) {
            __m128i bytes = _mm_loadu_si128((const __m128i *)(q + k));
            a0 = _mm256_fmadd_ps(_mm256_loadu_ps(x + k), _mm256_cvtepi32_ps(_mm256_cvtepu8_epi32(bytes)), a0);
            a1 = _mm256_fmadd_ps(_mm256_loadu_ps(x + k + 8), _mm256_cvtepi32_ps(_mm256_cvtepu8_epi32(_mm_srli_si128(bytes, 8))), a1);
        }
        for (; k + 8 <= k1; k += 8) {
            __m128i bytes = _mm_loadl_epi64((const __m128i *)(q + k));
            a0 = _mm256_fmadd_ps(_mm256_loadu_ps(x + k), _mm256_cvtepi32_ps(_mm256_cvtepu8_epi32(bytes)), a0);
        }
    } else {
        const uint8_t *q = w->codes + ((size_t)j * w->k) / 2;
        const __m128i low = _mm_set1_epi8(15);
        for (; k + 16 <= k1; k += 16) {
            // 8 bytes hold 16 codes: interleave low and high nibbles back into k order.
            __m128i bytes = _mm_loadl_epi64((const __m128i *)(q + k / 2));
            __m128i codes = _mm_unpacklo_epi8(_mm_and_si128(bytes, low), _mm_and_si128(_mm_srli_epi16(bytes, 4), low));
            a0 = _mm256_fmadd_ps(_mm256_loadu_ps(x + k), _mm256_cvtepi32_ps(_mm256_cvtepu8_epi32(codes)), a0);
            a1 = _mm256_fmadd_ps(_mm256_loadu_ps(x + k + 8), _mm256_cvtepi32_ps(_mm256_cvtepu8_epi32(_mm_srli_si128(codes, 8))), a1);
        }
    }
    __m256 a = _mm256_add_ps(a0, a1);
    __m128 h = _mm_add_ps(_mm256_castps256_ps128(a), _mm256_extractf128_ps(a, 1));
    h = _mm_add_ps(h, _mm_movehl_ps(h, h));
    h = _mm_add_ss(h, _mm_movehdup_ps(h));
    return _mm_cvtss_f32(h) + dot_portable(w, j, x, k, k1);
}
#endif

void qk_gemm_weight_only(int use_simd, const float *x, int m, int ldx, const qk_weight_only *w, const float *bias,
                         float *y, int ldy, int n0, int n1) {
    int group = w->group, groups = (w->k + group - 1) / group;
#ifdef QK_X86
    int simd = use_simd && w->group % 16 == 0 && __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
#else
    int simd = 0;
#endif
    // Blocks of 16 output rows stay in cache while every activation row passes.
    for (int jb = n0; jb < n1; jb += 16) {
        int je = jb + 16 < n1 ? jb + 16 : n1;
        for (int i = 0; i < m; i++) {
            const float *xi = x + (size_t)i * ldx;
            float sums[QK_MAX_GROUPS];   // sum_{k in g} x[i, k], once per row
            for (int g = 0; g < groups; g++) {
                int k0 = g * group, k1 = k0 + group < w->k ? k0 + group : w->k;
                sums[g] = 0;
                for (int k = k0; k < k1; k++) sums[g] += xi[k];
            }
            for (int j = jb; j < je; j++) {
                float total = 0;
                for (int g = 0; g < groups; g++) {
                    int k0 = g * group, k1 = k0 + group < w->k ? k0 + group : w->k;
                    float xs = sums[g];
#ifdef QK_X86
                    float s = simd && (k1 - k0) % 16 == 0 ? dot_avx2(w, j, xi, k0, k1) : dot_portable(w, j, xi, k0, k1);
#else
                    float s = dot_portable(w, j, xi, k0, k1);
#endif
                    size_t p = (size_t)j * groups + g;
                    total += w->scales[p] * (s + w->zero_points[p] * xs);
                }
                y[(size_t)i * ldy + j] = bias ? total + bias[j] : total;
            }
        }
    }
}

void qk_dequantize_weight_only(const qk_weight_only *w, int n0, int n1, float *out) {
    int groups = (w->k + w->group - 1) / w->group;
    for (int j = n0; j < n1; j++) {
        float *row = out + (size_t)(j - n0) * w->k;
        for (int k = 0; k < w->k; k++) {
            size_t p = (size_t)j * groups + k / w->group;
            row[k] = w->scales[p] * ((float)code_at(w, j, k) + w->zero_points[p]);
        }
    }
}
