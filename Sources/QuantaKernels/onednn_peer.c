// oneDNN's u8 x s8 -> f32 matmul as an optional benchmark peer, loaded at run time with dlopen so that
// neither the build nor any user needs oneDNN. Written against oneDNN 2.x's C API (Debian's libdnnl2):
// the enum values and structure sizes below are that API's (checked against its headers, version 2.6.3);
// oneDNN 3 renamed these entry points, so it is reported as unavailable.
#define _GNU_SOURCE
#include "QuantaKernels.h"

#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef void *handle;
typedef int64_t dim;
typedef struct { int arg; handle memory; } exec_arg;
// Opaque storage comfortably larger than oneDNN 2.x's dnnl_memory_desc_t (696 bytes) and
// dnnl_matmul_desc_t (2800 bytes).
typedef struct { _Alignas(64) unsigned char bytes[1024]; } memory_desc;
typedef struct { _Alignas(64) unsigned char bytes[4096]; } matmul_desc;

enum { DT_S8 = 5, DT_U8 = 6, DT_F32 = 3, TAG_ANY = 1, TAG_AB = 3, TAG_BA = 22, ENGINE_CPU = 1, STREAM_DEFAULT = 1,
       ARG_SRC = 1, ARG_DST = 17, ARG_WEIGHTS = 33, ARG_FROM = 1, ARG_TO = 17, QUERY_WEIGHTS_MD = 131 };

static struct {
    int loaded;
    char why[256];
    int (*engine_create)(handle *, int, size_t);
    int (*stream_create)(handle *, handle, unsigned);
    int (*stream_wait)(handle);
    int (*md_init_by_tag)(memory_desc *, int, const dim *, int, int);
    int (*matmul_desc_init)(matmul_desc *, const memory_desc *, const memory_desc *, const memory_desc *, const memory_desc *);
    int (*attr_create)(handle *);
    int (*attr_set_output_scales)(handle, dim, int, const float *);
    int (*pd_create)(handle *, const void *, handle, handle, handle);
    const memory_desc *(*pd_query_md)(handle, int, int);
    int (*reorder_pd_create)(handle *, const memory_desc *, handle, const memory_desc *, handle, handle);
    int (*primitive_create)(handle *, handle);
    int (*primitive_execute)(handle, handle, int, const exec_arg *);
    int (*memory_create)(handle *, const memory_desc *, handle, void *);
    int (*primitive_destroy)(handle);
    int (*memory_destroy)(handle);
    size_t (*md_get_size)(const memory_desc *);
    void (*set_threads)(int);
    handle engine, stream;
} dnnl;

static int load(void) {
    if (dnnl.loaded) return dnnl.loaded > 0;
    dnnl.loaded = -1;
    void *library = dlopen("libdnnl.so.2", RTLD_NOW | RTLD_GLOBAL);
    if (!library) { snprintf(dnnl.why, sizeof dnnl.why, "libdnnl.so.2 (oneDNN 2.x) not found"); return 0; }
#define BIND(field, symbol)                                                                                   \
    if (!(*(void **)&dnnl.field = dlsym(library, symbol))) {                                                 \
        snprintf(dnnl.why, sizeof dnnl.why, "libdnnl.so.2 lacks %s (not the oneDNN 2.x C API)", symbol);     \
        return 0;                                                                                             \
    }
    BIND(engine_create, "dnnl_engine_create") BIND(stream_create, "dnnl_stream_create") BIND(stream_wait, "dnnl_stream_wait")
    BIND(md_init_by_tag, "dnnl_memory_desc_init_by_tag") BIND(matmul_desc_init, "dnnl_matmul_desc_init")
    BIND(attr_create, "dnnl_primitive_attr_create") BIND(attr_set_output_scales, "dnnl_primitive_attr_set_output_scales")
    BIND(pd_create, "dnnl_primitive_desc_create") BIND(pd_query_md, "dnnl_primitive_desc_query_md")
    BIND(reorder_pd_create, "dnnl_reorder_primitive_desc_create") BIND(primitive_create, "dnnl_primitive_create")
    BIND(primitive_execute, "dnnl_primitive_execute") BIND(memory_create, "dnnl_memory_create")
    BIND(md_get_size, "dnnl_memory_desc_get_size") BIND(primitive_destroy, "dnnl_primitive_destroy")
    BIND(memory_destroy, "dnnl_memory_destroy")
#undef BIND
    *(void **)&dnnl.set_threads = dlsym(RTLD_DEFAULT, "omp_set_num_threads");   // its OpenMP runtime
    if (dnnl.engine_create(&dnnl.engine, ENGINE_CPU, 0) || dnnl.stream_create(&dnnl.stream, dnnl.engine, STREAM_DEFAULT)) {
        snprintf(dnnl.why, sizeof dnnl.why, "oneDNN could not create a CPU engine");
        return 0;
    }
    dnnl.loaded = 1;
    return 1;
}

const char *qk_onednn_unavailable(void) { return load() ? NULL : dnnl.why; }

struct qk_onednn_matmul {
    handle matmul, source, weights, destination;
    void *packed;
};

qk_onednn_matmul *qk_onednn_matmul_create(int m, int n, int k, const uint8_t *a, const int8_t *w, float scale, float *c, int threads) {
    if (!load()) return NULL;
    if (dnnl.set_threads) dnnl.set_threads(threads);
    memory_desc a_md, w_md, w_any, c_md;
    matmul_desc op;
    dim a_dims[2] = {m, k}, w_dims[2] = {k, n}, c_dims[2] = {m, n};
    handle attr = NULL, pd = NULL, reorder_pd = NULL, reorder = NULL, given = NULL;
    qk_onednn_matmul *result = calloc(1, sizeof *result);
    // W [n, k] row-major is the [k, n] weight oneDNN multiplies by, in column-major order (tag ba); the
    // primitive picks its own weight layout (tag any), into which W is reordered once, as at load time.
    int failed = !result || dnnl.md_init_by_tag(&a_md, 2, a_dims, DT_U8, TAG_AB) || dnnl.md_init_by_tag(&w_md, 2, w_dims, DT_S8, TAG_BA)
        || dnnl.md_init_by_tag(&w_any, 2, w_dims, DT_S8, TAG_ANY) || dnnl.md_init_by_tag(&c_md, 2, c_dims, DT_F32, TAG_AB)
        || dnnl.matmul_desc_init(&op, &a_md, &w_any, NULL, &c_md) || dnnl.attr_create(&attr)
        || dnnl.attr_set_output_scales(attr, 1, 0, &scale) || dnnl.pd_create(&pd, &op, attr, dnnl.engine, NULL)
        || dnnl.primitive_create(&result->matmul, pd);
    const memory_desc *packed_md = failed ? NULL : dnnl.pd_query_md(pd, QUERY_WEIGHTS_MD, 0);
    failed = failed || !packed_md || !(result->packed = aligned_alloc(64, (dnnl.md_get_size(packed_md) + 63) / 64 * 64))
        || dnnl.memory_create(&result->weights, packed_md, dnnl.engine, result->packed)
        || dnnl.memory_create(&given, &w_md, dnnl.engine, (void *)w)
        || dnnl.memory_create(&result->source, &a_md, dnnl.engine, (void *)a)
        || dnnl.memory_create(&result->destination, &c_md, dnnl.engine, c)
        || dnnl.reorder_pd_create(&reorder_pd, &w_md, dnnl.engine, packed_md, dnnl.engine, NULL)
        || dnnl.primitive_create(&reorder, reorder_pd);
    if (!failed) {
        exec_arg args[2] = {{ARG_FROM, given}, {ARG_TO, result->weights}};
        failed = dnnl.primitive_execute(reorder, dnnl.stream, 2, args) || dnnl.stream_wait(dnnl.stream);
    }
    // The descriptors and the reorder are small and made once per benchmark shape; they are not freed.
    if (failed && result) { qk_onednn_matmul_destroy(result); result = NULL; }
    return result;
}

void qk_onednn_matmul_destroy(qk_onednn_matmul *p) {
    if (!p) return;
    if (p->matmul) dnnl.primitive_destroy(p->matmul);
    handle memories[3] = {p->source, p->weights, p->destination};
    for (int i = 0; i < 3; i++) if (memories[i]) dnnl.memory_destroy(memories[i]);
    free(p->packed);
    free(p);
}

int qk_onednn_matmul_run(const qk_onednn_matmul *p, int threads) {
    if (dnnl.set_threads) dnnl.set_threads(threads);
    exec_arg args[3] = {{ARG_SRC, p->source}, {ARG_WEIGHTS, p->weights}, {ARG_DST, p->destination}};
    return dnnl.primitive_execute(p->matmul, dnnl.stream, 3, args) || dnnl.stream_wait(dnnl.stream);
}
