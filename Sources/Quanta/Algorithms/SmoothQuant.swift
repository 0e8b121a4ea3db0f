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
    public static func fold(into model: LlamaModel, statistics: [String: ActivationStatistics], alpha: Float) throws(QuantaError) -> LlamaModel {
        var result = model
        let c = model.config, d = c.headDimension, group = c.heads / c.kvHeads
        for i in result.blocks.indices {
            var block = result.blocks[i]
            let (q, k, v, o) = (try float(block.query), try float(block.key), try float(block.value), try float(block.output))
            let (gate, up, down) = (try float(block.gate), try float(block.up), try float(block.down))
            // Attention input: fold into attn_norm.
            let sAttention = factors(activationMax: try channelMax(statistics, q.name), weights: [q.weight, k.weight, v.weight], alpha: alpha)
            block.attentionNorm.weight = zip(block.attentionNorm.weight, sAttention).map { $0 / $1 }
            block.query = try q.scalingColumns(by: sAttention)
            block.key = try k.scalingColumns(by: sAttention)
            // Output projection: factors per KV channel (g, e), shared by the query heads of KV head g.
            let oMax = try channelMax(statistics, o.name)
            let kvMax = (0..<c.kvHeads * d).map { kv in (0..<group).map { oMax[((kv / d) * group + $0) * d + kv % d] }.max()! }
            let oWeights = (0..<group).map { h in o.weight.selectingColumns((0..<c.kvHeads * d).map { (($0 / d) * group + h) * d + $0 % d }) }
            let sKV = factors(activationMax: kvMax, weights: oWeights, alpha: alpha)
            let sO = (0..<c.heads * d).map { sKV[($0 / d / group) * d + $0 % d] }
            block.value = try v.scalingColumns(by: sAttention).scalingRows(by: sKV.map { 1 / $0 })
            block.output = try o.scalingColumns(by: sO)
            // MLP input: fold into ffn_norm.
            let sMLP = factors(activationMax: try channelMax(statistics, gate.name), weights: [gate.weight, up.weight], alpha: alpha)
            block.feedForwardNorm.weight = zip(block.feedForwardNorm.weight, sMLP).map { $0 / $1 }
            block.gate = try gate.scalingColumns(by: sMLP)
            // Down projection: fold into up's rows.
            let sDown = factors(activationMax: try channelMax(statistics, down.name), weights: [down.weight], alpha: alpha)
            block.up = try up.scalingColumns(by: sMLP).scalingRows(by: sDown.map { 1 / $0 })
            block.down = try down.scalingColumns(by: sDown)
            result.blocks[i] = block
        }
        return result
    }

    /// `model` with SmoothQuant applied: the attention output's factors folded into V's rows, every other
    /// Linear given the input scale 1/s (see the type's documentation).
    public static func fold(into model: BertModel, statistics: [String: ActivationStatistics], alpha: Float) throws(QuantaError) -> BertModel {
        var result = model
        for i in result.layers.indices {
            var layer = result.layers[i]
            let (q, k, v, o) = (try float(layer.query), try float(layer.key), try float(layer.value), try float(layer.attentionOutput))
            let (up, down) = (try float(layer.intermediate), try float(layer.output))
            let sAttention = factors(activationMax: try channelMax(statistics, q.name), weights: [q.weight, k.weight, v.weight], alpha: alpha)
            let sO = factors(activationMax: try channelMax(statistics, o.name), weights: [o.weight], alpha: alpha)
            layer.query = try q.smoothing(by: sAttention)
            layer.key = try k.smoothing(by: sAttention)
            layer.value = try v.smoothing(by: sAttention).scalingRows(by: sO.map { 1 / $0 })
            layer.attentionOutput = try o.scalingColumns(by: sO)
            let sUp = factors(activationMax: try channelMax(statistics, up.name), weights: [up.weight], alpha: alpha)
            layer.intermediate = try up.smoothing(by: sUp)
            let sDown = factors(activationMax: try channelMax(statistics, down.name), weights: [down.weight], alpha: alpha)
            layer.output = try down.smoothing(by: sDown)
            result.layers[i] = layer
        }
        return result
    }

    static func float(_ layer: any LinearLayer) throws(QuantaError) -> FloatLinear {
        guard let float = layer as? FloatLinear else {
            throw .invalidArgument("SmoothQuant folds into FP32 layers; \(layer.name) is already quantized")
        }
        return float
    }

    static func channelMax(_ statistics: [String: ActivationStatistics], _ layer: String) throws(QuantaError) -> [Float] {
        guard let s = statistics[layer] else { throw .invalidArgument("SmoothQuant: no calibration statistics for \(layer)") }
        return s.channelAbsMax
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

extension Matrix where Element == Float {
    /// The [rows, indices.count] matrix whose column j is column indices[j] of this one.
    func selectingColumns(_ indices: [Int]) -> Matrix<Float> {
        var out = Matrix(rows: rows, columns: indices.count, repeating: 0)
        for r in 0..<rows { for (j, source) in indices.enumerated() { out[r, j] = self[r, source] } }
        return out
    }
}
