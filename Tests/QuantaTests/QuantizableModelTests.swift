import Foundation
import Quanta
import Testing

/// The architecture-independent pipeline (`QuantizableModel`) on the tiny LLaMA and BERT of the training fixtures.
struct QuantizableModelTests {
    static let weightOnly = Recipe(name: "w4a16-g32", everyLayer: .init(weight: .integer(.int4, .asymmetric, .perGroup(size: 32)), activation: nil))

    /// A decoder's degradation is its perplexity ratio less 1, as `Perplexity` measures it; the ranking holds
    /// every layer the recipe quantizes, worst first.
    @Test func llamaSensitivityIsThePerplexityRatio() throws {
        let model = try LlamaModel(gguf: GGUFFile(path: QuantizationAwareTrainingTests.tinyLlama))
        let heldOut: [Int32] = (0..<48).map { Int32(1 + ($0 * 37) % 90) }
        let entries = try SensitivityAnalysis().rank(model, recipe: Self.weightOnly, calibration: [], heldOut: [heldOut])
        #expect(entries.map(\.layer).sorted() == model.linearLayers.map(\.name).filter { Self.weightOnly.spec(for: $0) != nil }.sorted())
        #expect(zip(entries, entries.dropFirst()).allSatisfy { $0.degradation >= $1.degradation })
        let worst = try QuantizationPipeline().quantize(model, recipe: Self.weightOnly.restricted(to: entries[0].layer), calibration: [])
        let perplexity = try Perplexity(window: heldOut.count)
        let ratio = try perplexity.evaluate(worst, tokens: heldOut) / perplexity.evaluate(model, tokens: heldOut) - 1
        #expect(entries[0].degradation > 0 && abs(entries[0].degradation - ratio) <= 1e-4 * max(ratio, 1e-3), "\(entries[0].degradation) vs \(ratio)")
    }

    /// GPTQ's sequential calibration carries each window's hidden states from block to block: with every layer
    /// kept as it is, each block layer's Gram matrix is the one calibration of the whole model gives, bit for
    /// bit; with block 0 quantized, block 1's inputs (and so its Gram matrices) are those of the quantized block.
    @Test func sequentialCalibrationSeesTheBlocksAsReplaced() throws {
        let model = try LlamaModel(gguf: GGUFFile(path: QuantizationAwareTrainingTests.tinyLlama))
        let windows: [[Int32]] = [(0..<24).map { Int32(1 + ($0 * 37) % 90) }, (0..<17).map { Int32(1 + ($0 * 11) % 90) }]
        let fp32 = try CalibrationRun.statistics(model, sequences: windows, gram: true)
        var kept = [String: [Float]]()
        let same = try #require(try model.sequentiallyReplacingLinearLayers(windows, gram: true) { layer, statistics in
            kept[layer.name] = statistics[layer.name]?.gram
            return layer
        })
        #expect(same.allLinearLayers.map(\.name) == model.allLinearLayers.map(\.name))
        for layer in model.allLinearLayers {
            let expected = try #require(fp32[layer.name]?.gram), got = try #require(kept[layer.name])
            if layer.name == LlamaModel.headName {   // the last positions in one batch instead of one at a time
                #expect(zip(got, expected).allSatisfy { abs($0 - $1) <= 1e-5 * max(1, abs($1)) }, "\(layer.name)")
            } else {
                #expect(got == expected, "\(layer.name)")
            }
        }
        var blockOne = [String: [Float]]()
        let quantized = try #require(try model.sequentiallyReplacingLinearLayers(windows, gram: true) { layer, statistics throws(QuantaError) in
            blockOne[layer.name] = statistics[layer.name]?.gram
            return layer.name.hasPrefix("blk.0.") ? try Self.weightOnly.quantize(layer) : layer
        })
        #expect(quantized.allLinearLayers.filter { $0.name.hasPrefix("blk.0.") }.allSatisfy { $0 is FakeQuantizedLinear })
        #expect(blockOne["blk.0.ffn_down"] == fp32["blk.0.ffn_down"]?.gram)
        #expect(blockOne["blk.1.attn_q"] != fp32["blk.1.attn_q"]?.gram)
    }

    /// An encoder's degradation is 1 - the mean cosine of its sentence embeddings to the FP32 model's.
    @Test func bertSensitivityIsOneLessTheMeanCosine() throws {
        let model = try TrainingOracleTests.tinyBert()
        let heldOut: [[Int32]] = [[2, 17, 33, 41, 3], [2, 9, 60, 3], [2, 50, 51, 52, 53, 54, 3]]
        let quantized = try QuantizationPipeline().quantize(model, recipe: Self.weightOnly, calibration: [])
        let reference = try model.embed(heldOut), embeddings = try quantized.embed(heldOut)
        let cosine = zip(embeddings, reference).reduce(0.0) { $0 + Statistics.cosine($1.0, $1.1) } / Double(heldOut.count)
        let degradation = try model.degradation(heldOut: heldOut)(quantized)
        #expect(degradation > 0 && abs(degradation - (1 - cosine)) <= 1e-6, "\(degradation) vs \(1 - cosine)")
    }

    /// Whole-model steps an architecture has not are refused with the recipe's name, never skipped.
    @Test func wholeModelStepsAnArchitectureLacksAreRefused() throws {
        let llama = try LlamaModel(gguf: GGUFFile(path: QuantizationAwareTrainingTests.tinyLlama))
        let bert = try TrainingOracleTests.tinyBert()
        var rotated = Self.weightOnly
        rotated.rotationSeed = 1
        let integerOnly = try Recipe.named("int-only")
        #expect { _ = try QuantizationPipeline().quantize(llama, recipe: integerOnly, calibration: []) } throws: { error in
            "\(error)".hasPrefix("int-only:") && "\(error)".contains("not decoders")
        }
        for (recipe, words) in [(rotated, "rotation"), (try Recipe.builtIn("kv-int8"), "KV cache")] {
            #expect { _ = try QuantizationPipeline().quantize(bert, recipe: recipe, calibration: []) } throws: { error in
                "\(error)".hasPrefix(recipe.name + ":") && "\(error)".contains(words)
            }
        }
        #expect(try QuantizationPipeline().quantize(llama, recipe: Recipe.builtIn("kv-int8"), calibration: []).kvCacheQuantizer != nil)
        // The same refusals before any work (`quanta eval` checks every recipe before it evaluates FP32).
        #expect { try BertModel.check(Recipe.named("w8a8-rotated")) } throws: { "\($0)".hasPrefix("w8a8-rotated:") && "\($0)".contains("LayerNorm") }
        #expect { try LlamaModel.check(integerOnly) } throws: { "\($0)".hasPrefix("int-only:") }
        try LlamaModel.check(Recipe.named("w8a8-rotated"))
        try BertModel.check(integerOnly)
        #expect(try Recipe.named("w8a8-rotated").wholeModelSteps == [.rotation])
    }
}

/// Training text never includes evaluation text.
struct TrainingTextTests {
    @Test func evaluationTextIsRefused() throws {
        let root = FileManager.default.temporaryDirectory.appendingPathComponent("assets-\(UUID().uuidString)").path
        defer { try? FileManager.default.removeItem(atPath: root) }
        let data = EvaluationData(assets: AssetStore(root: root))
        for folder in ["austen", "gensim", "bbc/tech", "bbc/politics"] { try FileManager.default.createDirectory(atPath: root + "/" + folder, withIntermediateDirectories: true) }
        for (file, text) in [("austen/mansfield-park.txt", "M"), ("austen/northanger-abbey.txt", "N"), ("austen/persuasion.txt", "P"),
                             ("austen/emma.txt", "E"), ("bbc/tech/001.txt", "T"), ("bbc/politics/001.txt", "Politics")] {
            try text.write(toFile: root + "/" + file, atomically: true, encoding: .utf8)
        }
        #expect(try data.trainingText(adding: [root + "/bbc/politics"]) == "M\n\nN\n\nP\n\nPolitics")
        for evaluation in [root + "/austen/emma.txt", root + "/bbc/tech", root + "/bbc/../bbc/tech/001.txt", root + "/gensim/lee.cor"] {
            #expect { _ = try data.trainingText(adding: [evaluation]) } throws: { error in "\(error)".contains("evaluation text") || "\(error)".contains("no such file") }
        }
        #expect { _ = try data.trainingText(adding: [root + "/bbc/tech"]) } throws: { error in "\(error)".contains("tech/001.txt: evaluation text") }
    }
}
