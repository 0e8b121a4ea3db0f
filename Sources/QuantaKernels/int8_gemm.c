// INT8 GEMM C = A W^T (A uint8 activation codes, W int8 weight codes packed by qk_pack_weights): the packing,
// the choice of path and the kernel table's lookup. The paths' bodies live in generic.c (portable), arch/x86.c
// (AVX2, AVX-512 VNNI) and arch/arm.c (NEON sdot, i8mm usdot); all agree bit for bit. See QuantaKernels.h.
#include "kernels.h"

#include <stdatomic.h>
#include <stdlib.h>
#if defined(__x86_64__) || defined(__i386__)
#include <cpuid.h>
#endif
#if defined(__aarch64__)
#include <sys/auxv.h>
// Linux's hwcap bits (asm/hwcap.h) for the dot-product and int8 matrix-multiply extensions.
#define QK_HWCAP_ASIMDDP (1UL << 20)
#define QK_HWCAP2_I8MM (1UL << 13)
#endif

size_t qk_packed_size(int n, int k) { return panel_bytes(n, k) + 4 * (size_t)padded_columns(n) + 64; }

void qk_pack_weights(const int8_t *w, int n, int k, int ldw, int8_t *packed) {
    int groups = k_groups(k);
    memset(packed, 0, qk_packed_size(n, k));
    int32_t *sums = (int32_t *)(packed + panel_bytes(n, k)), narrow = 1, small = 1;
    // Rows are asked for 8 ahead: an attention head's keys are packed in place from freshly written Q, K, V codes,
    // one short row every 3 hidden bytes, and a plain loop waits on each.
    enum { AHEAD = 8 };
    for (int col = 0; col < n; col++) {
        int p = col / QK_PANEL, j = col % QK_PANEL;
        if (col + AHEAD < n) __builtin_prefetch(w + (size_t)(col + AHEAD) * ldw, 0, 3);
        for (int kk = 0; kk < k; kk++) {
            int8_t v = w[(size_t)col * ldw + kk];
            packed[(((size_t)p * groups + kk / 4) * QK_PANEL + j) * 4 + kk % 4] = v;
            sums[col] += v;
            narrow &= v != -128;
            small &= v >= -QK_SMALL_WEIGHT && v <= QK_SMALL_WEIGHT;
        }
    }
    sums[padded_columns(n)] = narrow;
    sums[padded_columns(n) + 1] = small;
}

const int32_t *qk_packed_row_sums(const int8_t *packed, int n, int k) { return column_sums(packed, n, k); }

size_t qk_block_sums_count(int n, int k) { return (size_t)padded_columns(n) * (size_t)(k / QK_BLOCK); }

void qk_block_sums(const int8_t *packed, int n, int k, int16_t *sums) {
    int groups = k_groups(k), blocks = k / QK_BLOCK;
    for (int col = 0; col < padded_columns(n); col++) {
        const int8_t *panel = packed + (size_t)(col / QK_PANEL) * groups * 4 * QK_PANEL + (col % QK_PANEL) * 4;
        for (int b = 0; b < blocks; b++) {
            int32_t sum = 0;
            for (int kk = b * QK_BLOCK; kk < (b + 1) * QK_BLOCK; kk++) sum += panel[(size_t)(kk / 4) * 4 * QK_PANEL + kk % 4];
            sums[((size_t)(col / QK_PANEL) * blocks + b) * QK_PANEL + col % QK_PANEL] = (int16_t)sum;
        }
    }
}

int qk_gemv_panels = 0;

int qk_avx2_gemv_panels(void) {
    if (qk_gemv_panels >= 1 && qk_gemv_panels <= 4) return qk_gemv_panels;
#if defined(__x86_64__) || defined(__i386__)
    return __builtin_cpu_supports("avx512f") ? 1 : 4;
#else
    return 1;
#endif
}

int qk_path_supported(qk_path path) {
    switch (path) {
    case QK_PATH_PORTABLE: return 1;
#if defined(__aarch64__)
    case QK_PATH_NEON: return (getauxval(AT_HWCAP) & QK_HWCAP_ASIMDDP) != 0;
    case QK_PATH_I8MM: return (getauxval(AT_HWCAP2) & QK_HWCAP2_I8MM) != 0;
#endif
#if defined(__x86_64__) || defined(__i386__)
    case QK_PATH_AVX2: return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
    case QK_PATH_VNNI:
        return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512vl")
            && __builtin_cpu_supports("avx512vnni");
    case QK_PATH_VNNI512:
        return qk_path_supported(QK_PATH_VNNI) && __builtin_cpu_supports("avx512bw");
    case QK_PATH_AVXVNNI: {
        // CPUID leaf 7, sub-leaf 1: EAX bit 4 is AVX-VNNI (the OS saves the ymm state where AVX2 runs).
        unsigned int eax = 0, ebx = 0, ecx = 0, edx = 0;
        return qk_path_supported(QK_PATH_AVX2) && __get_cpuid_count(7, 1, &eax, &ebx, &ecx, &edx) && (eax & (1u << 4)) != 0;
    }
#endif
    default: return 0;
    }
}

qk_path qk_best_path(void) {
    const char *isa = getenv("QUANTA_ISA");
    if (isa && strcmp(isa, "avx2") == 0 && qk_path_supported(QK_PATH_AVX2)) return QK_PATH_AVX2;
    if (isa && strcmp(isa, "avxvnni") == 0 && qk_path_supported(QK_PATH_AVXVNNI)) return QK_PATH_AVXVNNI;
    if (isa && strcmp(isa, "neon") == 0 && qk_path_supported(QK_PATH_NEON)) return QK_PATH_NEON;
    if (isa && strcmp(isa, "portable") == 0) return QK_PATH_PORTABLE;
    if (qk_path_supported(QK_PATH_I8MM)) return QK_PATH_I8MM;
    if (qk_path_supported(QK_PATH_NEON)) return QK_PATH_NEON;
    if (qk_path_supported(QK_PATH_VNNI512)) return QK_PATH_VNNI512;
    if (qk_path_supported(QK_PATH_VNNI)) return QK_PATH_VNNI;
    if (qk_path_supported(QK_PATH_AVXVNNI)) return QK_PATH_AVXVNNI;
    if (qk_path_supported(QK_PATH_AVX2)) return QK_PATH_AVX2;
    return QK_PATH_PORTABLE;
}

const qk_kernel_table *qk_kernels(qk_path path) {
    if (!qk_path_supported(path)) return NULL;
    switch (path) {
#if defined(__x86_64__) || defined(__i386__)
    case QK_PATH_AVX2: return &qk_avx2_kernels;
    case QK_PATH_VNNI: return &qk_vnni_kernels;
    case QK_PATH_VNNI512: return &qk_vnni512_kernels;
    case QK_PATH_AVXVNNI: return &qk_avxvnni_kernels;
#endif
#if defined(__aarch64__)
    case QK_PATH_NEON: return &qk_neon_kernels;
    case QK_PATH_I8MM: return &qk_i8mm_kernels;
#endif
    default: return &qk_portable_kernels;
    }
}

const qk_kernel_table *qk_active_kernels(void) {
    // The path cannot change while the process runs (CPU and environment), so it is looked up once.
    static const qk_kernel_table *_Atomic active;
    const qk_kernel_table *table = atomic_load_explicit(&active, memory_order_acquire);
    if (!table) {
        table = qk_kernels(qk_best_path());
        atomic_store_explicit(&active, table, memory_order_release);
    }
    return table;
}

void qk_gemm_u8s8(qk_path path, const uint8_t *a, int m, int k, int lda, const int8_t *packed, int n,
                  int n0, int n1, const qk_epilogue *e) {
    if (n0 >= n1 || m <= 0) return;
    const qk_kernel_table *table = qk_kernels(path);
    if (!table) table = &qk_portable_kernels;
    (e->mode == 3 ? table->gemm_u8s8_blocks : table->gemm_u8s8)(a, m, k, lda, packed, n, n0, n1, e);
}
