// Per-row dynamic quantization of activations to UINT8 codes with a zero point, exactly as
// QuantizationParameters (asymmetric) and AffineQuantizer.quantize compute it in Swift, on the active path's
// row of the kernel table (the AVX2 row performs the same float operations lane by lane; min/max are
// order-free), and static per-tensor codes.
#include "kernels.h"

void qk_quantize_rows_u8(const float *x, int m, int k, int ldx, const float *column_scale, uint8_t *codes, int ldq,
                         float *scales, int32_t *zero_points) {
    void (*quantize_row)(const float *, int, const float *, uint8_t *, float *, int32_t *) = qk_active_kernels()->quantize_row_u8;
    for (int i = 0; i < m; i++) {
        const float *row = x + (size_t)i * ldx;
        uint8_t *out = codes + (size_t)i * ldq;
        quantize_row(row, k, column_scale, out, scales + i, zero_points + i);
    }
}

void qk_quantize_rows_u8_blocks(const float *x, int m, int k, int ldx, const float *column_scale, uint8_t *codes, int ldq,
                                float *scales, int32_t *zero_points) {
    void (*quantize_blocks)(const float *, int, const float *, uint8_t *, float *, int32_t *) = qk_active_kernels()->quantize_blocks_u8;
    size_t blocks = (size_t)(k / QK_BLOCK);
    for (int i = 0; i < m; i++) {
        quantize_blocks(x + (size_t)i * ldx, k, column_scale, codes + (size_t)i * ldq, scales + i * blocks, zero_points + i * blocks);
    }
}

void qk_quantize_rows_static_u8(const float *x, int m, int k, int ldx, const float *column_scale, float inverse,
                                int32_t lower, int32_t upper, int32_t offset, uint8_t *codes, int ldq) {
    for (int i = 0; i < m; i++) {
        const float *row = x + (size_t)i * ldx;
        uint8_t *out = codes + (size_t)i * ldq;
        for (int c = 0; c < k; c++) {
            float t = row_input(row, column_scale, c) * inverse;
            t = t < (float)lower ? (float)lower : t > (float)upper ? (float)upper : t;
            out[c] = (uint8_t)((int32_t)qk_round_even(t) + offset);
        }
    }
}
