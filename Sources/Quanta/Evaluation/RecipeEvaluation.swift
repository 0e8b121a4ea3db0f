/// Evaluates a model in FP32 and under each recipe, in one run, by the protocol's tasks: every quantized
/// figure is reported as a delta against the FP32 engine of the same run.
public struct RecipeEvaluation: Sendable {
    /// The evaluation tasks of DESIGN.md.
    public enum Task: String, Sendable, CaseIterable {
        case lee, polarity, bbc, pplAusten = "ppl-austen", pplBBC = "ppl-bbc", pplSuite = "ppl-suite"
        public var isEmbedding: Bool { [.lee, .polarity, .bbc].contains(self) }
        public static let embeddingTasks: [Task] = [.lee, .polarity, .bbc]
        /// The language-model tasks run when none is named (`ppl-suite`, eight texts, is asked for by name).
        public static let languageModelTasks: [Task] = [.pplAusten, .pplBBC]
    }

    public struct Row: Sendable, Codable {
        public let model: String, recipe: String, task: String, metric: String, value: Double
        public let deltaVsFP32: Double?
        /// Bytes of the Linear layers' weights (scales included), as stored by the recipe.
        public let linearWeightBytes: Int

        public init(model: String, recipe: String, task: String, metric: String, value: Double, deltaVsFP32: Double?, linearWeightBytes: Int) {
            (self.model, self.recipe, self.task, self.metric, self.value) = (model, recipe, task, metric, value)
            self.deltaVsFP32 = deltaVsFP32
            self.linearWeightBytes = linearWeightBytes
        }
    }

    /// What is compared with FP32: a recipe applied in this run, or a model quantized earlier.
    public enum Variant: Sendable {
        case recipe(Recipe)
        /// A model loaded from a `quanta quantize` folder, reported under `name`.
        case stored(name: String, model: LoadedModel)

        public var name: String {
            switch self {
            case let .recipe(r): return r.name
            case let .stored(name, _): return name
            }
        }
    }

    public let data: EvaluationData
    /// Calibration text files (`--calib`); empty: the calibration split of DESIGN.md.
    public let calibrationFiles: [String]
    /// Run the layers that have integer kernels with them (`IntegerRuntime`) instead of fake quantization.
    public let integerKernels: Bool
    public let pipeline = QuantizationPipeline()

    public init(data: EvaluationData, calibrationFiles: [String] = [], integerKernels: Bool = false) {
        self.data = data
        self.calibrationFiles = calibrationFiles
        self.integerKernels = integerKernels
    }

    /// Rows for FP32 and every recipe on `tasks` (nil: every task of the model).
    public func run(_ loaded: LoadedModel, modelName: String, recipes: [Recipe], tasks: [Task]? = nil, tokensPerText: Int = 2048,
                    progress: @escaping (String) -> Void = { _ in }) throws(QuantaError) -> [Row] {
        try run(loaded, modelName: modelName, variants: recipes.map { .recipe($0) }, tasks: tasks, tokensPerText: tokensPerText,
                progress: progress)
    }

    /// Rows for FP32 (`loaded`) and every variant on `tasks` (nil: every task of the model). Perplexity is
    /// measured on the first `tokensPerText` tokens of each text (the protocol's 2048; fewer in tests).
    public func run(_ loaded: LoadedModel, modelName: String, variants: [Variant], tasks: [Task]? = nil, tokensPerText: Int = 2048,
                    progress: @escaping (String) -> Void = { _ in }) throws(QuantaError) -> [Row] {
        var rows = [Row]()
        func record(_ recipe: String, _ task: String, _ metric: String, _ value: Double, bytes: Int, delta: Bool = true) {
            let baseline = rows.first { $0.recipe == "fp32" && $0.task == task && $0.metric == metric }?.value
            rows.append(Row(model: modelName, recipe: recipe, task: task, metric: metric, value: value,
                            deltaVsFP32: delta ? baseline.map { value - $0 } : nil, linearWeightBytes: bytes))
        }
        for case let .recipe(recipe) in variants { try type(of: loaded.model).check(recipe) }
        let calibration = try loaded.calibrationSequences(data, files: calibrationFiles)
        switch loaded {
        case let .bert(bert, tokenizer):
            let tasks = tasks ?? Task.embeddingTasks
            guard tasks.allSatisfy(\.isEmbedding) else { throw .invalidArgument("\(modelName) is a sentence-embedding model: tasks lee, polarity, bbc") }
            let runner = EmbeddingTasks(data: data)
            let reference = SentenceEmbedder(model: bert, tokenizer: tokenizer)
            // Each task's texts and FP32's embeddings of them, for the cosine rows of every variant.
            var cosineTexts = [[String]](), referenceEmbeddings = [[[Float]]]()
            for t in tasks {
                cosineTexts.append(try runner.cosineTexts(t))
                referenceEmbeddings.append(try reference.embed(cosineTexts.last!))
            }
            // Build, evaluate and drop one variant at a time: memory holds at most two models.
            for r in [nil] + variants.map(Optional.some) {
                let name = r?.name ?? "fp32"
                let model = try variantModel(r, of: bert, calibration: calibration, modelName: modelName, progress: progress)
                let bytes = model.integerEncoder?.linearWeightBytes ?? Self.linearWeightBytes(model.allLinearLayers)
                let embedder = SentenceEmbedder(model: model, tokenizer: tokenizer)
                if r != nil {
                    for (index, t) in tasks.enumerated() {
                        let (mean, minimum) = EmbeddingTasks.cosines(try embedder.embed(cosineTexts[index]), referenceEmbeddings[index])
                        record(name, t.rawValue, "mean cosine to fp32", mean, bytes: bytes, delta: false)
                        record(name, t.rawValue, "min cosine to fp32", minimum, bytes: bytes, delta: false)
                    }
                }
                for t in tasks {
                    progress("eval \(name) \(t.rawValue)")
                    let value: Double
                    switch t {
                    case .lee: value = try runner.leeSpearman(embedder)
                    case .polarity: value = try runner.polarityAccuracy(embedder)
                    default: value = try runner.bbcAccuracy(embedder) { done, total in
                        if done % 320 == 0 || done == total { progress("  bbc \(done)/\(total)") }
                    }
                    }
                    record(name, t.rawValue, t == .lee ? "spearman" : "accuracy", value, bytes: bytes)
                }
            }
        case let .llama(llama, tokenizer):
            let tasks = tasks ?? Task.languageModelTasks
            guard tasks.allSatisfy({ !$0.isEmbedding }) else { throw .invalidArgument("\(modelName) is a language model: tasks ppl-austen, ppl-bbc, ppl-suite") }
            // (task name, text) pairs: the suite's texts are reported as "ppl-suite/NAME".
            var texts = [(String, [Int32])]()
            for t in tasks {
                switch t {
                case .pplAusten: texts.append((t.rawValue, try tokenizer.encode(data.novel("emma"))))
                case .pplBBC: texts.append((t.rawValue, try tokenizer.encode(data.bbcTech())))
                default: for held in try data.heldOutSuite() { texts.append(("\(t.rawValue)/\(held.name)", tokenizer.encode(held.text))) }
                }
            }
            texts = texts.map { ($0.0, Array($0.1.prefix(tokensPerText))) }
            for r in [nil] + variants.map(Optional.some) {
                let name = r?.name ?? "fp32"
                let model = try variantModel(r, of: llama, calibration: calibration, modelName: modelName, progress: progress)
                let bytes = Self.linearWeightBytes(model.allLinearLayers)
                var worst: Double?
                for (task, tokens) in texts {
                    let value = try Perplexity(window: 512).evaluate(model, tokens: tokens) { done, total in
                        progress("eval \(name) \(task): window \(done)/\(total)")
                    }
                    record(name, task, "perplexity", value, bytes: bytes)
                    if r != nil, task.hasPrefix(Task.pplSuite.rawValue + "/"),
                       let baseline = rows.first(where: { $0.recipe == "fp32" && $0.task == task })?.value {
                        worst = max(worst ?? -.infinity, value / baseline - 1)
                    }
                }
                if let worst { record(name, Task.pplSuite.rawValue, "worst perplexity change", worst, bytes: bytes, delta: false) }
            }
        }
        return rows
    }

    /// FP32 (`variant` nil) or `variant`'s model of `fp32`, on the integer kernels when `integerKernels`.
    func variantModel<Model: QuantizableModel>(_ variant: Variant?, of fp32: Model, calibration: [[Int32]], modelName: String,
                                               progress: @escaping (String) -> Void) throws(QuantaError) -> Model {
        guard let variant else { return fp32 }
        let model: Model
        switch variant {
        case let .recipe(recipe):
            model = try pipeline.quantize(fp32, recipe: recipe, calibration: calibration) { progress("\(variant.name): \($0)") }
        case let .stored(name, stored):
            guard let stored = stored.model as? Model else { throw .invalidArgument("\(name) is not a quantized \(modelName)") }
            model = stored
        }
        return integerKernels ? try model.mapLinearLayers { IntegerRuntime.lower($0) } : model
    }

    /// Storage of the Linear weights as the layers hold them: codes plus scales, 4 bytes per FP32 weight.
    static func linearWeightBytes(_ layers: [any LinearLayer]) -> Int {
        layers.reduce(0) { $0 + $1.weightBytes }
    }
}
