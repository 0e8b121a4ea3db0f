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

    /// The model quantized by `recipe`, calibrated on `calibration` (a decoder's windows of running text, an
    /// encoder's documents, as token ids); `record(source, quantized)` sees each FP32 Linear (after the
    /// recipe's transforms) with the layer made of it (`QuantizedModelFolder.Writer.record`).
    public func quantize<Model: QuantizableModel>(_ model: Model, recipe: Recipe, calibration: [[Int32]],
                                                  progress: @escaping (String) -> Void = { _ in },
                                                  record: LayerRecorder? = nil) throws(QuantaError) -> Model {
        func naming<T>(_ step: () throws(QuantaError) -> T) throws(QuantaError) -> T {
            do { return try step() } catch { throw .invalidArgument("\(recipe.name): \(error)") }
        }
        try Model.check(recipe)
        // A rotated model has statistics of its own: it gets a pipeline (and statistics cache) of its own.
        if let seed = recipe.rotationSeed {
            var rest = recipe
            rest.rotationSeed = nil
            return try QuantizationPipeline().quantize(naming { () throws(QuantaError) in try model.rotated(seed: seed) }, recipe: rest,
                                                       calibration: calibration, progress: progress, record: record)
        }
        if recipe.integerOnly {
            progress("calibrating the integer encoder on \(calibration.count) sequences")
            return try naming { () throws(QuantaError) in try model.integerOnly(calibration: calibration) }
        }
        var quantized = try apply(recipe, to: model, calibration: calibration, progress: progress, record: record)
        if let cache = recipe.kvCache { quantized = try naming { () throws(QuantaError) in try quantized.quantizingKVCache(cache) } }
        return quantized
    }

    /// `model` quantized by `recipe`, calibrated on `calibrationFiles` (empty: DESIGN.md's calibration split).
    public func quantize(_ model: LoadedModel, recipe: Recipe, data: EvaluationData, calibrationFiles: [String] = [],
                         progress: @escaping (String) -> Void = { _ in }, record: LayerRecorder? = nil) throws(QuantaError) -> LoadedModel {
        let calibration = try model.calibrationSequences(data, files: calibrationFiles)
        func quantized<Model: QuantizableModel>(_ fp32: Model) throws(QuantaError) -> Model {
            try quantize(fp32, recipe: recipe, calibration: calibration, progress: progress, record: record)
        }
        return try model.replacing(quantized(model.model))
    }

    /// The recipe's steps on any model: SmoothQuant from the FP32 statistics, calibration of what the
    /// quantizers will see on the first `Model.calibrationSequences` of `calibration` (GPTQ: with each layer's
    /// Gram matrix, on at least `GPTQ.calibrationWindows`), then every Linear replaced.
    func apply<Model: QuantizableModel>(_ recipe: Recipe, to model: Model, calibration: [[Int32]], progress: @escaping (String) -> Void,
                                        record: LayerRecorder?) throws(QuantaError) -> Model {
        func calibrate(_ m: Model, _ gram: Bool) throws(QuantaError) -> [String: ActivationStatistics] {
            let count = gram ? max(Model.calibrationSequences, GPTQ.calibrationWindows) : Model.calibrationSequences
            return try CalibrationRun.statistics(m, sequences: Array(calibration.prefix(count)), gram: gram) { done, total in
                progress("calibration \(done)/\(total)")
            }
        }
        var transformed = model
        var statistics = [String: ActivationStatistics]()
        let gram = recipe.usesGPTQ
        if let strength = recipe.smoothQuant {
            transformed = try SmoothQuant.fold(into: model, statistics: fp32Statistics { () throws(QuantaError) in try calibrate(model, false) }, strength: strength)
        }
        if recipe.calibratesSequentially, let replaced = try transformed.sequentiallyReplacingLinearLayers(
            Array(calibration.prefix(max(Model.calibrationSequences, GPTQ.calibrationWindows))), gram: gram,
            replace: { layer, statistics throws(QuantaError) in
                let quantized = try recipe.quantize(layer, statistics: statistics)
                try record?(layer, quantized)
                return quantized
            }) {
            return replaced
        }
        if recipe.needsCalibration {
            statistics = recipe.smoothQuant == nil ? try fp32Statistics(gram: gram) { () throws(QuantaError) in try calibrate(model, gram) }
                : try calibrate(transformed, gram)
        }
        return try transformed.mapLinearLayers { layer throws(QuantaError) in
            let quantized = try recipe.quantize(layer, statistics: statistics)
            try record?(layer, quantized)
            return quantized
        }
    }
}
