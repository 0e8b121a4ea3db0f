// The ARM64 rows of the kernel table: the INT8 GEMM on NEON's dot-product extension (sdot) and on i8mm
// (usdot); row quantization and the element-wise kernels are the portable ones for now.
#include "../kernels.h"

#if defined(__aarch64__)
#include <arm_neon.h>
#if defined(__clang__)
#define QK_DOTPROD __attribute__((target("dotprod")))
#define QK_I8MM_TARGET __attribute__((target("i8mm")))
#else
#define QK_DOTPROD __attribute__((target("arch=armv8.2-a+dotprod")))
#define QK_I8MM_TARGET __attribute__((target("arch=armv8.2-a+dotprod+i8mm")))
#endif

// A register tile is MR_NEON rows x 1 panel: 4 q-register accumulators per row (16 columns), 4 weight
// registers per group of 4 k. Lane c of weight register q holds column 4 q + c's four bytes, so one
// (u)sdot of it against the row's 4 activation bytes broadcast to every lane advances 4 columns by 4 k.
// The epilogue is the portable store_one per element (exact; m n of it against m n k multiply-adds).
enum { MR_NEON = 4 };

/// The body of both ARM64 paths: DOT(ACC, WEIGHTS, BYTES) accumulates one group; OFFSET is added to each
/// accumulator of column j before the epilogue.
#define QK_NEON_GEMM(TARGET, NAME, DOT, OFFSET)                                                                   \
    TARGET static void NAME(const uint8_t *a, int m, int k, int lda, const int8_t *packed, int n, int n0, int n1,  \
                            const qk_epilogue *e) {                                                              \
        int groups = k_groups(k);                                                                                 \
        const int32_t *sums = column_sums(packed, n, k);                                                          \
        (void)sums;                                                                                               \
        for (int col = n0; col < n1; col += QK_PANEL) {                                                           \
            const int8_t *panel = packed + (size_t)(col / QK_PANEL) * groups * 64;                                \
            for (int i = 0; i < m; i += MR_NEON) {                                                                \
                int rows = m - i < MR_NEON ? m - i : MR_NEON;                                                     \
                int32x4_t acc[MR_NEON][4];                                                                        \
                for (int r = 0; r < MR_NEON; r++) {                                                               \
                    for (int q = 0; q < 4; q++) acc[r][q] = vdupq_n_s32(0);                                       \
                }                                                                                                 \
                for (int g = 0; g < groups; g++) {                                                                \
                    int8x16_t w[4];                                                                               \
                    for (int q = 0; q < 4; q++) w[q] = vld1q_s8(panel + (size_t)g * 64 + 16 * q);                 \
                    for (int r = 0; r < rows; r++) {                                                              \
                        uint32_t bytes;                                                                           \
                        memcpy(&bytes, a + (size_t)(i + r) * lda + 4 * (size_t)g, 4);                             \
                        for (int q = 0; q < 4; q++) DOT(acc[r][q], w[q], bytes);                                  \
                    }                                                                                             \
                }                                                                                                 \
                for (int r = 0; r < rows; r++) {                                                                  \
                    for (int q = 0; q < 4; q++) {                                                                 \
                        int32_t lanes[4];                                                                         \
                        vst1q_s32(lanes, acc[r][q]);                                                              \
                        for (int c = 0; c < 4 && col + 4 * q + c < n1; c++) {                                     \
                            int j = col + 4 * q + c;                                                              \
                            store_one(e, i + r, j, lanes[c] + (OFFSET));                                          \
                        }                                                                                         \
                    }                                                                                             \
                }                                                                                                 \
            }                                                                                                     \
        }                                                                                                         \
    }

// sdot: both operands signed, so the activations enter as a - 128 (a xor 0x80) and 128 sum_k W[j][k] is
// added back.
#define QK_SDOT(ACC, W, BYTES) ACC = vdotq_s32(ACC, W, vreinterpretq_s8_u32(vdupq_n_u32((BYTES) ^ 0x80808080u)))
QK_NEON_GEMM(QK_DOTPROD, gemm_neon, QK_SDOT, 128 * sums[j])

// usdot (i8mm): u8 x s8 directly, no offset.
#define QK_USDOT(ACC, W, BYTES) ACC = vusdotq_s32(ACC, vreinterpretq_u8_u32(vdupq_n_u32(BYTES)), W)
QK_NEON_GEMM(QK_I8MM_TARGET, gemm_i8mm, QK_USDOT, 0)

const qk_kernel_table qk_neon_kernels = {
    gemm_neon, qk_gemm_blocks_generic, qk_quantize_row_generic, qk_quantize_blocks_generic, qk_activate_generic, qk_silu_multiply_generic, qk_exponentiate_generic,
    qk_gemv_f32_generic,
};
const qk_kernel_table qk_i8mm_kernels = {
    gemm_i8mm, qk_gemm_blocks_generic, qk_quantize_row_generic, qk_quantize_blocks_generic, qk_activate_generic, qk_silu_multiply_generic, qk_exponentiate_generic,
    qk_gemv_f32_generic,
};

#endif
