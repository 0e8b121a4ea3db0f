import Foundation

/// Writes a LLaMA model as a Hugging Face folder that transformers' `LlamaForCausalLM` and `AutoTokenizer`
/// load as they are:
///
///     config.json              LlamaConfig of the model (`HuggingFaceLlama.configuration`)
///     generation_config.json   BOS / EOS / padding ids
///     model.safetensors        F32 tensors under Hugging Face names, Q and K rows in rotate_half order; weight-only
///                              integer layers in compressed-tensors' pack-quantized form (`CompressedTensors`),
///                              described by config.json's `quantization_config`
///     tokenizer.json           the GGUF vocabulary and merges in SmolLM2's tokenizer configuration
///     tokenizer_config.json    PreTrainedTokenizerFast, the special tokens, no BOS added
///     .quanta-export           marks a folder this writer may replace
///
/// The folder is written beside the target and renamed into place (`AtomicFolder`).
public enum HuggingFaceExport {
    static let marker = ".quanta-export"

    public static func write(_ model: LlamaModel, tokenizer: ByteLevelBPETokenizer, source: GGUFFile, to folder: String) throws(QuantaError) {
        var tensors = [SafeTensorsWriter.Entry](), schemes = [NSDictionary](), ignored = [String]()
        for tensor in try model.tensors() {
            let name = try HuggingFaceLlama.name(tensor.name), module = String(name.dropLast(".weight".count))
            let heads = HuggingFaceLlama.permutedHeads(tensor.name, config: model.config)
            if var layer = tensor.layer as? FakeQuantizedLinear {
                if let heads { layer = try HuggingFaceLlama.permutingRows(layer, heads: heads) }
                schemes.append(try CompressedTensors.group(of: layer) as NSDictionary)
                tensors += try CompressedTensors.entries(layer, module: module)
                continue
            }
            if tensor.layer != nil { ignored.append(module) }
            let values = heads.map { HuggingFaceLlama.permutingRows(tensor.values, heads: $0, columns: tensor.shape[1]) } ?? tensor.values
            tensors.append(SafeTensorsWriter.Entry(name: name, shape: tensor.shape, floats: values))
        }
        var config = HuggingFaceLlama.configuration(model.config, tied: model.untiedHead == nil, source: source)
        if let scheme = schemes.first {
            guard schemes.allSatisfy({ $0 == scheme }) else {
                throw .invalidArgument("the recipe quantizes layers with different schemes; one compressed-tensors group per export is supported")
            }
            if !(model.head is FakeQuantizedLinear), !ignored.contains("lm_head") { ignored.append("lm_head") }
            config["quantization_config"] = CompressedTensors.quantizationConfig(group: scheme as! [String: Any], ignore: ignored)
        }
        func token(_ key: String) -> String? {
            source.metadata["tokenizer.ggml.\(key)_token_id"]?.integer.flatMap { $0 < tokenizer.tokens.count ? tokenizer.tokens[$0] : nil }
        }
        var tokenizerConfig: [String: Any] = ["tokenizer_class": "PreTrainedTokenizerFast", "add_bos_token": false, "add_eos_token": false,
                                              "clean_up_tokenization_spaces": false, "model_max_length": model.config.contextLength]
        for (key, name) in [("bos", "bos_token"), ("eos", "eos_token"), ("unknown", "unk_token"), ("padding", "pad_token")] {
            if let value = token(key) { tokenizerConfig[name] = value }
        }
        if let template = source.metadata["tokenizer.chat_template"]?.string { tokenizerConfig["chat_template"] = template }
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
}
