import Foundation

/// A model named on the command line: `minilm`, `smollm2`, or a path to a model folder or file, or to a
/// quantized model folder written by `quanta quantize`.
public enum ModelReference: Sendable {
    case bert(folder: String)
    case llama(gguf: String)
    /// A Hugging Face LlamaForCausalLM folder (config.json, safetensors, tokenizer.json).
    case huggingFaceLlama(folder: String)
    case quantized(folder: String)

    public init(_ name: String, assets: () throws(QuantaError) -> AssetStore = AssetStore.locate) throws(QuantaError) {
        switch name {
        case "minilm": self = .bert(folder: try assets().miniLMFolder)
        case "smollm2": self = .llama(gguf: try assets().smolLM2File)
        default:
            var isFolder: ObjCBool = false
            guard FileManager.default.fileExists(atPath: name, isDirectory: &isFolder) else {
                throw .file(path: name, reason: "no such model: give minilm, smollm2, or a path to a model folder or .gguf file")
            }
            if isFolder.boolValue {
                if QuantizedModelFolder.isQuantizedModel(name) { self = .quantized(folder: name); return }
                guard ["/model.safetensors", "/model.safetensors.index.json"].contains(where: { FileManager.default.fileExists(atPath: name + $0) }) else {
                    throw .file(path: name, reason: "folder has no model.safetensors (a BERT model folder needs model.safetensors, config.json and vocab.txt; a Hugging Face LLaMA folder config.json, model.safetensors (or its index) and tokenizer.json; a quantized model folder quanta.json)")
                }
                self = HuggingFaceFolder.modelType(name) == "llama" ? .huggingFaceLlama(folder: name) : .bert(folder: name)
            } else if name.hasSuffix(".gguf") {
                self = .llama(gguf: name)
            } else {
                throw .file(path: name, reason: "not a model: expected a folder with model.safetensors or a .gguf file")
            }
        }
    }
}

extension ModelReference {
    /// Whether this is a quantized model folder.
    public var isQuantized: Bool { if case .quantized = self { true } else { false } }
}
