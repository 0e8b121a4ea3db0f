/// A linear layer Y = X W^T + b, with X [tokens, inFeatures] and W [outFeatures, inFeatures].
///
/// The model code calls only this protocol, so a quantized layer drops in for the FP32 one without the
/// model knowing ("modular components that can be applied to different architectures").
public protocol LinearLayer: Sendable {
    /// The layer's name in the model file (`encoder.layer.0.attention.self.query`, `blk.0.attn_q`).
    var name: String { get }
    var inFeatures: Int { get }
    var outFeatures: Int { get }
    /// Bytes the weight takes as the layer stores it (codes plus scales and zero points).
    var weightBytes: Int { get }
    func forward(_ x: Matrix<Float>) -> Matrix<Float>
    /// act(x W^T + b) + residual: what a kernel can fuse into its epilogue (`Int8Linear` does).
    func forward(_ x: Matrix<Float>, activation: Activation?, residual: Matrix<Float>?) -> Matrix<Float>
}

extension LinearLayer {
    /// The unfused form: the product, then the activation, then the residual.
    public func forward(_ x: Matrix<Float>, activation: Activation?, residual: Matrix<Float>?) -> Matrix<Float> {
        var y = forward(x)
        if let activation { y.apply(activation) }
        if let residual { y.add(residual) }
        return y
    }
}

/// The FP32 linear layer: OpenBLAS sgemm, then the bias. An optional per-input-channel `inputScale`
/// multiplies x first (y = (x diag(inputScale)) W^T + b): SmoothQuant's 1/s where it cannot be folded
/// into a preceding norm (BERT's post-norm residual stream); a kernel fuses it into quantization.
public struct FloatLinear: LinearLayer {
    public let name: String
    public let weight: Matrix<Float>
    public let bias: [Float]?
    public let inputScale: [Float]?

    public init(name: String, weight: Matrix<Float>, bias: [Float]? = nil, inputScale: [Float]? = nil) throws(QuantaError) {
        if let bias, bias.count != weight.rows {
            throw .shapeMismatch("\(name): bias has \(bias.count) values for \(weight.rows) output features")
        }
        if let inputScale, inputScale.count != weight.columns {
            throw .shapeMismatch("\(name): input scale has \(inputScale.count) values for \(weight.columns) input features")
        }
        self.name = name
        self.weight = weight
        self.bias = bias
        self.inputScale = inputScale
    }

    /// x diag(inputScale), or x itself.
    func scaledInput(_ x: Matrix<Float>) -> Matrix<Float> { Self.scaled(x, by: inputScale) }

    /// x diag(scale), or x itself when there is no scale.
    static func scaled(_ x: Matrix<Float>, by scale: [Float]?) -> Matrix<Float> {
        guard let scale else { return x }
        var y = x
        y.storage.withUnsafeMutableBufferPointer { p in
            for r in 0..<x.rows { for c in 0..<x.columns { p[r * x.columns + c] *= scale[c] } }
        }
        return y
    }

    public var inFeatures: Int { weight.columns }
    public var outFeatures: Int { weight.rows }
    public var weightBytes: Int { 4 * weight.count }

    public func forward(_ x: Matrix<Float>) -> Matrix<Float> {
        multiply(scaledInput(x))
    }

    /// x W^T + b, without the input scale.
    func multiply(_ x: Matrix<Float>) -> Matrix<Float> { BLAS.matmulTransposed(x, weight, bias: bias) }
}
