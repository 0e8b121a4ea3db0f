import Foundation
import Quanta
import Testing

/// The model-level backward passes against PyTorch autograd in float64 on tiny random models (2 layers,
/// width 64): scripts/fixtures/make_training_fixtures.py wrote the models, inputs, losses and every
/// parameter's gradient to Tests/Fixtures/training/.
@Suite struct TrainingOracleTests {
    static let folder = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("Fixtures/training").path

    static func json(_ name: String) throws -> [String: Any] {
        try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: folder + "/" + name))) as! [String: Any]
    }

    /// Every gradient the oracle lists within relative error ||g - ref|| / ||ref|| <= 1e-4, and no other.
    static func expectGradients(_ gradients: ParameterGradients, match path: String) throws {
        let oracle = try SafeTensorsFile(path: path)
        #expect(Set(gradients.values.keys) == Set(oracle.tensors.map(\.name)))
        for tensor in oracle.tensors {
            let reference = try oracle.floats(tensor.name).values
            let mine = try #require(gradients[tensor.name], "no gradient for \(tensor.name)")
            try #require(mine.count == reference.count, "\(tensor.name): \(mine.count) values, oracle \(reference.count)")
            var (difference, norm) = (0.0, 0.0)
            for (a, b) in zip(mine, reference) { difference += Double(a - b) * Double(a - b); norm += Double(b) * Double(b) }
            if norm < 1e-24 {   // zero in exact arithmetic (BERT's key biases shift every score alike): float noise only
                #expect(mine.allSatisfy { abs($0) < 1e-6 }, "\(tensor.name): the oracle's gradient is zero, ours is not")
            } else {
                #expect((difference / norm).squareRoot() <= 1e-4, "\(tensor.name): relative error \((difference / norm).squareRoot())")
            }
        }
    }

    @Test func llamaCrossEntropyGradients() throws {
        let model = try LlamaModel(gguf: GGUFFile(path: Self.folder + "/tiny-llama.gguf.bin"))
        let fixture = try Self.json("tiny-llama-case.json")
        let sequences = (fixture["sequences"] as! [[Int]]).map { $0.map(Int32.init) }
        let (loss, gradients) = try model.crossEntropyGradients(sequences)
        let expected = fixture["loss"] as! Double
        #expect(abs(loss - expected) <= 1e-5 * expected, "loss \(loss), oracle \(expected)")
        try Self.expectGradients(gradients, match: Self.folder + "/tiny-llama-gradients.safetensors.bin")
        // The training forward is the inference forward: the first token's logits as `forward` computes them.
        var cache = LlamaModel.KVCache(for: model.config)
        let logits = try model.forward(sequences[0], cache: &cache)
        for (a, b) in zip(logits.row(0), fixture["logits_first_row"] as! [Double]) { #expect(abs(Double(a) - b) <= 1e-4 * max(1, abs(b))) }
    }

    /// The tiny BERT of the fixtures (2 layers, width 64). The repository keeps no *.safetensors file: the
    /// weights are `model.safetensors.bin`, copied under the name the loader reads.
    static func tinyBert() throws -> BertModel {
        let copy = FileManager.default.temporaryDirectory.appendingPathComponent("tiny-bert-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: copy, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: copy) }
        try FileManager.default.copyItem(atPath: folder + "/tiny-bert/config.json", toPath: copy + "/config.json")
        try FileManager.default.copyItem(atPath: folder + "/tiny-bert/model.safetensors.bin", toPath: copy + "/model.safetensors")
        return try BertModel(folder: copy)
    }

    @Test func bertEmbeddingCosineGradients() throws {
        let model = try Self.tinyBert()
        let fixture = try Self.json("tiny-bert-case.json")
        let batch = (fixture["sequences"] as! [[Int]]).map { $0.map(Int32.init) }
        let targets = try Matrix(rows: 2, columns: 64, storage: (fixture["targets"] as! [[Double]]).flatMap { $0.map(Float.init) })
        // L = mean over sequences of 1 - u . t (the MiniLM distillation loss).
        let (loss, gradients) = try model.gradients(batch, loss: BertModel.distillationLoss(teacher: targets))
        let expected = fixture["loss"] as! Double
        #expect(abs(loss - expected) <= 1e-5 * expected, "loss \(loss), oracle \(expected)")
        try Self.expectGradients(gradients, match: Self.folder + "/tiny-bert-gradients.safetensors.bin")
        let embeddings = try model.embed(batch)
        for (mine, reference) in zip(embeddings, fixture["embeddings"] as! [[Double]]) {
            for (a, b) in zip(mine, reference) { #expect(abs(Double(a) - b) <= 1e-5) }
        }
    }
}
