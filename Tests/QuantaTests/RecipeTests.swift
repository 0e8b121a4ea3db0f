import Foundation
import Testing
import Quanta

@Suite struct RecipeTests {
    @Test func globPatternsSelectLayersFirstMatchWins() throws {
        #expect(Recipe.matches("blk.3.ffn_down", pattern: "*.ffn_*"))
        #expect(Recipe.matches("encoder.layer.0.attention.self.query", pattern: "*attention*query"))
        #expect(!Recipe.matches("blk.3.attn_q", pattern: "*.ffn_*"))
        #expect(Recipe.matches("blk.10.attn_q", pattern: "blk.1?.attn_?"))
        let int8 = Recipe.LayerSpec(weight: .integer(.int8, .symmetric, .perChannel), activation: nil)
        let recipe = Recipe(name: "partial", rules: [.init(pattern: "*.ffn_down", spec: nil), .init(pattern: "*", spec: int8)])
        #expect(recipe.spec(for: "blk.0.ffn_down") == nil && recipe.spec(for: "blk.0.ffn_up") != nil)
        #expect(throws: QuantaError.self) { try Recipe.builtIn("w3a3") }
        for name in Recipe.builtInNames { #expect(try Recipe.builtIn(name).name == name) }
    }

    @Test func outlierDecompositionKeepsOutlierColumnsExact() throws {
        let w = TestData.gaussian(rows: 8, columns: 16, seed: 31, scale: 0.1)
        var x = TestData.gaussian(rows: 4, columns: 16, seed: 32)
        for r in 0..<4 { x[r, 5] = 50 + Float(r) }   // one outlier feature
        let layer = try FloatLinear(name: "l", weight: w, bias: nil)
        let decomposed = try OutlierDecomposedLinear(layer, threshold: 6)
        #expect(decomposed.outlierColumns(x) == [5])
        let exact = layer.forward(x), approx = decomposed.forward(x)
        let naive = try FakeQuantizedLinear(layer, weight: .integer(.int8, .symmetric, .perChannel),
                                            activation: .integer(.int8, .symmetric, .perToken)).forward(x)
        func error(_ y: Matrix<Float>) -> Float { zip(y.storage, exact.storage).map { abs($0 - $1) }.max()! }
        #expect(error(approx) < error(naive) / 5, "decomposed \(error(approx)) vs per-token \(error(naive))")
    }

    @Test func fakeQuantizedLinearIsTheProductOfQuantizedOperands() throws {
        let w = TestData.gaussian(rows: 6, columns: 64, seed: 41, scale: 0.2), x = TestData.gaussian(rows: 3, columns: 64, seed: 42)
        let layer = try FloatLinear(name: "l", weight: w, bias: [Float](repeating: 0.5, count: 6))
        let q = try FakeQuantizedLinear(layer, weight: .mx(.mxint8, blockSize: 32), activation: .mx(.mxint8, blockSize: 32))
        let expected = try FloatLinear(name: "l", weight: TensorQuantizer.mx(.mxint8, blockSize: 32).fakeQuantize(w, tensor: "w"), bias: layer.bias)
            .forward(TensorQuantizer.mx(.mxint8, blockSize: 32).fakeQuantize(x, tensor: "x"))
        #expect(q.forward(x) == expected)
    }
}

@Suite struct RecipeFileTests {
    static func write(_ json: String) throws -> String {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("recipe-\(UUID().uuidString).json").path
        try Data(json.utf8).write(to: URL(fileURLWithPath: path))
        return path
    }

    @Test func parsesEveryKindOfRule() throws {
        let path = try Self.write(#"""
        {"name": "mixed", "smoothquant_alpha": 0.7, "rotation_seed": 3, "rules": [
          {"pattern": "*.ffn_down", "fp32": true},
          {"pattern": "*.attn_q", "outlier_threshold": 4, "activation": {"mode": "dynamic", "format": "int8", "scheme": "asymmetric"}},
          {"pattern": "*.attn_*", "outlier_threshold": 5},
          {"pattern": "*.ffn_up", "weight": {"format": "int4", "scheme": "asymmetric", "granularity": "per-group", "group": 64}, "gptq": {"act_order": false, "dampening": 0.1, "clip_search": true, "sequential": true}},
          {"pattern": "*.ffn_gate", "weight": {"format": "mxfp6"}, "activation": {"mode": "dynamic", "format": "mxfp6"}, "gptq": true},
          {"pattern": "*", "weight": {"format": "fp8-e4m3", "granularity": "per-tensor"}, "activation": {"mode": "static", "format": "int8", "calibrator": "percentile-99.99"}}
        ]}
        """#)
        let recipe = try Recipe.named(path)
        #expect(recipe.name == "mixed" && recipe.smoothQuant?.description == "alpha 0.7" && recipe.rules.count == 6 && recipe.rotationSeed == 3)
        #expect(recipe.spec(for: "blk.0.ffn_gate")?.gptq == GPTQ())
        #expect(recipe.spec(for: "blk.0.ffn_down") == nil)
        #expect(recipe.spec(for: "blk.0.attn_k")?.outlierThreshold == 5)
        let layer = try FloatLinear(name: "blk.0.attn_q", weight: Matrix(rows: 2, columns: 3, storage: [1, -2, 3, 0.5, 0, -1]), bias: nil)
        let decomposed = try #require(try recipe.quantize(layer) as? OutlierDecomposedLinear)
        #expect(decomposed.threshold == 4 && "\(decomposed.activationQuantizer)" == "uint8 asymmetric per-token")
        #expect("\(recipe.spec(for: "blk.0.ffn_up")!.weight!)" == "uint4 asymmetric per-group(64)")
        #expect(recipe.spec(for: "blk.0.ffn_up")!.gptq == GPTQ(actOrder: false, blockSize: 128, dampening: 0.1, searchesClipping: true, sequential: true)
                && recipe.usesGPTQ && recipe.calibratesSequentially)
        #expect(try !Recipe.named("w4a16-g128-rotated-gptq").calibratesSequentially)
        #expect(try Recipe.named("w4a16-g128-gptq").rules[0].spec?.gptq == GPTQ(searchesClipping: true) && !(try Recipe.named("w4a16-g128").usesGPTQ))
        #expect(try Recipe.named("w8a16-gptq").rules[0].spec?.gptq == GPTQ())
        #expect("\(recipe.spec(for: "blk.0.ffn_gate")!.activation!)" == "dynamic mxfp6-e2m3 block 32")
        #expect("\(recipe.spec(for: "blk.0.other")!.activation!)" == "int8 per-tensor static (percentile-99.99)")
        #expect(recipe.needsCalibration)
        let auto = try Self.write(#"{"smoothquant_alpha": "auto", "kv_cache": {"format": "int8"}, "rules": []}"#)
        #expect(try Recipe.named(auto).smoothQuant?.description == "alpha auto")
        #expect(try Recipe.named(auto).kvCache != nil)
    }

    @Test func badRecipesNameTheFileAndTheRule() throws {
        for (json, expected) in [(#"{"rules": []}"#, "'rules'"),
                                 (#"{"rules": [{"weight": {"format": "int8"}}]}"#, "rule 0: 'pattern'"),
                                 (#"{"rules": [{"pattern": "*", "weight": {"format": "int9x"}}]}"#, "unknown format 'int9x'"),
                                 (#"{"rules": [{"pattern": "*", "activation": {"mode": "static", "calibrator": "magic"}}]}"#, "unknown calibrator"),
                                 (#"{"smoothquant_alpha": 2, "rules": [{"pattern": "*", "fp32": true}]}"#, "smoothquant_alpha"),
                                 (#"{"rules": [{"pattern": "*", "activation": {"mode": "dynamic", "format": "int8"}, "gptq": true}]}"#, "rule 0: 'gptq' needs an integer, float or MX"),
                                 (#"{"rotation_seed": -1, "rules": [{"pattern": "*", "fp32": true}]}"#, "'rotation_seed' must be a positive integer"),
                                 (#"{"rules": [{"pattern": "*", "weight": {"format": "int4"}, "gptq": {"dampening": -1}}]}"#, "dampening"),
                                 ("not json", "not a JSON object")] {
            let path = try Self.write(json)
            do {
                _ = try Recipe.named(path)
                Issue.record("accepted \(json)")
            } catch {
                #expect("\(error)".contains(path) && "\(error)".contains(expected), "\(error)")
            }
        }
    }
}
