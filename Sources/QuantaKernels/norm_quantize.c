// LayerNorm / RMSNorm fused with per-row UINT8 quantization: the normalized row is computed twice (once
// for its range, once for its codes) and never stored, in the float operation order of the Swift modules
// (Normalization.swift), so the codes equal normalize-then-qk_quantize_rows_u8 bit for bit.
#pragma STDC FP_CONTRACT OFF
#include "QuantaKernels.h"

#include <math.h>

/// y_c of a normalized row: RMSNorm x_c * inv * w_c, LayerNorm (x_c - mean) * inv * w_c + b_c.
static inline float normalized(const qk_norm *norm, const float *row, int c, float mean, float inverse) {
    if (norm->kind == QK_NORM_RMS) return row[c] * inverse * norm->weight[c];
    return (row[c] - mean) * inverse * norm->weight[c] + norm->bias[c];
}

void qk_norm_quantize_rows_u8(const qk_norm *norm, const float *x, int m, int k, int ldx, int order, uint8_t *codes, int ldq,
                              float *scales, int32_t *zero_points) {
    for (int i = 0; i < m; i++) {
        const float *row = x + (size_t)i * ldx;
        float mean = 0, inverse;
        if (norm->kind == QK_NORM_RMS) {
            float squares = 0;
            for (int c = 0; c < k; c++) squares += row[c] * row[c];
            inverse = 1 / sqrtf(squares / (float)k + norm->epsilon);
        } else {
            for (int c = 0; c < k; c++) mean += row[c];
            mean /= (float)k;
            float variance = 0;
            for (int c = 0; c < k; c++) variance += (row[c] - mean) * (row[c] - mean);
            inverse = 1 / sqrtf(variance / (float)k + norm->epsilon);
        }
        float lo = 0, hi = 0;
        for (int c = 0; c < k; c++) {
            float v = normalized(norm, row, c, mean, inverse);
            lo = v < lo ? v : lo;
            hi = v > hi ? v : hi;
        }
        float scale, z;
        qk_row_parameters(lo, hi, &scale, &z);
        float inv_scale = 1 / scale;
        for (int c = 0; c < k; c++) {
            size_t at = order == QK_ORDER_COL32 ? qk_col32_offset(i, c, m) : (size_t)i * ldq + c;
            codes[at] = qk_code_u8(normalized(norm, row, c, mean, inverse), inv_scale, z);
        }
        scales[i] = scale;
        zero_points[i] = (int32_t)z;
    }
}
