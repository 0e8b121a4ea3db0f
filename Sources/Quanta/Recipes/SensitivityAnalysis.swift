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

    /// The layers `recipe` quantizes, each quantized alone (calibrated on `calibration`), ranked by
    /// `QuantizableModel.degradation` on `heldOut` sequences (never evaluation text): a language model's
    /// perplexity ratio less 1, an embedder's 1 - mean cosine to FP32. Sorted worst first.
    public func rank<Model: QuantizableModel>(_ model: Model, recipe: Recipe, calibration: [[Int32]], heldOut: [[Int32]],
                                              progress: (Int, Int) -> Void = { _, _ in }) throws(QuantaError) -> [Entry] {
        let degradation = try model.degradation(heldOut: heldOut)
        let layers = model.linearLayers.map(\.name).filter { recipe.spec(for: $0) != nil }
        var entries = [Entry]()
        for (i, layer) in layers.enumerated() {
            let single = try pipeline.quantize(model, recipe: recipe.restricted(to: layer), calibration: calibration)
            entries.append(Entry(layer: layer, degradation: try degradation(single)))
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
