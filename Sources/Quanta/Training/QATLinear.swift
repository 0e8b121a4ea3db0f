import Foundation

/// A linear layer in quantization-aware training: the FP32 ("latent") weight is fake-quantized at every
/// forward pass with learned step sizes (`LearnedStepSize`), and so is the input when the recipe gives it
/// static integer parameters; other activation quantizers (dynamic per token, FP8, MX) fake-quantize with the
/// straight-through estimator (their ranges follow the data, so nothing is clipped and dL/dx passes as is):
///
///     y = Q_a(x diag(s)) Q_w(W)^T + b
///
/// Zero points stay at their PTQ values; the step sizes start at the PTQ scales and learn in log space
/// (gradient s dL/ds), so that an Adam step changes every step size by the same fraction whether it is
/// INT8's 0.002 or INT4's 0.05. A weight quantizer without
/// integer parameters (FP8, MX: scales that follow the data) fake-quantizes with the straight-through
/// estimator. `deployed` is the ordinary `FakeQuantizedLinear` of the learned parameters: the same function.
public struct QATLinear: TrainableLinear {
    public let latent: FloatLinear
    /// Learned step sizes (integer weights), or nil when `weight` fake-quantizes straight through.
    public let weightParameters: QuantizationParameters?
    public let weight: TensorQuantizer?
    public let activation: TensorQuantizer?
    /// ParetoQ's quantizer in place of LSQ's for weights of two bits and below (`weightParameters` its steps S).
    public let lowBit: LowBitWeight?
    /// Q_w(W) of the latent weight, computed once per update of the weight or its step sizes.
    let quantizedWeight: Matrix<Float>

    /// From the PTQ layer made of `latent` (the FP32 layer after the recipe's transforms).
    public init(_ layer: FakeQuantizedLinear, latent: FloatLinear, lowBit: LowBitWeight? = nil) {
        self.init(latent: latent, weightParameters: layer.weightParameters, weight: layer.weightQuantizer, activation: layer.activationQuantizer,
                  lowBit: lowBit)
    }

    public init(latent: FloatLinear, weightParameters: QuantizationParameters?, weight: TensorQuantizer?, activation: TensorQuantizer?,
                lowBit: LowBitWeight? = nil) {
        self.latent = latent
        self.weightParameters = weightParameters
        self.weight = weight
        self.activation = activation
        self.lowBit = lowBit
        if let lowBit, let weightParameters {
            quantizedWeight = lowBit.fakeQuantize(latent.weight, weightParameters).value
        } else if let weightParameters {
            quantizedWeight = LearnedStepSize.fakeQuantize(latent.weight, weightParameters).value
        } else {
            quantizedWeight = (try? weight?.fakeQuantize(latent.weight, tensor: latent.name + ".weight")) ?? latent.weight
        }
    }

    public var name: String { latent.name }
    public var inFeatures: Int { latent.inFeatures }
    public var outFeatures: Int { latent.outFeatures }
    public var weightBytes: Int { deployed.weightBytes }

    /// The deployable layer: the weight fake-quantized once with the learned parameters.
    public var deployed: FakeQuantizedLinear {
        FakeQuantizedLinear(quantized: try! FloatLinear(name: name, weight: quantizedWeight, bias: latent.bias, inputScale: latent.inputScale),
                            weight: weight, activation: activation, weightParameters: weightParameters)
    }

    public func forward(_ x: Matrix<Float>) -> Matrix<Float> { deployed.forward(x) }

    /// dX, dW (straight through inside the clipping range), db, and the gradients of the step sizes' logs,
    /// s dL/ds with LSQ's dL/ds: `weightScales` and, for a static integer input, `inputScales`.
    public func backward(input x: Matrix<Float>, outputGradient dy: Matrix<Float>) -> LinearGradients {
        let scaled = latent.scaledInput(x)
        var input = scaled, inputParameters: QuantizationParameters?
        if case let .staticInteger(p)? = activation {
            (input, inputParameters) = (LearnedStepSize.fakeQuantize(scaled, p).value, p)
        } else if let activation {
            input = (try? activation.fakeQuantize(scaled, tensor: name + ".input")) ?? scaled
        }
        let dWeight = BLAS.matmul(dy, transposed: true, input)
        let dInput = BLAS.matmul(dy, quantizedWeight)
        var gradients = LinearGradients(input: dInput, weight: dWeight, bias: latent.bias.map { _ in dy.columnSums() })
        if let weightParameters {
            let weightStep = lowBit.map { $0.fakeQuantize(latent.weight, weightParameters, outputGradient: dWeight) }
                ?? LearnedStepSize.fakeQuantize(latent.weight, weightParameters, outputGradient: dWeight)
            (gradients.weight, gradients.weightScales) = (weightStep.input!, zip(weightStep.scales!, weightParameters.scales).map { $0 * $1 })
        }
        if let p = inputParameters {
            let inputStep = LearnedStepSize.fakeQuantize(scaled, p, outputGradient: dInput)
            (gradients.input, gradients.inputScales) = (inputStep.input!, zip(inputStep.scales!, p.scales).map { $0 * $1 })
        }
        gradients.input = FloatLinear.scaled(gradients.input, by: latent.inputScale)
        return gradients
    }

    public func updating(_ update: (String, inout [Float]) -> Void, guarding stepSizes: inout StepSizeGuard) throws(QuantaError) -> any TrainableLinear {
        let layer = try latent.updating(update, guarding: &stepSizes) as! FloatLinear
        var weightParameters = self.weightParameters, activation = self.activation
        if let p = weightParameters { weightParameters = try Self.updated(p, name: name + ".weight_scale", update, guarding: &stepSizes) }
        if case let .staticInteger(p)? = activation { activation = .staticInteger(try Self.updated(p, name: name + ".input_scale", update, guarding: &stepSizes)) }
        return QATLinear(latent: layer, weightParameters: weightParameters, weight: weight, activation: activation, lowBit: lowBit)
    }

    static func updated(_ p: QuantizationParameters, name: String, _ update: (String, inout [Float]) -> Void,
                        guarding stepSizes: inout StepSizeGuard) throws(QuantaError) -> QuantizationParameters {
        var logs = p.scales.map { log($0) }
        update(name, &logs)
        var scales = logs.map { exp($0) }
        for i in scales.indices where stepSizes.holds && !(scales[i].isFinite && scales[i] >= p.scales[i] * StepSizeGuard.minimumShrink) {
            scales[i] = p.scales[i] * StepSizeGuard.minimumShrink
            stepSizes.held += 1
        }
        return try QuantizationParameters(scales: scales, zeroPoints: p.zeroPoints, format: p.format, scheme: p.scheme, granularity: p.granularity)
    }
}

/// LSQ's known failure is an update that takes a step size to zero, below it, or to NaN: `updatingParameters`
/// holds each step size at no less than `minimumShrink` of its value before the update and counts the ones it
/// held; a restore (`TrainingCheckpoint.restoring`) sets them as saved (`holds` false).
public struct StepSizeGuard: Sendable {
    public static let minimumShrink: Float = 0.5
    public var holds: Bool
    public var held = 0
    public init(holds: Bool = true) { self.holds = holds }
}
