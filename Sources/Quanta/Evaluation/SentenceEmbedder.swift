/// A BERT encoder and its tokenizer: texts in, normalised sentence embeddings out, in batches.
public struct SentenceEmbedder: Sendable {
    public let model: BertModel
    public let tokenizer: WordPieceTokenizer
    public let batchSize: Int

    public init(model: BertModel, tokenizer: WordPieceTokenizer, batchSize: Int = 32) {
        self.model = model
        self.tokenizer = tokenizer
        self.batchSize = batchSize
    }

    /// Embeddings of `texts` (each truncated to the tokenizer's maximum), `progress(done, total)` per batch.
    public func embed(_ texts: [String], progress: (Int, Int) -> Void = { _, _ in }) throws(QuantaError) -> [[Float]] {
        var embeddings = [[Float]]()
        embeddings.reserveCapacity(texts.count)
        for start in stride(from: 0, to: texts.count, by: batchSize) {
            let batch = texts[start..<min(start + batchSize, texts.count)].map(tokenizer.encode)
            embeddings += try model.embed(batch)
            progress(embeddings.count, texts.count)
        }
        return embeddings
    }
}
