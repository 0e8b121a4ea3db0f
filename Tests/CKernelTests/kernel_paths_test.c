// Every row of the kernel table this CPU runs: the INT8 GEMM against the plain integer reference (i8i32) and
// against the portable path bit for bit (i8f32 with bias, GELU and residual; i8i8 requantization), on ragged
// shapes, full-range, narrow-range and small (7-bit) weights, random and extreme codes, and two column ranges (as two
// threads split them); the row quantizer and the element-wise kernels against the portable row bit for bit.
// Built and run by `make test-arm` for ARM64 under qemu-user (the NEON and i8mm paths cannot run on the
// x86 machines here); it also builds and runs natively. Prints "N passed, N failed".
#include "QuantaKernels.h"
#include "kernels.h"

#include <math.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int passed, failed;

static void check(int ok, const char *what, const char *path, int m, int n, int k) {
    if (ok) { passed++; return; }
    failed++;
    fprintf(stderr, "FAIL %s on %s: %dx%dx%d\n", what, path, m, n, k);
}

static uint64_t state = 0x9E3779B97F4A7C15u;
static uint32_t next(void) {   // SplitMix64, top 32 bits
    uint64_t z = (state += 0x9E3779B97F4A7C15u);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9u;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBu;
    return (uint32_t)((z ^ (z >> 31)) >> 32);
}

/// Runs columns [0, n) in two calls split at a panel boundary, as two threads would.
static void run(qk_path path, const uint8_t *a, int m, int k, int lda, const int8_t *packed, int n, const qk_epilogue *e) {
    int split = (n / 2) / QK_PANEL * QK_PANEL;
    qk_gemm_u8s8(path, a, m, k, lda, packed, n, 0, split, e);
    qk_gemm_u8s8(path, a, m, k, lda, packed, n, split, n, e);
}

/// The weight codes of each range: full [-128, 127], narrow [-127, 127] (AVX2's sign trick), small [-64, 64]
/// (AVX2's direct tile).
enum { RANGES = 3 };
static const int range_lo[RANGES] = { -128, -127, -QK_SMALL_WEIGHT }, range_hi[RANGES] = { 127, 127, QK_SMALL_WEIGHT };
static const char *range_name[RANGES][2] = { { "i8i32 full", "blocks full" }, { "i8i32 narrow", "blocks narrow" }, { "i8i32 small", "blocks small" } };

/// A weight code of `range`: random, or at the range's ends (the largest pair sums) when `extreme`.
static int weight_code(int range, int extreme, size_t t) {
    int lo = range_lo[range], hi = range_hi[range];
    return extreme ? (t % 3 == 0 ? hi : lo) : lo + (int)(next() % (uint32_t)(hi - lo + 1));
}

static void test_case(qk_path path, const char *name, int m, int n, int k, int range, int extreme) {
    int lda = (k + 3) / 4 * 4;
    uint8_t *a = calloc((size_t)m * lda, 1);
    int8_t *w = malloc((size_t)n * k), *packed = malloc(qk_packed_size(n, k));
    int32_t *zero = malloc(sizeof(int32_t) * m), *wsum = calloc(n, sizeof(int32_t));
    int32_t *c = malloc(sizeof(int32_t) * m * n), *expected = malloc(sizeof(int32_t) * m * n);
    float *as = malloc(sizeof(float) * m), *ws = malloc(sizeof(float) * n), *bias = malloc(sizeof(float) * n);
    float *residual = malloc(sizeof(float) * m * n), *y = malloc(sizeof(float) * m * n), *y0 = malloc(sizeof(float) * m * n);
    int32_t *mult = malloc(sizeof(int32_t) * n), *shift = malloc(sizeof(int32_t) * n), *bcode = malloc(sizeof(int32_t) * n);
    int8_t *q = malloc((size_t)m * n), *q0 = malloc((size_t)m * n);
    for (int i = 0; i < m; i++) {
        for (int kk = 0; kk < k; kk++) a[(size_t)i * lda + kk] = extreme ? (i % 2 ? 0 : 255) : (uint8_t)next();
        zero[i] = -(int32_t)(next() % 256);
        as[i] = 0.001f + (float)(next() % 1000) * 1e-4f;
    }
    for (int j = 0; j < n; j++) {
        for (int kk = 0; kk < k; kk++) {
            int v = weight_code(range, extreme, (size_t)j * k + kk);
            w[(size_t)j * k + kk] = (int8_t)v;
            wsum[j] += v;
        }
        ws[j] = 0.001f + (float)(next() % 1000) * 1e-4f;
        bias[j] = (float)((int)(next() % 2001) - 1000) * 1e-3f;
        mult[j] = (int32_t)(1u << 30) + (int32_t)(next() % (1u << 29));
        shift[j] = 38 + (int)(next() % 8);
        bcode[j] = (int)(next() % 2001) - 1000;
    }
    for (size_t t = 0; t < (size_t)m * n; t++) residual[t] = (float)((int)(next() % 2001) - 1000) * 1e-3f;
    qk_pack_weights(w, n, k, k, packed);
    for (int i = 0; i < m; i++) {
        for (int j = 0; j < n; j++) {
            int32_t acc = 0;
            for (int kk = 0; kk < k; kk++) acc += (int32_t)a[(size_t)i * lda + kk] * w[(size_t)j * k + kk];
            expected[(size_t)i * n + j] = acc + zero[i] * wsum[j];
        }
    }
    qk_epilogue e = { .mode = 0, .a_zero = zero, .w_sum = wsum, .c_i32 = c, .ldc = n };
    run(path, a, m, k, lda, packed, n, &e);
    check(memcmp(c, expected, sizeof(int32_t) * m * n) == 0, range_name[range][0], name, m, n, k);

    qk_epilogue f = { .mode = 1, .a_zero = zero, .w_sum = wsum, .a_scale = as, .w_scale = ws, .bias = bias,
                      .activation = QK_ACTIVATION_GELU, .residual = residual, .c_f32 = y, .ldc = n };
    run(path, a, m, k, lda, packed, n, &f);
    f.c_f32 = y0;
    run(QK_PATH_PORTABLE, a, m, k, lda, packed, n, &f);
    check(memcmp(y, y0, sizeof(float) * m * n) == 0, "i8f32 bits", name, m, n, k);

    qk_epilogue r = { .mode = 2, .a_zero = zero, .w_sum = wsum, .multiplier = mult, .shift = shift, .bias_code = bcode,
                      .out_zero = -3, .out_min = -128, .out_max = 127, .c_i8 = q, .ldc = n };
    run(path, a, m, k, lda, packed, n, &r);
    r.c_i8 = q0;
    run(QK_PATH_PORTABLE, a, m, k, lda, packed, n, &r);
    check(memcmp(q, q0, (size_t)m * n) == 0, "i8i8 codes", name, m, n, k);

    free(a); free(w); free(packed); free(zero); free(wsum); free(c); free(expected); free(as); free(ws); free(bias);
    free(residual); free(y); free(y0); free(mult); free(shift); free(bcode); free(q); free(q0);
}

/// Mode 3 (activations in blocks of QK_BLOCK, scales and zero points per row and block) against the direct
/// formula on the unpacked weight, bit for bit: the int32 block sums are exact and the float sums run in the
/// documented order.
static void test_blocks(qk_path path, const char *name, int m, int n, int k, int range, int extreme) {
    int blocks = k / QK_BLOCK;
    uint8_t *a = malloc((size_t)m * k);
    int8_t *w = malloc((size_t)n * k), *packed = malloc(qk_packed_size(n, k));
    int16_t *sums = malloc(sizeof(int16_t) * qk_block_sums_count(n, k));
    int32_t *zero = malloc(sizeof(int32_t) * m * blocks);
    float *as = malloc(sizeof(float) * m * blocks), *ws = malloc(sizeof(float) * n), *bias = malloc(sizeof(float) * n);
    float *y = malloc(sizeof(float) * m * n), *expected = malloc(sizeof(float) * m * n);
    for (size_t t = 0; t < (size_t)m * k; t++) a[t] = extreme ? (t % 2 ? 0 : 255) : (uint8_t)next();
    for (size_t t = 0; t < (size_t)m * blocks; t++) {
        zero[t] = extreme ? (t % 2 ? 0 : -255) : -(int32_t)(next() % 256);
        as[t] = 0.001f + (float)(next() % 1000) * 1e-4f;
    }
    for (size_t t = 0; t < (size_t)n * k; t++) w[t] = (int8_t)weight_code(range, extreme, t);
    for (int j = 0; j < n; j++) {
        ws[j] = 0.001f + (float)(next() % 1000) * 1e-4f;
        bias[j] = (float)((int)(next() % 2001) - 1000) * 1e-3f;
    }
    qk_pack_weights(w, n, k, k, packed);
    qk_block_sums(packed, n, k, sums);
    for (int i = 0; i < m; i++) {
        for (int j = 0; j < n; j++) {
            float total = 0;
            for (int b = 0; b < blocks; b++) {
                int32_t t = 0, wsum = 0;
                for (int kk = b * QK_BLOCK; kk < (b + 1) * QK_BLOCK; kk++) {
                    t += ((int32_t)a[(size_t)i * k + kk] - 128) * w[(size_t)j * k + kk];
                    wsum += w[(size_t)j * k + kk];
                }
                float scale = as[i * blocks + b];
                total = fmaf(scale * (float)(128 + zero[i * blocks + b]), (float)wsum, fmaf(scale, (float)t, total));
            }
            expected[(size_t)i * n + j] = ws[j] * total + bias[j];
        }
    }
    qk_epilogue e = { .mode = 3, .a_zero = zero, .a_scale = as, .w_scale = ws, .bias = bias, .block_sums = sums, .c_f32 = y, .ldc = n };
    run(path, a, m, k, k, packed, n, &e);
    check(memcmp(y, expected, sizeof(float) * m * n) == 0, range_name[range][1], name, m, n, k);
    free(a); free(w); free(packed); free(sums); free(zero); free(as); free(ws); free(bias); free(y); free(expected);
}

/// The row quantizers and element-wise kernels of `table` against the portable row, bit for bit (softmax's sum
/// to rounding: the SIMD rows add in 8 partial sums, so the two sums of n positive terms differ by at most
/// n 2^-24 times the sum).
static void test_rows(const qk_kernel_table *table, const char *name) {
    static const int lengths[] = { 1, 7, 8, 13, 100, 1000 };
    for (size_t l = 0; l < sizeof lengths / sizeof lengths[0]; l++) {
        int n = lengths[l];
        float x[1000], y[1000], up[1000], scale[1000], s1, s2;
        uint8_t c1[1000], c2[1000];
        int32_t z1, z2;
        for (int i = 0; i < n; i++) {
            x[i] = (float)((int)(next() % 20001) - 10000) * 1e-3f;
            up[i] = (float)((int)(next() % 2001) - 1000) * 1e-3f;
            scale[i] = 0.5f + (float)(next() % 1000) * 1e-3f;
        }
        for (int activation = QK_ACTIVATION_GELU; activation <= QK_ACTIVATION_SILU; activation++) {
            memcpy(y, x, sizeof(float) * n);
            table->activate(activation, y, n);
            float reference[1000];
            memcpy(reference, x, sizeof(float) * n);
            qk_portable_kernels.activate(activation, reference, n);
            check(memcmp(y, reference, sizeof(float) * n) == 0, activation == QK_ACTIVATION_GELU ? "GELU bits" : "SiLU bits", name, 1, n, 0);
        }
        float gate[1000], reference[1000];
        memcpy(gate, x, sizeof(float) * n);
        memcpy(reference, x, sizeof(float) * n);
        table->silu_multiply(gate, up, n);
        qk_portable_kernels.silu_multiply(reference, up, n);
        check(memcmp(gate, reference, sizeof(float) * n) == 0, "SwiGLU gate bits", name, 1, n, 0);
        memcpy(y, x, sizeof(float) * n);
        memcpy(reference, x, sizeof(float) * n);
        float sum = table->exponentiate(y, n, 10), expected = qk_portable_kernels.exponentiate(reference, n, 10);
        check(memcmp(y, reference, sizeof(float) * n) == 0 && fabsf(sum - expected) <= (float)n * 0x1p-24f * expected, "exponentials", name, 1, n, 0);
        for (int scaled = 0; scaled < 2; scaled++) {
            table->quantize_row_u8(x, n, scaled ? scale : NULL, c1, &s1, &z1);
            qk_portable_kernels.quantize_row_u8(x, n, scaled ? scale : NULL, c2, &s2, &z2);
            check(memcmp(c1, c2, n) == 0 && s1 == s2 && z1 == z2, "row quantization", name, 1, n, 0);
        }
    }
    // The FP32 GEMV: row counts around its 4-row tile, lengths around its 16 lanes and on both sides of the
    // length from which it takes 4 rows at a time, with and without accumulating into y.
    static const int gemv_shapes[][2] = { { 1, 1 }, { 3, 15 }, { 4, 16 }, { 7, 33 }, { 9, 576 }, { 13, 1000 }, { 6, 2048 }, { 7, 2049 }, { 9, 4100 } };
    for (size_t g = 0; g < sizeof gemv_shapes / sizeof gemv_shapes[0]; g++) {
        int rows = gemv_shapes[g][0], k = gemv_shapes[g][1];
        static float w[13 * 4100], v[4100];
        float y1[13], y2[13];
        for (int i = 0; i < rows * k; i++) w[i] = (float)((int)(next() % 20001) - 10000) * 1e-4f;
        for (int i = 0; i < k; i++) v[i] = (float)((int)(next() % 20001) - 10000) * 1e-3f;
        for (int accumulate = 0; accumulate < 2; accumulate++) {
            for (int j = 0; j < rows; j++) y1[j] = y2[j] = (float)j - 0.5f;
            table->gemv_f32(w, rows, k, v, y1, accumulate);
            qk_portable_kernels.gemv_f32(w, rows, k, v, y2, accumulate);
            check(memcmp(y1, y2, sizeof(float) * rows) == 0, "FP32 GEMV bits", name, rows, 1, k);
            // and the sum itself: within k + 4 roundings of the exact value (in double).
            int close = 1;
            for (int j = 0; j < rows; j++) {
                double exact = accumulate ? (double)j - 0.5 : 0, magnitude = fabs(exact);
                for (int c = 0; c < k; c++) { exact += (double)w[j * k + c] * v[c]; magnitude += fabs((double)w[j * k + c] * v[c]); }
                close &= fabs((double)y2[j] - exact) <= (k + 4) * 0x1p-24 * magnitude;
            }
            check(close, "FP32 GEMV sums", name, rows, 1, k);
        }
    }
    // Blocks: a row of 8 blocks, one all positive, one all negative, one all zero, one with an outlier.
    float x[256], scale[256], s1[8], s2[8];
    uint8_t c1[256], c2[256];
    int32_t z1[8], z2[8];
    for (int i = 0; i < 256; i++) {
        x[i] = (float)((int)(next() % 20001) - 10000) * 1e-3f;
        scale[i] = 0.5f + (float)(next() % 1000) * 1e-3f;
    }
    for (int i = 0; i < 32; i++) { x[i] = fabsf(x[i]) + 0.1f; x[32 + i] = -fabsf(x[32 + i]) - 0.1f; x[64 + i] = 0; }
    x[100] = 300;
    for (int scaled = 0; scaled < 2; scaled++) {
        table->quantize_blocks_u8(x, 256, scaled ? scale : NULL, c1, s1, z1);
        qk_portable_kernels.quantize_blocks_u8(x, 256, scaled ? scale : NULL, c2, s2, z2);
        check(memcmp(c1, c2, 256) == 0 && memcmp(s1, s2, sizeof s1) == 0 && memcmp(z1, z2, sizeof z1) == 0, "block quantization", name, 1, 256, 0);
    }
}

int main(void) {
    static const struct { qk_path path; const char *name; } paths[] = {
        { QK_PATH_PORTABLE, "portable" }, { QK_PATH_AVX2, "avx2" }, { QK_PATH_AVXVNNI, "avxvnni" }, { QK_PATH_VNNI, "vnni" }, { QK_PATH_VNNI512, "vnni512" },
        { QK_PATH_NEON, "neon" }, { QK_PATH_I8MM, "i8mm" },
    };
    static const int shapes[][4] = { { 1, 16, 4, 0 }, { 7, 37, 45, 0 }, { 13, 64, 130, 1 }, { 6, 33, 1027, 1 }, { 97, 48, 64, 0 },
                                     { 1, 300, 999, 0 }, { 1, 100, 130, 1 }, { 5, 77, 3, 1 }, { 200, 33, 70, 1 },
                                     { 130, 40, 1030, 1 } };
    int simd = 0;
    for (size_t p = 0; p < sizeof paths / sizeof paths[0]; p++) {
        if (!qk_path_supported(paths[p].path)) continue;
        printf("path %s\n", paths[p].name);
        simd += paths[p].path != QK_PATH_PORTABLE;
        test_rows(qk_kernels(paths[p].path), paths[p].name);
        // The AVX2 GEMV reads one panel at a time on some CPUs and four on others (qk_avx2_gemv_panels): both here.
        for (qk_gemv_panels = 1; qk_gemv_panels <= 4; qk_gemv_panels += 3) {
            for (size_t s = 0; s < sizeof shapes / sizeof shapes[0]; s++) {
                for (int range = 0; range < RANGES; range++) {
                    test_case(paths[p].path, paths[p].name, shapes[s][0], shapes[s][1], shapes[s][2], range, shapes[s][3]);
                }
            }
            static const int block_shapes[][4] = { { 1, 16, 32, 0 }, { 3, 37, 64, 1 }, { 7, 48, 576, 0 }, { 2, 100, 1536, 1 }, { 1, 9, 96, 0 }, { 1, 100, 96, 1 }, { 1, 150, 64, 0 }, { 13, 40, 128, 1 }, { 100, 37, 96, 1 } };
            for (size_t s = 0; s < sizeof block_shapes / sizeof block_shapes[0]; s++) {
                for (int range = 0; range < RANGES; range++) {
                    test_blocks(paths[p].path, paths[p].name, block_shapes[s][0], block_shapes[s][1], block_shapes[s][2], range, block_shapes[s][3]);
                }
            }
        }
        qk_gemv_panels = 0;
    }
#if defined(__aarch64__)
    check(qk_path_supported(QK_PATH_NEON) && qk_path_supported(QK_PATH_I8MM), "both ARM64 paths run here", "qemu -cpu max", 0, 0, 0);
#endif
    (void)simd;
    printf("%d passed, %d failed\n", passed, failed);
    return failed == 0 ? 0 : 1;
}
