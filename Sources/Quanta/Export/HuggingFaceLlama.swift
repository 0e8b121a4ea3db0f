import Foundation

/// How a Hugging Face `LlamaForCausalLM` folder names and lays out what Quanta's `LlamaModel` (GGUF's names
/// and layout) holds, both ways:
///
///     token_embd.weight        model.embed_tokens.weight         blk.i.attn_q.weight  model.layers.i.self_attn.q_proj.weight *
///     output.weight            lm_head.weight                    blk.i.attn_k.weight  model.layers.i.self_attn.k_proj.weight *
///     output_norm.weight       model.norm.weight                 blk.i.attn_v.weight  model.layers.i.self_attn.v_proj.weight
///     blk.i.attn_norm.weight   model.layers.i.input_layernorm.weight           blk.i.attn_output.weight  ...self_attn.o_proj.weight
///     blk.i.ffn_norm.weight    model.layers.i.post_attention_layernorm.weight  blk.i.ffn_gate|up|down.weight  ...mlp.gate_proj|up_proj|down_proj.weight
///
/// (*) GGUF permutes the rows of Q and K within each head so that RoPE rotates adjacent pairs (llama.cpp's
/// convert_hf_to_gguf `permute`); transformers rotates the two halves of a head (`rotate_half`). With head
/// dimension d, row j d/2 + i of a head in Hugging Face's layout (half j in {0, 1}, i < d/2) is row 2 i + j
/// of the same head in GGUF's.
public enum HuggingFaceLlama {
    /// The Hugging Face name of a GGUF tensor name.
    public static func name(_ gguf: String) throws(QuantaError) -> String {
        let fixed = ["token_embd.weight": "model.embed_tokens.weight", "output.weight": "lm_head.weight", "output_norm.weight": "model.norm.weight"]
        if let name = fixed[gguf] { return name }
        let parts = gguf.split(separator: ".")
        let renamed = ["attn_norm": "input_layernorm", "ffn_norm": "post_attention_layernorm",
                       "attn_q": "self_attn.q_proj", "attn_k": "self_attn.k_proj", "attn_v": "self_attn.v_proj",
                       "attn_output": "self_attn.o_proj", "ffn_gate": "mlp.gate_proj", "ffn_up": "mlp.up_proj", "ffn_down": "mlp.down_proj"]
        guard parts.count == 4, parts[0] == "blk", Int(parts[1]) != nil, let module = renamed[String(parts[2])], parts[3] == "weight" else {
            throw .invalidArgument("no Hugging Face LLaMA name for tensor '\(gguf)'")
        }
        return "model.layers.\(parts[1]).\(module).weight"
    }

    /// The number of heads whose rows `gguf` permutes (Q: attention heads, K: KV heads), nil for other tensors.
    static func permutedHeads(_ gguf: String, config: LlamaModel.Config) -> Int? {
        if gguf.hasSuffix(".attn_q.weight") { return config.heads }
        if gguf.hasSuffix(".attn_k.weight") { return config.kvHeads }
        return nil
    }

    /// A [heads d, columns] matrix's rows from GGUF's order to Hugging Face's (`toGGUF`: back).
    static func permutingRows<T>(_ values: [T], heads: Int, columns: Int, toGGUF: Bool = false) -> [T] {
        let d = values.count / columns / heads
        var out = values
        for h in 0..<heads {
            for j in 0..<2 {
                for i in 0..<d / 2 {
                    let (gguf, hf) = ((h * d + 2 * i + j) * columns, (h * d + j * d / 2 + i) * columns)
                    let (from, to) = toGGUF ? (hf, gguf) : (gguf, hf)
                    out.replaceSubrange(to..<to + columns, with: values[from..<from + columns])
                }
            }
        }
        return out
    }

    /// A weight-only layer with its weight rows, and its scales' and zero points' rows, permuted the same way.
    static func permutingRows(_ layer: FakeQuantizedLinear, heads: Int, toGGUF: Bool = false) throws(QuantaError) -> FakeQuantizedLinear {
        let w = layer.quantized.weight
        let weight = try Matrix(rows: w.rows, columns: w.columns, storage: permutingRows(w.storage, heads: heads, columns: w.columns, toGGUF: toGGUF))
        var parameters = layer.weightParameters
        if let p = parameters, p.granularity != .perTensor {
            let groups = p.scales.count / w.rows
            parameters = try QuantizationParameters(scales: permutingRows(p.scales, heads: heads, columns: groups, toGGUF: toGGUF),
                                                    zeroPoints: permutingRows(p.zeroPoints, heads: heads, columns: groups, toGGUF: toGGUF),
                                                    format: p.format, scheme: p.scheme, granularity: p.granularity)
        }
        return FakeQuantizedLinear(quantized: try FloatLinear(name: layer.name, weight: weight, bias: layer.quantized.bias),
                                   weight: layer.weightQuantizer, activation: layer.activationQuantizer, weightParameters: parameters)
    }

    /// config.json of a LlamaForCausalLM with `config`, token ids from `source`'s tokenizer metadata.
    static func configuration(_ config: LlamaModel.Config, tied: Bool, source: GGUFFile) -> [String: Any] {
        func token(_ key: String) -> Any { source.metadata["tokenizer.ggml.\(key)_token_id"]?.integer ?? NSNull() }
        return [
            "architectures": ["LlamaForCausalLM"], "model_type": "llama",
            "hidden_size": config.hiddenSize, "intermediate_size": config.feedForwardSize, "num_hidden_layers": config.layers,
            "num_attention_heads": config.heads, "num_key_value_heads": config.kvHeads, "head_dim": config.headDimension,
            "hidden_act": "silu", "max_position_embeddings": config.contextLength, "rms_norm_eps": Double(config.rmsEpsilon),
            "rope_theta": Double(config.ropeBase), "rope_parameters": ["rope_type": "default", "rope_theta": Double(config.ropeBase)],
            "vocab_size": config.vocabularySize, "tie_word_embeddings": tied, "attention_bias": false, "mlp_bias": false,
            "bos_token_id": token("bos"), "eos_token_id": token("eos"), "pad_token_id": token("padding"),
            "torch_dtype": "float32", "use_cache": true,
        ]
    }

    /// The model configuration a config.json describes (`folder` names the file in errors).
    static func configuration(_ json: [String: Any], folder: String) throws(QuantaError) -> LlamaModel.Config {
        func integer(_ key: String) throws(QuantaError) -> Int {
            guard let value = json[key] as? Int, value > 0 else { throw .file(path: folder + "/config.json", reason: "'\(key)' is not a positive integer") }
            return value
        }
        guard json["model_type"] as? String == "llama" else {
            throw .file(path: folder + "/config.json", reason: "model_type '\(json["model_type"] ?? "none")' is not supported (llama)")
        }
        let hidden = try integer("hidden_size"), heads = try integer("num_attention_heads")
        let rope = (json["rope_parameters"] as? [String: Any])?["rope_theta"] as? Double ?? json["rope_theta"] as? Double ?? 10_000
        if let scaling = json["rope_scaling"], !(scaling is NSNull) {
            throw .file(path: folder + "/config.json", reason: "rope_scaling \(scaling) is not supported (plain RoPE only)")
        }
        return LlamaModel.Config(hiddenSize: hidden, layers: try integer("num_hidden_layers"), heads: heads,
                                 kvHeads: json["num_key_value_heads"] as? Int ?? heads,
                                 headDimension: json["head_dim"] as? Int ?? hidden / heads,
                                 feedForwardSize: try integer("intermediate_size"), vocabularySize: try integer("vocab_size"),
                                 contextLength: json["max_position_embeddings"] as? Int ?? 2048, ropeBase: Float(rope),
                                 rmsEpsilon: Float(json["rms_norm_eps"] as? Double ?? 1e-6))
    }

    /// tokenizer.json for the `tokenizers` library: SmolLM2's published configuration (byte-level BPE,
    /// pre-tokenizer Sequence[Digits(individual_digits), ByteLevel(add_prefix_space: false)], no normalizer,
    /// no post-processor) with `tokenizer`'s vocabulary and merges, and its control tokens as special tokens.
    static func tokenizerJSON(_ tokenizer: ByteLevelBPETokenizer) -> [String: Any] {
        var vocabulary = [String: Int]()
        for (id, token) in tokenizer.tokens.enumerated() where vocabulary[token] == nil { vocabulary[token] = id }
        let added: [[String: Any]] = tokenizer.specialTokens.compactMap { token in
            guard let id = vocabulary[token] else { return nil }
            return ["id": id, "content": token, "single_word": false, "lstrip": false, "rstrip": false, "normalized": false, "special": true]
        }.sorted { ($0["id"] as! Int) < ($1["id"] as! Int) }
        return [
            "version": "1.0", "truncation": NSNull(), "padding": NSNull(), "added_tokens": added, "normalizer": NSNull(),
            "pre_tokenizer": ["type": "Sequence", "pretokenizers": [
                ["type": "Digits", "individual_digits": true],
                ["type": "ByteLevel", "add_prefix_space": false, "trim_offsets": true, "use_regex": true],
            ]],
            "post_processor": NSNull(),
            "decoder": ["type": "ByteLevel", "add_prefix_space": true, "trim_offsets": true, "use_regex": true],
            "model": ["type": "BPE", "dropout": NSNull(), "unk_token": NSNull(), "continuing_subword_prefix": NSNull(),
                      "end_of_word_suffix": NSNull(), "fuse_unk": false, "byte_fallback": false, "ignore_merges": false,
                      "vocab": vocabulary, "merges": tokenizer.merges.map { $0.split(separator: " ").map(String.init) }],
        ]
    }

    /// The tokenizer a tokenizer.json holds (BPE vocabulary, merges as pairs or "a b" strings, special added tokens).
    static func tokenizer(json: [String: Any], path: String) throws(QuantaError) -> ByteLevelBPETokenizer {
        guard let model = json["model"] as? [String: Any], model["type"] as? String == "BPE",
              let vocabulary = model["vocab"] as? [String: Int], let rawMerges = model["merges"] as? [Any] else {
            throw .file(path: path, reason: "not a byte-level BPE tokenizer (model.type BPE with vocab and merges)")
        }
        var tokens = [String](repeating: "", count: (vocabulary.values.max() ?? -1) + 1)
        for (token, id) in vocabulary where id >= 0 { tokens[id] = token }
        var merges = [String]()
        for merge in rawMerges {
            if let pair = merge as? [String], pair.count == 2 { merges.append(pair.joined(separator: " ")) }
            else if let text = merge as? String { merges.append(text) }
            else { throw .file(path: path, reason: "merge \(merges.count) is neither a pair nor a string") }
        }
        let special = (json["added_tokens"] as? [[String: Any]] ?? []).filter { $0["special"] as? Bool == true }.compactMap { $0["content"] as? String }
        return try ByteLevelBPETokenizer(tokens: tokens, merges: merges, specialTokens: special)
    }
}
