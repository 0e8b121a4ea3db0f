// Element-wise kernels of the engines: GELU/SiLU, SwiGLU's gate, softmax (FP32 and with UINT8 output), on
// the active path's row of the kernel table, and attention's copy of K^T (qk_transpose). The SIMD rows apply
// the header's scalar formulas lane by lane with the same operations in the same order, so every path gives
// the same bits (tested); only softmax's sum runs in 8 partial sums on the x86 rows.
#include "kernels.h"

void qk_activate(int activation, float *x, size_t n) {
    if (activation != QK_ACTIVATION_GELU && activation != QK_ACTIVATION_SILU) return;
    qk_active_kernels()->activate(activation, x, n);
}

void qk_silu_multiply(float *gate, const float *up, size_t n) { qk_active_kernels()->silu_multiply(gate, up, n); }

/// max_i p[i] in 16 running maxima (lane l takes i = l mod 16, so the compiler vectorizes it), folded, then the
/// tail: the same value as one running maximum, since a maximum does not depend on the order (NaN aside).
static float maximum_of(const float *p, int count) {
    enum { LANES = 16 };
    if (count < LANES) {
        float maximum = p[0];
        for (int i = 1; i < count; i++) maximum = p[i] > maximum ? p[i] : maximum;
        return maximum;
    }
    float lanes[LANES];
    for (int l = 0; l < LANES; l++) lanes[l] = p[l];
    int i = LANES;
    for (; i + LANES <= count; i += LANES) {
        for (int l = 0; l < LANES; l++) lanes[l] = p[i + l] > lanes[l] ? p[i + l] : lanes[l];
    }
    float maximum = lanes[0];
    for (int l = 1; l < LANES; l++) maximum = lanes[l] > maximum ? lanes[l] : maximum;
    for (; i < count; i++) maximum = p[i] > maximum ? p[i] : maximum;
    return maximum;
}

void qk_softmax(float *p, int count) {
    if (count <= 0) return;
    float maximum = maximum_of(p, count);
    float inverse = 1 / qk_active_kernels()->exponentiate(p, count, maximum);
    for (int i = 0; i < count; i++) p[i] *= inverse;
}

void qk_softmax_u8(float *p, int count, uint8_t *codes) {
    qk_softmax(p, count);
    for (int i = 0; i < count; i++) {
        float code = qk_round_even(p[i] * 255.0f);
        codes[i] = (uint8_t)(code > 255.0f ? 255.0f : code);
    }
}

void qk_transpose(const float *a, int rows, int columns, int lda, float *b, int ldb) {
    // Rows are asked for AHEAD rows before they are read: a head's columns of K are 32 floats a row, 1.5 KB apart,
    // freshly written by the K projection and usually outside L2, and a plain loop waits on each row in turn.
    enum { AHEAD = 8 };
    for (int r = 0; r < rows; r++) {
        if (r + AHEAD < rows) {
            for (int c = 0; c < columns; c += 16) __builtin_prefetch(a + (size_t)(r + AHEAD) * lda + c, 0, 3);
        }
        const float *row = a + (size_t)r * lda;
        for (int c = 0; c < columns; c++) b[(size_t)c * ldb + r] = row[c];
    }
}
