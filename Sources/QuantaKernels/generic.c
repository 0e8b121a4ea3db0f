// The portable row of the kernel table: plain C, the reference every other path equals bit for bit, and the
// path on CPUs without a SIMD row (ggml's *_generic functions).
#include "kernels.h"

#include <math.h>

void qk_gemm_generic(const uint8_t *a, int m, int k, int lda, const int8_t *packed, int n, int n0, int n1,
                     const qk_epilogue *e) {
    (void)n;
    int groups = k_groups(k);
    for (int col = n0; col < n1; col++) {
        const int8_t *panel = packed + (size_t)(col / QK_PANEL) * groups * 4 * QK_PANEL + (col % QK_PANEL) * 4;
        for (int i = 0; i < m; i++) {
            const uint8_t *row = a + (size_t)i * lda;
            int32_t acc = 0;
            for (int kk = 0; kk < k; kk++) acc += (int32_t)row[kk] * panel[(size_t)(kk / 4) * 4 * QK_PANEL + kk % 4];
            store_one(e, i, col, acc);
        }
    }
}

void qk_gemm_blocks_generic(const uint8_t *a, int m, int k, int lda, const int8_t *packed, int n, int n0, int n1,
                            const qk_epilogue *e) {
    (void)n;
    int groups = k_groups(k), blocks = k / QK_BLOCK;
    for (int col = n0; col < n1; col++) {
        const int8_t *panel = packed + (size_t)(col / QK_PANEL) * groups * 4 * QK_PANEL + (col % QK_PANEL) * 4;
        for (int i = 0; i < m; i++) {
            const uint8_t *row = a + (size_t)i * lda;
            const float *scale = e->a_scale + (size_t)i * blocks;
            const int32_t *zero = e->a_zero + (size_t)i * blocks;
            float sum = 0;
            for (int b = 0; b < blocks; b++) {
                int32_t t = 0;
                for (int kk = b * QK_BLOCK; kk < (b + 1) * QK_BLOCK; kk++) t += ((int32_t)row[kk] - 128) * panel[(size_t)(kk / 4) * 4 * QK_PANEL + kk % 4];
                sum = fmaf(scale[b], (float)t, sum);
                sum = fmaf(scale[b] * (float)(128 + zero[b]), (float)block_sum(e->block_sums, blocks, col, b), sum);
            }
            e->c_f32[(size_t)i * e->ldc + col] = finish_float(e, i, col, e->w_scale[col] * sum);
        }
    }
}

void qk_quantize_row_generic(const float *row, int k, const float *column_scale, uint8_t *out, float *scale, int32_t *zero_point) {
    float lo = 0, hi = 0;   // the range always contains zero
    widen_range(row, column_scale, 0, k, &lo, &hi);
    float z;
    qk_row_parameters(lo, hi, scale, &z);
    float inverse = 1 / *scale;
    for (int c = 0; c < k; c++) out[c] = qk_code_u8(row_input(row, column_scale, c), inverse, z);
    *zero_point = (int32_t)z;
}

void qk_quantize_blocks_generic(const float *row, int k, const float *column_scale, uint8_t *out, float *scales, int32_t *zero_points) {
    for (int b = 0; b < k / QK_BLOCK; b++) {
        qk_quantize_row_generic(row + b * QK_BLOCK, QK_BLOCK, column_scale ? column_scale + b * QK_BLOCK : NULL, out + b * QK_BLOCK,
                                scales + b, zero_points + b);
    }
}

void qk_activate_generic(int activation, float *x, size_t n) {
    for (size_t i = 0; i < n; i++) x[i] = activation == QK_ACTIVATION_GELU ? qk_gelu(x[i]) : qk_silu(x[i]);
}

void qk_silu_multiply_generic(float *gate, const float *up, size_t n) {
    for (size_t i = 0; i < n; i++) gate[i] = qk_silu(gate[i]) * up[i];
}

float qk_exponentiate_generic(float *p, int count, float maximum) {
    float sum = 0;
    for (int i = 0; i < count; i++) { p[i] = qk_exp(p[i] - maximum); sum += p[i]; }
    return sum;
}

void qk_gemv_f32_generic(const float *w, int rows, int k, const float *x, float *y, int accumulate) {
    for (int j = 0; j < rows; j++) {
        const float *row = w + (size_t)j * k;
        float lanes[QK_DOT_LANES] = { 0 };
        int c = 0;
        for (; c + QK_DOT_LANES <= k; c += QK_DOT_LANES) {
            for (int l = 0; l < QK_DOT_LANES; l++) lanes[l] = fmaf(row[c + l], x[c + l], lanes[l]);
        }
        float s = sum_lanes(lanes);
        for (; c < k; c++) s = fmaf(row[c], x[c], s);
        finish_dot(y + j, s, accumulate);
    }
}

const qk_kernel_table qk_portable_kernels = {
    qk_gemm_generic, qk_gemm_blocks_generic, qk_quantize_row_generic, qk_quantize_blocks_generic, qk_activate_generic, qk_silu_multiply_generic, qk_exponentiate_generic,
    qk_gemv_f32_generic,
};
