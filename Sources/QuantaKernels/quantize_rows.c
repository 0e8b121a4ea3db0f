// Per-row dynamic quantization of activations to UINT8 codes with a zero point, exactly as
// QuantizationParameters (asymmetric) and AffineQuantizer.quantize compute it in Swift. The AVX2 path
// performs the same float operations lane by lane (min/max are order-free), so it gives the same codes.
#pragma STDC FP_CONTRACT OFF
#include "QuantaKernels.h"
#include "simd_math.h"

/// The value quantized: x, times the SmoothQuant input scale when there is one.
static inline float input(const float *row, const float *column_scale, int c) { return column_scale ? row[c] * column_scale[c] : row[c]; }

/// Widens [lo, hi] to hold the inputs of columns [from, to).
static inline void widen_range(const float *row, const float *column_scale, int from, int to, float *lo, float *hi) {
    for (int c = from; c < to; c++) {
        float v = input(row, column_scale, c);
        *lo = v < *lo ? v : *lo;
        *hi = v > *hi ? v : *hi;
    }
}

static void quantize_row_portable(const float *row, int k, const float *column_scale, uint8_t *out, float *scale, int32_t *zero_point) {
    float lo = 0, hi = 0;   // the range always contains zero
    widen_range(row, column_scale, 0, k, &lo, &hi);
    float z;
    qk_row_parameters(lo, hi, scale, &z);
    float inverse = 1 / *scale;
    for (int c = 0; c < k; c++) out[c] = qk_code_u8(input(row, column_scale, c), inverse, z);
    *zero_point = (int32_t)z;
}

#ifdef QK_X86
AVX2 static inline __m256 input8(const float *row, const float *column_scale, int c) {
    __m256 v = _mm256_loadu_ps(row + c);
    return column_scale ? _mm256_mul_ps(v, _mm256_loadu_ps(column_scale + c)) : v;
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
    for (c = 0; c + 8 <= k; c += 8) {
        __m256 t = _mm256_mul_ps(input8(row, column_scale, c), inverse8);
        t = _mm256_min_ps(_mm256_max_ps(t, zero8), upper8);
        __m256 code = _mm256_sub_ps(_mm256_sub_ps(_mm256_add_ps(t, magic), magic), zero8);
        int32_t codes[8];
        _mm256_storeu_si256((__m256i *)codes, _mm256_cvttps_epi32(code));
        for (int l = 0; l < 8; l++) out[c + l] = (uint8_t)codes[l];
    }
    for (; c < k; c++) out[c] = qk_code_u8(input(row, column_scale, c), inverse, z);
    *zero_point = (int32_t)z;
}
#endif

void qk_quantize_rows_u8(const float *x, int m, int k, int ldx, const float *column_scale, uint8_t *codes, int ldq,
                         float *scales, int32_t *zero_points) {
#ifdef QK_X86
    int avx2 = __builtin_cpu_supports("avx2");
#endif
    for (int i = 0; i < m; i++) {
        const float *row = x + (size_t)i * ldx;
        uint8_t *out = codes + (size_t)i * ldq;
#ifdef QK_X86
        if (avx2) { quantize_row_avx2(row, k, column_scale, out, scales + i, zero_points + i); continue; }
#endif
        quantize_row_portable(row, k, column_scale, out, scales + i, zero_points + i);
    }
}

void qk_quantize_rows_static_u8(const float *x, int m, int k, int ldx, const float *column_scale, float inverse,
                                int32_t lower, int32_t upper, int32_t offset, uint8_t *codes, int ldq) {
    for (int i = 0; i < m; i++) {
        const float *row = x + (size_t)i * ldx;
        uint8_t *out = codes + (size_t)i * ldq;
        for (int c = 0; c < k; c++) {
            float t = input(row, column_scale, c) * inverse;
            t = t < (float)lower ? (float)lower : t > (float)upper ? (float)upper : t;
            out[c] = (uint8_t)((int32_t)qk_round_even(t) + offset);
        }
    }
}
