/// Applies a recipe to an FP32 model: calibrate when needed, fold the recipe's transforms (SmoothQuant),
/// recalibrate the transformed model when static scales depend on it, then replace the Linear layers.
/// The FP32 model's calibration statistics are computed once per pipeline and shared by its recipes.
public final class QuantizationPipeline: @unchecked Sendable {
    /// Sees each FP32 Linear layer (after the recipe's transforms) and the layer the recipe made of it.
    public typealias LayerRecorder = (_ source: any LinearLayer, _ quantized: any LinearLayer) throws(QuantaError) -> Void

    private var cachedStatistics: [String: ActivationStatistics]?

    public init() {}

    /// `compute()` the first time (or when `gram` asks for the Gram matrices the cached ones lack), the cached
    /// FP32 statistics after that.
    public func fp32Statistics(gram: Bool = false, _ compute: () throws(QuantaError) -> [String: ActivationStatistics]) throws(QuantaError) -> [String: ActivationStatistics] {
        if let cachedStatistics, !gram || cachedStatistics.values.allSatisfy({ $0.gram != nil }) { return cachedStatistics }
        let statistics = try compute()
        cachedStatistics = statistics
        return statistics
    }

    /// The model quantized by `recipe`; `record(source, quantized)` sees each FP32 Linear (after the
    /// recipe's transforms) with the layer made of it (`QuantizedModelFolder.Writer.record`).
    public func quantize(_ model: LlamaModel, recipe: Recipe, calibrationTokens: [Int32],
                         progress: @escaping (String) -> Void = { _ in },
                         record: LayerRecorder? = nil) throws(QuantaError) -> LlamaModel {
        guard !recipe.integerOnly else { throw .invalidArgument("\(recipe.name): the integer-only encoder is built for BERT models, not decoders") }
        // A rotated model has statistics of its own: it gets a pipeline (and statistics cache) of its own.
        if let seed = recipe.rotationSeed {
            var rest = recipe
            rest.rotationSeed = nil
            return try QuantizationPipeline().quantize(Rotation.fold(into: model, seed: seed), recipe: rest,
                                                       calibrationTokens: calibrationTokens, progress: progress, record: record)
        }
        var quantized = try apply(recipe, to: model, calibrate: { m, gram throws(QuantaError) in
            try CalibrationRun.statistics(m, tokens: calibrationTokens, windows: gram ? GPTQ.calibrationWindows : 16, gram: gram) { done, total in
                progress("calibration window \(done)/\(total)")
            }
        }, fold: SmoothQuant.fold, mapLinearLayers: { m, f throws(QuantaError) in try m.mapLinearLayers(f) }, record: record)
        quantized.kvCacheQuantizer = recipe.kvCache
        return quantized
    }

    public func quantize(_ model: BertModel, tokenizer: WordPieceTokenizer, recipe: Recipe, calibrationTexts: [String],
                         progress: @escaping (String) -> Void = { _ in },
                         record: LayerRecorder? = nil) throws(QuantaError) -> BertModel {
        guard recipe.rotationSeed == nil else {
            throw .invalidArgument("\(recipe.name): rotation folds into pre-norm decoders only; BERT's LayerNorm subtracts the mean and does not commute with a rotation")
        }
        if recipe.integerOnly {
            progress("calibrating the integer encoder on \(calibrationTexts.count) texts")
            var integer = model
            integer.integerEncoder = try IntegerEncoder(model, calibration: calibrationTexts.map(tokenizer.encode))
            return integer
        }
        return try apply(recipe, to: model, calibrate: { m, gram throws(QuantaError) in
            progress("calibrating on \(calibrationTexts.count) texts")
            return try CalibrationRun.statistics(SentenceEmbedder(model: m, tokenizer: tokenizer), texts: calibrationTexts, gram: gram)
        }, fold: SmoothQuant.fold, mapLinearLayers: { m, f throws(QuantaError) in try m.mapLinearLayers(f) }, record: record)
    }

    /// `model` quantized by `recipe`, calibrated on `calibrationFiles` (empty: DESIGN.md's calibration split).
    public func quantize(_ model: LoadedModel, recipe: Recipe, data: EvaluationData, calibrationFiles: [String] = [],
                         progress: @escaping (String) -> Void = { _ in }, record: LayerRecorder? = nil) throws(QuantaError) -> LoadedModel {
        switch model {
        case let .bert(bert, tokenizer):
            return .bert(try quantize(bert, tokenizer: tokenizer, recipe: recipe, calibrationTexts: data.calibrationDocuments(files: calibrationFiles),
                                      progress: progress, record: record), tokenizer)
        case let .llama(llama, tokenizer):
            return .llama(try quantize(llama, recipe: recipe, calibrationTokens: tokenizer.encode(data.calibrationText(files: calibrationFiles)),
                                       progress: progress, record: record), tokenizer)
        }
    }

    /// The recipe's steps on any model: SmoothQuant from the FP32 statistics, calibration of what the
    /// quantizers will see (with each layer's Gram matrix when GPTQ needs it), then every Linear replaced.
    func apply<Model>(_ recipe: Recipe, to model: Model,
                      calibrate: (Model, _ gram: Bool) throws(QuantaError) -> [String: ActivationStatistics],
                      fold: (Model, [String: ActivationStatistics], SmoothQuant.Strength) throws(QuantaError) -> Model,
                      mapLinearLayers: (Model, (any LinearLayer) throws(QuantaError) -> any LinearLayer) throws(QuantaError) -> Model,
                      record: LayerRecorder?)
        throws(QuantaError) -> Model {
        var transformed = model
        var statistics = [String: ActivationStatistics]()
        let gram = recipe.usesGPTQ
        if let strength = recipe.smoothQuant {
            transformed = try fold(model, fp32Statistics { () throws(QuantaError) in try calibrate(model, false) }, strength)
        }
        if recipe.needsCalibration {
            statistics = recipe.smoothQuant == nil ? try fp32Statistics(gram: gram) { () throws(QuantaError) in try calibrate(model, gram) }
                : try calibrate(transformed, gram)
        }
        return try mapLinearLayers(transformed) { layer throws(QuantaError) in
            let quantized = try recipe.quantize(layer, statistics: statistics)
            try record?(layer, quantized)
            return quantized
        }
    }
}
