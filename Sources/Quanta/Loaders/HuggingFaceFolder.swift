import Foundation

/// A Hugging Face model folder: config.json, and the weights in model.safetensors or in shards listed by
/// model.safetensors.index.json ("weight_map": tensor name -> shard file).
public struct HuggingFaceFolder {
    public let folder: String
    public let config: [String: Any]
    let shards: [String: SafeTensorsFile]     // tensor name -> the file holding it
    /// model.safetensors, or the index of the shards: what an error about a missing tensor names.
    let weightsPath: String

    public init(_ folder: String) throws(QuantaError) {
        self.folder = folder
        config = try JSONFile.object(at: folder + "/config.json")
        let index = folder + "/model.safetensors.index.json"
        var shards = [String: SafeTensorsFile]()
        weightsPath = FileManager.default.fileExists(atPath: index) ? index : folder + "/model.safetensors"
        if FileManager.default.fileExists(atPath: index) {
            guard let map = try JSONFile.object(at: index)["weight_map"] as? [String: String] else {
                throw .file(path: index, reason: "has no weight_map of tensor names to files")
            }
            var files = [String: SafeTensorsFile]()
            for file in Set(map.values) { files[file] = try SafeTensorsFile(path: folder + "/" + file) }
            for (name, file) in map { shards[name] = files[file] }
        } else {
            let file = try SafeTensorsFile(path: folder + "/model.safetensors")
            for tensor in file.tensors { shards[tensor.name] = file }
        }
        self.shards = shards
    }

    /// The model_type of config.json.
    public static func modelType(_ folder: String) -> String? {
        (try? JSONFile.object(at: folder + "/config.json"))?["model_type"] as? String
    }

    public func contains(_ name: String) -> Bool { shards[name] != nil }

    /// The names of every tensor in the folder.
    public var tensorNames: Dictionary<String, SafeTensorsFile>.Keys { shards.keys }

    func file(_ name: String) throws(QuantaError) -> SafeTensorsFile {
        guard let file = shards[name] else { throw .file(path: weightsPath, reason: "no tensor named '\(name)'") }
        return file
    }

    /// The shape of tensor `name`.
    public func shape(_ name: String) throws(QuantaError) -> [Int] { try file(name).info(name).shape }

    /// Tensor `name` as Float (any type `SafeTensorsFile.floats` reads), of exactly `shape`.
    public func floats(_ name: String, shape: [Int]) throws(QuantaError) -> [Float] {
        try file(name).floats(name, expectedShape: shape).values
    }

    /// I32 tensor `name` of exactly `shape`.
    func integers(_ name: String, shape: [Int]) throws(QuantaError) -> [Int32] {
        try file(name).integers(name, expectedShape: shape)
    }

    /// The LLaMA model (`HuggingFaceLlama` maps the names and undoes nothing but the Q/K row order) and the
    /// tokenizer of tokenizer.json.
    public func llama() throws(QuantaError) -> (LlamaModel, ByteLevelBPETokenizer) {
        let config = try HuggingFaceLlama.configuration(self.config, folder: folder)
        let untied = contains("lm_head.weight") && self.config["tie_word_embeddings"] as? Bool != true
        let compressed = try CompressedTensors.Configuration(config: self.config, path: folder + "/config.json")
        var quantized = [String: FakeQuantizedLinear]()     // by GGUF layer name, in GGUF's row order
        var model = try LlamaModel(config: config, untiedHead: untied) { name, shape throws(QuantaError) in
            let module = String(try HuggingFaceLlama.name(name).dropLast(".weight".count))
            let heads = HuggingFaceLlama.permutedHeads(name, config: config)
            if contains(module + ".weight_scale"), let scheme = try compressed?.scheme(for: module) {
                var layer = try scheme.layer(module: module, name: String(name.dropLast(".weight".count)), shape: shape, in: self)
                if let heads { layer = try HuggingFaceLlama.permutingRows(layer, heads: heads, toGGUF: true) }
                quantized[layer.name] = layer
                return layer.quantized.weight.storage
            }
            let values = try floats(module + ".weight", shape: shape)
            return heads.map { HuggingFaceLlama.permutingRows(values, heads: $0, columns: shape[1], toGGUF: true) } ?? values
        }
        if !quantized.isEmpty { model = try model.mapLinearLayers { quantized[$0.name] ?? $0 } }
        let tokenizerPath = folder + "/tokenizer.json"
        return (model, try HuggingFaceLlama.tokenizer(json: JSONFile.object(at: tokenizerPath), path: tokenizerPath))
    }

    /// The GGUF metadata of a LLaMA model read from this folder (`model`, `tokenizer`), as llama.cpp's converter
    /// writes it: hyper-parameters, and the tokenizer as gpt2 BPE with SmolLM2's pre-tokenizer ("smollm",
    /// the one Quanta's tokenizer implements), special tokens typed as control tokens, and the BOS / EOS /
    /// padding ids of config.json.
    public func ggufMetadata(_ model: LlamaModel, tokenizer: ByteLevelBPETokenizer) -> GGUFFile {
        let c = model.config
        typealias Entry = GGUFFile.MetadataEntry
        func u32(_ key: String, _ value: Int) -> Entry { Entry(key: key, type: .uint32, value: .uint(UInt64(value))) }
        func f32(_ key: String, _ value: Float) -> Entry { Entry(key: key, type: .float32, value: .float(Double(value))) }
        let special = Set(tokenizer.specialTokens)
        var entries: [Entry] = [
            Entry(key: "general.architecture", type: .string, value: .string("llama")),
            Entry(key: "general.name", type: .string, value: .string(URL(fileURLWithPath: folder).lastPathComponent)),
            u32("llama.block_count", c.layers), u32("llama.context_length", c.contextLength), u32("llama.embedding_length", c.hiddenSize),
            u32("llama.feed_forward_length", c.feedForwardSize), u32("llama.attention.head_count", c.heads),
            u32("llama.attention.head_count_kv", c.kvHeads), f32("llama.rope.freq_base", c.ropeBase),
            f32("llama.attention.layer_norm_rms_epsilon", c.rmsEpsilon), u32("llama.vocab_size", c.vocabularySize),
            u32("llama.rope.dimension_count", c.headDimension),
            Entry(key: "tokenizer.ggml.model", type: .string, value: .string("gpt2")),
            Entry(key: "tokenizer.ggml.pre", type: .string, value: .string("smollm")),
            Entry(key: "tokenizer.ggml.tokens", type: .array, elementType: .string, value: .array(tokenizer.tokens.map { .string($0) })),
            Entry(key: "tokenizer.ggml.token_type", type: .array, elementType: .int32,
                  value: .array(tokenizer.tokens.map { .int(special.contains($0) ? 3 : 1) })),
            Entry(key: "tokenizer.ggml.merges", type: .array, elementType: .string, value: .array(tokenizer.merges.map { .string($0) })),
        ]
        for (key, name) in [("bos_token_id", "bos"), ("eos_token_id", "eos"), ("pad_token_id", "padding")] {
            if let id = config[key] as? Int, id >= 0 { entries.append(u32("tokenizer.ggml.\(name)_token_id", id)) }
        }
        entries.append(Entry(key: "tokenizer.ggml.add_bos_token", type: .bool, value: .bool(false)))
        return GGUFFile(metadata: entries, path: folder + "/config.json")
    }
}
