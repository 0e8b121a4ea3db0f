// Element-wise kernels of the engines: GELU/SiLU, SwiGLU's gate, softmax (FP32 and with UINT8 output).
// The AVX2 paths apply the header's scalar formulas lane by lane with the same operations in the same
// order, so both give the same bits (tested); only softmax's sum runs in 8 partial sums.
#pragma STDC FP_CONTRACT OFF
#include "QuantaKernels.h"

#include "simd_math.h"

#ifdef QK_X86
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

static int has_avx2(void) { return __builtin_cpu_supports("avx2"); }
#else
static int has_avx2(void) { return 0; }
#endif

void qk_activate(int activation, float *x, size_t n) {
    if (activation != QK_ACTIVATION_GELU && activation != QK_ACTIVATION_SILU) return;
#ifdef QK_X86
    if (has_avx2()) { activate_avx2(activation, x, n); return; }
#endif
    for (size_t i = 0; i < n; i++) x[i] = activation == QK_ACTIVATION_GELU ? qk_gelu(x[i]) : qk_silu(x[i]);
}

void qk_silu_multiply(float *gate, const float *up, size_t n) {
#ifdef QK_X86
    if (has_avx2()) { silu_multiply_avx2(gate, up, n); return; }
#endif
    for (size_t i = 0; i < n; i++) gate[i] = qk_silu(gate[i]) * up[i];
}

void qk_softmax(float *p, int count) {
    if (count <= 0) return;
    float maximum = p[0];
    for (int i = 1; i < count; i++) maximum = p[i] > maximum ? p[i] : maximum;
    float sum = 0;
#ifdef QK_X86
    if (has_avx2()) {
        sum = exponentiate_avx2(p, count, maximum);
    } else
#endif
    {
        for (int i = 0; i < count; i++) { p[i] = qk_exp(p[i] - maximum); sum += p[i]; }
    }
    float inverse = 1 / sum;
    for (int i = 0; i < count; i++) p[i] *= inverse;
}

void qk_softmax_u8(float *p, int count, uint8_t *codes) {
    qk_softmax(p, count);
    for (int i = 0; i < count; i++) {
        float code = qk_round_even(p[i] * 255.0f);
        codes[i] = (uint8_t)(code > 255.0f ? 255.0f : code);
    }
}
