/// LSQ (Esser et al., 2020), learned step size quantization of a tensor with Quanta's integer parameters:
///
///     u = v * (1 / s),   x~ = s * clamp(rne(u), lower, upper)      (lower, upper: the code range shifted by Z)
///     dx~/dv = 1 if lower <= u <= upper, else 0                     (the straight-through estimator)
///     dx~/ds = rne(u) - u inside, else the bound it is clamped to
///
/// and the step size's gradient is multiplied by g = 1 / sqrt(N * Qp) (N elements share the step, Qp the
/// largest code), so that step sizes and weights learn at comparable rates. The forward pass is exactly
/// `AffineQuantizer.fakeQuantize` with the same parameters, so what trains is what deploys.
public enum LearnedStepSize {
    /// x~ of `x`, and (when `outputGradient` dL/dx~ is given) dL/dx and dL/ds for every scale of `parameters`.
    public static func fakeQuantize(_ x: Matrix<Float>, _ parameters: QuantizationParameters, outputGradient: Matrix<Float>? = nil)
        -> (value: Matrix<Float>, input: Matrix<Float>?, scales: [Float]?) {
        let range = parameters.codeRange, granularity = parameters.granularity, columns = x.columns
        var value = x, input = outputGradient
        var scaleGradients = [Double](repeating: 0, count: parameters.scales.count), shares = [Int](repeating: 0, count: parameters.scales.count)
        // Every granularity indexes (r, c) as its row's first pair plus an offset that depends on c alone.
        let offsets = (0..<columns).map { granularity.parameterIndex(row: 0, column: $0, columns: columns) - granularity.parameterIndex(row: 0, column: 0, columns: columns) }
        let inverseScales = parameters.scales.map { 1 / $0 }
        let lowest = range.lowerBound, highest = range.upperBound
        parameters.scales.withUnsafeBufferPointer { scales in parameters.zeroPoints.withUnsafeBufferPointer { zeroPoints in
        inverseScales.withUnsafeBufferPointer { inverse in offsets.withUnsafeBufferPointer { offsets in
        x.storage.withUnsafeBufferPointer { xs in value.storage.withUnsafeMutableBufferPointer { values in
            for r in 0..<x.rows {
                let first = granularity.parameterIndex(row: r, column: 0, columns: columns)
                for c in 0..<columns {
                    let i = r * columns + c, p = first + offsets[c]
                    let z = zeroPoints[p], lower = lowest + z, upper = highest + z
                    let u = xs[i] * inverse[p]
                    let code = IntegerFormat.roundClamped(u, lower: lower, upper: upper)
                    values[i] = scales[p] * Float(code)
                    guard let dy = outputGradient?.storage[i] else { continue }
                    let inside = u >= Float(lower) && u <= Float(upper)
                    if !inside { input!.storage[i] = 0 }
                    scaleGradients[p] += Double(dy * (inside ? Float(code) - u : Float(code)))
                    shares[p] += 1
                }
            }
        }}}}}}
        guard outputGradient != nil else { return (value, nil, nil) }
        let largest = Float(max(range.upperBound, 1))
        let scales = scaleGradients.indices.map { p in Float(scaleGradients[p]) / (Float(max(shares[p], 1)) * largest).squareRoot() }
        return (value, input, scales)
    }
}
