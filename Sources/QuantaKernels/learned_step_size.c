// LSQ fake quantization (Esser et al., 2020) with the straight-through estimator, as LearnedStepSize's Swift
// reference computes it, element for element (the scale gradients are summed in a different order).
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
