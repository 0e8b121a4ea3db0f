// The FP32 matrix-vector product of decoding (see QuantaKernels.h, qk_gemv_f32): rows split over the thread
// pool, each slice on the active path's row of the kernel table.
#include "kernels.h"

typedef struct {
    const float *w, *x;
    float *y;
    int rows, k, accumulate, tasks;
    void (*gemv)(const float *, int, int, const float *, float *, int);
} gemv_job;

static void gemv_slice(void *context, int index) {
    const gemv_job *job = context;
    int from = (int)((int64_t)job->rows * index / job->tasks), to = (int)((int64_t)job->rows * (index + 1) / job->tasks);
    job->gemv(job->w + (size_t)from * job->k, to - from, job->k, job->x, job->y + from, job->accumulate);
}

void qk_gemv_f32(const float *w, int rows, int k, const float *x, float *y, int accumulate, int threads) {
    if (rows <= 0) return;
    int tasks = threads < 1 ? 1 : threads > rows ? rows : threads;
    gemv_job job = { w, x, y, rows, k, accumulate, tasks, qk_active_kernels()->gemv_f32 };
    qk_parallel_for(tasks, tasks, gemv_slice, &job);
}
