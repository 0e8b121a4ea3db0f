import Foundation

/// Writes a LLaMA model as a Hugging Face folder that transformers' `LlamaForCausalLM` and `AutoTokenizer`
/// load as they are:
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

    /// model.safetensors' tensors, and config.json's quantization_config when layers are quantized (one
    /// compressed-tensors group; the FP32 Linears, the head among them, ignored).
    static func weights(of model: LlamaModel) throws(QuantaError) -> ([SafeTensorsWriter.Entry], [String: Any]?) {
        var tensors = [SafeTensorsWriter.Entry](), groups = [NSDictionary](), ignored = [String]()
        for tensor in try model.tensors() {
            let name = try HuggingFaceLlama.name(tensor.name), module = String(name.dropLast(".weight".count))
            let heads = HuggingFaceLlama.permutedHeads(tensor.name, config: model.config)
            if var layer = tensor.layer as? FakeQuantizedLinear {
                if let heads { layer = try HuggingFaceLlama.permutingRows(layer, heads: heads) }
                groups.append(try CompressedTensors.group(of: layer) as NSDictionary)
                tensors += try CompressedTensors.entries(layer, module: module)
                continue
            }
            if tensor.layer != nil { ignored.append(module) }
            let values = heads.map { HuggingFaceLlama.permutingRows(tensor.values, heads: $0, columns: tensor.shape[1]) } ?? tensor.values
            tensors.append(SafeTensorsWriter.Entry(name: name, shape: tensor.shape, floats: values))
        }
        guard let group = groups.first else { return (tensors, nil) }
        guard groups.allSatisfy({ $0 == group }) else {
            throw .invalidArgument("the recipe quantizes layers with different schemes; one compressed-tensors group per export is supported")
        }
        if !(model.head is FakeQuantizedLinear), !ignored.contains("lm_head") { ignored.append("lm_head") }
        return (tensors, CompressedTensors.quantizationConfig(group: group as! [String: Any], ignore: ignored))
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
