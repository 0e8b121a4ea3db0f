// LayerNorm / RMSNorm over rows (qk_norm_rows, the Swift modules' kernel), and fused with per-row UINT8
// quantization: the normalized row is computed twice (once for its range, once for its codes) and never
// stored, with the same statistics and operations as qk_norm_rows, so the codes equal
// normalize-then-qk_quantize_rows_u8 bit for bit.
#include "kernels.h"

#include <math.h>

/// y_c of a normalized row: RMSNorm x_c * inv * w_c, LayerNorm (x_c - mean) * inv * w_c + b_c.
static inline float normalized(const qk_norm *norm, const float *row, int c, float mean, float inverse) {
    if (norm->kind == QK_NORM_RMS) return row[c] * inverse * norm->weight[c];
    return (row[c] - mean) * inverse * norm->weight[c] + norm->bias[c];
}

/// sum_c v_c of a row (v = x - center, or its square) in QK_DOT_LANES partial sums (lane l takes c = l mod 16;
/// vectorized by the compiler, every lane independent), folded by sum_lanes, then the remaining terms in order.
static inline float lane_sum(const float *row, int k, float center, int squares) {
    float lanes[QK_DOT_LANES] = { 0 };
    int c = 0;
    for (; c + QK_DOT_LANES <= k; c += QK_DOT_LANES) {
        for (int l = 0; l < QK_DOT_LANES; l++) {
            float v = row[c + l] - center;
            lanes[l] += squares ? v * v : v;
        }
    }
    float sum = sum_lanes(lanes);
    for (; c < k; c++) {
        float v = row[c] - center;
        sum += squares ? v * v : v;
    }
    return sum;
}

/// LayerNorm: mean = sum x / k, inverse = 1 / sqrt(sum (x - mean)^2 / k + eps); RMSNorm: inverse =
/// 1 / sqrt(sum x^2 / k + eps).
static inline void statistics(const qk_norm *norm, const float *row, int k, float *mean, float *inverse) {
    *mean = norm->kind == QK_NORM_RMS ? 0 : lane_sum(row, k, 0, 0) / (float)k;
    *inverse = 1 / sqrtf(lane_sum(row, k, *mean, 1) / (float)k + norm->epsilon);
}

void qk_norm_rows(const qk_norm *norm, const float *x, int m, int k, float *y) {
    for (int i = 0; i < m; i++) {
        const float *row = x + (size_t)i * k;
        float mean, inverse, *out = y + (size_t)i * k;
        statistics(norm, row, k, &mean, &inverse);
        for (int c = 0; c < k; c++) out[c] = normalized(norm, row, c, mean, inverse);
    }
}

void qk_norm_quantize_rows_u8(const qk_norm *norm, const float *x, int m, int k, int ldx, int order, uint8_t *codes, int ldq,
                              float *scales, int32_t *zero_points) {
    for (int i = 0; i < m; i++) {
        const float *row = x + (size_t)i * ldx;
        float mean, inverse;
        statistics(norm, row, k, &mean, &inverse);
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
