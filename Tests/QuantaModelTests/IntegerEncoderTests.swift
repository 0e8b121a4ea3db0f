import Foundation
import Testing
import Quanta

/// The integer-only MiniLM (`int-only`, I-BERT) end to end: against the FP32 engine on real documents, the
/// same embeddings from a `quanta quantize` folder, and the integer kernels' two variants agreeing.
@Suite(.serialized) struct IntegerEncoderTests {
    @Test func integerEncoderFollowsFP32AndSurvivesTheFolder() throws {
        let (model, tokenizer) = try ModelFixtures.miniLM.get()
        let data = EvaluationData(assets: try ModelFixtures.assets())
        let calibration = Array(try data.calibrationDocuments().prefix(48))
        let documents = Array(try data.lee().documents.prefix(12))
        let integer = try QuantizationPipeline().quantize(model, recipe: Recipe.named("int-only"), calibration: calibration.map(tokenizer.encode))
        let encoder = try #require(integer.integerEncoder)
        let reference = try SentenceEmbedder(model: model, tokenizer: tokenizer).embed(documents)
        let embeddings = try SentenceEmbedder(model: integer, tokenizer: tokenizer).embed(documents)
        let (mean, minimum) = EmbeddingTasks.cosines(embeddings, reference)
        // Measured: mean 0.9955, min 0.9926 on the 50 Lee documents with the full calibration set (README).
        #expect(mean >= 0.99 && minimum >= 0.98, "mean \(mean), min \(minimum)")

        // The portable and AVX2 variants of the integer kernels give the very same integer states as the best path's
        // (AVX-512 ones on a vnni512 CPU).
        let ids = documents.prefix(3).map(tokenizer.encode)
        #expect(try encoder.running(on: .portable).hiddenStates(ids) == encoder.hiddenStates(ids))
        #if arch(x86_64)
        #expect(try encoder.running(on: .avx2).hiddenStates(ids) == encoder.hiddenStates(ids))
        #endif
        #expect(throws: QuantaError.self) { try encoder.hiddenStates([[101, 40000]]) }
        #expect(throws: QuantaError.self) { try encoder.hiddenStates([[]]) }

        // Written by `quanta quantize` and read back: identical embeddings, and no float tensor in the file.
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("int-only-\(UUID().uuidString)").path
        defer { try? FileManager.default.removeItem(atPath: folder) }
        try QuantizedModelFolder.Writer().write(.bert(integer, tokenizer), base: .bert(model, tokenizer), baseModel: "minilm",
                                                recipe: Recipe.named("int-only"), to: folder)
        let file = try SafeTensorsFile(path: folder + "/" + QuantizedModelFolder.tensorFile)
        #expect(!file.tensors.isEmpty && file.tensors.allSatisfy { ["I8", "I32", "I64"].contains($0.type.rawValue) })
        guard case let .bert(loaded, _) = try QuantizedModelFolder.load(folder) else { Issue.record("not a BERT model"); return }
        #expect(try SentenceEmbedder(model: loaded, tokenizer: tokenizer).embed(documents) == embeddings)
    }

    @Test func integerOnlyIsRefusedForDecoders() throws {
        let (model, tokenizer) = try ModelFixtures.smolLM2.get()
        #expect(throws: QuantaError.self) {
            try QuantizationPipeline().quantize(model, recipe: Recipe.named("int-only"), calibration: CalibrationRun.windows(of: Array(tokenizer.encode("a short text").prefix(8))))
        }
    }
}
