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

void qi_gelu_rows(const int32_t *x, int64_t count, const qi_gelu *g, qi_multiplier out, int32_t *y) {
    for (int64_t i = 0; i < count; i++) y[i] = clamp32(round_shift_wide(qi_gelu_code(x[i], g), out), INT32_MIN, INT32_MAX);
}

int64_t qi_exp(int64_t d, const qi_softmax *s) {
    int64_t clamped = d > 30 * s->qln2 ? d : 30 * s->qln2;
    int64_t z = floor_divide(-clamped, -s->qln2);
    int64_t p = clamped - z * s->qln2 + s->qb;
    return (p * p + s->qc) >> z;
}

int qi_softmax_rows(const int32_t *x, int rows, int cols, int ldx, const qi_softmax *s, uint8_t *p, int ldp) {
    int64_t e[cols > 0 ? cols : 1];
    int64_t limit = ((int64_t)1 << s->out_bits) - 1;
    for (int r = 0; r < rows; r++) {
        const int32_t *row = x + (int64_t)r * ldx;
        int32_t top = row[0];
        for (int c = 1; c < cols; c++) top = row[c] > top ? row[c] : top;
        int64_t sum = 0;
        for (int c = 0; c < cols; c++) sum += e[c] = qi_exp((int64_t)row[c] - top, s);
        if (sum < 1) sum = 1;
        int k = bit_length((uint64_t)sum) + 24;
        if (k > 62) return -1;
        int64_t factor = ((int64_t)1 << k) / sum;
        for (int c = 0; c < cols; c++) {
            int64_t v = (e[c] * factor + ((int64_t)1 << (k - s->out_bits - 1))) >> (k - s->out_bits);
            p[(int64_t)r * ldp + c] = (uint8_t)(v < limit ? v : limit);
        }
    }
    return 0;
}

void qi_layernorm_codes(const int32_t *x, int n, const int64_t *bias_codes, int64_t *out) {
    int64_t sum = 0;
    for (int c = 0; c < n; c++) sum += x[c];
    int64_t mean = floor_divide(2 * sum + n, 2 * (int64_t)n), largest = 0;
    for (int c = 0; c < n; c++) {
        int64_t y = x[c] - mean, magnitude = y < 0 ? -y : y;
        largest = magnitude > largest ? magnitude : largest;
    }
    // Every shift below bit_length(largest) - 16 leaves a term of at least 2^32: start there (the smallest
    // shift found is the same, and no square overflows).
    int shift = bit_length((uint64_t)largest) - 16;
    if (shift < 0) shift = 0;
    int64_t variance;
    for (;; shift++) {
        variance = 0;
        for (int c = 0; c < n; c++) {
            int64_t y = (x[c] - mean) >> shift;
            variance += y * y;
        }
        if (variance < ((int64_t)1 << 31)) break;
    }
    int64_t std = (int64_t)qi_sqrt((uint64_t)variance) << shift;
    if (std < 1) std = 1;
    int j = bit_length((uint64_t)std) + 30;
    if (j > 62) j = 62;
    int64_t factor = ((int64_t)1 << j) / std;
    for (int c = 0; c < n; c++) out[c] = (((x[c] - mean) * factor) >> (j - 30)) + bias_codes[c];
}

void qi_layernorm_rows(const int32_t *x, int rows, int n, const int64_t *bias_codes, const qi_multiplier *channel, int32_t *out) {
    int64_t codes[n > 0 ? n : 1];
    const int64_t bound = ((int64_t)1 << 29) - 1;
    for (int r = 0; r < rows; r++) {
        qi_layernorm_codes(x + (int64_t)r * n, n, bias_codes, codes);
        for (int c = 0; c < n; c++) out[(int64_t)r * n + c] = clamp32(round_shift_wide(codes[c], channel[c]), -bound, bound);
    }
}

void qi_quantize_rows_u8(const int32_t *x, int m, int k, int ldx, uint8_t *codes, int ldq, int32_t *zero, qi_multiplier *step) {
    for (int i = 0; i < m; i++) {
        const int32_t *row = x + (int64_t)i * ldx;
        int64_t lo = 0, hi = 0;
        for (int c = 0; c < k; c++) {
            lo = row[c] < lo ? row[c] : lo;
            hi = row[c] > hi ? row[c] : hi;
        }
        int64_t range = hi - lo > 0 ? hi - lo : 255;
        // The step D = ceil(range 2^15 / 255) 2^-15, then rounded up to 15 significant bits: rho 2^(e - 15).
        int64_t d = (range * ((int64_t)1 << 15) + 254) / 255;
        int e = bit_length((uint64_t)d) - 15;
        if (e < 0) e = 0;
        int64_t rho = (d + ((int64_t)1 << e) - 1) >> e;
        int s = 15 - e;
        int64_t inverse = ((int64_t)1 << 45) / rho;
        int64_t z = qi_round_shift(lo * inverse, 45 - s);
        uint8_t *out = codes + (int64_t)i * ldq;
        for (int c = 0; c < k; c++) {
            int64_t q = qi_round_shift((int64_t)row[c] * inverse, 45 - s);
            q = q < z ? z : q > z + 255 ? z + 255 : q;
            out[c] = (uint8_t)(q - z);
        }
        zero[i] = (int32_t)z;
        step[i] = (qi_multiplier){(int32_t)rho, s};
    }
}

void qi_requantize(const int32_t *t, int m, int n, int ldt, const qi_multiplier *row_step, const qi_multiplier *column,
                   const int32_t *bias, const int32_t *residual, int ldr, qi_multiplier residual_scale, int32_t lo, int32_t hi,
                   int32_t *out32, int8_t *out8, int ldo) {
    for (int i = 0; i < m; i++) {
        for (int c = 0; c < n; c++) {
            int64_t factor = (int64_t)row_step[i].mantissa * column[c].mantissa;
            int64_t y = qi_round_shift(t[(int64_t)i * ldt + c] * factor, row_step[i].shift + column[c].shift);
            if (bias) y += bias[c];
            if (residual) y += qi_round_shift((int64_t)residual[(int64_t)i * ldr + c] * residual_scale.mantissa, residual_scale.shift);
            int32_t v = clamp32(y, lo, hi);
            if (out32) out32[(int64_t)i * ldo + c] = v;
            else out8[(int64_t)i * ldo + c] = (int8_t)v;
        }
    }
}
