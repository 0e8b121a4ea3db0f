import Foundation

/// SmoothQuant (Xiao et al.): migrate quantization difficulty from activations to weights with a
/// per-input-channel factor folded offline into the model, so the FP32 function is unchanged:
///
///     Y = (X diag(s)^-1) (diag(s) W^T),   s_j = max|X_j|^alpha / max|W_j|^(1 - alpha)
///
/// where max|W_j| is over every Linear that reads X (q, k and v read the same normalised input). The 1/s
/// goes where X is produced:
/// - into the preceding LayerNorm / RMSNorm weight (and bias): q, k, v and gate/up or BERT's intermediate;
/// - for the attention output projection (no norm before it) into the value projection's output rows:
///   attention mixes tokens, never channels, so scaling V's channel by 1/s scales the context's channel by
///   1/s exactly. With grouped-query attention the factor is shared by the query heads of one KV head;
/// - for LLaMA's down projection into the up projection's rows, since its input silu(gate) * up is linear in up.
/// BERT is post-norm: a LayerNorm's output is both the next Linears' input and the residual, so 1/s cannot
/// be folded into it. There the 1/s stays a per-channel scale of the Linear's input (`FloatLinear.inputScale`,
/// fused into activation quantization by a kernel). BERT's output dense reads GELU(intermediate), which no
/// factor passes through exactly; it gets the same input scale.
public enum SmoothQuant {
    /// The migration strength: one alpha for every layer, or chosen per group of Linears sharing an input.
    public enum Strength: Sendable, CustomStringConvertible {
        case alpha(Float)
        /// Not SmoothQuant's rule: AWQ's activation-aware factors for weight-only recipes
        /// (`ActivationAwareScaling`), searched for this weight quantizer.
        case activationAware(TensorQuantizer)
        /// For each group, the alpha in 0.3, 0.4, ..., 0.9 whose smoothed INT8 product (per-channel weights,
        /// per-token inputs) is closest, in squared error, to the FP32 product on the calibration sample
        /// (the first 256 calibration tokens). The attention output's factors, shared per KV channel, use 0.5.
        case automatic

        public var description: String {
            switch self {
            case let .alpha(a): return "alpha \(a)"
            case .automatic: return "alpha auto"
            case let .activationAware(weight): return "activation-aware for \(weight)"
            }
        }
    }

    /// The alphas `Strength.automatic` searches.
    public static let alphaGrid: [Float] = [0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9]

    /// The factors for a group of Linears reading one input, with `strength` resolved on `statistics`' sample.
    static func factors(_ statistics: ActivationStatistics, activationMax: [Float]? = nil, weights: [Matrix<Float>],
                        strength: Strength) throws(QuantaError) -> [Float] {
        let xMax = activationMax ?? statistics.channelAbsMax
        switch strength {
        case let .activationAware(weight):
            return try ActivationAwareScaling.rule { w throws(QuantaError) in try weight.fakeQuantize(w, tensor: "weight") }(statistics, activationMax, weights)
        case let .alpha(alpha):
            return factors(activationMax: xMax, weights: weights, alpha: alpha)
        case .automatic:
            let x = statistics.sampleMatrix
            guard x.rows > 0, activationMax == nil else { return factors(activationMax: xMax, weights: weights, alpha: 0.5) }
            let exact = weights.map { BLAS.matmulTransposed(x, $0) }
            var best = factors(activationMax: xMax, weights: weights, alpha: 0.5), bestError = Float.infinity
            for alpha in alphaGrid {
                let s = factors(activationMax: xMax, weights: weights, alpha: alpha)
                var xs = x
                for r in 0..<x.rows { for c in 0..<x.columns { xs[r, c] /= s[c] } }
                guard let xq = try? TensorQuantizer.integer(.int8, .symmetric, .perToken).fakeQuantize(xs, tensor: "sample") else { continue }
                var error: Float = 0
                for (w, y) in zip(weights, exact) {
                    var ws = w
                    for r in 0..<w.rows { for c in 0..<w.columns { ws[r, c] *= s[c] } }
                    guard let wq = try? TensorQuantizer.integer(.int8, .symmetric, .perChannel).fakeQuantize(ws, tensor: "weight") else { continue }
                    error += zip(BLAS.matmulTransposed(xq, wq).storage, y.storage).reduce(0) { $0 + ($1.0 - $1.1) * ($1.0 - $1.1) }
                }
                if error < bestError { bestError = error; best = s }
            }
            return best
        }
    }

    /// The smoothing factors for one group of Linears sharing an input with per-channel max `activationMax`.
    public static func factors(activationMax: [Float], weights: [Matrix<Float>], alpha: Float) -> [Float] {
        activationMax.indices.map { j in
            let w = weights.reduce(Float(0)) { m, weight in
                var column: Float = 0
                for r in 0..<weight.rows { column = max(column, weight[r, j].magnitude) }
                return max(m, column)
            }
            let x = activationMax[j]
            guard x > 0, w > 0 else { return 1 }
            return max(powf(x, alpha) / powf(w, 1 - alpha), 1e-5)
        }
    }

    /// `model` with SmoothQuant folded in, from calibration `statistics` of the FP32 model.
    public static func fold<Model: QuantizableModel>(into model: Model, statistics: [String: ActivationStatistics], alpha: Float) throws(QuantaError) -> Model {
        try fold(into: model, statistics: statistics, strength: .alpha(alpha))
    }

    /// `model` with SmoothQuant folded in at `strength`, where the architecture takes the 1/s
    /// (`QuantizableModel.smoothQuantFolded`).
    public static func fold<Model: QuantizableModel>(into model: Model, statistics: [String: ActivationStatistics], strength: Strength) throws(QuantaError) -> Model {
        try model.smoothQuantFolded(statistics: statistics) { stats, activationMax, weights throws(QuantaError) in
            try factors(stats, activationMax: activationMax, weights: weights, strength: strength)
        }
    }

    /// The factors of a group of Linears reading one input, from the input's statistics (with a per-channel
    /// max that replaces the statistics' own where the factors are shared across heads) and the group's weights.
    public typealias FactorRule = (ActivationStatistics, _ activationMax: [Float]?, _ weights: [Matrix<Float>]) throws(QuantaError) -> [Float]

    static func float(_ layer: any LinearLayer) throws(QuantaError) -> FloatLinear {
        guard let float = layer as? FloatLinear else {
            throw .invalidArgument("SmoothQuant folds into FP32 layers; \(layer.name) is already quantized")
        }
        return float
    }

    static func stats(_ statistics: [String: ActivationStatistics], _ layer: String) throws(QuantaError) -> ActivationStatistics {
        guard let s = statistics[layer] else { throw .invalidArgument("SmoothQuant: no calibration statistics for \(layer)") }
        return s
    }
}

extension FloatLinear {
    /// W[:, j] *= s[j] (the layer's input is divided by s).
    func scalingColumns(by s: [Float]) throws(QuantaError) -> FloatLinear {
        var w = weight
        for r in 0..<w.rows { for j in 0..<w.columns { w[r, j] *= s[j] } }
        return try FloatLinear(name: name, weight: w, bias: bias, inputScale: inputScale)
    }

    /// W[:, j] *= s[j] with the input scaled by 1/s[j] in the layer itself.
    func smoothing(by s: [Float]) throws(QuantaError) -> FloatLinear {
        let w = try scalingColumns(by: s).weight
        return try FloatLinear(name: name, weight: w, bias: bias, inputScale: s.map { 1 / $0 })
    }

    /// W[i, :] *= s[i] and b[i] *= s[i] (the layer's output channel i is multiplied by s[i]).
    func scalingRows(by s: [Float]) throws(QuantaError) -> FloatLinear {
        var w = weight
        for r in 0..<w.rows { for j in 0..<w.columns { w[r, j] *= s[r] } }
        return try FloatLinear(name: name, weight: w, bias: bias.map { zip($0, s).map { $0 * $1 } }, inputScale: inputScale)
    }
}
