/// A model with its tokenizer, ready to run.
public enum LoadedModel: Sendable {
    case bert(BertModel, WordPieceTokenizer)
    case llama(LlamaModel, ByteLevelBPETokenizer)

    /// The longest input the sentence embedder sees, as sentence-transformers' all-MiniLM-L6-v2 sets it.
    public static let bertMaxTokens = 256

    public init(_ reference: ModelReference) throws(QuantaError) {
        switch reference {
        case let .bert(folder):
            self = .bert(try BertModel(folder: folder),
                         try WordPieceTokenizer(vocabularyFile: folder + "/vocab.txt", maxLength: Self.bertMaxTokens))
        case let .llama(path):
            let gguf = try GGUFFile(path: path)
            self = .llama(try LlamaModel(gguf: gguf), try ByteLevelBPETokenizer(gguf: gguf))
        case let .huggingFaceLlama(folder):
            let (model, tokenizer) = try HuggingFaceFolder(folder).llama()
            self = .llama(model, tokenizer)
        case let .quantized(folder):
            self = try QuantizedModelFolder.load(folder)
        }
    }

    /// The model, whatever its architecture: generic code (`QuantizationPipeline`, QAT) opens it.
    public var model: any QuantizableModel {
        switch self {
        case let .bert(m, _): return m
        case let .llama(m, _): return m
        }
    }

    /// This model's tokenizer with `model` (of the same architecture, e.g. this model quantized) in place of the model.
    public func replacing(_ model: any QuantizableModel) throws(QuantaError) -> LoadedModel {
        switch (self, model) {
        case let (.bert(_, tokenizer), bert as BertModel): return .bert(bert, tokenizer)
        case let (.llama(_, tokenizer), llama as LlamaModel): return .llama(llama, tokenizer)
        default: throw .invalidArgument("a \(type(of: model).architecture) model cannot take the place of a \(type(of: self.model).architecture) model")
        }
    }

    /// Every Linear layer of the model, in model order.
    public var allLinearLayers: [any LinearLayer] { model.allLinearLayers }

    /// The pipeline's calibration sequences from `files` (empty: DESIGN.md's calibration split): a decoder's
    /// windows of 512 tokens of the running text (as many as GPTQ takes), an encoder's documents. A decoder's
    /// default is Mansfield Park's windows, then, for the last `GPTQ.genreWindows` of GPTQ's windows, those of
    /// `EvaluationData.calibrationGenres()`: static calibration (the first 16 windows) reads the novel only.
    public func calibrationSequences(_ data: EvaluationData, files: [String] = []) throws(QuantaError) -> [[Int32]] {
        switch self {
        case let .bert(_, tokenizer): return try data.calibrationDocuments(files: files).map(tokenizer.encode)
        case let .llama(_, tokenizer):
            let text = CalibrationRun.windows(of: tokenizer.encode(try data.calibrationText(files: files)), count: GPTQ.calibrationWindows)
            guard files.isEmpty else { return text }
            let genres = CalibrationRun.windows(of: tokenizer.encode(try data.calibrationGenres()), count: GPTQ.genreWindows)
            return Array(text.prefix(GPTQ.calibrationWindows - genres.count)) + genres
        }
    }

    /// Quantization-aware training's sequences (never evaluation text): a decoder's windows of `window` tokens
    /// of the training novels, an encoder's training documents (`EvaluationData.embedderTrainingDocuments`).
    /// `extra`: more training texts (`EvaluationData.trainingText(adding:)`).
    public func trainingSequences(_ data: EvaluationData, window: Int, adding extra: [String] = []) throws(QuantaError) -> [[Int32]] {
        switch self {
        case let .bert(_, tokenizer): return try data.embedderTrainingDocuments(adding: extra).map(tokenizer.encode)
        case let .llama(_, tokenizer): return TrainingBatches.windows(of: tokenizer.encode(try data.trainingText(adding: extra)), length: window)
        }
    }

    /// Token ids of `text` as the model consumes it (BERT: `[CLS] ... [SEP]`, truncated; LLaMA: no BOS).
    public func tokenize(_ text: String) -> [Int32] {
        switch self {
        case let .bert(_, tokenizer): return tokenizer.encode(text)
        case let .llama(_, tokenizer): return tokenizer.encode(text)
        }
    }
}

/// Loads only a tokenizer (no weights), for `quanta tokenize`.
public enum TokenizerLoader {
    public static func encoder(for reference: ModelReference) throws(QuantaError) -> @Sendable (String) -> [Int32] {
        switch reference {
        case let .bert(folder):
            let tokenizer = try WordPieceTokenizer(vocabularyFile: folder + "/vocab.txt", maxLength: LoadedModel.bertMaxTokens)
            return { tokenizer.encode($0) }
        case let .llama(path):
            let tokenizer = try ByteLevelBPETokenizer(gguf: GGUFFile(path: path))
            return { tokenizer.encode($0) }
        case let .huggingFaceLlama(folder):
            let path = folder + "/tokenizer.json"
            let tokenizer = try HuggingFaceLlama.tokenizer(json: JSONFile.object(at: path), path: path)
            return { tokenizer.encode($0) }
        case let .quantized(folder):
            return try encoder(for: ModelReference(QuantizedModelFolder.description(of: folder).baseModel))
        }
    }
}
