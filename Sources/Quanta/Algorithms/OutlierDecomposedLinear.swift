/// LLM.int8() (Dettmers et al.): vector-wise INT8 with mixed-precision decomposition. For each input,
/// the columns (input features) whose magnitude exceeds `threshold` in any token are outliers:
///
///     y = Q_token(x_regular) Q_channel(W)^T  +  x_outliers W_outliers^T  +  b
///
/// the first product in INT8 (per-token activation scales, per-output-channel weight scales; computed here
/// on the dequantized values), the second in FP32 over the few outlier columns only.
public struct OutlierDecomposedLinear: LinearLayer {
    public let name: String
    public let layer: FloatLinear
    public let quantizedWeight: Matrix<Float>
    public let threshold: Float

    public init(_ layer: FloatLinear, threshold: Float = 6) throws(QuantaError) {
        name = layer.name
        self.layer = layer
        self.threshold = threshold
        quantizedWeight = try TensorQuantizer.integer(.int8, .symmetric, .perChannel).fakeQuantize(layer.weight, tensor: layer.name + ".weight")
    }

    public var inFeatures: Int { layer.inFeatures }
    public var outFeatures: Int { layer.outFeatures }

    /// Input columns with |x| > threshold somewhere.
    public func outlierColumns(_ x: Matrix<Float>) -> [Int] {
        (0..<x.columns).filter { c in (0..<x.rows).contains { x[$0, c].magnitude > threshold } }
    }

    public func forward(_ input: Matrix<Float>) -> Matrix<Float> {
        var regular = layer.scaledInput(input)
        let outliers = outlierColumns(regular)
        var outlierInput = Matrix<Float>(rows: regular.rows, columns: outliers.count, repeating: 0)
        for r in 0..<regular.rows {
            for (k, c) in outliers.enumerated() {
                outlierInput[r, k] = regular[r, c]
                regular[r, c] = 0
            }
        }
        let quantized = (try? TensorQuantizer.integer(.int8, .symmetric, .perToken).fakeQuantize(regular, tensor: name + ".input")) ?? regular
        var y = try! FloatLinear(name: name, weight: quantizedWeight, bias: layer.bias).multiply(quantized)
        if !outliers.isEmpty {
            y.add(BLAS.matmulTransposed(outlierInput, layer.weight.selectingColumns(outliers)))
        }
        return y
    }
}
