/// A linear layer that can run its backward pass (the FP32 layer today; fake-quantized layers with QAT).
public protocol TrainableLinear: LinearLayer {
    /// dL/dX, dL/dW and dL/db given the forward input `x` and dL/dY.
    func backward(input x: Matrix<Float>, outputGradient dy: Matrix<Float>) -> LinearGradients
    /// The layer with each parameter passed through `update` by its name (the names `ParameterGradients` uses);
    /// `guarding` holds step sizes positive and finite (`StepSizeGuard`).
    func updating(_ update: (String, inout [Float]) -> Void, guarding: inout StepSizeGuard) throws(QuantaError) -> any TrainableLinear
}

extension FloatLinear: TrainableLinear {
    public func updating(_ update: (String, inout [Float]) -> Void, guarding _: inout StepSizeGuard) throws(QuantaError) -> any TrainableLinear {
        var w = weight.storage, b = bias
        update(name + ".weight", &w)
        if b != nil { update(name + ".bias", &b!) }
        return try FloatLinear(name: name, weight: Matrix(rows: weight.rows, columns: weight.columns, storage: w), bias: b, inputScale: inputScale)
    }
}

/// The gradient of a loss for every parameter of a model, by the parameter's tensor name in the model file
/// (`blk.0.attn_q.weight`, `encoder.layer.0.attention.self.query.bias`); a parameter used twice (a tied
/// embedding) gets the sum.
public struct ParameterGradients: Sendable {
    public private(set) var values: [String: [Float]] = [:]

    public init() {}

    public subscript(name: String) -> [Float]? { values[name] }

    /// Adds `gradient` to the parameter `name`'s.
    public mutating func add(_ name: String, _ gradient: [Float]) {
        guard var sum = values.removeValue(forKey: name) else { values[name] = gradient; return }   // out, to add in place
        precondition(sum.count == gradient.count, "\(name): gradients of \(sum.count) and \(gradient.count) values")
        for i in sum.indices { sum[i] += gradient[i] }
        values[name] = sum
    }

    /// Every gradient multiplied by `factor` (the mean over accumulated micro-batches).
    public mutating func scale(by factor: Float) {
        for name in Array(values.keys) {
            var gradient = values.removeValue(forKey: name)!
            for i in gradient.indices { gradient[i] *= factor }
            values[name] = gradient
        }
    }

    /// sqrt of the sum of squares of every gradient.
    public var globalNorm: Float {
        var squares = 0.0
        for gradient in values.values { for v in gradient { squares += Double(v) * Double(v) } }
        return Float(squares.squareRoot())
    }

    /// Scales every gradient by min(1, maxNorm / (norm + 1e-6)), norm = `globalNorm`
    /// (torch.nn.utils.clip_grad_norm_); returns the norm before clipping.
    @discardableResult
    public mutating func clip(toGlobalNorm maxNorm: Float) -> Float {
        let norm = globalNorm, factor = min(1, maxNorm / (norm + 1e-6))
        if factor < 1 { scale(by: factor) }
        return norm
    }

    /// Adds a linear layer's gradients under `<name>.weight`, `<name>.bias`, and for learned step sizes
    /// `<name>.weight_scale` and `<name>.input_scale` (the names compressed-tensors gives the scales).
    public mutating func add(_ layer: any LinearLayer, _ gradients: LinearGradients) {
        add(layer.name + ".weight", gradients.weight.storage)
        if let bias = gradients.bias { add(layer.name + ".bias", bias) }
        if let scales = gradients.weightScales { add(layer.name + ".weight_scale", scales) }
        if let scales = gradients.inputScales { add(layer.name + ".input_scale", scales) }
    }
}

extension ParameterGradients {
    /// The backward pass of layers that read the same input `x` (Q, K and V; gate and up): each layer's
    /// gradients added for its output gradient in `outputGradients`, the sum of their input gradients returned.
    mutating func backward(_ layers: [any LinearLayer], input x: Matrix<Float>, outputGradients: [Matrix<Float>]) throws(QuantaError) -> Matrix<Float> {
        var dx: Matrix<Float>?
        for (layer, dy) in zip(layers, outputGradients) {
            let g = try layer.trainable().backward(input: x, outputGradient: dy)
            add(layer, g)
            dx = dx.map { $0 + g.input } ?? g.input
        }
        return dx!
    }
}

extension LinearLayer {
    /// This layer as a `TrainableLinear`, or an error naming it.
    func trainable() throws(QuantaError) -> any TrainableLinear {
        guard let layer = self as? any TrainableLinear else { throw .invalidArgument("\(name): this kind of layer (\(type(of: self))) cannot be trained") }
        return layer
    }
}

extension Matrix where Element == Float {
    /// Rows `range` as a matrix.
    func rows(_ range: Range<Int>) -> Matrix<Float> {
        try! Matrix(rows: range.count, columns: columns, storage: Array(storage[range.lowerBound * columns..<range.upperBound * columns]))
    }

    /// self + other, element-wise.
    static func + (a: Matrix<Float>, b: Matrix<Float>) -> Matrix<Float> {
        var sum = a
        sum.add(b)
        return sum
    }
}
