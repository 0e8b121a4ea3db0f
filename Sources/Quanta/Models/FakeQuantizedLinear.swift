/// A Linear whose weight and input are fake-quantized: y = Q_a(x) Q_w(W)^T + b, computed in FP32 on the
/// dequantized values. This is the reference semantics of every quantized recipe (what a quantized
/// kernel must reproduce up to float rounding); the weight is quantized once, at construction.
public struct FakeQuantizedLinear: LinearLayer {
    public let name: String
    public let quantizedWeight: FloatLinear
    public let weightQuantizer: TensorQuantizer?
    public let activationQuantizer: TensorQuantizer?

    public init(_ layer: FloatLinear, weight: TensorQuantizer?, activation: TensorQuantizer?) throws(QuantaError) {
        let w = try weight.map { q throws(QuantaError) in try q.fakeQuantize(layer.weight, tensor: layer.name + ".weight") } ?? layer.weight
        name = layer.name
        quantizedWeight = try FloatLinear(name: layer.name, weight: w, bias: layer.bias, inputScale: layer.inputScale)
        weightQuantizer = weight
        activationQuantizer = activation
    }

    public var inFeatures: Int { quantizedWeight.inFeatures }
    public var outFeatures: Int { quantizedWeight.outFeatures }

    public func forward(_ x: Matrix<Float>) -> Matrix<Float> {
        // Activations were checked for NaN at calibration; at run time a NaN propagates as in FP32.
        let scaled = quantizedWeight.scaledInput(x)
        let input = (try? activationQuantizer?.fakeQuantize(scaled, tensor: name + ".input")) ?? scaled
        return quantizedWeight.multiply(input)
    }
}
