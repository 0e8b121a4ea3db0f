// 8-lane AVX2 forms of the header's scalar float functions (qk_exp, qk_gelu, qk_silu): the same IEEE
// operations in the same order, so each lane gives the scalar function's bits. Private to the kernels.
#ifndef QUANTA_SIMD_MATH_H
#define QUANTA_SIMD_MATH_H
#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#define QK_X86 1
#define AVX2 __attribute__((target("avx2")))

AVX2 static inline __m256 round_even8(__m256 v) {
    const __m256 magic = _mm256_set1_ps(12582912.0f);
    return _mm256_sub_ps(_mm256_add_ps(v, magic), magic);
}

/// qk_exp on 8 lanes.
AVX2 static inline __m256 exp8(__m256 x) {
    x = _mm256_max_ps(_mm256_min_ps(x, _mm256_set1_ps(88.0f)), _mm256_set1_ps(-87.0f));
    __m256 n = round_even8(_mm256_mul_ps(x, _mm256_set1_ps(1.44269504088896341f)));
    __m256 r = _mm256_sub_ps(x, _mm256_mul_ps(n, _mm256_set1_ps(0.693359375f)));
    r = _mm256_sub_ps(r, _mm256_mul_ps(n, _mm256_set1_ps(-2.12194440e-4f)));
    __m256 y = _mm256_set1_ps(1.9875691500e-4f);
    y = _mm256_add_ps(_mm256_mul_ps(y, r), _mm256_set1_ps(1.3981999507e-3f));
    y = _mm256_add_ps(_mm256_mul_ps(y, r), _mm256_set1_ps(8.3334519073e-3f));
    y = _mm256_add_ps(_mm256_mul_ps(y, r), _mm256_set1_ps(4.1665795894e-2f));
    y = _mm256_add_ps(_mm256_mul_ps(y, r), _mm256_set1_ps(1.6666665459e-1f));
    y = _mm256_add_ps(_mm256_mul_ps(y, r), _mm256_set1_ps(5.0000001201e-1f));
    y = _mm256_add_ps(_mm256_add_ps(_mm256_mul_ps(y, _mm256_mul_ps(r, r)), r), _mm256_set1_ps(1.0f));
    __m256i bits = _mm256_slli_epi32(_mm256_add_epi32(_mm256_cvtps_epi32(n), _mm256_set1_epi32(127)), 23);
    return _mm256_mul_ps(y, _mm256_castsi256_ps(bits));
}

/// qk_gelu on 8 lanes.
AVX2 static inline __m256 gelu8(__m256 x) {
    __m256 negative = _mm256_cmp_ps(x, _mm256_setzero_ps(), _CMP_LT_OQ);
    __m256 z = _mm256_mul_ps(_mm256_andnot_ps(_mm256_set1_ps(-0.0f), x), _mm256_set1_ps(0.70710678118654752f));
    __m256 one = _mm256_set1_ps(1.0f);
    __m256 t = _mm256_div_ps(one, _mm256_add_ps(one, _mm256_mul_ps(_mm256_set1_ps(0.3275911f), z)));
    __m256 p = _mm256_set1_ps(1.061405429f);
    p = _mm256_add_ps(_mm256_mul_ps(p, t), _mm256_set1_ps(-1.453152027f));
    p = _mm256_add_ps(_mm256_mul_ps(p, t), _mm256_set1_ps(1.421413741f));
    p = _mm256_add_ps(_mm256_mul_ps(p, t), _mm256_set1_ps(-0.284496736f));
    p = _mm256_add_ps(_mm256_mul_ps(p, t), _mm256_set1_ps(0.254829592f));
    __m256 q = _mm256_mul_ps(_mm256_mul_ps(p, t), exp8(_mm256_xor_ps(_mm256_mul_ps(z, z), _mm256_set1_ps(-0.0f))));
    __m256 factor = _mm256_blendv_ps(_mm256_sub_ps(_mm256_set1_ps(2.0f), q), q, negative);
    return _mm256_mul_ps(_mm256_mul_ps(_mm256_set1_ps(0.5f), x), factor);
}

/// qk_silu on 8 lanes.
AVX2 static inline __m256 silu8(__m256 x) {
    __m256 e = exp8(_mm256_xor_ps(x, _mm256_set1_ps(-0.0f)));
    return _mm256_div_ps(x, _mm256_add_ps(_mm256_set1_ps(1.0f), e));
}

/// The activation `activation` (QK_ACTIVATION_*) on 8 lanes.
AVX2 static inline __m256 activate8(int activation, __m256 x) {
    return activation == QK_ACTIVATION_GELU ? gelu8(x) : activation == QK_ACTIVATION_SILU ? silu8(x) : x;
}

#endif
#endif
