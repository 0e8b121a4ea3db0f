/// A linear layer that can run its backward pass (the FP32 layer today; fake-quantized layers with QAT).
public protocol TrainableLinear: LinearLayer {
    /// dL/dX, dL/dW and dL/db given the forward input `x` and dL/dY.
    func backward(input x: Matrix<Float>, outputGradient dy: Matrix<Float>) -> LinearGradients
}

extension FloatLinear: TrainableLinear {}

/// The gradient of a loss for every parameter of a model, by the parameter's tensor name in the model file
/// (`blk.0.attn_q.weight`, `encoder.layer.0.attention.self.query.bias`); a parameter used twice (a tied
/// embedding) gets the sum.
public struct ParameterGradients: Sendable {
    public private(set) var values: [String: [Float]] = [:]

    public init() {}

    public subscript(name: String) -> [Float]? { values[name] }

    /// Adds `gradient` to the parameter `name`'s.
    public mutating func add(_ name: String, _ gradient: [Float]) {
        guard var sum = values[name] else { values[name] = gradient; return }
        precondition(sum.count == gradient.count, "\(name): gradients of \(sum.count) and \(gradient.count) values")
        for i in sum.indices { sum[i] += gradient[i] }
        values[name] = sum
    }

    /// Adds a linear layer's weight (and bias) gradients under `<name>.weight` and `<name>.bias`.
    public mutating func add(_ layer: any LinearLayer, _ gradients: LinearGradients) {
        add(layer.name + ".weight", gradients.weight.storage)
        if let bias = gradients.bias { add(layer.name + ".bias", bias) }
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
