import QuantaKernels

/// ParetoQ's weight quantizers for two bits and below (Liu et al., 2025), one range alpha per group of the
/// parameters' granularity. Each falls on a symmetric integer grid of step S = alpha / k, which is how it is
/// stored and deployed (`deploymentFormat`, S the parameters' scales):
///
///     binary (1 bit):       code = sign(w) (0 at w = 0)                               k = 1     alpha_0 = mean|w|
///     ternary (1.58 bits):  code = rne(1.5 clamp(w/alpha, -c, c)) in {-1, 0, 1}         k = 1.5   alpha_0 = max|w|
///     two-bit (SEQ):        code = 2 rne(2 clamp(w/alpha, -c, c) - 0.5) + 1 in {+-1, +-3} k = 4     alpha_0 = max|w|
///
/// x~ = S code, c = 0.99: SEQ's levels alpha {+-1/4, +-3/4} have no zero, and both ends of the range are
/// reachable (stretched elastic quantization). Straight-through gradients: dx~/dw = 1 where |w/alpha| <= c
/// (binary: <= 1); dx~/dalpha = x~/alpha - w/alpha inside, x~/alpha outside (binary: sign(w)), scaled by
/// 1 / sqrt(N) for the N weights sharing alpha.
public enum LowBitWeight: String, Sendable, CaseIterable {
    case binary, ternary, twoBit = "two-bit"

    /// alpha / S.
    var stretch: Float {
        switch self {
        case .binary: return 1
        case .ternary: return 1.5
        case .twoBit: return 4
        }
    }

    /// The symmetric integer format the codes are stored in: INT2 (codes -1...1) or INT3 (SEQ's odd codes).
    public var deploymentFormat: IntegerFormat { self == .twoBit ? IntegerFormat(bits: 3, signed: true)! : IntegerFormat(bits: 2, signed: true)! }

    /// The starting parameters of `w` for `granularity`: S = alpha_0 / k per group.
    public func initialParameters(for w: Matrix<Float>, granularity: Granularity) throws(QuantaError) -> QuantizationParameters {
        let count = granularity.parameterCount(rows: w.rows, columns: w.columns)
        var sums = [Float](repeating: 0, count: count), maxima = sums, counts = sums
        for r in 0..<w.rows {
            for c in 0..<w.columns {
                let p = granularity.parameterIndex(row: r, column: c, columns: w.columns), v = abs(w[r, c])
                (sums[p], maxima[p], counts[p]) = (sums[p] + v, max(maxima[p], v), counts[p] + 1)
            }
        }
        let alphas = (0..<count).map { self == .binary ? sums[$0] / max(counts[$0], 1) : maxima[$0] }
        return try QuantizationParameters(scales: alphas.map { $0 > 0 ? $0 / stretch : 1 }, zeroPoints: [Int32](repeating: 0, count: count),
                                          format: deploymentFormat, scheme: .symmetric, granularity: granularity)
    }

    /// x~ of `w` (S = the parameters' scales), and with dL/dx~ `outputGradient`, dL/dw and dL/dS per scale,
    /// computed by `qk_low_bit_rows` (`FakeQuantizeRows`).
    public func fakeQuantize(_ w: Matrix<Float>, _ parameters: QuantizationParameters, outputGradient: Matrix<Float>? = nil)
        -> (value: Matrix<Float>, input: Matrix<Float>?, scales: [Float]?) {
        let count = parameters.scales.count
        let kind: Int = switch self { case .binary: QK_LOW_BIT_BINARY; case .ternary: QK_LOW_BIT_TERNARY; case .twoBit: QK_LOW_BIT_TWO_BIT }
        let result = parameters.scales.withUnsafeBufferPointer { scales in
            FakeQuantizeRows.run(w, granularity: parameters.granularity, parameterCount: count, outputGradient: outputGradient) {
                qk_low_bit_rows($0, $1, $2, $3, $4, scales.baseAddress, Int32(kind), $5, $6, $7, $8)
            }
        }
        guard let input = result.input else { return (result.value, nil, nil) }
        return (result.value, input, (0..<count).map { Float(result.sums[$0]) / Float(max(result.shares[$0], 1)).squareRoot() })
    }
}
