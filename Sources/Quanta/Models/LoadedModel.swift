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

    /// Every Linear layer of the model, in model order.
    public var allLinearLayers: [any LinearLayer] {
        switch self {
        case let .bert(m, _): return m.allLinearLayers
        case let .llama(m, _): return m.allLinearLayers
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
