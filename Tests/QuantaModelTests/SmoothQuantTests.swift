import Testing
import Quanta

/// SmoothQuant's folding leaves the FP32 function unchanged (up to float rounding), and it shrinks the
/// activation outliers it is meant to shrink.
@Suite struct SmoothQuantTests {
    @Test func foldingKeepsSmolLM2Logits() throws {
        let (model, tokenizer) = try ModelFixtures.smolLM2.get()
        let data = EvaluationData(assets: try ModelFixtures.assets())
        let calibration = Array(tokenizer.encode(try data.novel("mansfield-park")).prefix(256))
        let statistics = try CalibrationRun.statistics(model, sequences: [calibration])
        let folded = try SmoothQuant.fold(into: model, statistics: statistics, alpha: 0.5)
        let prompt = Array(tokenizer.encode(try data.novel("emma")).prefix(64))
        var c1 = LlamaModel.KVCache(for: model.config), c2 = LlamaModel.KVCache(for: model.config)
        let a = try model.forward(prompt, cache: &c1), b = try folded.forward(prompt, cache: &c2)
        let worst = zip(a.storage, b.storage).map { abs($0 - $1) }.max()!
        let scale = a.storage.map(\.magnitude).max()!
        #expect(worst <= 2e-4 * scale, "max |logit change| \(worst) (largest logit \(scale))")
        // The automatic per-group alpha folds just as exactly.
        var c3 = LlamaModel.KVCache(for: model.config)
        let automatic = try SmoothQuant.fold(into: model, statistics: statistics, strength: .automatic).forward(prompt, cache: &c3)
        #expect(zip(a.storage, automatic.storage).map { abs($0 - $1) }.max()! <= 2e-4 * scale)
        // The smoothed activations have smaller outliers relative to their median channel.
        let after = try CalibrationRun.statistics(folded, sequences: [calibration])
        func spread(_ s: ActivationStatistics) -> Float {
            let sorted = s.channelAbsMax.sorted()
            return sorted.last! / sorted[sorted.count / 2]
        }
        let name = "blk.3.attn_q"
        #expect(spread(after[name]!) < spread(statistics[name]!) / 2, "\(name): max/median channel \(spread(statistics[name]!)) -> \(spread(after[name]!))")
    }

    @Test func foldingKeepsMiniLMEmbeddings() throws {
        let (model, tokenizer) = try ModelFixtures.miniLM.get()
        let data = EvaluationData(assets: try ModelFixtures.assets())
        let embedder = SentenceEmbedder(model: model, tokenizer: tokenizer)
        let statistics = try CalibrationRun.statistics(model, sequences: try data.calibrationDocuments().prefix(32).map(tokenizer.encode))
        let folded = SentenceEmbedder(model: try SmoothQuant.fold(into: model, statistics: statistics, alpha: 0.5), tokenizer: tokenizer)
        let documents = Array(try data.lee().documents.prefix(8))
        for (a, b) in zip(try embedder.embed(documents), try folded.embed(documents)) {
            #expect(zip(a, b).map { abs($0 - $1) }.max()! < 1e-5)
        }
    }
}

/// KV-cache quantization: the cache holds per-token, per-head INT8 / FP8 values that attention reads back.
@Suite struct KVCacheQuantizationTests {
    @Test func quantizedCacheChangesLittleAndIsReallyUsed() throws {
        let (model, tokenizer) = try ModelFixtures.smolLM2.get()
        let data = EvaluationData(assets: try ModelFixtures.assets())
        let tokens = Array(tokenizer.encode(try data.novel("emma")).prefix(256))
        let fp32 = try Perplexity(window: 256).evaluate(model, tokens: tokens)
        for name in ["kv-int8", "kv-fp8"] {
            var quantized = model
            quantized.kvCacheQuantizer = try Recipe.builtIn(name).kvCache
            let value = try Perplexity(window: 256).evaluate(quantized, tokens: tokens)
            #expect(value != fp32, "\(name) must change the cache")
            #expect(abs(value / fp32 - 1) < 0.03, "\(name): perplexity \(value) vs FP32 \(fp32)")
        }
    }
}

/// The residual-stream rotation leaves the FP32 function unchanged and spreads the outlier channels.
@Suite struct RotationTests {
    @Test func rotationMatrixIsOrthogonal() {
        let r = Rotation.matrix(order: 576, seed: 3)
        var worst: Float = 0
        for i in stride(from: 0, to: 576, by: 37) {
            for j in stride(from: 0, to: 576, by: 41) {
                let dot = (0..<576).reduce(Float(0)) { $0 + r[i, $1] * r[j, $1] }
                worst = max(worst, abs(dot - (i == j ? 1 : 0)))
            }
        }
        #expect(worst < 1e-5)
    }

    @Test func rotatedSmolLM2KeepsItsLogits() throws {
        let (model, tokenizer) = try ModelFixtures.smolLM2.get()
        let rotated = try Rotation.fold(into: model, seed: 1)
        let prompt = Array(tokenizer.encode(try EvaluationData(assets: ModelFixtures.assets()).novel("emma")).prefix(64))
        var c1 = LlamaModel.KVCache(for: model.config), c2 = LlamaModel.KVCache(for: model.config)
        let a = try model.forward(prompt, cache: &c1), b = try rotated.forward(prompt, cache: &c2)
        let worst = zip(a.storage, b.storage).map { abs($0 - $1) }.max()!
        #expect(worst <= 2e-4 * a.storage.map(\.magnitude).max()!, "max |logit change| \(worst)")
    }
}
