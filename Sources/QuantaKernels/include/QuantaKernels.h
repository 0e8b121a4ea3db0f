#ifndef QUANTA_KERNELS_H
#define QUANTA_KERNELS_H

#include <stddef.h>
#include <stdint.h>

/// INT8 matrix products C = A W^T with A uint8 [m, k] (activation codes, row stride lda) and W int8 [n, k]
/// (weight codes), accumulated exactly in int32.
///
/// Weights are packed once ("pre-packed at load time") into panels of QK_PANEL = 16 output columns; within
/// a panel, k runs in groups of 4 and each group stores, for columns j = 0..15, the four bytes
/// W[16 p + j][4 g .. 4 g + 3] (64 bytes per group; k and n padded with zero weights). One 32-bit lane of
/// a vector register then holds the four weights that meet the same four broadcast activation bytes:
/// exactly the operand shape of VNNI's vpdpbusd (u8 x s8, four products summed into int32 without
/// intermediate saturation), emulated exactly on plain AVX2 and in portable C.

#define QK_PANEL 16

typedef enum {
    /// Plain C: the reference every other path equals bit for bit.
    QK_PATH_PORTABLE = 0,
    /// AVX2: u8 activations split into 4-bit halves so vpmaddubsw cannot saturate, then vpmaddwd.
    QK_PATH_AVX2 = 1,
    /// AVX-512 VNNI on 256-bit registers: vpdpbusd.
    QK_PATH_VNNI = 2,
} qk_path;

/// The fastest path this CPU supports (detected at run time).
qk_path qk_best_path(void);
/// Whether `path` can run on this CPU.
int qk_path_supported(qk_path path);

/// Bytes of the packed form of an n x k weight.
size_t qk_packed_size(int n, int k);
/// Packs row-major int8 W [n, k] (row stride ldw) into `packed` (qk_packed_size bytes).
void qk_pack_weights(const int8_t *w, int n, int k, int ldw, int8_t *packed);

/// What happens to each int32 accumulator acc[i][j] before it is stored.
typedef struct {
    /// 0: store int32 acc + a_zero[i] * w_sum[j] into c_i32. 1: store float into c_f32:
    ///     y = (a_scale[i] * w_scale[j]) * (float)(acc + a_zero[i] * w_sum[j]) + bias[j]   (bias optional)
    int mode;
    /// Per-row activation zero point Z (x~ = S (Q + Z)) and the per-column weight sums sum_k W[j][k]; either
    /// may be NULL (no correction).
    const int32_t *a_zero;
    const int32_t *w_sum;
    const float *a_scale;
    const float *w_scale;
    const float *bias;
    int32_t *c_i32;
    float *c_f32;
    /// Row stride of the output, in elements.
    int ldc;
} qk_epilogue;

/// Output columns [n0, n1) of C = A W^T for all m rows, with the epilogue, on `path` (n0 a multiple of
/// QK_PANEL). Threads split the columns: each call touches only its own columns of C. Each row of A must
/// be readable for 4 * ceil(k / 4) bytes (the bytes past k meet zero weights). Exact for k < 2^16.
void qk_gemm_u8s8(qk_path path, const uint8_t *a, int m, int k, int lda, const int8_t *packed, int n,
                  int n0, int n1, const qk_epilogue *epilogue);

#endif
