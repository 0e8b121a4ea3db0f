import Foundation
import Quanta
import Testing

/// Quanta's exports of SmolLM2 run in the engines people serve with: transformers on the Hugging Face folder
/// (scripts/fixtures/make_interop_fixtures.py recorded its tokens and logits), and the Q8_0 GGUF holds the
/// bytes of llama.cpp's own quantizer.
@Suite struct InteropOracleTests {
    static func temporaryPath(_ name: String) -> String {
        FileManager.default.temporaryDirectory.appendingPathComponent("quanta-interop-\(UUID().uuidString)-\(name)").path
    }

    @Test func huggingFaceExportMatchesTransformers() throws {
        let (model, tokenizer) = try ModelFixtures.smolLM2.get()
        let fixture = try ModelFixtures.json("smollm2-transformers.json", folder: "interop")
        let folder = Self.temporaryPath("hf")
        defer { try? FileManager.default.removeItem(atPath: folder) }
        try HuggingFaceExport.write(model, tokenizer: tokenizer, source: GGUFFile(path: ModelFixtures.assets().smolLM2File), to: folder)
        guard case let .llama(reloaded, hfTokenizer) = try LoadedModel(ModelReference(folder)) else {
            Issue.record("the exported folder did not load as a LLaMA model")
            return
        }
        for entry in fixture["tokens"] as! [[String: Any]] {
            let text = entry["text"] as! String, special = entry["special"] as! Bool
            #expect(hfTokenizer.encode(text, specialTokens: special) == (entry["ids"] as! [Int]).map(Int32.init), "\(text.prefix(40))")
        }
        try Self.expectLogits(of: reloaded, tokenizer: hfTokenizer, match: fixture)
    }

    /// Quanta's forward of `model` on the fixture's prompts: every sampled logit within 1e-2 of transformers',
    /// and the same top-1 token at every position.
    static func expectLogits(of model: LlamaModel, tokenizer: ByteLevelBPETokenizer, match fixture: [String: Any]) throws {
        let sample = fixture["sample_ids"] as! [Int]
        var worst: Float = 0
        for prompt in fixture["prompts"] as! [[String: Any]] {
            let ids = (prompt["ids"] as! [Int]).map(Int32.init)
            #expect(tokenizer.encode(prompt["text"] as! String).prefix(ids.count) == ids[...])
            var cache = LlamaModel.KVCache(for: model.config)
            let logits = try model.forward(ids, cache: &cache)
            for (row, expected) in (prompt["sampled"] as! [[Any]]).enumerated() {
                for (id, value) in zip(sample, ModelFixtures.floatList(expected)) { worst = max(worst, abs(logits[row, id] - value)) }
                let top = (0..<logits.columns).max { logits[row, $0] < logits[row, $1] }!
                #expect(top == (prompt["top_ids"] as! [[Int]])[row][0], "position \(row) of \((prompt["text"] as! String).prefix(30))")
            }
        }
        #expect(worst <= 1e-2, "max |logit difference| to transformers \(worst)")
    }

    /// `model` with `recipe`'s weight quantizer and dynamic input quantizer on every Linear but the head.
    static func applying(_ recipe: Recipe, to model: LlamaModel) throws -> LlamaModel {
        try model.mapLinearLayers(quantizing(recipe))
    }

    /// A Linear's transform to `recipe`'s weight quantizer and input quantizer: dynamic ones as they are, static
    /// FP8 with the scale `staticScales` gives the layer (what the fixture recorded), no head.
    static func quantizing(_ recipe: Recipe, staticScales: [String: Float] = [:]) -> (any LinearLayer) throws(QuantaError) -> any LinearLayer {
        { layer throws(QuantaError) in
            guard let float = layer as? FloatLinear, layer.name != LlamaModel.headName, let spec = recipe.spec(for: layer.name) else { return layer }
            var input: TensorQuantizer?
            switch spec.activation {
            case let .dynamic(quantizer)?: input = quantizer
            case let .staticFloat(format, _)?:
                guard let scale = staticScales[layer.name] else { throw .invalidArgument("no static input scale for \(layer.name)") }
                input = .staticFloat(format, scale: scale)
            case nil: input = nil
            default: throw .invalidArgument("\(spec.activation!) is not supported here")
            }
            return try FakeQuantizedLinear(float, weight: spec.weight, activation: input)
        }
    }

    /// Each of the fixture's `layers` (a module, inputs and outputs) run by the Linear of `layers` with that name:
    /// the same outputs within 1e-4 of their largest.
    static func expectLayers(_ layers: [any LinearLayer], match entries: [[String: Any]], name: (String) throws -> String = { $0 }) throws {
        for entry in entries {
            let module = entry["module"] as! String
            let layer = try #require(layers.first { (try? name($0.name)) == module })
            let input = (entry["input"] as! [[Any]]).map(ModelFixtures.floatList), expected = (entry["output"] as! [[Any]]).flatMap(ModelFixtures.floatList)
            let output = layer.forward(try Matrix(rows: input.count, columns: input[0].count, storage: input.flatMap { $0 })).storage
            let scale = expected.map(abs).max()!, error = zip(output, expected).map { abs($0 - $1) }.max()!
            #expect(error <= 1e-4 * scale, "\(module): max |difference| \(error) of outputs up to \(scale)")
        }
    }

    /// A weight-only INT4 recipe exported as compressed-tensors pack-quantized: transformers (with the
    /// compressed-tensors package) runs the folder as Quanta runs the recipe, and the folder reads back exactly.
    @Test func packQuantizedExportMatchesTransformers() throws {
        let (model, tokenizer) = try ModelFixtures.smolLM2.get()
        let quantized = try Self.applying(Recipe.named(ModelFixtures.repository.appendingPathComponent("Tests/Fixtures/interop/w4a16-g64-sym.json").path), to: model)
        try Self.expectLogits(of: quantized, tokenizer: tokenizer, match: ModelFixtures.json("smollm2-transformers-w4a16-g64-sym.json", folder: "interop"))
        let folder = Self.temporaryPath("w4a16")
        defer { try? FileManager.default.removeItem(atPath: folder) }
        try HuggingFaceExport.write(quantized, tokenizer: tokenizer, source: GGUFFile(path: ModelFixtures.assets().smolLM2File), to: folder)
        let (reloaded, _) = try HuggingFaceFolder(folder).llama()
        var a = LlamaModel.KVCache(for: model.config), b = LlamaModel.KVCache(for: model.config)
        #expect(try reloaded.forward([504, 3458, 282, 4649], cache: &a).storage == quantized.forward([504, 3458, 282, 4649], cache: &b).storage)
    }

    /// The w8a8 recipe exported as int-quantized and fp8-e4m3-dynamic as float-quantized, run by transformers
    /// (compressed-tensors quantizes every Linear's input per token): layer by layer the same function as
    /// Quanta's (the fixture's two layers, fed the same input); over the whole model the two drift apart by more
    /// than 1e-2 (see the fixture script: outlier tokens have activation steps of several units, so last-bit
    /// differences of summation order move codes), so the model-level check is statistical: the logits stay
    /// closer to each other than either is to FP32, and the top-1 tokens mostly agree.
    @Test(arguments: [("w8a8", "smollm2-transformers-w8a8.json"), ("fp8-e4m3-dynamic", "smollm2-transformers-fp8-e4m3-dynamic.json")])
    func quantizedInputExportMatchesTransformers(recipe: String, fixtureName: String) throws {
        let (model, _) = try ModelFixtures.smolLM2.get()
        let quantized = try Self.applying(Recipe.named(recipe), to: model)
        let fixture = try ModelFixtures.json(fixtureName, folder: "interop")
        try Self.expectLayers(quantized.allLinearLayers, match: fixture["layers"] as! [[String: Any]]) { String(try HuggingFaceLlama.name($0 + ".weight").dropLast(7)) }
        let fp32 = try ModelFixtures.json("smollm2-transformers.json", folder: "interop")["prompts"] as! [[String: Any]]
        var (toTransformers, transformersToFP32, count, agreeing, positions) = (0.0, 0.0, 0, 0, 0)
        let sample = fixture["sample_ids"] as! [Int]
        for (prompt, reference) in zip(fixture["prompts"] as! [[String: Any]], fp32) {
            let ids = (prompt["ids"] as! [Int]).map(Int32.init)
            var cache = LlamaModel.KVCache(for: quantized.config)
            let logits = try quantized.forward(ids, cache: &cache)
            for (row, (expected, float)) in zip(prompt["sampled"] as! [[Any]], reference["sampled"] as! [[Any]]).enumerated() {
                for (id, (value, floatValue)) in zip(sample, zip(ModelFixtures.floatList(expected), ModelFixtures.floatList(float))) {
                    toTransformers += Double(abs(logits[row, id] - value))
                    transformersToFP32 += Double(abs(value - floatValue))
                    count += 1
                }
                let top = (0..<logits.columns).max { logits[row, $0] < logits[row, $1] }!
                agreeing += top == (prompt["top_ids"] as! [[Int]])[row][0] ? 1 : 0
                positions += 1
            }
        }
        // Measured: w8a8 0.43 against 0.56, FP8 0.55 against 0.67, top-1 73 of 81 positions for both (a PyTorch
        // re-implementation of the w8a8 scheme drifts from compressed-tensors' by as much: max 2.3 over the first prompt).
        #expect(toTransformers < transformersToFP32, "\(recipe): mean |Quanta - transformers| \(toTransformers / Double(count)) vs mean |transformers W8A8 - FP32| \(transformersToFP32 / Double(count))")
        #expect(Double(agreeing) >= 0.85 * Double(positions), "\(recipe): top-1 agreement \(agreeing) of \(positions)")
    }

    @Test func q8_0ExportHasTheBytesOfLlamaCppsQuantizer() throws {
        let (model, _) = try ModelFixtures.smolLM2.get()
        let fixture = try ModelFixtures.json("smollm2-llama-cpp-q8_0.json", folder: "interop")["tensors"] as! [String: [String: Any]]
        let path = Self.temporaryPath("q8_0.gguf")
        defer { try? FileManager.default.removeItem(atPath: path) }
        try GGUFExport(type: .q8_0).write(model, source: GGUFFile(path: ModelFixtures.assets().smolLM2File), to: path)
        let file = try GGUFFile(path: path)
        #expect(Set(file.tensors.map(\.name)) == Set(fixture.keys))
        for info in file.tensors {
            let expected = try #require(fixture[info.name])
            let bytes = try file.bytes(info.name)
            #expect(info.type.name == expected["type"] as! String, "\(info.name)")
            #expect(bytes.count == expected["bytes"] as! Int && bytes.fnv1a64 == expected["fnv1a64"] as! String, "\(info.name)")
        }
    }
}
