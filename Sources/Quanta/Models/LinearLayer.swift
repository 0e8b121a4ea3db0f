/// A linear layer Y = X W^T + b, with X [tokens, inFeatures] and W [outFeatures, inFeatures].
///
/// The model code calls only this protocol, so a quantized layer drops in for the FP32 one without the
/// model knowing ("modular components that can be applied to different architectures").
public protocol LinearLayer: Sendable {
    /// The layer's name in the model file (`encoder.layer.0.attention.self.query`, `blk.0.attn_q`).
    var name: String { get }
    var inFeatures: Int { get }
    var outFeatures: Int { get }
    func forward(_ x: Matrix<Float>) -> Matrix<Float>
}

/// The FP32 linear layer: OpenBLAS sgemm, then the bias.
public struct FloatLinear: LinearLayer {
    public let name: String
    public let weight: Matrix<Float>
    public let bias: [Float]?

    public init(name: String, weight: Matrix<Float>, bias: [Float]? = nil) throws(QuantaError) {
        if let bias, bias.count != weight.rows {
            throw .shapeMismatch("\(name): bias has \(bias.count) values for \(weight.rows) output features")
        }
        self.name = name
        self.weight = weight
        self.bias = bias
    }

    public var inFeatures: Int { weight.columns }
    public var outFeatures: Int { weight.rows }

    public func forward(_ x: Matrix<Float>) -> Matrix<Float> {
        var y = BLAS.matmulTransposed(x, weight)
        if let bias {
            y.storage.withUnsafeMutableBufferPointer { yp in
                for r in 0..<y.rows {
                    for c in 0..<y.columns { yp[r * y.columns + c] += bias[c] }
                }
            }
        }
        return y
    }
}
