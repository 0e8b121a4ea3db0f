// The machine's memory read rate, the ceiling of every weight-streaming kernel (GEMV, decode): a STREAM-style
// read of a buffer larger than the caches, split over the thread pool (see QuantaKernels.h).
#include "QuantaKernels.h"

typedef struct {
    const uint64_t *words;
    size_t count;
    int tasks;
    uint64_t sums[64];
} read_job;

enum { READ_STREAMS = 4, STREAM_WORDS = 4096, LINE_WORDS = 8 };

/// A thread's slice read as READ_STREAMS nearby streams: each group of READ_STREAMS x 32 KB is read a 64-byte line
/// of each stream in turn. One sequential stream per thread stays far below the memory's rate on some CPUs (Zen 3,
/// 2 threads: 15-27 GB/s against 29-36 for four streams), and the weight-streaming kernels read several panels
/// or rows at once there (qk_avx2_gemv_panels, the FP32 GEMV's 4-row tiles); on Zen 4 the two patterns read
/// alike (the FP32 GEMV's four rows at 95-104% of one stream).
static void read_slice(void *context, int index) {
    read_job *job = context;
    size_t from = job->count * (size_t)index / (size_t)job->tasks, to = job->count * (size_t)(index + 1) / (size_t)job->tasks;
    uint64_t sums[READ_STREAMS][LINE_WORDS] = { { 0 } };
    size_t i = from;
    for (; i + READ_STREAMS * STREAM_WORDS <= to; i += READ_STREAMS * STREAM_WORDS) {
        for (size_t line = 0; line < STREAM_WORDS; line += LINE_WORDS) {
            for (int s = 0; s < READ_STREAMS; s++) {
                const uint64_t *words = job->words + i + (size_t)s * STREAM_WORDS + line;
                for (int w = 0; w < LINE_WORDS; w++) sums[s][w] += words[w];
            }
        }
    }
    uint64_t total = 0;
    for (; i < to; i++) total += job->words[i];
    for (int s = 0; s < READ_STREAMS; s++) for (int w = 0; w < LINE_WORDS; w++) total += sums[s][w];
    job->sums[index] = total;
}

uint64_t qk_read_words(const uint64_t *words, size_t count, int threads) {
    read_job job = { words, count, threads < 1 ? 1 : threads > 64 ? 64 : threads, { 0 } };
    qk_parallel_for(job.tasks, job.tasks, read_slice, &job);
    uint64_t total = 0;
    for (int t = 0; t < job.tasks; t++) total += job.sums[t];
    return total;
}
