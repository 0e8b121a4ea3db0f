// Per-row dynamic quantization of activations to UINT8 codes with a zero point, exactly as
// QuantizationParameters (asymmetric) and AffineQuantizer.quantize compute it in Swift.
#pragma STDC FP_CONTRACT OFF
#include "QuantaKernels.h"


void qk_quantize_rows_u8(const float *x, int m, int k, int ldx, const float *column_scale, uint8_t *codes, int ldq,
                         float *scales, int32_t *zero_points) {
    for (int i = 0; i < m; i++) {
        const float *row = x + (size_t)i * ldx;
        uint8_t *out = codes + (size_t)i * ldq;
        float lo = 0, hi = 0;   // the range always contains zero
        for (int c = 0; c < k; c++) {
            float v = column_scale ? row[c] * column_scale[c] : row[c];
            lo = v < lo ? v : lo;
            hi = v > hi ? v : hi;
        }
        float scale, z;
        qk_row_parameters(lo, hi, &scale, &z);
        float inverse = 1 / scale;
        for (int c = 0; c < k; c++) out[c] = qk_code_u8(column_scale ? row[c] * column_scale[c] : row[c], inverse, z);
        scales[i] = scale;
        zero_points[i] = (int32_t)z;
    }
}
