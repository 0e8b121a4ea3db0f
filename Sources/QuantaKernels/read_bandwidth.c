// The machine's memory read rate, the ceiling of every weight-streaming kernel (GEMV, decode): a STREAM-style
// read of a buffer larger than the caches, split over the thread pool (see QuantaKernels.h).
#include "QuantaKernels.h"

typedef struct {
    const uint64_t *words;
    size_t count;
    int tasks;
    uint64_t sums[64];
} read_job;

static void read_slice(void *context, int index) {
    read_job *job = context;
    size_t from = job->count * (size_t)index / (size_t)job->tasks, to = job->count * (size_t)(index + 1) / (size_t)job->tasks;
    // Four independent sums, so that the loop is bound by loads, not by one chain of adds (vectorized by -O2).
    uint64_t s0 = 0, s1 = 0, s2 = 0, s3 = 0;
    size_t i = from;
    for (; i + 4 <= to; i += 4) { s0 += job->words[i]; s1 += job->words[i + 1]; s2 += job->words[i + 2]; s3 += job->words[i + 3]; }
    for (; i < to; i++) s0 += job->words[i];
    job->sums[index] = s0 + s1 + s2 + s3;
}

uint64_t qk_read_words(const uint64_t *words, size_t count, int threads) {
    read_job job = { words, count, threads < 1 ? 1 : threads > 64 ? 64 : threads, { 0 } };
    qk_parallel_for(job.tasks, job.tasks, read_slice, &job);
    uint64_t total = 0;
    for (int t = 0; t < job.tasks; t++) total += job.sums[t];
    return total;
}
