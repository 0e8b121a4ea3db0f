import QuantaKernels

/// LSQ (Esser et al., 2020), learned step size quantization of a tensor with Quanta's integer parameters:
///
///     u = v * (1 / s),   x~ = s * clamp(rne(u), lower, upper)      (lower, upper: the code range shifted by Z)
///     dx~/dv = 1 if lower <= u <= upper, else 0                     (the straight-through estimator)
///     dx~/ds = rne(u) - u inside, else the bound it is clamped to
///
/// and the step size's gradient is multiplied by g = 1 / sqrt(N * Qp) (N elements share the step, Qp the
/// largest code), so that step sizes and weights learn at comparable rates. The forward pass is exactly
/// `AffineQuantizer.fakeQuantize` with the same parameters, so what trains is what deploys. The elements go
/// through `qk_lsq_rows` (`FakeQuantizeRows`).
public enum LearnedStepSize {
    /// x~ of `x`, and (when `outputGradient` dL/dx~ is given) dL/dx and dL/ds for every scale of `parameters`.
    public static func fakeQuantize(_ x: Matrix<Float>, _ parameters: QuantizationParameters, outputGradient: Matrix<Float>? = nil)
        -> (value: Matrix<Float>, input: Matrix<Float>?, scales: [Float]?) {
        let range = parameters.codeRange, count = parameters.scales.count
        let inverseScales = parameters.scales.map { 1 / $0 }
        let result = parameters.scales.withUnsafeBufferPointer { scales in inverseScales.withUnsafeBufferPointer { inverse in
        parameters.zeroPoints.withUnsafeBufferPointer { zeroPoints in
            FakeQuantizeRows.run(x, granularity: parameters.granularity, parameterCount: count, outputGradient: outputGradient) {
                qk_lsq_rows($0, $1, $2, $3, $4, scales.baseAddress, inverse.baseAddress, zeroPoints.baseAddress,
                            range.lowerBound, range.upperBound, $5, $6, $7, $8)
            }
        }}}
        guard let input = result.input else { return (result.value, nil, nil) }
        let largest = Float(max(range.upperBound, 1))
        return (result.value, input, (0..<count).map { Float(result.sums[$0]) / (Float(max(result.shares[$0], 1)) * largest).squareRoot() })
    }
}
