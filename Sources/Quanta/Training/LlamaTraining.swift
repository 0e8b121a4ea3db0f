/// What the training forward pass of one LLaMA block keeps for its backward pass.
struct LlamaBlockActivations {
    var input: Matrix<Float>, normed: Matrix<Float>
    var queries: Matrix<Float>, keys: Matrix<Float>, values: Matrix<Float>, context: Matrix<Float>
    var middle: Matrix<Float>, feedForwardNormed: Matrix<Float>
    var gate: Matrix<Float>, up: Matrix<Float>, hidden: Matrix<Float>
}

extension LlamaModel {
    /// The mean next-token cross-entropy of `sequences` (each token predicts the next one of its sequence) and
    /// its gradient for every parameter.
    public func crossEntropyGradients(_ sequences: [[Int32]]) throws(QuantaError) -> (loss: Double, gradients: ParameterGradients) {
        let targets = sequences.flatMap { ids in Array(ids.dropFirst()) + [LossFunction.ignored] }
        return try gradients(sequences) { logits throws(QuantaError) in try LossFunction.crossEntropy(logits: logits, targets: targets) }
    }

    /// Runs `sequences` (each on its own: positions from 0, attention within the sequence) stacked as rows,
    /// applies `loss` to the logits of every token [tokens, vocabulary] and back-propagates the gradient it
    /// returns to every parameter: the reverse of `forward`, block by block,
    ///
    ///     x += Down(h): dh = dx Down;   h = silu(g) u: dg, du;   dm = dg Gate + du Up;   dx += RMSNorm'(dm)
    ///     x += O(attention(rope(Q n), rope(K n), V n)): dq, dk, dv (rope undone by the opposite rotation);
    ///     dn = dq Q + dk K + dv V;   dx += RMSNorm'(dn)
    ///
    /// The tied head's gradient and the embedding rows' add up in `token_embd.weight`'s.
    public func gradients(_ sequences: [[Int32]], loss: (Matrix<Float>) throws(QuantaError) -> (loss: Double, gradient: Matrix<Float>))
        throws(QuantaError) -> (loss: Double, gradients: ParameterGradients) {
        let h = config.hiddenSize
        let lengths = sequences.map(\.count), ids = sequences.flatMap { $0 }
        guard !sequences.isEmpty, lengths.allSatisfy({ $0 > 0 }) else { throw .invalidArgument("training needs non-empty sequences") }
        if let bad = ids.first(where: { $0 < 0 || Int($0) >= config.vocabularySize }) {
            throw .invalidArgument("token id \(bad) is outside the vocabulary of \(config.vocabularySize)")
        }
        let tables = lengths.map { ropeTables(positions: 0..<$0) }
        let (cosines, sines) = (tables.flatMap(\.cosines), tables.flatMap(\.sines))
        var x = Matrix<Float>(rows: ids.count, columns: h, repeating: 0)
        for (r, id) in ids.enumerated() { x.storage.replaceSubrange(r * h..<(r + 1) * h, with: tokenEmbeddings.row(Int(id))) }

        var saved = [LlamaBlockActivations]()
        for block in blocks {
            let n = block.attentionNorm(x)
            var q = block.query.forward(n), k = block.key.forward(n)
            let v = block.value.forward(n)
            rotate(&q, heads: config.heads, cosines: cosines, sines: sines)
            rotate(&k, heads: config.kvHeads, cosines: cosines, sines: sines)
            let context = attention.perSequence(queries: q, keys: k, values: v, lengths: lengths, causal: true)
            let middle = x + block.output.forward(context)
            let m = block.feedForwardNorm(middle)
            let gate = block.gate.forward(m), up = block.up.forward(m)
            var hidden = gate
            hidden.siluMultiply(up)
            saved.append(LlamaBlockActivations(input: x, normed: n, queries: q, keys: k, values: v, context: context, middle: middle,
                                               feedForwardNormed: m, gate: gate, up: up, hidden: hidden))
            x = middle + block.down.forward(hidden)
        }
        let final = outputNorm(x)
        let head = try head.trainable()
        let (value, dLogits) = try loss(head.forward(final))
        var gradients = ParameterGradients()
        let headGradients = head.backward(input: final, outputGradient: dLogits)
        gradients.add("token_embd.weight", headGradients.weight.storage)   // the head is the tied token embedding
        let (dFinal, dOutputNorm) = outputNorm.backward(input: x, outputGradient: headGradients.input)
        gradients.add("output_norm.weight", dOutputNorm)
        var dx = dFinal

        let negatedSines = sines.map { -$0 }
        for (index, block) in blocks.enumerated().reversed() {
            let a = saved[index], prefix = "blk.\(index)."
            let dHidden = try gradients.backward([block.down], input: a.hidden, outputGradients: [dx])
            let (dGate, dUp) = a.gate.swiGLUGradients(up: a.up, outputGradient: dHidden)
            let dFeedForwardNormed = try gradients.backward([block.gate, block.up], input: a.feedForwardNormed, outputGradients: [dGate, dUp])
            let (dMiddle, dFeedForwardNorm) = block.feedForwardNorm.backward(input: a.middle, outputGradient: dFeedForwardNormed)
            gradients.add(prefix + "ffn_norm.weight", dFeedForwardNorm)
            dx.add(dMiddle)

            let dContext = try gradients.backward([block.output], input: a.context, outputGradients: [dx])
            var d = attention.backward(queries: a.queries, keys: a.keys, values: a.values, lengths: lengths, causal: true, outputGradient: dContext)
            rotate(&d.queries, heads: config.heads, cosines: cosines, sines: negatedSines)
            rotate(&d.keys, heads: config.kvHeads, cosines: cosines, sines: negatedSines)
            let dNormed = try gradients.backward([block.query, block.key, block.value], input: a.normed, outputGradients: [d.queries, d.keys, d.values])
            let (dInput, dAttentionNorm) = block.attentionNorm.backward(input: a.input, outputGradient: dNormed)
            gradients.add(prefix + "attn_norm.weight", dAttentionNorm)
            dx.add(dInput)
        }
        var dEmbeddings = [Float](repeating: 0, count: tokenEmbeddings.count)
        for (r, id) in ids.enumerated() { for c in 0..<h { dEmbeddings[Int(id) * h + c] += dx[r, c] } }
        gradients.add("token_embd.weight", dEmbeddings)
        return (value, gradients)
    }
}
