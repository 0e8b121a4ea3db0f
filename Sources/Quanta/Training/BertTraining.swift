/// What the training forward pass of one BERT layer keeps for its backward pass.
struct BertLayerActivations {
    var input: Matrix<Float>, queries: Matrix<Float>, keys: Matrix<Float>, values: Matrix<Float>, context: Matrix<Float>
    var attentionSum: Matrix<Float>, attended: Matrix<Float>, innerInput: Matrix<Float>, inner: Matrix<Float>, outputSum: Matrix<Float>
}

extension BertModel {
    /// Runs `batch` as `embed` does, applies `loss` to the sentence embeddings [sequences, hidden] (mean-pooled,
    /// L2-normalised) and back-propagates the gradient it returns to every parameter: the reverse of `embed`,
    ///
    ///     u = e / |e|: de = (du - u (u . du)) / |e|;   e = mean of the sequence's rows: dx_t = de / T
    ///     x = LN2(b), b = a' + Out(gelu(In a')), a' = LN1(a), a = x_in + O(attention(Q x_in, K x_in, V x_in))
    ///
    /// down to the embedding sum word[id] + position[t] + type[0] (under LayerNorm), whose rows receive dx.
    public func gradients(_ batch: [[Int32]], loss: (Matrix<Float>) throws(QuantaError) -> (loss: Double, gradient: Matrix<Float>))
        throws(QuantaError) -> (loss: Double, gradients: ParameterGradients) {
        let h = config.hiddenSize, lengths = batch.map(\.count)
        for (s, ids) in batch.enumerated() {
            guard !ids.isEmpty, ids.count <= config.maxPositions else {
                throw .invalidArgument("sequence \(s) has \(ids.count) tokens (1 to \(config.maxPositions) allowed)")
            }
            if let bad = ids.first(where: { $0 < 0 || Int($0) >= config.vocabularySize }) {
                throw .invalidArgument("sequence \(s) holds token id \(bad), outside the vocabulary of \(config.vocabularySize)")
            }
        }
        let ids = batch.flatMap { $0 }, positions = lengths.flatMap { 0..<$0 }
        var embedded = Matrix<Float>(rows: ids.count, columns: h, repeating: 0)
        for (r, id) in ids.enumerated() {
            for c in 0..<h { embedded[r, c] = wordEmbeddings[Int(id), c] + positionEmbeddings[positions[r], c] + typeEmbeddings[0, c] }
        }
        var x = embeddingNorm(embedded)
        var saved = [BertLayerActivations]()
        for layer in layers {
            let q = layer.query.forward(x), k = layer.key.forward(x), v = layer.value.forward(x)
            let context = attention.perSequence(queries: q, keys: k, values: v, lengths: lengths, causal: false)
            let attentionSum = x + layer.attentionOutput.forward(context)
            let attended = layer.attentionNorm(attentionSum)
            let innerInput = layer.intermediate.forward(attended)
            var inner = innerInput
            inner.apply(.gelu)
            let outputSum = attended + layer.output.forward(inner)
            saved.append(BertLayerActivations(input: x, queries: q, keys: k, values: v, context: context, attentionSum: attentionSum,
                                              attended: attended, innerInput: innerInput, inner: inner, outputSum: outputSum))
            x = layer.outputNorm(outputSum)
        }
        // Mean pooling and L2 normalisation, kept per sequence for the backward pass.
        var pooled = Matrix<Float>(rows: batch.count, columns: h, repeating: 0)
        var norms = [Float](), start = 0
        for (s, length) in lengths.enumerated() {
            for r in start..<start + length { for c in 0..<h { pooled[s, c] += x[r, c] } }
            for c in 0..<h { pooled[s, c] /= Float(length) }
            norms.append(max(pooled.row(s).reduce(0) { $0 + $1 * $1 }.squareRoot(), 1e-12))
            start += length
        }
        var embeddings = pooled
        for s in 0..<batch.count { for c in 0..<h { embeddings[s, c] /= norms[s] } }
        let (value, dEmbeddings) = try loss(embeddings)
        guard dEmbeddings.rows == batch.count, dEmbeddings.columns == h else {
            throw .shapeMismatch("the loss's gradient \(dEmbeddings.shape) does not match the embeddings \(embeddings.shape)")
        }
        var dx = Matrix<Float>(rows: x.rows, columns: h, repeating: 0)
        start = 0
        for (s, length) in lengths.enumerated() {
            var dot: Float = 0
            for c in 0..<h { dot += embeddings[s, c] * dEmbeddings[s, c] }
            for c in 0..<h {
                let dPooled = (dEmbeddings[s, c] - embeddings[s, c] * dot) / norms[s]
                for r in start..<start + length { dx[r, c] = dPooled / Float(length) }
            }
            start += length
        }

        var gradients = ParameterGradients()
        for (index, layer) in layers.enumerated().reversed() {
            let a = saved[index], prefix = "encoder.layer.\(index)."
            let (dOutputSum, dOutputNormWeight, dOutputNormBias) = layer.outputNorm.backward(input: a.outputSum, outputGradient: dx)
            gradients.add(prefix + "output.LayerNorm.weight", dOutputNormWeight)
            gradients.add(prefix + "output.LayerNorm.bias", dOutputNormBias)
            let dInner = try gradients.backward([layer.output], input: a.inner, outputGradients: [dOutputSum])
            let dAttended = try gradients.backward([layer.intermediate], input: a.attended,
                                                   outputGradients: [a.innerInput.activationGradient(.gelu, outputGradient: dInner)])
            let (dAttentionSum, dAttentionNormWeight, dAttentionNormBias) = layer.attentionNorm.backward(
                input: a.attentionSum, outputGradient: dOutputSum + dAttended)
            gradients.add(prefix + "attention.output.LayerNorm.weight", dAttentionNormWeight)
            gradients.add(prefix + "attention.output.LayerNorm.bias", dAttentionNormBias)
            let dContext = try gradients.backward([layer.attentionOutput], input: a.context, outputGradients: [dAttentionSum])
            let d = attention.backward(queries: a.queries, keys: a.keys, values: a.values, lengths: lengths, causal: false,
                                       outputGradient: dContext)
            dx = try dAttentionSum + gradients.backward([layer.query, layer.key, layer.value], input: a.input,
                                                        outputGradients: [d.queries, d.keys, d.values])
        }
        let (dEmbedded, dNormWeight, dNormBias) = embeddingNorm.backward(input: embedded, outputGradient: dx)
        gradients.add("embeddings.LayerNorm.weight", dNormWeight)
        gradients.add("embeddings.LayerNorm.bias", dNormBias)
        var (dWord, dPosition) = ([Float](repeating: 0, count: wordEmbeddings.count), [Float](repeating: 0, count: positionEmbeddings.count))
        var dType = [Float](repeating: 0, count: typeEmbeddings.count)
        for r in 0..<ids.count {
            for c in 0..<h {
                dWord[Int(ids[r]) * h + c] += dEmbedded[r, c]
                dPosition[positions[r] * h + c] += dEmbedded[r, c]
                dType[c] += dEmbedded[r, c]
            }
        }
        gradients.add("embeddings.word_embeddings.weight", dWord)
        gradients.add("embeddings.position_embeddings.weight", dPosition)
        gradients.add("embeddings.token_type_embeddings.weight", dType)
        return (value, gradients)
    }
}
