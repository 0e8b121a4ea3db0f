import Foundation

/// AWQ's activation-aware scaling (Lin et al.) for weight-only formats: the input channels that carry large
/// activations get their weight columns scaled up before quantization, so their relative rounding error
/// shrinks, and the inverse factor is folded where the input is produced (as `SmoothQuant` folds: RMSNorm
/// weights, up's rows), so the FP32 function is unchanged and the file holds plain weights. For a group of
/// Linears reading one input X:
///
///     s_j = m_j^alpha / sqrt(max_k m_k^alpha  min_k m_k^alpha),   m_j = mean over tokens of |X_j|
///
/// with alpha in 0, 0.05, ..., 0.95 chosen per group to minimise sum over the group of
/// || X W^T - (X / s) Q(W diag(s))^T ||^2 on the calibration sample, Q the target format's
/// quantize-dequantize. alpha = 0 is s = 1, plain quantization, so no group gets worse on the sample. The
/// attention output's factors would be shared across the query heads of a KV head; they stay 1.
public enum ActivationAwareScaling {
    /// The exponents searched.
    public static let alphaGrid: [Float] = (0..<20).map { Float($0) * 0.05 }

    /// A weight format's quantize-dequantize of a whole [out, in] matrix.
    public typealias WeightRoundTrip = (Matrix<Float>) throws(QuantaError) -> Matrix<Float>

    /// `model` with activation-aware factors folded in, chosen on the sample rows of `statistics` (the FP32
    /// model's calibration) for the weight format `roundTrip`.
    public static func fold<Model: QuantizableModel>(into model: Model, statistics: [String: ActivationStatistics], roundTrip: @escaping WeightRoundTrip) throws(QuantaError) -> Model {
        try model.smoothQuantFolded(statistics: statistics, factors: rule(roundTrip))
    }

    /// The factor rule for `QuantizableModel.smoothQuantFolded`: `factors` on the statistics' sample rows; 1 where the factors
    /// would be shared across heads (a per-channel max is given).
    public static func rule(_ roundTrip: @escaping WeightRoundTrip) -> SmoothQuant.FactorRule {
        { statistics, sharedMax, weights throws(QuantaError) in
            sharedMax == nil ? try factors(sample: statistics.sampleMatrix, weights: weights, roundTrip: roundTrip)
                             : [Float](repeating: 1, count: sharedMax!.count)
        }
    }

    /// The factors of a group of Linears (`weights`, each [out, in]) reading the input whose rows `sample` holds.
    public static func factors(sample x: Matrix<Float>, weights: [Matrix<Float>], roundTrip: WeightRoundTrip) throws(QuantaError) -> [Float] {
        let ones = [Float](repeating: 1, count: x.columns)
        guard x.rows > 0 else { return ones }
        var meanMagnitude = [Float](repeating: 0, count: x.columns)
        for r in 0..<x.rows { for c in 0..<x.columns { meanMagnitude[c] += x[r, c].magnitude / Float(x.rows) } }
        let exact = weights.map { BLAS.matmulTransposed(x, $0) }
        var best = ones, bestError = Float.infinity
        for alpha in alphaGrid {
            var s = meanMagnitude.map { $0 > 0 ? powf($0, alpha) : 1 }
            let normaliser = (s.max()! * s.min()!).squareRoot()
            s = s.map { max($0 / normaliser, 1e-4) }
            var scaledInput = x
            for r in 0..<x.rows { for c in 0..<x.columns { scaledInput[r, c] /= s[c] } }
            var error: Float = 0
            for (w, y) in zip(weights, exact) {
                var scaled = w
                for r in 0..<w.rows { for c in 0..<w.columns { scaled[r, c] *= s[c] } }
                let product = BLAS.matmulTransposed(scaledInput, try roundTrip(scaled))
                error += zip(product.storage, y.storage).reduce(0) { $0 + ($1.0 - $1.1) * ($1.0 - $1.1) }
            }
            if error < bestError { (best, bestError) = (s, error) }
        }
        return best
    }
}
