import Foundation
import QuantaKernels

/// I-BERT's integer-only operators (Kim et al. 2021, and its reference code's structure). Each takes the integer
/// codes q of x = S q and returns integer codes with an output scale. The constants that depend on the input
/// scale S are integers computed once, from S, when the operator is built (the only float arithmetic); the work
/// per element is integer arithmetic only: adds, multiplies, floor divisions, shifts and `squareRoot`.
/// scripts/fixtures/make_ibert_fixtures.py re-implements each in NumPy int64 arithmetic; the tests compare
/// them bit for bit.
public enum IntegerOperators {
    /// floor(sqrt(n)) by Newton's iteration on integers (I-BERT's Algorithm 4): x0 = 2^ceil(bits(n) / 2),
    /// x_{i+1} = floor((x_i + floor(n / x_i)) / 2) until it stops decreasing. Exact for every n.
    public static func squareRoot(_ n: UInt64) -> UInt64 {
        guard n > 1 else { return n }
        let bits = 64 - n.leadingZeroBitCount
        var x = UInt64(1) << UInt64((bits + 1) / 2)
        while true {
            let next = (x + n / x) / 2
            if next >= x { return x }
            x = next
        }
    }

    /// floor(a / b) for b > 0 (Swift's `/` truncates toward zero).
    static func floorDivide(_ a: Int64, _ b: Int64) -> Int64 {
        let q = a / b
        return (a % b != 0 && a < 0) ? q - 1 : q
    }

    /// floor(v) of a constant derived from the input scale, as an integer; `what` names it in the error when
    /// it is not finite or does not fit in 2^53.
    static func floorConstant(_ v: Double, _ what: @autoclosure () -> String) throws(QuantaError) -> Int64 {
        guard v.isFinite, v.magnitude < 0x1p53 else { throw .invalidArgument("\(what()): constant \(v) is not a representable integer") }
        return Int64(v.rounded(.down))
    }

    /// Checks an input scale the integer constants can be derived from: finite, in [1e-6, 1e3].
    static func checkScale(_ scale: Double, _ what: String) throws(QuantaError) {
        guard scale.isFinite, scale >= 1e-6, scale <= 1e3 else { throw .invalidArgument("\(what): input scale \(scale) is outside [1e-6, 1e3]") }
    }
}

/// i-GELU: GELU(x) = x / 2 (1 + erf(x / sqrt 2)) with erf(u) ~ L(u) = sgn(u) [a (min(|u|, -b) + b)^2 + 1],
/// a = -0.2888, b = -1.769, on the codes q of x = S q. With s = S / sqrt 2:
///
///     q_b = floor(b / s),  q_c = floor((1 / a) / s^2)              (integers, from S)
///     q_L = sgn(q) ((min(|q|, -q_b) + q_b)^2 + q_c) >> k            erf's codes, scale S_L = a s^2 2^k
///     q_1 = floor(1 / S_L)
///     q_out = q (q_L + q_1),  S_out = S S_L / 2
///
/// The shift k = max(0, bits(|q_c|) - 22) keeps erf's codes within 23 bits, so q_out stays in 64 bits for any
/// 32-bit q (I-BERT's reference code shifts by a fixed 14, which at fine scales costs erf's resolution).
/// The polynomial itself is at most 0.0182 from GELU on [-4, 4] (the paper's 0.018).
public struct IntegerGELU: Sendable {
    public static let a = -0.2888, b = -1.769
    public let inputScale: Double
    public let outputScale: Double
    let qb: Int64, qc: Int64, q1: Int64, shift: Int64

    public init(inputScale: Double) throws(QuantaError) {
        try IntegerOperators.checkScale(inputScale, "i-GELU")
        let s = inputScale / 2.0.squareRoot()
        qb = try IntegerOperators.floorConstant(Self.b / s, "i-GELU")
        qc = try IntegerOperators.floorConstant(1 / Self.a / (s * s), "i-GELU")
        shift = Int64(max(0, 64 - qc.magnitude.leadingZeroBitCount - 22))
        let erfScale = Self.a * s * s * Double(Int64(1) << shift)
        q1 = try IntegerOperators.floorConstant(1 / erfScale, "i-GELU")
        (self.inputScale, outputScale) = (inputScale, inputScale * erfScale / 2)
    }

    /// The constants as integer_kernels.c takes them (`qi_gelu_code`, `qi_gelu_rows`).
    public var kernelConstants: qi_gelu { qi_gelu(qb: qb, qc: qc, q1: q1, shift: Int32(shift)) }

    public func callAsFunction(_ q: Int64) -> Int64 {
        let clipped = min(abs(q), -qb) + qb
        let erf = (q.signum() * (clipped * clipped + qc)) >> shift
        return q * (erf + q1)
    }
}

/// Integer softmax over a row of codes q of x = S q, with i-exp: for d = q - max(q) <= 0,
///
///     q_ln2 = floor(-ln 2 / S) (< 0),  d' = max(d, 30 q_ln2),  z = floor(d' / q_ln2) (0...30),  p = d' - z q_ln2
///     exp(p) ~ 0.3585 (p + 1.353)^2 + 0.344:  q_e = ((p + q_b)^2 + q_c) >> z,  q_b = floor(1.353 / S),
///     q_c = floor(0.344 / 0.3585 / S^2)
///
/// (the polynomial is at most 0.00213 from exp on (-ln 2, 0]; the paper rounds it to 2e-3)
/// and the probabilities as `outputBits`-bit unsigned codes of scale 2^-outputBits, through the integer
/// normaliser f = floor(2^k / sum q_e) with k = bits(sum q_e) + 24 (f has 25 significant bits whatever the
/// row's length and scale; k <= 62 for sums below 2^38):
/// out = min(floor((q_e f + 2^(k - outputBits - 1)) / 2^(k - outputBits)), 2^outputBits - 1), rounded to
/// nearest (I-BERT's code floors: every probability then loses half a code on average, a quarter of the mass
/// of a 128-token row at 8 bits; MiniLM's integer encoder: mean cosine to FP32 0.985 floored, 0.995 rounded).
public struct IntegerSoftmax: Sendable {
    public static let a = 0.3585, b = 1.353, c = 0.344, maxShift: Int64 = 30
    public let inputScale: Double
    public let outputBits: Int
    let qln2: Int64, qb: Int64, qc: Int64

    public init(inputScale: Double, outputBits: Int = 8) throws(QuantaError) {
        try IntegerOperators.checkScale(inputScale, "integer softmax")
        guard (1...16).contains(outputBits) else { throw .invalidArgument("integer softmax: \(outputBits)-bit outputs (1 to 16 supported)") }
        qln2 = try IntegerOperators.floorConstant(-log(2.0) / inputScale, "integer softmax")
        qb = try IntegerOperators.floorConstant(Self.b / inputScale, "integer softmax")
        qc = try IntegerOperators.floorConstant(Self.c / Self.a / (inputScale * inputScale), "integer softmax")
        (self.inputScale, self.outputBits) = (inputScale, outputBits)
    }

    /// The constants as integer_kernels.c takes them (`qi_exp`, `qi_softmax_rows`).
    public var kernelConstants: qi_softmax { qi_softmax(qln2: qln2, qb: qb, qc: qc, out_bits: Int32(outputBits)) }

    /// i-exp of d <= 0: codes of exp(S d) with scale 0.3585 S^2.
    public func exp(_ d: Int64) -> Int64 {
        let clamped = max(d, Self.maxShift * qln2)
        let z = IntegerOperators.floorDivide(-clamped, -qln2)
        let p = clamped - z * qln2 + qb
        return (p * p + qc) >> z
    }

    public func callAsFunction(_ row: [Int64]) throws(QuantaError) -> [Int64] {
        guard let top = row.max() else { return [] }
        let e = row.map { exp($0 - top) }
        let sum = max(e.reduce(0, +), 1), k = Int64(64 - sum.leadingZeroBitCount) + 24
        guard k <= 62 else { throw .invalidArgument("integer softmax: the row's exponentials sum to \(sum), past the normaliser's 2^38 (input scale \(inputScale) too fine)") }
        let factor = (Int64(1) << k) / sum, limit = (Int64(1) << Int64(outputBits)) - 1
        let shift = k - Int64(outputBits)
        return e.map { min(($0 * factor + (1 << (shift - 1))) >> shift, limit) }
    }
}

/// Integer LayerNorm of a row of codes q (I-BERT): mean m = floor((2 sum q + n) / (2 n)) (rounded, halves
/// up), y = q - m; the smallest shift k >= 0 with sum ((y >> k)^2) < 2^31 keeps the variance in 32 bits;
/// std = squareRoot(sum ((y >> k)^2)) << k; with the normaliser f = floor(2^j / std), j = min(62, bits(std) + 30)
/// (I-BERT's floor(2^31 / std), widened so that inputs of any 32-bit magnitude keep 26+ significant bits),
/// out_c = floor(y_c f / 2^(j - 30)) + floor(beta_c / gamma_c / scale), scale = sqrt(n) / 2^30, whose value is
/// out_c scale gamma_c (a scale per channel, gamma_c its weight).
public struct IntegerLayerNorm: Sendable {
    public let weight: [Double]
    /// floor((bias / weight) / (sqrt(n) / 2^30)) per channel (`qi_layernorm_codes` adds them).
    public let biasCodes: [Int64]

    public init(weight: [Float], bias: [Float]) throws(QuantaError) {
        guard !weight.isEmpty, weight.count == bias.count else { throw .shapeMismatch("integer LayerNorm: weight \(weight.count) vs bias \(bias.count)") }
        if let c = weight.indices.first(where: { weight[$0] == 0 || !weight[$0].isFinite }) {
            throw .invalidArgument("integer LayerNorm: weight[\(c)] = \(weight[c]); gamma becomes an output scale and must be finite and nonzero")
        }
        let scale = Double(weight.count).squareRoot() / Double(1 << 30)
        self.weight = weight.map(Double.init)
        var codes = [Int64]()
        for (w, b) in zip(weight, bias) { codes.append(try IntegerOperators.floorConstant(Double(b) / Double(w) / scale, "integer LayerNorm bias")) }
        biasCodes = codes
    }

    /// The scale of channel c's output codes: sqrt(n) / 2^30 gamma_c.
    public func outputScale(channel c: Int) -> Double { Double(weight.count).squareRoot() / Double(1 << 30) * weight[c] }

    public func callAsFunction(_ q: [Int64]) -> [Int64] {
        let n = Int64(q.count)
        let mean = IntegerOperators.floorDivide(2 * q.reduce(0, +) + n, 2 * n)
        let y = q.map { $0 - mean }
        // Every shift below bits(max |y|) - 16 leaves a term of at least 2^32: start there (the same smallest
        // shift, and no square overflows).
        let largest = y.reduce(0) { max($0, $1.magnitude) }
        var shift = Int64(max(0, 64 - largest.leadingZeroBitCount - 16)), variance: Int64 = 0
        while true {
            variance = y.reduce(0) { $0 + ($1 >> shift) * ($1 >> shift) }
            if variance < 1 << 31 { break }
            shift += 1
        }
        let std = max(Int64(IntegerOperators.squareRoot(UInt64(variance))) << shift, 1)
        let k = min(62, Int64(64 - std.leadingZeroBitCount) + 30), factor = (Int64(1) << k) / std
        return y.indices.map { ((y[$0] * factor) >> (k - 30)) + biasCodes[$0] }
    }
}
