/// The gradients of a linear layer's loss with respect to its input and its parameters.
public struct LinearGradients: Sendable {
    /// dL/dX [tokens, inFeatures].
    public var input: Matrix<Float>
    /// dL/dW [outFeatures, inFeatures].
    public var weight: Matrix<Float>
    /// dL/db [outFeatures], when the layer has a bias.
    public var bias: [Float]?
    /// dL/d(log s) of the learned step sizes of a quantization-aware layer's weight and input (`QATLinear`).
    public var weightScales: [Float]? = nil, inputScales: [Float]? = nil
}

extension FloatLinear {
    /// The backward pass of y = (x diag(s)) W^T + b, given the forward input `x` and dL/dY `dy`:
    ///
    ///     dX = (dY W) diag(s),   dW = dY^T (x diag(s)),   db = sum over tokens of dY
    ///
    /// (s: the optional SmoothQuant `inputScale`), each product one sgemm call.
    public func backward(input x: Matrix<Float>, outputGradient dy: Matrix<Float>) -> LinearGradients {
        precondition(x.rows == dy.rows && x.columns == inFeatures && dy.columns == outFeatures,
                     "\(name): input \(x.shape) and output gradient \(dy.shape) do not fit the layer")
        let input = Self.scaled(BLAS.matmul(dy, weight), by: inputScale)
        let weightGradient = BLAS.matmul(dy, transposed: true, scaledInput(x))
        return LinearGradients(input: input, weight: weightGradient, bias: bias.map { _ in dy.columnSums() })
    }
}

extension Matrix where Element == Float {
    /// sum over rows of each column [columns] (a bias gradient), accumulated in Double.
    public func columnSums() -> [Float] {
        var sums = [Double](repeating: 0, count: columns)
        for r in 0..<rows { for c in 0..<columns { sums[c] += Double(self[r, c]) } }
        return sums.map { Float($0) }
    }
}
