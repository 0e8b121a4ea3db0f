import Foundation
import Quanta
import Testing

/// Hugging Face LLaMA folders out and in: a round trip gives the same model bit for bit, and the Q/K rows
/// follow transformers' rotate_half order.
@Suite struct HuggingFaceExportTests {
    static let tinyLlama = GGUFExportTests.tinyLlama

    /// A byte-level BPE for the tiny model: a control token, 93 printable characters and one merge ("ab", id 94).
    static func tokenizer() throws -> ByteLevelBPETokenizer {
        let characters = (33..<126).map { String(UnicodeScalar(UInt8($0))) }
        return try ByteLevelBPETokenizer(tokens: ["<|endoftext|>"] + characters + ["ab"], merges: ["a b"], specialTokens: ["<|endoftext|>"])
    }

    static func logits(_ model: LlamaModel, _ tokens: [Int32] = [3, 14, 15, 92, 65, 35, 89, 7]) throws -> [Float] {
        var cache = LlamaModel.KVCache(for: model.config)
        return try model.forward(tokens, cache: &cache).storage
    }

    static func temporaryFolder() -> String {
        FileManager.default.temporaryDirectory.appendingPathComponent("quanta-hf-\(UUID().uuidString)").path
    }

    @Test(arguments: [false, true]) func roundTripIsBitIdentical(rotated: Bool) throws {
        let source = try GGUFFile(path: Self.tinyLlama)
        var model = try LlamaModel(gguf: source)
        if rotated { model = try Rotation.fold(into: model, seed: 3) }
        let folder = Self.temporaryFolder()
        defer { try? FileManager.default.removeItem(atPath: folder) }
        try HuggingFaceExport.write(model, tokenizer: Self.tokenizer(), source: source, to: folder)
        guard case let .llama(reloaded, tokenizer) = try LoadedModel(ModelReference(folder)) else {
            Issue.record("the folder did not load as a LLaMA model")
            return
        }
        #expect(try Self.logits(reloaded) == Self.logits(model))
        #expect(tokenizer.tokens == (try Self.tokenizer()).tokens && tokenizer.merges == ["a b"])
        #expect(tokenizer.encode("<|endoftext|>ab!") == [0, 94, 1])
        let config = try JSONFile.object(at: folder + "/config.json")
        #expect(config["tie_word_embeddings"] as? Bool == !rotated && config["num_key_value_heads"] as? Int == 2 && config["quantization_config"] == nil)
        let weights = try SafeTensorsFile(path: folder + "/model.safetensors")
        #expect(weights.tensors.contains { $0.name == "lm_head.weight" } == rotated)
        // Hugging Face row h d + j d/2 + i is GGUF row h d + 2 i + j (head dimension d = 16).
        let gguf = try source.floats("blk.1.attn_k.weight"), hf = try weights.floats("model.layers.1.self_attn.k_proj.weight").values
        if !rotated {
            for (h, j, i) in [(0, 0, 0), (0, 1, 0), (1, 0, 7), (1, 1, 3)] {
                #expect(Array(hf[(h * 16 + j * 8 + i) * 64..<(h * 16 + j * 8 + i + 1) * 64]) == Array(gguf[(h * 16 + 2 * i + j) * 64..<(h * 16 + 2 * i + j + 1) * 64]))
            }
        }
        // Written again over itself (the folder is marked as an export); a folder of other files is refused.
        try HuggingFaceExport.write(model, tokenizer: Self.tokenizer(), source: source, to: folder)
        let other = Self.temporaryFolder()
        try FileManager.default.createDirectory(atPath: other, withIntermediateDirectories: true)
        try Data("keep".utf8).write(to: URL(fileURLWithPath: other + "/notes.txt"))
        defer { try? FileManager.default.removeItem(atPath: other) }
        #expect(throws: QuantaError.self) { try HuggingFaceExport.write(model, tokenizer: Self.tokenizer(), source: source, to: other) }
        #expect(FileManager.default.fileExists(atPath: other + "/notes.txt"))
    }

    /// Weight-only recipes go out as compressed-tensors pack-quantized layers and come back as the same model.
    @Test(arguments: [TensorQuantizer.integer(.int4, .asymmetric, .perGroup(size: 32)), .integer(.uint8, .asymmetric, .perChannel),
                      .integer(.int8, .symmetric, .perGroup(size: 16)), .integer(.int4, .symmetric, .perChannel), .integer(.int8, .symmetric, .perTensor)])
    func packQuantizedRoundTripIsBitIdentical(weight: TensorQuantizer) throws {
        let source = try GGUFFile(path: Self.tinyLlama)
        let model = try LlamaModel(gguf: source).mapLinearLayers { layer throws(QuantaError) in
            guard let float = layer as? FloatLinear, layer.name != LlamaModel.headName else { return layer }
            return try FakeQuantizedLinear(float, weight: weight, activation: nil)
        }
        let folder = Self.temporaryFolder()
        defer { try? FileManager.default.removeItem(atPath: folder) }
        try HuggingFaceExport.write(model, tokenizer: Self.tokenizer(), source: source, to: folder)
        let quantization = try #require(try JSONFile.object(at: folder + "/config.json")["quantization_config"] as? [String: Any])
        #expect(quantization["format"] as? String == "pack-quantized" && quantization["ignore"] as? [String] == ["lm_head"])
        let weights = try SafeTensorsFile(path: folder + "/model.safetensors")
        #expect(try weights.info("model.layers.0.self_attn.q_proj.weight_packed").type == .i32)
        #expect(!weights.tensors.contains { $0.name == "model.layers.0.self_attn.q_proj.weight" })
        let (reloaded, _) = try HuggingFaceFolder(folder).llama()
        #expect(try Self.logits(reloaded) == Self.logits(model))
        #expect(reloaded.blocks[1].key is FakeQuantizedLinear && reloaded.head is FloatLinear)
        // Exported again from the reloaded model: the same tensors (its signed codes are the same numbers).
        let again = Self.temporaryFolder()
        defer { try? FileManager.default.removeItem(atPath: again) }
        try HuggingFaceExport.write(reloaded, tokenizer: Self.tokenizer(), source: source, to: again)
        #expect(try HuggingFaceFolder(again).llama().0.blocks[0].query.forward(Matrix(rows: 1, columns: 64, repeating: 0.5)).storage
                == model.blocks[0].query.forward(Matrix(rows: 1, columns: 64, repeating: 0.5)).storage)
    }

    /// W8A8 layers (INT8 symmetric per-channel weights; UINT8 per-token dynamic or INT8 per-tensor static
    /// inputs) go out as int-quantized layers and come back as the same model.
    @Test(arguments: [false, true]) func intQuantizedRoundTripIsBitIdentical(staticInputs: Bool) throws {
        let source = try GGUFFile(path: Self.tinyLlama)
        let model = try LlamaModel(gguf: source).mapLinearLayers { layer throws(QuantaError) in
            guard let float = layer as? FloatLinear, layer.name != LlamaModel.headName else { return layer }
            let input: TensorQuantizer = staticInputs
                ? .staticInteger(try QuantizationParameters(scales: [0.03], zeroPoints: [0], format: .int8, scheme: .symmetric, granularity: .perTensor))
                : .integer(.uint8, .asymmetric, .perToken)
            return try FakeQuantizedLinear(float, weight: .integer(.int8, .symmetric, .perChannel), activation: input)
        }
        let folder = Self.temporaryFolder()
        defer { try? FileManager.default.removeItem(atPath: folder) }
        try HuggingFaceExport.write(model, tokenizer: Self.tokenizer(), source: source, to: folder)
        let quantization = try #require(try JSONFile.object(at: folder + "/config.json")["quantization_config"] as? [String: Any])
        #expect(quantization["format"] as? String == "int-quantized")
        let weights = try SafeTensorsFile(path: folder + "/model.safetensors")
        #expect(try weights.info("model.layers.0.mlp.up_proj.weight").type == .i8)
        #expect(weights.tensors.contains { $0.name == "model.layers.0.mlp.up_proj.input_scale" } == staticInputs)
        let (reloaded, _) = try HuggingFaceFolder(folder).llama()
        #expect(try Self.logits(reloaded) == Self.logits(model))
    }

    /// FP8 E4M3 layers (weights per channel or per tensor; inputs per token at run time or per tensor static)
    /// go out as float-quantized layers, F8_E4M3 weights with F32 scales, and come back as the same model.
    @Test(arguments: [(true, false), (false, true)]) func floatQuantizedRoundTripIsBitIdentical(perRow: Bool, staticInputs: Bool) throws {
        let source = try GGUFFile(path: Self.tinyLlama)
        let model = try LlamaModel(gguf: source).mapLinearLayers { layer throws(QuantaError) in
            guard let float = layer as? FloatLinear, layer.name != LlamaModel.headName else { return layer }
            return try FakeQuantizedLinear(float, weight: .float(.e4m3, perRow: perRow),
                                           activation: staticInputs ? .staticFloat(.e4m3, scale: 0.01) : .float(.e4m3, perRow: true))
        }
        let folder = Self.temporaryFolder()
        defer { try? FileManager.default.removeItem(atPath: folder) }
        try HuggingFaceExport.write(model, tokenizer: Self.tokenizer(), source: source, to: folder)
        let quantization = try #require(try JSONFile.object(at: folder + "/config.json")["quantization_config"] as? [String: Any])
        #expect(quantization["format"] as? String == "float-quantized")
        let weights = try SafeTensorsFile(path: folder + "/model.safetensors")
        #expect(try weights.info("model.layers.0.mlp.up_proj.weight").type == .f8e4m3)
        #expect(try weights.info("model.layers.0.mlp.up_proj.weight_scale").shape == (perRow ? [128, 1] : [1]))
        #expect(weights.tensors.contains { $0.name == "model.layers.0.mlp.up_proj.input_scale" } == staticInputs)
        let (reloaded, _) = try HuggingFaceFolder(folder).llama()
        #expect(try Self.logits(reloaded) == Self.logits(model))
        // E5M2 has no compressed-tensors format: refused, naming the layer.
        let e5m2 = try LlamaModel(gguf: source).mapLinearLayers { layer throws(QuantaError) in
            guard let float = layer as? FloatLinear, layer.name != LlamaModel.headName else { return layer }
            return try FakeQuantizedLinear(float, weight: .float(.e5m2, perRow: true), activation: nil)
        }
        #expect(throws: QuantaError.self) { try HuggingFaceExport.write(e5m2, tokenizer: Self.tokenizer(), source: source, to: Self.temporaryFolder()) }
    }

    /// A model whose layers use different schemes (attention INT4 weight-only, MLP W8A8, the up projections of
    /// block 1 FP8) goes out as one config group per scheme, each targeting its modules by name ("mixed-precision"
    /// where the formats differ), and comes back as the same model.
    @Test func mixedSchemesGoOutAsOneGroupEach() throws {
        let source = try GGUFFile(path: Self.tinyLlama)
        let model = try LlamaModel(gguf: source).mapLinearLayers { layer throws(QuantaError) in
            guard let float = layer as? FloatLinear, layer.name != LlamaModel.headName else { return layer }
            if layer.name == "blk.1.ffn_up" { return try FakeQuantizedLinear(float, weight: .float(.e4m3, perRow: true), activation: .float(.e4m3, perRow: true)) }
            return layer.name.contains("ffn")
                ? try FakeQuantizedLinear(float, weight: .integer(.int8, .symmetric, .perChannel), activation: .integer(.uint8, .asymmetric, .perToken))
                : try FakeQuantizedLinear(float, weight: .integer(.int4, .symmetric, .perGroup(size: 32)), activation: nil)
        }
        let folder = Self.temporaryFolder()
        defer { try? FileManager.default.removeItem(atPath: folder) }
        try HuggingFaceExport.write(model, tokenizer: Self.tokenizer(), source: source, to: folder)
        let quantization = try #require(try JSONFile.object(at: folder + "/config.json")["quantization_config"] as? [String: Any])
        let groups = try #require(quantization["config_groups"] as? [String: [String: Any]])
        #expect(quantization["format"] as? String == "mixed-precision" && groups.count == 3)
        #expect(groups.values.contains { ($0["targets"] as? [String]) == ["model.layers.1.mlp.up_proj"] && $0["format"] as? String == "float-quantized" })
        let (reloaded, _) = try HuggingFaceFolder(folder).llama()
        #expect(try Self.logits(reloaded) == Self.logits(model))
        #expect(reloaded.blocks[0].query is FakeQuantizedLinear && reloaded.head is FloatLinear)
    }

    @Test func packingIsDenseAndInvertible() throws {
        for bits in 2...8 {
            var generator = SplitMix64(seed: UInt64(bits))
            let (rows, columns) = (3, 45)
            let codes = (0..<rows * columns).map { _ in Int32.random(in: -(1 << (bits - 1))...((1 << (bits - 1)) - 1), using: &generator) }
            let words = CompressedTensors.pack(codes, bits: bits, rows: rows, columns: columns)
            #expect(words.count == rows * ((columns * bits + 31) / 32))
            #expect(CompressedTensors.unpack(words, bits: bits, rows: rows, columns: columns) == codes, "\(bits) bits")
        }
        // 4 bits: element e of a row at bits 4e..4e+3 of its word, offset by 8.
        #expect(CompressedTensors.pack([-8, 7, 0, 1, -1, 2, 3, -3], bits: 4, rows: 1, columns: 8) == [Int32(bitPattern: 0x5BA7_98F0)])
    }

    @Test func unsupportedArchitecturesAreNamed() throws {
        let folder = Self.temporaryFolder()
        defer { try? FileManager.default.removeItem(atPath: folder) }
        try HuggingFaceExport.write(LlamaModel(gguf: GGUFFile(path: Self.tinyLlama)), tokenizer: Self.tokenizer(),
                                    source: GGUFFile(path: Self.tinyLlama), to: folder)
        var config = try JSONFile.object(at: folder + "/config.json")
        config["rope_scaling"] = ["rope_type": "yarn", "factor": 4.0]
        try JSONFile.write(config, to: folder + "/config.json")
        #expect(throws: QuantaError.self) { try HuggingFaceFolder(folder).llama() }
        config["model_type"] = "mistral"
        try JSONFile.write(config, to: folder + "/config.json")
        #expect(throws: QuantaError.self) { try LoadedModel(ModelReference(folder)) }
    }
}

extension HuggingFaceExportTests {
    /// A checkpoint sharded by model.safetensors.index.json, in BF16, loads as the same model rounded to BF16.
    @Test func shardedHalfPrecisionCheckpointsLoad() throws {
        let source = try GGUFFile(path: Self.tinyLlama)
        let model = try LlamaModel(gguf: source)
        let folder = Self.temporaryFolder()
        defer { try? FileManager.default.removeItem(atPath: folder) }
        try HuggingFaceExport.write(model, tokenizer: Self.tokenizer(), source: source, to: folder)
        let single = try SafeTensorsFile(path: folder + "/model.safetensors")
        var shards: [[SafeTensorsWriter.Entry]] = [[], []], map = [String: String]()
        for (i, info) in single.tensors.enumerated() {
            let bf16 = try single.floats(info.name).values.map { UInt16($0.bitPattern >> 16) }   // truncation: exact in BF16
            shards[i % 2].append(.init(name: info.name, type: .bf16, shape: info.shape, bytes: bf16.withUnsafeBufferPointer { Data(buffer: $0) }))
            map[info.name] = "model-0000\(i % 2 + 1)-of-00002.safetensors"
        }
        try FileManager.default.removeItem(atPath: folder + "/model.safetensors")
        for (i, entries) in shards.enumerated() { try SafeTensorsWriter.write(entries, to: folder + "/model-0000\(i + 1)-of-00002.safetensors") }
        try JSONFile.write(["weight_map": map], to: folder + "/model.safetensors.index.json")
        guard case let .llama(reloaded, _) = try LoadedModel(ModelReference(folder)) else {
            Issue.record("the sharded folder did not load as a LLaMA model")
            return
        }
        let truncated = try model.mapLinearLayers { layer throws(QuantaError) in
            guard let float = layer as? FloatLinear else { return layer }
            return try FloatLinear(name: float.name, weight: Matrix(rows: float.outFeatures, columns: float.inFeatures,
                                                                   storage: float.weight.storage.map { Float(bitPattern: $0.bitPattern & 0xFFFF_0000) }))
        }
        #expect(reloaded.blocks[1].query.forward(Matrix(rows: 1, columns: 64, repeating: 0.25)).storage
                == truncated.blocks[1].query.forward(Matrix(rows: 1, columns: 64, repeating: 0.25)).storage)
        #expect(reloaded.tokenEmbeddings.storage == model.tokenEmbeddings.storage.map { Float(bitPattern: $0.bitPattern & 0xFFFF_0000) })
    }
}

extension HuggingFaceExportTests {
    /// A Hugging Face folder goes out as GGUF with metadata built from config.json and tokenizer.json, and the
    /// GGUF file reads back as the same model and tokenizer.
    @Test func huggingFaceFolderExportsAsGGUF() throws {
        let source = try GGUFFile(path: Self.tinyLlama)
        let model = try LlamaModel(gguf: source)
        let folder = Self.temporaryFolder(), file = Self.temporaryFolder() + ".gguf"
        defer { try? FileManager.default.removeItem(atPath: folder); try? FileManager.default.removeItem(atPath: file) }
        try HuggingFaceExport.write(model, tokenizer: Self.tokenizer(), source: source, to: folder)
        let hf = try HuggingFaceFolder(folder)
        let (loaded, tokenizer) = try hf.llama()
        try GGUFExport(type: .f32).write(loaded, source: hf.ggufMetadata(loaded, tokenizer: tokenizer), to: file)
        let gguf = try GGUFFile(path: file)
        #expect(try Self.logits(LlamaModel(gguf: gguf)) == Self.logits(model))
        let back = try ByteLevelBPETokenizer(gguf: gguf)
        #expect(back.tokens == tokenizer.tokens && back.merges == tokenizer.merges)
        #expect(back.encode("<|endoftext|>ab!") == [0, 94, 1])
        #expect(gguf.metadata["llama.attention.head_count_kv"]?.integer == 2 && gguf.metadata["tokenizer.ggml.pre"]?.string == "smollm")
    }
}
