/// Applies a recipe to an FP32 model: calibrate when needed, fold the recipe's transforms (SmoothQuant),
/// recalibrate the transformed model when static scales depend on it, then replace the Linear layers.
public enum QuantizationPipeline {
    public static func quantize(_ model: LlamaModel, recipe: Recipe, calibrationTokens: [Int32],
                                progress: (String) -> Void = { _ in }) throws(QuantaError) -> LlamaModel {
        func calibrate(_ m: LlamaModel) throws(QuantaError) -> [String: ActivationStatistics] {
            try CalibrationRun.statistics(m, tokens: calibrationTokens) { done, total in progress("calibration window \(done)/\(total)") }
        }
        var transformed = model
        var statistics = [String: ActivationStatistics]()
        if let alpha = recipe.smoothQuantAlpha {
            transformed = try SmoothQuant.fold(into: model, statistics: calibrate(model), alpha: alpha)
        }
        if recipe.needsCalibration { statistics = try calibrate(transformed) }
        return try transformed.mapLinearLayers { layer throws(QuantaError) in try recipe.quantize(layer, statistics: statistics) }
    }

    public static func quantize(_ model: BertModel, tokenizer: WordPieceTokenizer, recipe: Recipe, calibrationTexts: [String],
                                progress: (String) -> Void = { _ in }) throws(QuantaError) -> BertModel {
        func calibrate(_ m: BertModel) throws(QuantaError) -> [String: ActivationStatistics] {
            progress("calibrating on \(calibrationTexts.count) texts")
            return try CalibrationRun.statistics(SentenceEmbedder(model: m, tokenizer: tokenizer), texts: calibrationTexts)
        }
        var transformed = model
        var statistics = [String: ActivationStatistics]()
        if let alpha = recipe.smoothQuantAlpha {
            transformed = try SmoothQuant.fold(into: model, statistics: calibrate(model), alpha: alpha)
        }
        if recipe.needsCalibration { statistics = try calibrate(transformed) }
        return try transformed.mapLinearLayers { layer throws(QuantaError) in try recipe.quantize(layer, statistics: statistics) }
    }
}
