import Foundation
import Testing
import Quanta

/// `quanta quantize` folders: a model written and read back computes exactly what the in-memory quantized
/// model computes, for every kind of layer and transform; a damaged or mismatched folder is refused.
@Suite(.serialized) struct QuantizedFolderTests {
    static func temporaryFolder() -> String {
        FileManager.default.temporaryDirectory.appendingPathComponent("quantized-\(UUID().uuidString)").path
    }

    @Test func miniLMRecipesSurviveSaveAndLoad() throws {
        let (model, tokenizer) = try ModelFixtures.miniLM.get()
        let data = EvaluationData(assets: try ModelFixtures.assets())
        let calibration = Array(try data.calibrationDocuments().prefix(24))
        let documents = Array(try data.lee().documents.prefix(4))
        // Static INT8 (MSE), PEG, static FP8, LLM.int8(), packed INT4, MX FP4, SmoothQuant's input scales and GPTQ (codes
        // that are not the nearest of the FP32 weight: integer, MX and FP8 weights).
        let mixed = try RecipeFolderJSON.write(#"""
        {"name": "mixed", "smoothquant_alpha": 0.5, "rules": [
          {"pattern": "*.0.attention.self.query", "fp32": true},
          {"pattern": "*.2.*", "weight": {"format": "mxint8"}, "gptq": true},
          {"pattern": "*.3.*", "weight": {"format": "fp8-e4m3", "granularity": "per-row"}, "gptq": true},
          {"pattern": "*.4.*", "weight": {"format": "fp8-e4m3"}, "gptq": true},
          {"pattern": "*.1.*", "weight": {"format": "int4", "scheme": "asymmetric", "granularity": "per-group", "group": 32}}
        ]}
        """#)
        for name in ["w8a8-static", "peg", "fp8-e4m3", "llm-int8", "mxfp4", "w8a8-smoothquant", "w4a16-g128-gptq", mixed] {
            let recipe = try Recipe.named(name)
            let writer = QuantizedModelFolder.Writer()
            let quantized = try QuantizationPipeline().quantize(model, recipe: recipe, calibration: calibration.map(tokenizer.encode), record: writer.record)
            let folder = Self.temporaryFolder()
            defer { try? FileManager.default.removeItem(atPath: folder) }
            try writer.write(.bert(quantized, tokenizer), base: .bert(model, tokenizer), baseModel: "minilm", recipe: recipe, to: folder)
            guard case let .bert(loaded, _) = try QuantizedModelFolder.load(folder) else { Issue.record("not a BERT model"); continue }
            let expected = try SentenceEmbedder(model: quantized, tokenizer: tokenizer).embed(documents)
            let actual = try SentenceEmbedder(model: loaded, tokenizer: tokenizer).embed(documents)
            #expect(expected.map { $0.map(\.bitPattern) } == actual.map { $0.map(\.bitPattern) }, "\(recipe.name)")
            #expect(loaded.allLinearLayers.map(\.weightBytes) == quantized.allLinearLayers.map(\.weightBytes), "\(recipe.name)")
        }
    }

    @Test func rotatedStaticSmolLM2SurvivesSaveAndLoad() throws {
        let (model, tokenizer) = try ModelFixtures.smolLM2.get()
        let data = EvaluationData(assets: try ModelFixtures.assets())
        let calibration = Array(tokenizer.encode(try data.novel("mansfield-park")).prefix(512))
        let prompt = Array(tokenizer.encode(try data.novel("emma")).prefix(32))
        // Rotation (embeddings, untied head), SmoothQuant (norms), static activation scales, INT8 KV cache.
        var recipe = try Recipe.named("w8a8-static-rotated")
        recipe.kvCache = try Recipe.builtIn("kv-int8").kvCache
        let writer = QuantizedModelFolder.Writer()
        let quantized = try QuantizationPipeline().quantize(model, recipe: recipe, calibration: CalibrationRun.windows(of: calibration), record: writer.record)
        let folder = Self.temporaryFolder()
        defer { try? FileManager.default.removeItem(atPath: folder) }
        try writer.write(.llama(quantized, tokenizer), base: .llama(model, tokenizer), baseModel: "smollm2", recipe: recipe, to: folder)
        guard case let .llama(loaded, _) = try QuantizedModelFolder.load(folder) else { Issue.record("not a LLaMA model"); return }
        var c1 = LlamaModel.KVCache(for: model.config), c2 = LlamaModel.KVCache(for: model.config)
        let expected = try quantized.forward(prompt, cache: &c1), actual = try loaded.forward(prompt, cache: &c2)
        #expect(expected.storage.map(\.bitPattern) == actual.storage.map(\.bitPattern))
        #expect(loaded.kvCacheQuantizer != nil)
        #expect((loaded.head as? FloatLinear)?.weight.storage == (quantized.head as? FloatLinear)?.weight.storage, "the rotated head is stored")

        // Damage: a truncated tensor file, a description from the future, a layer the model lacks.
        let tensors = folder + "/" + QuantizedModelFolder.tensorFile, json = folder + "/" + QuantizedModelFolder.descriptionFile
        let original = try Data(contentsOf: URL(fileURLWithPath: json))
        func refusal(_ damage: () throws -> Void) throws -> String {
            try damage()
            defer { try? original.write(to: URL(fileURLWithPath: json)) }
            do { _ = try QuantizedModelFolder.load(folder); return "accepted" } catch { return "\(error)" }
        }
        let text = String(decoding: original, as: UTF8.self)
        let future = try refusal { try Data(text.replacingOccurrences(of: "\"version\" : \(QuantizedModelFolder.formatVersion)", with: "\"version\" : 9").utf8).write(to: URL(fileURLWithPath: json)) }
        #expect(future.contains("version 9"), "\(future)")
        let foreign = try refusal { try Data(text.replacingOccurrences(of: "blk.3.ffn_up", with: "blk.99.ffn_up").utf8).write(to: URL(fileURLWithPath: json)) }
        #expect(foreign.contains("blk.99.ffn_up"), "\(foreign)")
        let handle = try FileHandle(forWritingTo: URL(fileURLWithPath: tensors))
        try handle.truncate(atOffset: 1_000_000)
        try handle.close()
        let truncated = try refusal {}
        #expect(truncated.contains(QuantizedModelFolder.tensorFile), "\(truncated)")
        // An existing folder that is not a quantized model is never overwritten.
        let other = Self.temporaryFolder()
        try FileManager.default.createDirectory(atPath: other, withIntermediateDirectories: true)
        try Data("keep".utf8).write(to: URL(fileURLWithPath: other + "/notes.txt"))
        defer { try? FileManager.default.removeItem(atPath: other) }
        #expect(throws: QuantaError.self) { try writer.write(.llama(quantized, tokenizer), base: .llama(model, tokenizer), baseModel: "smollm2", recipe: recipe, to: other) }
        #expect(FileManager.default.fileExists(atPath: other + "/notes.txt"))
    }

    /// The output head: left out of the file while it is the base's tied FP32 embedding, stored as INT8 codes
    /// with `--quantize-head`; both folders load to the model that was written.
    @Test func outputHeadIsStoredOnlyWhenQuantized() throws {
        let (model, tokenizer) = try ModelFixtures.smolLM2.get()
        let prompt = Array(tokenizer.encode("It was a bright cold day in April, and the clocks were striking thirteen."))
        for quantizingHead in [false, true] {
            let recipe = try Recipe.named("w8a8", quantizingHead: quantizingHead)
            let writer = QuantizedModelFolder.Writer()
            let quantized = try QuantizationPipeline().quantize(model, recipe: recipe, calibration: CalibrationRun.windows(of: []), record: writer.record)
            #expect((quantized.head is FakeQuantizedLinear) == quantizingHead)
            let folder = Self.temporaryFolder()
            defer { try? FileManager.default.removeItem(atPath: folder) }
            try writer.write(.llama(quantized, tokenizer), base: .llama(model, tokenizer), baseModel: "smollm2", recipe: recipe, to: folder)
            let file = try SafeTensorsFile(path: folder + "/" + QuantizedModelFolder.tensorFile)
            // Quantized: INT8 codes under output.weight with their scales; FP32 and tied: nothing at all.
            #expect(file.tensors.contains { $0.name == "output.weight" } == quantizingHead, "\(recipe.name)")
            #expect(file.tensors.contains { $0.name == "output.weight_scale" } == quantizingHead, "\(recipe.name)")
            guard case let .llama(loaded, _) = try QuantizedModelFolder.load(folder) else { Issue.record("not a LLaMA model"); return }
            var c1 = LlamaModel.KVCache(for: model.config), c2 = LlamaModel.KVCache(for: model.config)
            let expected = try quantized.forward(prompt, cache: &c1, lastOnly: true), actual = try loaded.forward(prompt, cache: &c2, lastOnly: true)
            #expect(expected.storage.map(\.bitPattern) == actual.storage.map(\.bitPattern), "\(recipe.name)")
        }
    }
}

enum RecipeFolderJSON {
    /// Writes `json` to a temporary recipe file and returns its path.
    static func write(_ json: String) throws -> String {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("recipe-\(UUID().uuidString).json").path
        try Data(json.utf8).write(to: URL(fileURLWithPath: path))
        return path
    }
}
