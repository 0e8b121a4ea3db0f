/// The `chooseParameters` / `quantize` / `dequantize` trio of uniform integer quantization (seed 000,
/// Part I), for every granularity: per-tensor, per-channel, per-token, per-group, per-embedding-group.
/// The formulas and the sign convention are those of `QuantizationParameters`.
public enum AffineQuantizer {
    /// The min and max of each group of `granularity` over `x` (the min/max calibrator's clipping range).
    /// Throws, naming `tensor` and the element, if `x` holds NaN or infinity.
    public static func ranges(of x: Matrix<Float>, granularity: Granularity, tensor: String = "tensor")
        throws(QuantaError) -> (minimum: [Float], maximum: [Float]) {
        try granularity.validate(rows: x.rows, columns: x.columns)
        let count = granularity.parameterCount(rows: x.rows, columns: x.columns)
        var minimum = [Float](repeating: .infinity, count: count)
        var maximum = [Float](repeating: -.infinity, count: count)
        for r in 0..<x.rows {
            for c in 0..<x.columns {
                let v = x[r, c]
                guard v.isFinite else { throw .nonFinite(tensor: tensor, index: r * x.columns + c, value: v) }
                let p = granularity.parameterIndex(row: r, column: c, columns: x.columns)
                minimum[p] = min(minimum[p], v)
                maximum[p] = max(maximum[p], v)
            }
        }
        // A group with no elements (an empty matrix) gets the range [0, 0].
        for p in 0..<count where minimum[p] > maximum[p] { (minimum[p], maximum[p]) = (0, 0) }
        return (minimum, maximum)
    }

    /// Scales and zero points that map each group's [min, max] onto the format.
    public static func chooseParameters(for x: Matrix<Float>, format: IntegerFormat = .int8,
                                        scheme: QuantizationScheme = .symmetric,
                                        granularity: Granularity = .perTensor,
                                        tensor: String = "tensor") throws(QuantaError) -> QuantizationParameters {
        let (minimum, maximum) = try ranges(of: x, granularity: granularity, tensor: tensor)
        return try QuantizationParameters(minimum: minimum, maximum: maximum, format: format, scheme: scheme,
                                          granularity: granularity)
    }

    /// Q(x) = clamp(rne(x * (1/S)) - Z, qmin, qmax) element-wise, stored as `Code`.
    public static func quantize<Code: FixedWidthInteger & Sendable>(
        _ x: Matrix<Float>, with parameters: QuantizationParameters, as _: Code.Type = Int8.self
    ) throws(QuantaError) -> Matrix<Code> {
        try check(parameters, rows: x.rows, columns: x.columns)
        let range = parameters.codeRange
        guard Int64(Code.min) <= Int64(range.lowerBound), Int64(Code.max) >= Int64(range.upperBound) else {
            throw .invalidArgument("\(Code.self) cannot hold \(parameters.format) codes")
        }
        let inverseScales = parameters.scales.map { 1 / $0 }
        var q = Matrix<Code>(rows: x.rows, columns: x.columns, repeating: 0)
        for r in 0..<x.rows {
            for c in 0..<x.columns {
                let p = parameters.granularity.parameterIndex(row: r, column: c, columns: x.columns)
                let z = parameters.zeroPoints[p]
                let code = IntegerFormat.roundClamped(x[r, c] * inverseScales[p],
                                                      lower: range.lowerBound + z, upper: range.upperBound + z) - z
                q[r, c] = Code(code)
            }
        }
        return q
    }

    /// x~ = S * (Q + Z) element-wise.
    public static func dequantize<Code: FixedWidthInteger & Sendable>(
        _ q: Matrix<Code>, with parameters: QuantizationParameters
    ) throws(QuantaError) -> Matrix<Float> {
        try check(parameters, rows: q.rows, columns: q.columns)
        var x = Matrix<Float>(rows: q.rows, columns: q.columns, repeating: 0)
        for r in 0..<q.rows {
            for c in 0..<q.columns {
                let p = parameters.granularity.parameterIndex(row: r, column: c, columns: q.columns)
                x[r, c] = parameters.scales[p] * Float(Int32(q[r, c]) + parameters.zeroPoints[p])
            }
        }
        return x
    }

    /// dequantize(quantize(x)): the values the quantized tensor stands for (QDQ, "fake quantization"),
    /// S * clamp(rne(x * (1/S)), qmin + Z, qmax + Z) in one pass over the cores (LSQ's forward pass, `qk_lsq_rows`).
    public static func fakeQuantize(_ x: Matrix<Float>, with parameters: QuantizationParameters) throws(QuantaError) -> Matrix<Float> {
        try check(parameters, rows: x.rows, columns: x.columns)
        return LearnedStepSize.fakeQuantize(x, parameters).value
    }

    static func check(_ parameters: QuantizationParameters, rows: Int, columns: Int) throws(QuantaError) {
        try parameters.granularity.validate(rows: rows, columns: columns)
        let needed = parameters.granularity.parameterCount(rows: rows, columns: columns)
        guard parameters.scales.count == needed else {
            throw .shapeMismatch("\(parameters.granularity) quantization of a [\(rows), \(columns)] matrix needs \(needed) scales, got \(parameters.scales.count)")
        }
    }
}
