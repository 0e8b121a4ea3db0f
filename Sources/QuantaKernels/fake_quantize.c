// Fake quantization for training, with the straight-through estimator: LSQ (Esser et al., 2020) as
// LearnedStepSize documents it, and ParetoQ's 1- and 2-bit weights as LowBitWeight documents it, element for
// element (the scale gradients are summed per row chunk).
#include <math.h>
#include <stddef.h>
#include "QuantaKernels.h"

/// LSQ on columns [c0, c1) of one row, whose elements share parameter set p, per element the operations of
/// qk_lsq_rows' formula; the step-size gradient sums in four double lanes, added to *scale_gradient once per run
/// (not through memory per element, which chained every element on the previous one's store).
static inline void lsq_run(const float *x, int c0, int c1, float scale, float inverse, float lower, float upper,
                           float *value, const float *dy, float *dx, double *scale_gradient) {
    double lanes[4] = { 0, 0, 0, 0 };
    for (int c = c0; c < c1; c++) {
        const float u = x[c] * inverse;
        float code = qk_round_even(u < lower ? lower : u > upper ? upper : u);
        if (code != code) code = 0;   // NaN input: code 0, as IntegerFormat.roundClamped
        value[c] = scale * code;
        if (!dy) continue;
        const float g = dy[c];
        const int inside = u >= lower && u <= upper;
        dx[c] = inside ? g : 0;
        lanes[(c - c0) & 3] += (double)(g * (inside ? code - u : code));
    }
    if (dy) *scale_gradient += (lanes[0] + lanes[1]) + (lanes[2] + lanes[3]);
}

void qk_lsq_rows(const float *x, int rows, int cols, const int32_t *first, const int32_t *offset,
                 const float *scale, const float *inverse, const int32_t *zero, int32_t lowest, int32_t highest,
                 float *value, const float *dy, float *dx, double *scale_gradient) {
    for (int r = 0; r < rows; r++) {
        const size_t row = (size_t)r * cols;
        // Runs of columns with one offset (a whole row per tensor or channel, a group per group).
        for (int c0 = 0, c1; c0 < cols; c0 = c1) {
            for (c1 = c0 + 1; c1 < cols && offset[c1] == offset[c0]; c1++) {}
            const int p = first[r] + offset[c0];
            lsq_run(x + row, c0, c1, scale[p], inverse[p], (float)(lowest + zero[p]), (float)(highest + zero[p]), value + row,
                    dy ? dy + row : NULL, dx ? dx + row : NULL, &scale_gradient[p]);
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
