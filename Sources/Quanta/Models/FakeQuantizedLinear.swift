/// A Linear whose weight and input are fake-quantized: y = Q_a(x) Q_w(W)^T + b, computed in FP32 on the
/// dequantized values. This is the reference semantics of every quantized recipe (what a quantized
/// kernel must reproduce up to float rounding); the weight is quantized once, at construction.
public struct FakeQuantizedLinear: LinearLayer {
    /// Dequantized weight (Q_w(W), or W itself without a weight quantizer), bias and SmoothQuant input scale.
    public let quantized: FloatLinear
    public let weightQuantizer: TensorQuantizer?
    public let activationQuantizer: TensorQuantizer?

    /// The scales and zero points of an integer weight quantizer (what integer kernels recover the codes with).
    public let weightParameters: QuantizationParameters?

    public init(_ layer: FloatLinear, weight: TensorQuantizer?, activation: TensorQuantizer?) throws(QuantaError) {
        var parameters: QuantizationParameters?
        var w = layer.weight
        if case let .integer(format, scheme, granularity)? = weight {
            let p = try AffineQuantizer.chooseParameters(for: w, format: format, scheme: scheme, granularity: granularity, tensor: layer.name + ".weight")
            (parameters, w) = (p, try AffineQuantizer.fakeQuantize(w, with: p))
        } else if let weight {
            w = try weight.fakeQuantize(w, tensor: layer.name + ".weight")
        }
        self.init(quantized: try FloatLinear(name: layer.name, weight: w, bias: layer.bias, inputScale: layer.inputScale),
                  weight: weight, activation: activation, weightParameters: parameters)
    }

    /// A layer whose weight is already dequantized, e.g. loaded from a file.
    public init(quantized: FloatLinear, weight: TensorQuantizer?, activation: TensorQuantizer?, weightParameters: QuantizationParameters? = nil) {
        self.quantized = quantized
        weightQuantizer = weight
        activationQuantizer = activation
        self.weightParameters = weightParameters
    }

    public var name: String { quantized.name }
    public var inFeatures: Int { quantized.inFeatures }
    public var outFeatures: Int { quantized.outFeatures }
    public var weightBytes: Int { weightQuantizer?.storageBytes(rows: outFeatures, columns: inFeatures) ?? quantized.weightBytes }

    public func forward(_ x: Matrix<Float>) -> Matrix<Float> {
        // Activations were checked for NaN at calibration; at run time a NaN propagates as in FP32.
        let scaled = quantized.scaledInput(x)
        let input = (try? activationQuantizer?.fakeQuantize(scaled, tensor: name + ".input")) ?? scaled
        return quantized.multiply(input)
    }
}

extension FakeQuantizedLinear {
    /// The integer codes behind the dequantized weight, Q = rne(w~ / S) - Z per element (exact: w~ = S (Q + Z)),
    /// not clamped to the format's range (a symmetric layer read from a file may use -2^(b-1)); nil without
    /// integer weight parameters. What a file writer stores.
    public var weightCodes: Matrix<Int32>? {
        guard let p = weightParameters else { return nil }
        let w = quantized.weight
        var codes = Matrix<Int32>(rows: w.rows, columns: w.columns, repeating: 0)
        for r in 0..<w.rows {
            for c in 0..<w.columns {
                let i = p.granularity.parameterIndex(row: r, column: c, columns: w.columns)
                codes[r, c] = Int32((w[r, c] / p.scales[i]).rounded(.toNearestOrEven)) - p.zeroPoints[i]
            }
        }
        return codes
    }
}
