/// Applies a recipe to an FP32 model: calibrate when needed, fold the recipe's transforms (SmoothQuant),
/// recalibrate the transformed model when static scales depend on it, then replace the Linear layers.
/// The FP32 model's calibration statistics are computed once per pipeline and shared by its recipes.
public final class QuantizationPipeline: @unchecked Sendable {
    private var cachedStatistics: [String: ActivationStatistics]?

    public init() {}

    /// `compute()` the first time, the cached FP32 statistics after that.
    public func fp32Statistics(_ compute: () throws(QuantaError) -> [String: ActivationStatistics]) throws(QuantaError) -> [String: ActivationStatistics] {
        if let cachedStatistics { return cachedStatistics }
        let statistics = try compute()
        cachedStatistics = statistics
        return statistics
    }

    public func quantize(_ model: LlamaModel, recipe: Recipe, calibrationTokens: [Int32],
                                progress: (String) -> Void = { _ in }) throws(QuantaError) -> LlamaModel {
        func calibrate(_ m: LlamaModel) throws(QuantaError) -> [String: ActivationStatistics] {
            try CalibrationRun.statistics(m, tokens: calibrationTokens) { done, total in progress("calibration window \(done)/\(total)") }
        }
        var transformed = model
        var statistics = [String: ActivationStatistics]()
        if let alpha = recipe.smoothQuantAlpha {
            transformed = try SmoothQuant.fold(into: model, statistics: fp32Statistics { () throws(QuantaError) in try calibrate(model) }, alpha: alpha)
        }
        if recipe.needsCalibration {
            statistics = recipe.smoothQuantAlpha == nil ? try fp32Statistics { () throws(QuantaError) in try calibrate(model) } : try calibrate(transformed)
        }
        return try transformed.mapLinearLayers { layer throws(QuantaError) in try recipe.quantize(layer, statistics: statistics) }
    }

    public func quantize(_ model: BertModel, tokenizer: WordPieceTokenizer, recipe: Recipe, calibrationTexts: [String],
                                progress: (String) -> Void = { _ in }) throws(QuantaError) -> BertModel {
        func calibrate(_ m: BertModel) throws(QuantaError) -> [String: ActivationStatistics] {
            progress("calibrating on \(calibrationTexts.count) texts")
            return try CalibrationRun.statistics(SentenceEmbedder(model: m, tokenizer: tokenizer), texts: calibrationTexts)
        }
        var transformed = model
        var statistics = [String: ActivationStatistics]()
        if let alpha = recipe.smoothQuantAlpha {
            transformed = try SmoothQuant.fold(into: model, statistics: fp32Statistics { () throws(QuantaError) in try calibrate(model) }, alpha: alpha)
        }
        if recipe.needsCalibration {
            statistics = recipe.smoothQuantAlpha == nil ? try fp32Statistics { () throws(QuantaError) in try calibrate(model) } : try calibrate(transformed)
        }
        return try transformed.mapLinearLayers { layer throws(QuantaError) in try recipe.quantize(layer, statistics: statistics) }
    }
}
