// The integer-only encoder's kernels (include/integer_kernels.h): integer types only, by construction (a test
// reads this file and its header and fails on any floating-point type).
#include "integer_kernels.h"

static int bit_length(uint64_t v) { return v ? 64 - __builtin_clzll(v) : 0; }

static int64_t floor_divide(int64_t a, int64_t b) {
    int64_t q = a / b;
    return (a % b != 0 && ((a < 0) != (b < 0))) ? q - 1 : q;
}

int64_t qi_round_shift(int64_t p, int s) {
    if (s <= 0) return p * ((int64_t)1 << -s);
    if (s >= 63) return 0;
    int64_t floor = p >> s, remainder = p - floor * ((int64_t)1 << s), half = (int64_t)1 << (s - 1);
    return (remainder > half || (remainder == half && (floor & 1))) ? floor + 1 : floor;
}

/// rne(p m / 2^s) through a 128-bit product (p m may pass 2^63).
static int64_t round_shift_wide(int64_t p, qi_multiplier m) {
    __int128 product = (__int128)p * m.mantissa;
    int s = m.shift;
    if (s <= 0) return (int64_t)(product * ((__int128)1 << -s));
    if (s >= 126) return 0;
    __int128 floor = product >> s, remainder = product - floor * ((__int128)1 << s), half = (__int128)1 << (s - 1);
    return (int64_t)((remainder > half || (remainder == half && (floor & 1))) ? floor + 1 : floor);
}

static int32_t clamp32(int64_t v, int64_t lo, int64_t hi) { return (int32_t)(v < lo ? lo : v > hi ? hi : v); }

/// rne(p / 2^s) for s in [1, 62], branch-free on the magnitude (rne is odd: rne(-v) = -rne(v)), so that the
/// loops below vectorise with logical shifts only (AVX2 has no 64-bit arithmetic shift).
__attribute__((always_inline)) static inline int64_t rne_shift(int64_t p, int s) {
    uint64_t a = p < 0 ? 0 - (uint64_t)p : (uint64_t)p;
    uint64_t r = (a + (((uint64_t)1 << (s - 1)) - 1) + ((a >> s) & 1)) >> s;
    return p < 0 ? -(int64_t)r : (int64_t)r;
}

/// The widest variant of the loops below this CPU runs: 2 (AVX-512 F/BW/VL/DQ), 1 (AVX2), 0 (the baseline);
/// every variant is the same integer operations, auto-vectorised, so all give the same bits.
int qi_simd_available(void) {
#if defined(__x86_64__)
    static int level = -1;
    if (level < 0) {
        level = __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") && __builtin_cpu_supports("avx512vl") &&
                        __builtin_cpu_supports("avx512dq") ? 2
                : __builtin_cpu_supports("avx2") ? 1 : 0;
    }
    return level;
#else
    return 0;
#endif
}

#if defined(__x86_64__)
#define QI_AVX2 __attribute__((target("avx2")))
#if defined(__clang__)
#define QI_AVX512 __attribute__((target("avx512f,avx512bw,avx512vl,avx512dq"), min_vector_width(512)))
#else
#define QI_AVX512 __attribute__((target("avx512f,avx512bw,avx512vl,avx512dq")))
#endif
/// NAME_avx512, NAME_avx2 or NAME_plain: the widest variant that both `simd` (the caller's kernel path: 2, 1
/// or 0) and the CPU allow.
#define QI_PICK(simd, name) ((simd) >= 2 && qi_simd_available() >= 2 ? name##_avx512 : (simd) >= 1 && qi_simd_available() >= 1 ? name##_avx2 : name##_plain)
#define QI_DISPATCH(simd, name, ...) QI_PICK(simd, name)(__VA_ARGS__)
#else
#define QI_DISPATCH(simd, name, ...) name##_plain(__VA_ARGS__)
#endif
/// A loop body compiled three times on x86-64: NAME_plain for the baseline ISA, NAME_avx2 and NAME_avx512
/// (auto-vectorised at 256 and 512 bits); once elsewhere.
#if defined(__x86_64__)
#define QI_VARIANTS(name, params, args)                                                       \
    static void name##_plain params { name##_body args; }                                     \
    QI_AVX2 static void name##_avx2 params { name##_body args; }                              \
    QI_AVX512 static void name##_avx512 params { name##_body args; }
#else
#define QI_VARIANTS(name, params, args) static void name##_plain params { name##_body args; }
#endif

uint64_t qi_sqrt(uint64_t n) {
    if (n <= 1) return n;
    uint64_t x = (uint64_t)1 << ((bit_length(n) + 1) / 2);
    for (;;) {
        uint64_t next = (x + n / x) / 2;
        if (next >= x) return x;
        x = next;
    }
}

int64_t qi_gelu_code(int64_t q, const qi_gelu *g) {
    int64_t magnitude = q < 0 ? -q : q;
    int64_t clipped = (magnitude < -g->qb ? magnitude : -g->qb) + g->qb;
    int64_t sign = (q > 0) - (q < 0);
    int64_t erf = (sign * (clipped * clipped + g->qc)) >> g->shift;
    return q * (erf + g->q1);
}

__attribute__((always_inline)) static inline void gelu_rows_body(const int32_t *x, int64_t count, qi_gelu g, int pre,
                                                                   qi_multiplier out, int32_t *y) {
    // |q_b| < 2^31 and erf + q_1 < 2^31 (IntegerGELU's scales): the products are int32 x int32.
    const int32_t negative_qb = (int32_t)-g.qb, q1 = (int32_t)g.q1;
    for (int64_t i = 0; i < count; i++) {
        int32_t q = x[i], magnitude = q < 0 ? -q : q;
        int32_t clipped = (magnitude < negative_qb ? magnitude : negative_qb) - negative_qb;
        int64_t v = (int64_t)clipped * clipped + g.qc;
        // sgn(q) v >> k (floor): for negative values -ceil(v / 2^k)
        uint64_t a = v < 0 ? 0 - (uint64_t)v : (uint64_t)v;
        int64_t down = (int64_t)(a >> g.shift), up = (int64_t)((a + ((uint64_t)1 << g.shift) - 1) >> g.shift);
        int64_t erf = q == 0 ? 0 : ((q < 0) == (v < 0)) ? down : -up;
        int64_t code = (int64_t)q * (int32_t)(erf + q1);
        int64_t narrowed = pre > 0 ? rne_shift(code, pre) : code;
        int64_t r = rne_shift(narrowed * out.mantissa, out.shift);
        y[i] = (int32_t)(r < INT32_MIN ? INT32_MIN : r > INT32_MAX ? INT32_MAX : r);
    }
}
QI_VARIANTS(gelu_rows, (const int32_t *x, int64_t count, qi_gelu g, int pre, qi_multiplier out, int32_t *y), (x, count, g, pre, out, y))

void qi_gelu_rows(const int32_t *x, int64_t count, const qi_gelu *g, int pre, qi_multiplier out, int32_t *y, int simd) {
    QI_DISPATCH(simd, gelu_rows, x, count, *g, pre, out, y);
}

int64_t qi_exp(int64_t d, const qi_softmax *s) {
    int64_t clamped = d > 30 * s->qln2 ? d : 30 * s->qln2;
    int64_t z = floor_divide(-clamped, -s->qln2);
    int64_t p = clamped - z * s->qln2 + s->qb;
    return (p * p + s->qc) >> z;
}

/// floor(p / 2^k) for k in [1, 62], on the magnitude (logical shifts only, as rne_shift).
__attribute__((always_inline)) static inline int64_t floor_shift(int64_t p, int k) {
    uint64_t a = p < 0 ? 0 - (uint64_t)p : (uint64_t)p;
    return p < 0 ? -(int64_t)((a + ((uint64_t)1 << k) - 1) >> k) : (int64_t)(a >> k);
}

__attribute__((always_inline)) static inline int softmax_rows_body(const int32_t *x, int rows, int cols, int ldx, qi_softmax s, uint8_t *p,
                                                                     int ldp) {
    int64_t e[cols > 0 ? cols : 1];
    const int64_t limit = ((int64_t)1 << s.out_bits) - 1, q = -s.qln2;
    // i-exp without a division: z = floor(u / q) (u = -max(d, 30 q_ln2) <= 30 q) is z0 = floor(u r / 2^38) with
    // r = floor(2^38 / q), or z0 + 1 (u < 2^31 keeps the estimate within one); every operand is an int32.
    const int fast = q > 128 && q < ((int64_t)1 << 26) && s.qb < ((int64_t)1 << 30);
    const int32_t q32 = (int32_t)q, lowest = (int32_t)(-30 * q), qb = (int32_t)s.qb;
    const int32_t r = fast ? (int32_t)(((int64_t)1 << 38) / q) : 0;
    for (int row_index = 0; row_index < rows; row_index++) {
        const int32_t *row = x + (int64_t)row_index * ldx;
        int32_t top = row[0], bottom = row[0];
        for (int c = 1; c < cols; c++) {
            top = row[c] > top ? row[c] : top;
            bottom = row[c] < bottom ? row[c] : bottom;
        }
        int64_t sum = 0;
        if (fast && (int64_t)top - bottom < ((int64_t)1 << 31)) {
            for (int c = 0; c < cols; c++) {
                int32_t d = row[c] - top;
                int32_t clamped = d > lowest ? d : lowest, u = -clamped;
                int32_t z = (int32_t)(((int64_t)u * r) >> 38);
                z += (z + 1) * q32 <= u;
                int32_t t = clamped + z * q32 + qb;
                int64_t v = (int64_t)t * t + s.qc;
                sum += e[c] = (int64_t)((uint64_t)v >> z);
            }
        } else {
            for (int c = 0; c < cols; c++) sum += e[c] = qi_exp((int64_t)row[c] - top, &s);
        }
        if (sum < 1) sum = 1;
        int k = bit_length((uint64_t)sum) + 24;
        if (k > 62) return -1;
        int64_t factor = ((int64_t)1 << k) / sum, half = (int64_t)1 << (k - s.out_bits - 1);
        int down = k - s.out_bits;
        uint8_t *out = p + (int64_t)row_index * ldp;
        for (int c = 0; c < cols; c++) {
            int64_t v = (e[c] * factor + half) >> down;
            out[c] = (uint8_t)(v < limit ? v : limit);
        }
    }
    return 0;
}
#if defined(__x86_64__)
static int softmax_rows_plain(const int32_t *x, int rows, int cols, int ldx, qi_softmax s, uint8_t *p, int ldp) {
    return softmax_rows_body(x, rows, cols, ldx, s, p, ldp);
}
QI_AVX2 static int softmax_rows_avx2(const int32_t *x, int rows, int cols, int ldx, qi_softmax s, uint8_t *p, int ldp) {
    return softmax_rows_body(x, rows, cols, ldx, s, p, ldp);
}
QI_AVX512 static int softmax_rows_avx512(const int32_t *x, int rows, int cols, int ldx, qi_softmax s, uint8_t *p, int ldp) {
    return softmax_rows_body(x, rows, cols, ldx, s, p, ldp);
}
#endif

int qi_softmax_rows(const int32_t *x, int rows, int cols, int ldx, const qi_softmax *s, uint8_t *p, int ldp, int simd) {
#if defined(__x86_64__)
    return QI_PICK(simd, softmax_rows)(x, rows, cols, ldx, *s, p, ldp);
#else
    (void)simd;
    return softmax_rows_body(x, rows, cols, ldx, *s, p, ldp);
#endif
}

/// I-BERT's integer statistics of a row: the mean m = floor((2 sum q + n) / (2 n)), the normaliser
/// f = floor(2^j / std) and j (qi_layernorm_codes). Where every |x| < 2^30 the differences x - m are int32.
typedef struct {
    int64_t mean, factor;
    int j, narrow;
} layernorm_statistics;

__attribute__((always_inline)) static inline layernorm_statistics statistics(const int32_t *x, int n) {
    int64_t sum = 0;
    int32_t lo = x[0], hi = x[0];
    for (int c = 0; c < n; c++) {
        sum += x[c];
        lo = x[c] < lo ? x[c] : lo;
        hi = x[c] > hi ? x[c] : hi;
    }
    layernorm_statistics st;
    st.mean = floor_divide(2 * sum + n, 2 * (int64_t)n);
    st.narrow = lo > -(1 << 30) && hi < (1 << 30);
    int64_t largest = hi - st.mean > st.mean - lo ? hi - st.mean : st.mean - lo;
    // Every shift below bit_length(largest) - 16 leaves a term of at least 2^32: start there (the smallest
    // shift found is the same, and no square overflows).
    int shift = bit_length((uint64_t)largest) - 16;
    if (shift < 0) shift = 0;
    int64_t variance;
    for (;; shift++) {
        variance = 0;
        if (st.narrow) {
            const int32_t mean = (int32_t)st.mean;
            for (int c = 0; c < n; c++) {
                int32_t y = (x[c] - mean) >> shift;
                variance += (int64_t)y * y;
            }
        } else {
            for (int c = 0; c < n; c++) {
                int64_t y = (x[c] - st.mean) >> shift;
                variance += y * y;
            }
        }
        if (variance < ((int64_t)1 << 31)) break;
    }
    int64_t std = (int64_t)qi_sqrt((uint64_t)variance) << shift;
    if (std < 1) std = 1;
    st.j = bit_length((uint64_t)std) + 30;
    if (st.j > 62) st.j = 62;
    st.factor = ((int64_t)1 << st.j) / std;
    return st;
}

void qi_layernorm_codes(const int32_t *x, int n, const int64_t *bias_codes, int64_t *out) {
    layernorm_statistics st = statistics(x, n);
    for (int c = 0; c < n; c++) out[c] = (((x[c] - st.mean) * st.factor) >> (st.j - 30)) + bias_codes[c];
}

__attribute__((always_inline)) static inline void layernorm_rows_body(const int32_t *x, int rows, int n, const int32_t *channel_mantissa,
                                                                        const int32_t *channel_shift, const int32_t *bias, int32_t *out) {
    const int32_t bound = (1 << 29) - 1;
    int32_t smallest = 1 << 30, largest = -(1 << 30);
    for (int c = 0; c < n; c++) {
        smallest = channel_shift[c] < smallest ? channel_shift[c] : smallest;
        largest = channel_shift[c] > largest ? channel_shift[c] : largest;
    }
    for (int r = 0; r < rows; r++) {
        const int32_t *row = x + (int64_t)r * n;
        int32_t *o = out + (int64_t)r * n;
        layernorm_statistics st = statistics(row, n);
        // f <= 2^31; f = 2^31 (std a power of two) is the same product as 2^30 with one shift less.
        int64_t factor = st.factor;
        int k = st.j - 22;
        if (factor == (int64_t)1 << 31) { factor >>= 1; k -= 1; }
        if (st.narrow && n <= 1 << 16 && k >= 1 && smallest >= 1 && largest <= 62) {
            // |y f / 2^(j - 22)| <= 2^22 sqrt(n) < 2^31: every product is int32 x int32.
            const int32_t mean = (int32_t)st.mean, f = (int32_t)factor;
            for (int c = 0; c < n; c++) {
                int32_t normalised = (int32_t)floor_shift((int64_t)(row[c] - mean) * f, k);
                int64_t y = rne_shift((int64_t)normalised * channel_mantissa[c], channel_shift[c]) + bias[c];
                o[c] = (int32_t)(y < -bound ? -bound : y > bound ? bound : y);
            }
        } else {
            for (int c = 0; c < n; c++) {
                int64_t normalised = ((row[c] - st.mean) * st.factor) >> (st.j - 22);
                int64_t y = round_shift_wide(normalised, (qi_multiplier){channel_mantissa[c], channel_shift[c]}) + bias[c];
                o[c] = clamp32(y, -bound, bound);
            }
        }
    }
}
QI_VARIANTS(layernorm_rows, (const int32_t *x, int rows, int n, const int32_t *channel_mantissa, const int32_t *channel_shift,
                             const int32_t *bias, int32_t *out),
            (x, rows, n, channel_mantissa, channel_shift, bias, out))

void qi_layernorm_rows(const int32_t *x, int rows, int n, const int32_t *channel_mantissa, const int32_t *channel_shift,
                       const int32_t *bias, int32_t *out, int simd) {
    QI_DISPATCH(simd, layernorm_rows, x, rows, n, channel_mantissa, channel_shift, bias, out);
}

__attribute__((always_inline)) static inline void quantize_rows_body(const int32_t *x, int m, int k, int ldx, uint8_t *codes, int ldq,
                                                                       int32_t *zero, qi_multiplier *step) {
    for (int i = 0; i < m; i++) {
        const int32_t *row = x + (int64_t)i * ldx;
        int32_t lo = 0, hi = 0;
        for (int c = 0; c < k; c++) {
            lo = row[c] < lo ? row[c] : lo;
            hi = row[c] > hi ? row[c] : hi;
        }
        int64_t range = (int64_t)hi - lo > 0 ? (int64_t)hi - lo : 255;
        // The step D = ceil(range 2^15 / 255) 2^-15, then rounded up to 15 significant bits: rho 2^(e - 15).
        int64_t d = (range * ((int64_t)1 << 15) + 254) / 255;
        int e = bit_length((uint64_t)d) - 15;
        if (e < 0) e = 0;
        int64_t rho = (d + ((int64_t)1 << e) - 1) >> e;
        int s = 15 - e;
        int64_t inverse = ((int64_t)1 << 44) / rho;
        int32_t z = (int32_t)qi_round_shift(lo * inverse, 44 - s);
        uint8_t *out = codes + (int64_t)i * ldq;
        if (inverse < ((int64_t)1 << 31)) {
            // The common case (rho >= 2^13): int32 x int32 products, a shift of at least 29.
            const int32_t inv32 = (int32_t)inverse;
            for (int c = 0; c < k; c++) {
                int64_t q = rne_shift((int64_t)row[c] * inv32, 44 - s);
                q = q < z ? z : q > z + 255 ? z + 255 : q;
                out[c] = (uint8_t)(q - z);
            }
        } else {
            for (int c = 0; c < k; c++) {
                int64_t q = qi_round_shift((int64_t)row[c] * inverse, 44 - s);
                q = q < z ? z : q > z + 255 ? z + 255 : q;
                out[c] = (uint8_t)(q - z);
            }
        }
        zero[i] = z;
        step[i] = (qi_multiplier){(int32_t)rho, s};
    }
}
QI_VARIANTS(quantize_rows, (const int32_t *x, int m, int k, int ldx, uint8_t *codes, int ldq, int32_t *zero, qi_multiplier *step),
            (x, m, k, ldx, codes, ldq, zero, step))

void qi_quantize_rows_u8(const int32_t *x, int m, int k, int ldx, uint8_t *codes, int ldq, int32_t *zero, qi_multiplier *step, int simd) {
    QI_DISPATCH(simd, quantize_rows, x, m, k, ldx, codes, ldq, zero, step);
}

/// One row of qi_requantize's common case, specialised by the constant flags `with_residual` and `to_int8`.
__attribute__((always_inline)) static inline void requantize_row(const int32_t *t, int32_t rho, int32_t rs, const int32_t *column_mantissa,
                                                                   const int32_t *column_shift, const int32_t *bias, int n,
                                                                   const int32_t *residual, qi_multiplier residual_scale, int32_t lo,
                                                                   int32_t hi, int32_t *out32, int8_t *out8, const int with_residual,
                                                                   const int to_int8) {
    for (int c = 0; c < n; c++) {
        int64_t y = rne_shift((int64_t)t[c] * (rho * column_mantissa[c]), rs + column_shift[c]) + bias[c];
        if (with_residual) y += rne_shift((int64_t)residual[c] * residual_scale.mantissa, residual_scale.shift);
        int32_t v = (int32_t)(y < lo ? lo : y > hi ? hi : y);
        if (to_int8) out8[c] = (int8_t)v;
        else out32[c] = v;
    }
}

__attribute__((always_inline)) static inline void requantize_body(const int32_t *t, int m, int n, int ldt, const qi_multiplier *row_step,
                                                                    const int32_t *column_mantissa, const int32_t *column_shift,
                                                                    const int32_t *bias, const int32_t *residual, int ldr,
                                                                    qi_multiplier residual_scale, int32_t lo, int32_t hi,
                                                                    int32_t *out32, int8_t *out8, int ldo) {
    int32_t smallest = 1 << 30, largest = -(1 << 30);
    for (int c = 0; c < n; c++) {
        smallest = column_shift[c] < smallest ? column_shift[c] : smallest;
        largest = column_shift[c] > largest ? column_shift[c] : largest;
    }
    const int residual_fast = !residual || (residual_scale.shift >= 1 && residual_scale.shift <= 62);
    for (int i = 0; i < m; i++) {
        const int32_t *ti = t + (int64_t)i * ldt, *ri = residual ? residual + (int64_t)i * ldr : 0;
        const int32_t rho = row_step[i].mantissa, rs = row_step[i].shift;
        int32_t *o32 = out32 ? out32 + (int64_t)i * ldo : 0;
        int8_t *o8 = out8 ? out8 + (int64_t)i * ldo : 0;
        if (rs + smallest >= 1 && rs + largest <= 62 && residual_fast) {
            // rho mu_c < 2^30: int32 products; every shift in [1, 62]; one loop per output form.
            if (ri && o32) requantize_row(ti, rho, rs, column_mantissa, column_shift, bias, n, ri, residual_scale, lo, hi, o32, 0, 1, 0);
            else if (o32) requantize_row(ti, rho, rs, column_mantissa, column_shift, bias, n, 0, residual_scale, lo, hi, o32, 0, 0, 0);
            else if (ri) requantize_row(ti, rho, rs, column_mantissa, column_shift, bias, n, ri, residual_scale, lo, hi, 0, o8, 1, 1);
            else requantize_row(ti, rho, rs, column_mantissa, column_shift, bias, n, 0, residual_scale, lo, hi, 0, o8, 0, 1);
        } else {
            for (int c = 0; c < n; c++) {
                int64_t y = qi_round_shift((int64_t)ti[c] * ((int64_t)rho * column_mantissa[c]), rs + column_shift[c]) + bias[c];
                if (ri) y += qi_round_shift((int64_t)ri[c] * residual_scale.mantissa, residual_scale.shift);
                int32_t v = clamp32(y, lo, hi);
                if (o32) o32[c] = v;
                else o8[c] = (int8_t)v;
            }
        }
    }
}
QI_VARIANTS(requantize, (const int32_t *t, int m, int n, int ldt, const qi_multiplier *row_step, const int32_t *column_mantissa,
                         const int32_t *column_shift, const int32_t *bias, const int32_t *residual, int ldr, qi_multiplier residual_scale,
                         int32_t lo, int32_t hi, int32_t *out32, int8_t *out8, int ldo),
            (t, m, n, ldt, row_step, column_mantissa, column_shift, bias, residual, ldr, residual_scale, lo, hi, out32, out8, ldo))

void qi_requantize(const int32_t *t, int m, int n, int ldt, const qi_multiplier *row_step, const int32_t *column_mantissa,
                   const int32_t *column_shift, const int32_t *bias, const int32_t *residual, int ldr, qi_multiplier residual_scale,
                   int32_t lo, int32_t hi, int32_t *out32, int8_t *out8, int ldo, int simd) {
    QI_DISPATCH(simd, requantize, t, m, n, ldt, row_step, column_mantissa, column_shift, bias, residual, ldr, residual_scale, lo, hi,
                out32, out8, ldo);
}

void qi_gather_head(const int8_t *q, const int8_t *k, const int8_t *v, int ld, int length, int d, uint8_t *queries, int ldq,
                    int8_t *keys, int8_t *values_transposed) {
    // Rows are asked for AHEAD tokens early: the stacked codes were just written by the Q, K, V product and a
    // head's d bytes of each are 3 hidden bytes apart, so a plain loop waits on every row.
    enum { AHEAD = 8 };
    for (int t = 0; t < length; t++) {
        const int8_t *qt = q + (int64_t)t * ld, *kt = keys ? k + (int64_t)t * ld : 0, *vt = v + (int64_t)t * ld;
        if (t + AHEAD < length) {
            int64_t ahead = (int64_t)AHEAD * ld;
            __builtin_prefetch(qt + ahead, 0, 3);
            if (keys) __builtin_prefetch(kt + ahead, 0, 3);
            __builtin_prefetch(vt + ahead, 0, 3);
        }
        for (int c = 0; c < d; c++) {
            queries[(int64_t)t * ldq + c] = (uint8_t)(qt[c] + 128);
            if (keys) keys[(int64_t)t * d + c] = kt[c];
            values_transposed[(int64_t)c * length + t] = vt[c];
        }
    }
}
