/// A tensor of a model under the name its model file gives it (llama.cpp's GGUF names for the decoder, Hugging
/// Face BertModel names for the encoder),
/// with its role and its FP32 values: the one description of a model's tensors that the exporters and the
/// quantized-folder writer read, so no writer spells the tensor names again.
public struct ModelTensor: Sendable {
    public enum Role: Sendable, Hashable {
        /// An embedding table: tokens [vocabulary, hidden] (BERT's positions and token types too).
        case embedding
        /// A normalisation weight (or LayerNorm bias) [hidden].
        case norm
        /// A Linear layer's weight [out, in].
        case linear
        /// The output head [vocabulary, hidden], present only when it is not the tied embedding.
        case head
        /// A Linear layer's bias [out].
        case bias
    }

    public let name: String
    public let role: Role
    /// [rows, columns] for matrices, [count] for vectors (row-major: the last dimension varies fastest).
    public let shape: [Int]
    /// FP32 values (a quantized layer's dequantized weight).
    public let values: [Float]
    /// The Linear layer a `.linear` or `.head` weight belongs to (a writer may store its codes as they are).
    public var layer: (any LinearLayer)? = nil
}

/// The weight (and bias) of an FP32 or fake-quantized Linear (its dequantized weight), without an input scale.
private func linearTensors(_ layer: any LinearLayer, role: ModelTensor.Role) throws(QuantaError) -> [ModelTensor] {
    guard let float = (layer as? FloatLinear) ?? (layer as? FakeQuantizedLinear)?.quantized else {
        throw .invalidArgument("\(layer.name) runs on \(type(of: layer)); this writer takes FP32 or fake-quantized layers")
    }
    guard float.inputScale == nil else {
        throw .invalidArgument("\(layer.name) has a SmoothQuant input scale, which a model file has no place for (choose a recipe without SmoothQuant)")
    }
    let name = layer.name
    let weight = ModelTensor(name: name + ".weight", role: role, shape: [float.outFeatures, float.inFeatures], values: float.weight.storage, layer: layer)
    return [weight] + (float.bias.map { [ModelTensor(name: name + ".bias", role: .bias, shape: [$0.count], values: $0)] } ?? [])
}

extension BertModel {
    /// The model's tensors under Hugging Face BertModel names, in its file's order (embeddings, then per layer
    /// the attention's query, key, value, output and LayerNorm, the feed-forward's intermediate, output and
    /// LayerNorm); weights before biases.
    public func tensors() throws(QuantaError) -> [ModelTensor] {
        func norm(_ name: String, _ n: LayerNorm) -> [ModelTensor] {
            [ModelTensor(name: name + ".weight", role: .norm, shape: [n.weight.count], values: n.weight),
             ModelTensor(name: name + ".bias", role: .norm, shape: [n.bias.count], values: n.bias)]
        }
        var out = [("word_embeddings", wordEmbeddings), ("position_embeddings", positionEmbeddings), ("token_type_embeddings", typeEmbeddings)].map {
            ModelTensor(name: "embeddings.\($0.0).weight", role: .embedding, shape: [$0.1.rows, $0.1.columns], values: $0.1.storage)
        }
        out += norm("embeddings.LayerNorm", embeddingNorm)
        for (i, layer) in layers.enumerated() {
            for linear in [layer.query, layer.key, layer.value, layer.attentionOutput] { out += try linearTensors(linear, role: .linear) }
            out += norm("encoder.layer.\(i).attention.output.LayerNorm", layer.attentionNorm)
            for linear in [layer.intermediate, layer.output] { out += try linearTensors(linear, role: .linear) }
            out += norm("encoder.layer.\(i).output.LayerNorm", layer.outputNorm)
        }
        return out
    }
}

extension LlamaModel {
    /// The head unless it is the tied token embedding (an FP32 layer with the same weight).
    var untiedHead: (any LinearLayer)? {
        guard let float = head as? FloatLinear else { return head }
        return float.weight.storage == tokenEmbeddings.storage && float.bias == nil && float.inputScale == nil ? nil : head
    }

    /// The model's tensors of the given roles in llama.cpp's order (embedding, head, final norm, then per block
    /// attn_norm, attn_q, attn_k, attn_v, attn_output, ffn_norm, ffn_gate, ffn_up, ffn_down). Linear layers and
    /// the head must be FP32 or fake-quantized (their dequantized weights), without an input scale or bias (a
    /// LLaMA file has no place for them).
    public func tensors(_ roles: Set<ModelTensor.Role> = [.embedding, .head, .norm, .linear]) throws(QuantaError) -> [ModelTensor] {
        var out = [ModelTensor]()
        func linear(_ layer: any LinearLayer, role: ModelTensor.Role) throws(QuantaError) {
            let tensors = try linearTensors(layer, role: role)
            guard tensors.count == 1 else { throw .invalidArgument("\(layer.name) has a bias, which a LLaMA model file cannot hold") }
            out += tensors
        }
        func norm(_ name: String, _ weight: [Float]) {
            if roles.contains(.norm) { out.append(ModelTensor(name: name, role: .norm, shape: [weight.count], values: weight)) }
        }
        if roles.contains(.embedding) {
            out.append(ModelTensor(name: "token_embd.weight", role: .embedding, shape: [tokenEmbeddings.rows, tokenEmbeddings.columns], values: tokenEmbeddings.storage))
        }
        if roles.contains(.head), let head = untiedHead { try linear(head, role: .head) }
        norm("output_norm.weight", outputNorm.weight)
        for (i, block) in blocks.enumerated() {
            norm("blk.\(i).attn_norm.weight", block.attentionNorm.weight)
            if roles.contains(.linear) { for layer in [block.query, block.key, block.value, block.output] { try linear(layer, role: .linear) } }
            norm("blk.\(i).ffn_norm.weight", block.feedForwardNorm.weight)
            if roles.contains(.linear) { for layer in [block.gate, block.up, block.down] { try linear(layer, role: .linear) } }
        }
        return out
    }
}
