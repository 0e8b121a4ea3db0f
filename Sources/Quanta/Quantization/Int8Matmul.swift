/// Reference INT8 matrix multiplication Y = X W^T (X [m, k], W [n, k]) with the seed's output modes.
/// Plain scalar code with exact integer semantics: the fast kernels are checked against it bit for bit.
///
/// Activations may be asymmetric (x~ = Sx (qx + Zx)); weights are symmetric (w~ = Sw qw). Then
///
///     sum_k x~ w~ = Sx Sw (acc + Zx * sum_k qw),   acc = sum_k qx qw   (int32)
public enum Int8Matmul {
    /// i8i32: acc[i, j] = sum_k x[i, k] * w[j, k] in int32 (|acc| <= k * 128 * 128, exact for k < 2^17).
    public static func i8i32(_ x: Matrix<Int8>, _ w: Matrix<Int8>) throws(QuantaError) -> Matrix<Int32> {
        guard x.columns == w.columns else {
            throw .shapeMismatch("X is \(x.shape) and W is \(w.shape): their last dimensions differ")
        }
        guard x.columns < 1 << 17 else { throw .invalidArgument("k = \(x.columns) could overflow int32 accumulators") }
        var y = Matrix<Int32>(rows: x.rows, columns: w.rows, repeating: 0)
        for i in 0..<x.rows {
            for j in 0..<w.rows {
                var acc: Int32 = 0
                for k in 0..<x.columns { acc &+= Int32(x[i, k]) * Int32(w[j, k]) }
                y[i, j] = acc
            }
        }
        return y
    }

    /// sum_k qw[j, k] for each output channel j: the zero-point correction of asymmetric activations.
    public static func weightRowSums(_ w: Matrix<Int8>) -> [Int32] {
        (0..<w.rows).map { j in w.row(j).reduce(Int32(0)) { $0 + Int32($1) } }
    }

    /// i8i32 -> DQ -> float: y[i, j] = Sx[i] * Sw[j] * (acc[i, j] + Zx[i] * sum_k qw[j, k]) + bias[j].
    /// `x` is per-tensor or per-token, `w` per-tensor or per-channel.
    public static func dequantized(_ acc: Matrix<Int32>, x: QuantizationParameters, w: QuantizationParameters,
                                   weightRowSums: [Int32], bias: [Float]? = nil) throws(QuantaError) -> Matrix<Float> {
        let (sx, zx, sw) = try operandScales(acc, x: x, w: w, bias: bias)
        var y = Matrix<Float>(rows: acc.rows, columns: acc.columns, repeating: 0)
        for i in 0..<acc.rows {
            for j in 0..<acc.columns {
                let corrected = Float(acc[i, j] + zx(i) * weightRowSums[j])
                y[i, j] = sx(i) * sw(j) * corrected + (bias?[j] ?? 0)
            }
        }
        return y
    }

    /// i8i8 (RQ): q_y[i, j] = clamp(rne(M[j] * (acc[i, j] + Zx * sum_k qw[j, k] + b_q[j])) - Zy, y's code range)
    /// with M[j] = Sx * Sw[j] / Sy as a `FixedPointMultiplier` and the bias quantized to int32 as
    /// b_q[j] = rne(bias[j] / (Sx * Sw[j])). Activations here are per-tensor (static), as in the seed.
    public static func requantized(_ acc: Matrix<Int32>, x: QuantizationParameters, w: QuantizationParameters,
                                   weightRowSums: [Int32], bias: [Float]? = nil,
                                   output: QuantizationParameters) throws(QuantaError) -> Matrix<Int8> {
        guard x.scales.count == 1, output.scales.count == 1 else {
            throw .invalidArgument("i8i8 requantization needs per-tensor activation and output scales")
        }
        let (_, zx, _) = try operandScales(acc, x: x, w: w, bias: bias)
        let q = try Requantization(activation: x, weight: w, channels: acc.columns, bias: bias, output: output)
        let (multipliers, biasCodes, zy, range) = (q.multipliers, q.biasCodes, Int64(q.outputZeroPoint), q.outputRange)
        var y = Matrix<Int8>(rows: acc.rows, columns: acc.columns, repeating: 0)
        for i in 0..<acc.rows {
            for j in 0..<acc.columns {
                let total = acc[i, j] &+ zx(i) &* weightRowSums[j] &+ biasCodes[j]
                let code = multipliers[j].apply(total) - zy
                y[i, j] = Int8(min(max(code, Int64(range.lowerBound)), Int64(range.upperBound)))
            }
        }
        return y
    }

    /// Per-row activation scale and zero point and per-column weight scale, checked against the shapes.
    static func operandScales(_ acc: Matrix<Int32>, x: QuantizationParameters, w: QuantizationParameters,
                              bias: [Float]?) throws(QuantaError)
        -> (sx: (Int) -> Float, zx: (Int) -> Int32, sw: (Int) -> Float) {
        guard x.scales.count == 1 || x.scales.count == acc.rows else {
            throw .shapeMismatch("activation scales: \(x.scales.count) for \(acc.rows) tokens (need 1 or one per token)")
        }
        guard w.scales.count == 1 || w.scales.count == acc.columns else {
            throw .shapeMismatch("weight scales: \(w.scales.count) for \(acc.columns) channels (need 1 or one per channel)")
        }
        guard w.zeroPoints.allSatisfy({ $0 == 0 }) else { throw .invalidArgument("weights must be symmetric") }
        if let bias, bias.count != acc.columns {
            throw .shapeMismatch("bias has \(bias.count) values for \(acc.columns) output channels")
        }
        let perToken = x.scales.count != 1, perChannel = w.scales.count != 1
        return ({ x.scales[perToken ? $0 : 0] }, { x.zeroPoints[perToken ? $0 : 0] }, { w.scales[perChannel ? $0 : 0] })
    }
}
