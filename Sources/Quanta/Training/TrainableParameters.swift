extension LlamaModel {
    /// The model with each trainable parameter passed through `update` by its tensor name: every Linear
    /// layer's (weights, and the step sizes of `QATLinear` layers) and the RMSNorm weights. The token
    /// embeddings and the tied head they make stay as they are (a quantized model folder then keeps reading
    /// them from the base model); `guarding` holds step sizes positive (`StepSizeGuard`).
    public func updatingParameters(_ update: (String, inout [Float]) -> Void, guarding stepSizes: inout StepSizeGuard) throws(QuantaError) -> LlamaModel {
        var copy = self
        update("output_norm.weight", &copy.outputNorm.weight)
        for i in copy.blocks.indices {
            update("blk.\(i).attn_norm.weight", &copy.blocks[i].attentionNorm.weight)
            update("blk.\(i).ffn_norm.weight", &copy.blocks[i].feedForwardNorm.weight)
        }
        return try copy.mapLinearLayers { layer throws(QuantaError) in
            layer.name == Self.headName ? layer : try layer.trainable().updating(update, guarding: &stepSizes)
        }
    }
}

extension BertModel {
    /// The model with each Linear layer's parameters (weights, biases, and the step sizes of `QATLinear`
    /// layers) passed through `update` by tensor name; embeddings and LayerNorms stay as they are.
    public func updatingParameters(_ update: (String, inout [Float]) -> Void, guarding stepSizes: inout StepSizeGuard) throws(QuantaError) -> BertModel {
        try mapLinearLayers { layer throws(QuantaError) in try layer.trainable().updating(update, guarding: &stepSizes) }
    }
}
