// OpenBLAS's CBLAS interface (Debian: libopenblas-dev). The FP32 baseline of every comparison.
#include <cblas.h>
