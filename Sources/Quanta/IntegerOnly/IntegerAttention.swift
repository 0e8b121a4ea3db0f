/// I-BERT's integer self-attention of one head over one sequence, integer codes in and out:
///
///     scores = Q K^T          INT8 x INT8 -> INT32, scale S_q S_k / sqrt(d) (the 1/sqrt(d) folded into the scale)
///     P = softmax(scores)     `IntegerSoftmax` at that input scale: UINT8 codes of scale 2^-8
///     context = P V           UINT8 x INT8 -> INT32, scale 2^-8 S_v
///     out = clamp(rne(context M), -127, 127)      INT8 codes of scale S_out, M = 2^-8 S_v / S_out (dyadic:
///                                                 `FixedPointMultiplier`)
///
/// The scales fix the integer constants once, at construction; the call itself is integer arithmetic only.
public struct IntegerAttention: Sendable {
    public let headDimension: Int
    public let softmax: IntegerSoftmax
    public let outputScale: Double
    let requantization: FixedPointMultiplier

    public init(queryScale: Double, keyScale: Double, valueScale: Double, headDimension: Int, outputScale: Double) throws(QuantaError) {
        guard headDimension > 0, queryScale > 0, keyScale > 0, valueScale > 0, outputScale > 0 else {
            throw .invalidArgument("integer attention needs a positive head dimension and scales (got d \(headDimension), scales \(queryScale), \(keyScale), \(valueScale), \(outputScale))")
        }
        self.headDimension = headDimension
        softmax = try IntegerSoftmax(inputScale: queryScale * keyScale / Double(headDimension).squareRoot())
        requantization = try FixedPointMultiplier(valueScale / 256 / outputScale)
        self.outputScale = outputScale
    }

    /// The head's output codes [T, d] for query, key and value codes [T, d] (row-major); `causal`: row i attends
    /// to rows 0...i only.
    public func callAsFunction(queries: [Int8], keys: [Int8], values: [Int8], causal: Bool = false) throws(QuantaError) -> [Int8] {
        let d = headDimension, rows = queries.count / d
        guard queries.count == rows * d, keys.count == queries.count, values.count == queries.count else {
            throw .shapeMismatch("integer attention: queries \(queries.count), keys \(keys.count), values \(values.count) codes for head dimension \(d)")
        }
        var out = [Int8](repeating: 0, count: rows * d)
        for i in 0..<rows {
            let visible = causal ? i + 1 : rows
            let scores = (0..<visible).map { j in (0..<d).reduce(Int64(0)) { $0 + Int64(queries[i * d + $1]) * Int64(keys[j * d + $1]) } }
            let probabilities = try softmax(scores)
            for c in 0..<d {
                let context = (0..<visible).reduce(Int64(0)) { $0 + probabilities[$1] * Int64(values[$1 * d + c]) }
                out[i * d + c] = Int8(clamping: max(-127, min(127, requantization.apply(Int32(clamping: context)))))
            }
        }
        return out
    }
}
