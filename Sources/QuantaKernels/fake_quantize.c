// Fake quantization for training, with the straight-through estimator: LSQ (Esser et al., 2020) as
// LearnedStepSize documents it, and ParetoQ's 1- and 2-bit weights as LowBitWeight documents it, element for
// element (the scale gradients are summed per row chunk).
#include <math.h>
#include "QuantaKernels.h"

void qk_lsq_rows(const float *x, int rows, int cols, const int32_t *first, const int32_t *offset,
                 const float *scale, const float *inverse, const int32_t *zero, int32_t lowest, int32_t highest,
                 float *value, const float *dy, float *dx, double *scale_gradient) {
    for (int r = 0; r < rows; r++) {
        const size_t row = (size_t)r * cols;
        for (int c = 0; c < cols; c++) {
            const int p = first[r] + offset[c];
            const float lower = (float)(lowest + zero[p]), upper = (float)(highest + zero[p]);
            const float u = x[row + c] * inverse[p];
            float code = qk_round_even(u < lower ? lower : u > upper ? upper : u);
            if (code != code) code = 0;   // NaN input: code 0, as IntegerFormat.roundClamped
            value[row + c] = scale[p] * code;
            if (!dy) continue;
            const float g = dy[row + c];
            const int inside = u >= lower && u <= upper;
            dx[row + c] = inside ? g : 0;
            scale_gradient[p] += (double)(g * (inside ? code - u : code));
        }
    }
}

void qk_low_bit_rows(const float *x, int rows, int cols, const int32_t *first, const int32_t *offset,
                     const float *scale, int kind, float *value, const float *dy, float *dx, double *scale_gradient) {
    const float stretch = kind == QK_LOW_BIT_BINARY ? 1.0f : kind == QK_LOW_BIT_TERNARY ? 1.5f : 4.0f;
    const float clip = 0.99f, limit = kind == QK_LOW_BIT_BINARY ? 1.0f : clip;
    for (int r = 0; r < rows; r++) {
        const size_t row = (size_t)r * cols;
        for (int c = 0; c < cols; c++) {
            const int p = first[r] + offset[c];
            const float w = x[row + c], alpha = scale[p] * stretch, u = w / alpha;
            const float clamped = u < -clip ? -clip : u > clip ? clip : u;
            float code;
            switch (kind) {
            case QK_LOW_BIT_BINARY: code = w > 0 ? 1.0f : w < 0 ? -1.0f : 0.0f; break;
            case QK_LOW_BIT_TERNARY: code = qk_round_even(1.5f * clamped); break;
            default: code = 2.0f * qk_round_even(2.0f * clamped - 0.5f) + 1.0f; break;
            }
            value[row + c] = scale[p] * code;
            if (!dy) continue;
            const float g = dy[row + c], level = code / stretch;
            const int inside = fabsf(u) <= limit;
            dx[row + c] = inside ? g : 0;
            const float d_alpha = kind == QK_LOW_BIT_BINARY ? level : inside ? level - u : level;
            scale_gradient[p] += (double)(g * d_alpha * stretch);
        }
    }
}
