// SIMD forms of the header's scalar float functions (qk_exp, qk_gelu, qk_silu) on 8 lanes (AVX2's __m256)
// and 16 lanes (AVX-512's __m512): the same IEEE operations in the same order, so each lane gives the scalar
// function's bits. Both widths come from one definition (QK_DEFINE_FLOAT_MATH). Private to the kernels.
#ifndef QUANTA_SIMD_MATH_H
#define QUANTA_SIMD_MATH_H
#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#define QK_X86 1
#define AVX2 __attribute__((target("avx2")))
#define AVX512 __attribute__((target("avx2,fma,avx512f,avx512bw,avx512vl")))

// What differs between the widths: sign operations, the select on x < 0, and 2^n from integer bits.
AVX2 static inline __m256 negate8(__m256 x) { return _mm256_xor_ps(x, _mm256_set1_ps(-0.0f)); }
AVX2 static inline __m256 magnitude8(__m256 x) { return _mm256_andnot_ps(_mm256_set1_ps(-0.0f), x); }
/// x < 0 ? negative : otherwise, per lane.
AVX2 static inline __m256 where_negative8(__m256 x, __m256 negative, __m256 otherwise) {
    return _mm256_blendv_ps(otherwise, negative, _mm256_cmp_ps(x, _mm256_setzero_ps(), _CMP_LT_OQ));
}
/// 2^n for integral n in [-127, 128].
AVX2 static inline __m256 power_of_two8(__m256 n) {
    return _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_add_epi32(_mm256_cvtps_epi32(n), _mm256_set1_epi32(127)), 23));
}

AVX512 static inline __m512 negate16(__m512 x) {
    return _mm512_castsi512_ps(_mm512_xor_si512(_mm512_castps_si512(x), _mm512_set1_epi32((int)0x80000000u)));
}
AVX512 static inline __m512 magnitude16(__m512 x) {
    return _mm512_castsi512_ps(_mm512_and_si512(_mm512_castps_si512(x), _mm512_set1_epi32(0x7FFFFFFF)));
}
AVX512 static inline __m512 where_negative16(__m512 x, __m512 negative, __m512 otherwise) {
    return _mm512_mask_blend_ps(_mm512_cmp_ps_mask(x, _mm512_setzero_ps(), _CMP_LT_OQ), otherwise, negative);
}
AVX512 static inline __m512 power_of_two16(__m512 n) {
    return _mm512_castsi512_ps(_mm512_slli_epi32(_mm512_add_epi32(_mm512_cvtps_epi32(n), _mm512_set1_epi32(127)), 23));
}

/// round_evenW, expW (qk_exp), geluW (qk_gelu), siluW (qk_silu) and activateW on W-lane registers of type VF,
/// P the intrinsics' prefix of that width.
#define QK_DEFINE_FLOAT_MATH(W, VF, P, ATTR)                                                                  \
    ATTR static inline VF round_even##W(VF v) {                                                               \
        const VF magic = P##_set1_ps(12582912.0f);                                                            \
        return P##_sub_ps(P##_add_ps(v, magic), magic);                                                       \
    }                                                                                                         \
    ATTR static inline VF exp##W(VF x) {                                                                      \
        x = P##_max_ps(P##_min_ps(x, P##_set1_ps(88.0f)), P##_set1_ps(-87.0f));                               \
        VF n = round_even##W(P##_mul_ps(x, P##_set1_ps(1.44269504088896341f)));                               \
        VF r = P##_sub_ps(x, P##_mul_ps(n, P##_set1_ps(0.693359375f)));                                       \
        r = P##_sub_ps(r, P##_mul_ps(n, P##_set1_ps(-2.12194440e-4f)));                                       \
        VF y = P##_set1_ps(1.9875691500e-4f);                                                                 \
        y = P##_add_ps(P##_mul_ps(y, r), P##_set1_ps(1.3981999507e-3f));                                      \
        y = P##_add_ps(P##_mul_ps(y, r), P##_set1_ps(8.3334519073e-3f));                                      \
        y = P##_add_ps(P##_mul_ps(y, r), P##_set1_ps(4.1665795894e-2f));                                      \
        y = P##_add_ps(P##_mul_ps(y, r), P##_set1_ps(1.6666665459e-1f));                                      \
        y = P##_add_ps(P##_mul_ps(y, r), P##_set1_ps(5.0000001201e-1f));                                      \
        y = P##_add_ps(P##_add_ps(P##_mul_ps(y, P##_mul_ps(r, r)), r), P##_set1_ps(1.0f));                    \
        return P##_mul_ps(y, power_of_two##W(n));                                                             \
    }                                                                                                         \
    ATTR static inline VF gelu##W(VF x) {                                                                     \
        VF z = P##_mul_ps(magnitude##W(x), P##_set1_ps(0.70710678118654752f));                                \
        VF one = P##_set1_ps(1.0f);                                                                           \
        VF t = P##_div_ps(one, P##_add_ps(one, P##_mul_ps(P##_set1_ps(0.3275911f), z)));                      \
        VF p = P##_set1_ps(1.061405429f);                                                                     \
        p = P##_add_ps(P##_mul_ps(p, t), P##_set1_ps(-1.453152027f));                                         \
        p = P##_add_ps(P##_mul_ps(p, t), P##_set1_ps(1.421413741f));                                          \
        p = P##_add_ps(P##_mul_ps(p, t), P##_set1_ps(-0.284496736f));                                         \
        p = P##_add_ps(P##_mul_ps(p, t), P##_set1_ps(0.254829592f));                                          \
        VF q = P##_mul_ps(P##_mul_ps(p, t), exp##W(negate##W(P##_mul_ps(z, z))));                             \
        VF factor = where_negative##W(x, q, P##_sub_ps(P##_set1_ps(2.0f), q));                                \
        return P##_mul_ps(P##_mul_ps(P##_set1_ps(0.5f), x), factor);                                          \
    }                                                                                                         \
    ATTR static inline VF silu##W(VF x) {                                                                     \
        return P##_div_ps(x, P##_add_ps(P##_set1_ps(1.0f), exp##W(negate##W(x))));                           \
    }                                                                                                         \
    /** The activation `activation` (QK_ACTIVATION_*) on W lanes. */                                          \
    ATTR static inline VF activate##W(int activation, VF x) {                                                 \
        return activation == QK_ACTIVATION_GELU ? gelu##W(x) : activation == QK_ACTIVATION_SILU ? silu##W(x) : x; \
    }

QK_DEFINE_FLOAT_MATH(8, __m256, _mm256, AVX2)
QK_DEFINE_FLOAT_MATH(16, __m512, _mm512, AVX512)

#endif
#endif
