// The ceiling of each integer-product instruction sequence Quanta's x86 kernels (and their peers) issue per
// group of products: independent chains of the sequence in registers, no loads, on `threads` threads (default 2),
// in GOP/s (2 operations per multiply-add). A kernel's GOP/s over its sequence's ceiling is how much of the
// machine it uses; two kernels whose sequences differ cannot be compared by tuning alone (README, issue 11).
//
//   direct  vpmaddubsw + vpmaddwd + vpaddd per 32 products (ymm): FBGEMM's and oneDNN's AVX2 u8 x s8 (exact only
//           for 7-bit operands), Quanta's direct tile (7-bit weights)
//   sign    vpsignb + vpmaddubsw + vpmaddwd + vpaddd per 32 (ymm): Quanta's exact sign-trick tile
//   wide    2 x (vpmaddwd + vpaddd) per 32 on int16 operands (ymm): Quanta's exact wide tile
//   vnni512 vpdpbusd per 64 (zmm): Quanta's vnni512 tile and oneDNN's, where the CPU has AVX-512 VNNI
//
// Build and run: cc -O2 -pthread scripts/ceilings/instruction_ceilings.c -o /tmp/ceilings && /tmp/ceilings [threads]
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#define ITERATIONS 20000000L
#define DIRECT(t, acc) "vpmaddubsw %%ymm1, %%ymm0, %%ymm" #t "\n\tvpmaddwd %%ymm2, %%ymm" #t ", %%ymm" #t "\n\t" \
                       "vpaddd %%ymm" #t ", %%ymm" #acc ", %%ymm" #acc "\n\t"
#define SIGN(t, acc) "vpsignb %%ymm0, %%ymm1, %%ymm" #t "\n\t" DIRECT(t, acc)
#define WIDE(t, acc) "vpmaddwd %%ymm1, %%ymm0, %%ymm" #t "\n\tvpaddd %%ymm" #t ", %%ymm" #acc ", %%ymm" #acc "\n\t" \
                     "vpmaddwd %%ymm2, %%ymm0, %%ymm" #t "\n\tvpaddd %%ymm" #t ", %%ymm" #acc ", %%ymm" #acc "\n\t"
#define SIX_CHAINS(M) M(3, 4) M(5, 6) M(7, 8) M(9, 10) M(11, 12) M(13, 14)
#define YMM_CLOBBERS "xmm3", "xmm4", "xmm5", "xmm6", "xmm7", "xmm8", "xmm9", "xmm10", "xmm11", "xmm12", "xmm13", "xmm14"
#define VNNI(i) "vpdpbusd %%zmm1, %%zmm0, %%zmm" #i "\n\t"

static void *direct(void *unused) { for (long n = 0; n < ITERATIONS; n++) __asm__ volatile(SIX_CHAINS(DIRECT) ::: YMM_CLOBBERS); return unused; }
static void *sign(void *unused) { for (long n = 0; n < ITERATIONS; n++) __asm__ volatile(SIX_CHAINS(SIGN) ::: YMM_CLOBBERS); return unused; }
static void *wide(void *unused) { for (long n = 0; n < ITERATIONS; n++) __asm__ volatile(SIX_CHAINS(WIDE) ::: YMM_CLOBBERS); return unused; }
__attribute__((target("avx512f"))) static void *vnni512(void *unused) {
    for (long n = 0; n < ITERATIONS / 4; n++)   // 24 accumulators x 64 products = 8 chains' worth of the ymm rows
        __asm__ volatile(VNNI(8) VNNI(9) VNNI(10) VNNI(11) VNNI(12) VNNI(13) VNNI(14) VNNI(15) VNNI(16) VNNI(17) VNNI(18)
                         VNNI(19) VNNI(20) VNNI(21) VNNI(22) VNNI(23) VNNI(24) VNNI(25) VNNI(26) VNNI(27) VNNI(28) VNNI(29)
                         VNNI(30) VNNI(31) ::: "xmm8", "xmm9", "xmm10", "xmm11", "xmm12", "xmm13", "xmm14", "xmm15", "xmm16",
                         "xmm17", "xmm18", "xmm19", "xmm20", "xmm21", "xmm22", "xmm23", "xmm24", "xmm25", "xmm26", "xmm27",
                         "xmm28", "xmm29", "xmm30", "xmm31");
    return unused;
}

/// Seconds for `threads` threads each running `body` once.
static double timed(void *(*body)(void *), int threads) {
    pthread_t workers[64];
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    for (int i = 0; i < threads; i++) pthread_create(&workers[i], NULL, body, NULL);
    for (int i = 0; i < threads; i++) pthread_join(workers[i], NULL);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    return (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) * 1e-9;
}

int main(int argc, char **argv) {
    int threads = argc > 1 ? atoi(argv[1]) : 2;
    if (threads < 1 || threads > 64) { fprintf(stderr, "threads must be 1-64, not %s\n", argv[1]); return 1; }
    __builtin_cpu_init();
    if (!__builtin_cpu_supports("avx2")) { fprintf(stderr, "this CPU has no AVX2\n"); return 1; }
    // Products per thread: ITERATIONS x 6 chains x 32 (ymm rows) or ITERATIONS / 4 x 24 x 64 (vnni512).
    double ymm = (double)ITERATIONS * 6 * 32, zmm = (double)(ITERATIONS / 4) * 24 * 64;
    struct { const char *name; void *(*body)(void *); double products; int vnni; } rows[] = {
        {"direct  vpmaddubsw + vpmaddwd + vpaddd / 32", direct, ymm, 0},
        {"sign    vpsignb + vpmaddubsw + vpmaddwd + vpaddd / 32", sign, ymm, 0},
        {"wide    2 x (vpmaddwd + vpaddd) / 32", wide, ymm, 0},
        {"vnni512 vpdpbusd zmm / 64", vnni512, zmm, 1},
    };
    printf("%d threads; GOP/s = 2 x products / s, registers only\n", threads);
    for (int r = 0; r < 4; r++) {
        if (rows[r].vnni && !(__builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512vnni"))) {
            printf("%-56s (no AVX-512 VNNI)\n", rows[r].name);
            continue;
        }
        printf("%-56s %8.1f GOP/s\n", rows[r].name, 2 * rows[r].products * threads / timed(rows[r].body, threads) / 1e9);
    }
    return 0;
}
