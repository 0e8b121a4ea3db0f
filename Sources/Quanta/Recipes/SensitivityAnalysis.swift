/// Which layers a recipe hurts most: quantize one Linear at a time (the rest stay FP32), measure the
/// change of a quality metric on held-out calibration data, rank the layers. `Recipe.keepingFP32` then
/// leaves the worst N in FP32 (partial quantization).
public struct SensitivityAnalysis: Sendable {
    public struct Entry: Sendable, Codable {
        public let layer: String
        /// How much worse the metric is with only this layer quantized (perplexity ratio - 1, or 1 - mean cosine).
        public let degradation: Double
    }

    public let pipeline: QuantizationPipeline

    public init(pipeline: QuantizationPipeline = QuantizationPipeline()) { self.pipeline = pipeline }

    /// SmolLM2: perplexity on `heldOut` tokens (not evaluation text), per layer. Sorted worst first.
    public func rank(_ model: LlamaModel, recipe: Recipe, calibrationTokens: [Int32], heldOut: [Int32],
                     progress: (Int, Int) -> Void = { _, _ in }) throws(QuantaError) -> [Entry] {
        let scorer = try Perplexity(window: heldOut.count)
        let baseline = try scorer.evaluate(model, tokens: heldOut)
        let layers = model.linearLayers.map(\.name).filter { recipe.spec(for: $0) != nil }
        var entries = [Entry]()
        for (i, layer) in layers.enumerated() {
            let single = try pipeline.quantize(model, recipe: recipe.restricted(to: layer), calibrationTokens: calibrationTokens)
            entries.append(Entry(layer: layer, degradation: try scorer.evaluate(single, tokens: heldOut) / baseline - 1))
            progress(i + 1, layers.count)
        }
        return entries.sorted { $0.degradation > $1.degradation }
    }

    /// MiniLM: 1 - mean cosine similarity to FP32's embeddings of `heldOut` texts, per layer. Sorted worst first.
    public func rank(_ model: BertModel, tokenizer: WordPieceTokenizer, recipe: Recipe, calibrationTexts: [String], heldOut: [String],
                     progress: (Int, Int) -> Void = { _, _ in }) throws(QuantaError) -> [Entry] {
        let reference = try SentenceEmbedder(model: model, tokenizer: tokenizer).embed(heldOut)
        let layers = model.linearLayers.map(\.name).filter { recipe.spec(for: $0) != nil }
        var entries = [Entry]()
        for (i, layer) in layers.enumerated() {
            let single = try pipeline.quantize(model, tokenizer: tokenizer, recipe: recipe.restricted(to: layer), calibrationTexts: calibrationTexts)
            let embeddings = try SentenceEmbedder(model: single, tokenizer: tokenizer).embed(heldOut)
            let cosine = zip(embeddings, reference).reduce(0.0) { $0 + Statistics.cosine($1.0, $1.1) } / Double(heldOut.count)
            entries.append(Entry(layer: layer, degradation: 1 - cosine))
            progress(i + 1, layers.count)
        }
        return entries.sorted { $0.degradation > $1.degradation }
    }
}

extension Recipe {
    /// This recipe applied to `layer` only (everything else FP32).
    public func restricted(to layer: String) -> Recipe {
        var recipe = self
        recipe.rules = [Rule(pattern: layer, spec: spec(for: layer)), Rule(pattern: "*", spec: nil)]
        return recipe
    }

    /// This recipe with `layers` left in FP32.
    public func keepingFP32(_ layers: [String]) -> Recipe {
        var recipe = self
        recipe.rules = layers.map { Rule(pattern: $0, spec: nil) } + rules
        if !layers.isEmpty { recipe.name += "+fp32x\(layers.count)" }
        return recipe
    }
}
