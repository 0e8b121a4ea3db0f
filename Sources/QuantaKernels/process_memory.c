// The allocator setting of the engines' process (see QuantaKernels.h, qk_keep_freed_memory).
#include "QuantaKernels.h"

#if defined(__GLIBC__)
#include <malloc.h>
#endif

int qk_keep_freed_memory(void) {
#if defined(__GLIBC__)
    // 32 MiB is the largest mmap threshold glibc accepts on 64-bit (HEAP_MAX_SIZE / 2); setting it also turns
    // off the dynamic threshold. The trim threshold keeps up to 1 GiB of freed heap for reuse.
    return mallopt(M_MMAP_THRESHOLD, 32 << 20) && mallopt(M_TRIM_THRESHOLD, 1 << 30);
#else
    return 0;
#endif
}
