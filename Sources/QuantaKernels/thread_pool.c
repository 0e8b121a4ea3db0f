#include "QuantaKernels.h"

#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdint.h>
#include <unistd.h>

// One job at a time: `ticket` packs the job's generation (bits 40-63), its task count (bits 20-39) and the
// next task index (bits 0-19). A thread takes task i with one fetch_add; i >= tasks means the job has no
// task left. Because the index and the count come from the same atomic word, a thread that arrives late
// (after the job ended and another began) either takes a task of the new job or none, never a stale one,
// and `task_function`/`task_context` only change once every task of the previous job has finished.
enum { INDEX_BITS = 20, GENERATION_SHIFT = 40, MAX_WORKERS = 63, SPINS_BEFORE_SLEEP = 1 << 15, SPINS_BEFORE_YIELD = 1 << 10 };
static const uint64_t FIELD = (1u << INDEX_BITS) - 1;

static _Atomic uint64_t ticket;
static _Atomic int finished;
static _Atomic(qk_task) task_function;
static void *_Atomic task_context;
static _Atomic int sleeping;
static pthread_mutex_t sleep_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t wake = PTHREAD_COND_INITIALIZER;
static pthread_mutex_t submit_lock = PTHREAD_MUTEX_INITIALIZER;
static int started;

static inline void relax(void) {
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#endif
}

/// Takes and runs tasks of the job in `ticket` until none is left.
static void run_tasks(void) {
    for (;;) {
        uint64_t t = atomic_fetch_add_explicit(&ticket, 1, memory_order_acq_rel);
        uint64_t index = t & FIELD, tasks = (t >> INDEX_BITS) & FIELD;
        if (index >= tasks) return;
        qk_task function = atomic_load_explicit(&task_function, memory_order_relaxed);
        function(atomic_load_explicit(&task_context, memory_order_relaxed), (int)index);
        atomic_fetch_add_explicit(&finished, 1, memory_order_release);
    }
}

static void *worker(void *unused) {
    (void)unused;
    uint64_t seen = atomic_load(&ticket) >> GENERATION_SHIFT;
    for (;;) {
        // Spin (a decode step issues a product every few microseconds), then sleep until the next job.
        int spins = 0;
        while ((atomic_load_explicit(&ticket, memory_order_acquire) >> GENERATION_SHIFT) == seen) {
            if (++spins < SPINS_BEFORE_SLEEP) { relax(); continue; }
            pthread_mutex_lock(&sleep_lock);
            atomic_fetch_add(&sleeping, 1);
            while ((atomic_load(&ticket) >> GENERATION_SHIFT) == seen) pthread_cond_wait(&wake, &sleep_lock);
            atomic_fetch_sub(&sleeping, 1);
            pthread_mutex_unlock(&sleep_lock);
        }
        seen = atomic_load(&ticket) >> GENERATION_SHIFT;
        run_tasks();
    }
    return NULL;
}

void qk_parallel_for(int tasks, int threads, qk_task function, void *context) {
    if (tasks <= 0) return;
    // One job at a time: a nested call, a call while another thread's job runs, or a single thread runs
    // its tasks in order on the calling thread.
    if (tasks == 1 || threads <= 1 || tasks > (int)FIELD || pthread_mutex_trylock(&submit_lock) != 0) {
        for (int i = 0; i < tasks; i++) function(context, i);
        return;
    }
    // More threads than cores only time-slice one core between spinning threads: the workers are capped at
    // the online cores (the tasks are still taken one by one, so any count of tasks spreads over them).
    // sysconf reads a file under /sys on every call (microseconds; decode submits hundreds of jobs per token),
    // so the count is read once, under submit_lock.
    static long cores;
    if (cores == 0) cores = sysconf(_SC_NPROCESSORS_ONLN);
    if (cores >= 1 && threads > cores) threads = (int)cores;
    if (threads <= 1) {
        pthread_mutex_unlock(&submit_lock);
        for (int i = 0; i < tasks; i++) function(context, i);
        return;
    }
    int wanted = threads - 1 < MAX_WORKERS ? threads - 1 : MAX_WORKERS;
    while (started < wanted) {
        pthread_t thread;
        if (pthread_create(&thread, NULL, worker, NULL) != 0) break;
        pthread_detach(thread);
        started++;
    }
    atomic_store_explicit(&task_function, function, memory_order_relaxed);
    atomic_store_explicit(&task_context, context, memory_order_relaxed);
    atomic_store_explicit(&finished, 0, memory_order_relaxed);
    uint64_t generation = ((atomic_load(&ticket) >> GENERATION_SHIFT) + 1) & 0xFFFFFF;
    atomic_store(&ticket, generation << GENERATION_SHIFT | (uint64_t)tasks << INDEX_BITS);
    if (atomic_load(&sleeping) > 0) {
        pthread_mutex_lock(&sleep_lock);
        pthread_cond_broadcast(&wake);
        pthread_mutex_unlock(&sleep_lock);
    }
    run_tasks();
    // Wait for tasks still running on workers; yield the core now and then, in case one of them was
    // preempted (another busy process) and needs it to finish.
    for (int spins = 0; atomic_load_explicit(&finished, memory_order_acquire) < tasks; spins++) {
        if (spins % SPINS_BEFORE_YIELD == SPINS_BEFORE_YIELD - 1) sched_yield();
        else relax();
    }
    pthread_mutex_unlock(&submit_lock);
}
