import Foundation

/// Writes a model as a Hugging Face folder that transformers loads as it is: a BERT encoder as a BertModel
/// folder for sentence-transformers (`write(_:source:to:)`), a LLaMA model as a folder that
/// `LlamaForCausalLM` and `AutoTokenizer` load:
///
///     config.json              LlamaConfig of the model (`HuggingFaceLlama.configuration`)
///     generation_config.json   BOS / EOS / padding ids
///     model.safetensors        F32 tensors under Hugging Face names, Q and K rows in rotate_half order; quantized
///                              layers in compressed-tensors' pack-quantized (weight-only) or int-quantized (W8A8)
///                              form (`CompressedTensors`), described by config.json's `quantization_config`
///     tokenizer.json           the GGUF vocabulary and merges in SmolLM2's tokenizer configuration
///     tokenizer_config.json    PreTrainedTokenizerFast, the special tokens, no BOS added
///     .quanta-export           marks a folder this writer may replace
///
/// The folder is written beside the target and renamed into place (`AtomicFolder`).
public enum HuggingFaceExport {
    static let marker = ".quanta-export"

    public static func write(_ model: LlamaModel, tokenizer: ByteLevelBPETokenizer, source: GGUFFile, to folder: String) throws(QuantaError) {
        let (tensors, quantization) = try weights(of: model)
        var config = HuggingFaceLlama.configuration(model.config, tied: model.untiedHead == nil, source: source)
        config["quantization_config"] = quantization
        let tokenizerConfig = tokenizerConfiguration(tokenizer, source: source, contextLength: model.config.contextLength)
        var generation: [String: Any] = ["_from_model_config": true]
        for key in ["bos", "eos", "padding"] {
            if let id = source.metadata["tokenizer.ggml.\(key)_token_id"]?.integer { generation[key == "padding" ? "pad_token_id" : "\(key)_token_id"] = id }
        }
        try AtomicFolder.replace(folder, kind: "a Hugging Face folder written by quanta export",
                                 replaceable: { FileManager.default.fileExists(atPath: $0 + "/" + marker) }) { (temporary: String) throws(QuantaError) in
            try SafeTensorsWriter.write(tensors, metadata: ["format": "pt"], to: temporary + "/model.safetensors")
            try JSONFile.write(config, to: temporary + "/config.json")
            try JSONFile.write(generation, to: temporary + "/generation_config.json")
            try JSONFile.write(HuggingFaceLlama.tokenizerJSON(tokenizer), to: temporary + "/tokenizer.json")
            try JSONFile.write(tokenizerConfig, to: temporary + "/tokenizer_config.json")
            try AtomicFile.write(Data(), to: temporary + "/" + marker)
        }
    }

    /// The files of a sentence-transformers BERT folder that an export copies as they are: the tokenizer's and
    /// the sentence-transformers pipeline's (plus the JSON files of the module folders modules.json lists).
    static let bertFolderFiles = ["vocab.txt", "tokenizer.json", "tokenizer_config.json", "special_tokens_map.json",
                                  "modules.json", "sentence_bert_config.json", "config_sentence_transformers.json"]

    /// Writes a BERT encoder as a Hugging Face BertModel folder that transformers and sentence-transformers load
    /// as they are: config.json of `source` (the model's own folder) with the quantization_config of the
    /// quantized layers, model.safetensors (the model's tensors, quantized layers in compressed-tensors form, and
    /// `source`'s pooler, which Quanta does not run but BertModel has), and `bertFolderFiles` copied from
    /// `source`. Written beside the target and renamed into place.
    public static func write(_ model: BertModel, source: String, to folder: String) throws(QuantaError) {
        let original = try HuggingFaceFolder(source)
        let prefix = original.tensorNames.contains { $0.hasPrefix("bert.") } ? "bert." : ""
        var pooler = [SafeTensorsWriter.Entry]()
        for name in original.tensorNames.sorted() where name.hasPrefix(prefix + "pooler.") {
            let shape = try original.shape(name)
            pooler.append(.init(name: String(name.dropFirst(prefix.count)), shape: shape, floats: try original.floats(name, shape: shape)))
        }
        // The pooler's Linear stays FP32: listed in `ignore`, or compressed-tensors would expect it quantized.
        let poolerLinears = pooler.filter { $0.shape.count == 2 && $0.name.hasSuffix(".weight") }.map { String($0.name.dropLast(".weight".count)) }
        let (tensors, quantization) = try weights(try model.tensors(), ignored: poolerLinears)
        var config = original.config
        // The weights are the encoder's alone (no "bert." prefix, no task head), whatever the source's class.
        config["architectures"] = ["BertModel"]
        config["torch_dtype"] = "float32"
        config["quantization_config"] = quantization
        let manager = FileManager.default
        let moduleList = manager.contents(atPath: source + "/modules.json").flatMap { try? JSONSerialization.jsonObject(with: $0) } as? [[String: Any]]
        let modules = (moduleList ?? []).compactMap { $0["path"] as? String }.filter { !$0.isEmpty && !$0.contains("..") }
        try AtomicFolder.replace(folder, kind: "a Hugging Face folder written by quanta export",
                                 replaceable: { manager.fileExists(atPath: $0 + "/" + marker) }) { (temporary: String) throws(QuantaError) in
            try SafeTensorsWriter.write(tensors + pooler, metadata: ["format": "pt"], to: temporary + "/model.safetensors")
            try JSONFile.write(config, to: temporary + "/config.json")
            var files = bertFolderFiles.filter { manager.fileExists(atPath: source + "/" + $0) }
            for module in modules {
                let jsons = ((try? manager.contentsOfDirectory(atPath: source + "/" + module)) ?? []).filter { $0.hasSuffix(".json") }
                if !jsons.isEmpty { try createFolder(temporary + "/" + module) }
                files += jsons.sorted().map { module + "/" + $0 }
            }
            for file in files {
                guard let data = manager.contents(atPath: source + "/" + file) else { throw .file(path: source + "/" + file, reason: "cannot be read") }
                try AtomicFile.write(data, to: temporary + "/" + file)
            }
            try AtomicFile.write(Data(), to: temporary + "/" + marker)
        }
    }

    static func createFolder(_ path: String) throws(QuantaError) {
        do { try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true) } catch {
            throw .file(path: path, reason: "cannot create the folder: \(error.localizedDescription)")
        }
    }

    /// model.safetensors' tensors, and config.json's quantization_config when layers are quantized.
    static func weights(of model: LlamaModel) throws(QuantaError) -> ([SafeTensorsWriter.Entry], [String: Any]?) {
        try weights(try model.tensors(), renamed: HuggingFaceLlama.name, permutedHeads: { HuggingFaceLlama.permutedHeads($0, config: model.config) },
                    ignored: model.head is FakeQuantizedLinear ? [] : ["lm_head"])
    }

    /// `tensors` under the names `renamed` gives them (Q and K rows, `permutedHeads` heads of them, in
    /// rotate_half order), quantized layers in compressed-tensors form, and the quantization_config of the
    /// layers (a group per scheme; the FP32 Linears and the modules in `ignored` left out).
    static func weights(_ tensors: [ModelTensor], renamed: (String) throws(QuantaError) -> String = { $0 },
                        permutedHeads: (String) -> Int? = { _ in nil }, ignored: [String] = []) throws(QuantaError) -> ([SafeTensorsWriter.Entry], [String: Any]?) {
        var entries = [SafeTensorsWriter.Entry](), groups = [(group: NSDictionary, modules: [String])](), ignored = ignored
        for tensor in tensors {
            let name = try renamed(tensor.name), module = String(name.dropLast(".weight".count))
            let heads = permutedHeads(tensor.name)
            if var layer = tensor.layer as? FakeQuantizedLinear {
                if let heads { layer = try HuggingFaceLlama.permutingRows(layer, heads: heads) }
                let group = try CompressedTensors.group(of: layer) as NSDictionary
                if let i = groups.firstIndex(where: { $0.group == group }) { groups[i].modules.append(module) } else { groups.append((group, [module])) }
                entries += try CompressedTensors.entries(layer, module: module)
                continue
            }
            if tensor.layer != nil, !ignored.contains(module) { ignored.append(module) }
            let values = heads.map { HuggingFaceLlama.permutingRows(tensor.values, heads: $0, columns: tensor.shape[1]) } ?? tensor.values
            entries.append(SafeTensorsWriter.Entry(name: name, shape: tensor.shape, floats: values))
        }
        guard !groups.isEmpty else { return (entries, nil) }
        return (entries, CompressedTensors.quantizationConfig(groups: groups.map { ($0.group as! [String: Any], $0.modules) }, ignore: ignored))
    }

    /// tokenizer_config.json: PreTrainedTokenizerFast with the GGUF file's special tokens and chat template.
    static func tokenizerConfiguration(_ tokenizer: ByteLevelBPETokenizer, source: GGUFFile, contextLength: Int) -> [String: Any] {
        var config: [String: Any] = ["tokenizer_class": "PreTrainedTokenizerFast", "add_bos_token": false, "add_eos_token": false,
                                     "clean_up_tokenization_spaces": false, "model_max_length": contextLength]
        for (key, name) in [("bos", "bos_token"), ("eos", "eos_token"), ("unknown", "unk_token"), ("padding", "pad_token")] {
            if let id = source.metadata["tokenizer.ggml.\(key)_token_id"]?.integer, id < tokenizer.tokens.count { config[name] = tokenizer.tokens[id] }
        }
        if let template = source.metadata["tokenizer.chat_template"]?.string { config["chat_template"] = template }
        return config
    }
}
