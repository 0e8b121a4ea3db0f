import Foundation
import Testing
import Quanta

/// Quantization-aware training deploys without drift on the real models: after a training step (which moves
/// the weights, the step sizes and the norms), the folder written from the QAT model reads back as a model
/// whose logits (SmolLM2) or embeddings (MiniLM) are bit for bit those of the QAT model's own forward pass.
@Suite(.serialized) struct QATFolderTests {
    @Test(arguments: ["w4a16-g128", "w8a8-static"]) func smolLM2QATFolderComputesTheTrainedModel(_ name: String) throws {
        let (model, tokenizer) = try ModelFixtures.smolLM2.get()
        let data = EvaluationData(assets: try ModelFixtures.assets())
        let calibration = Array(tokenizer.encode(try data.novel("mansfield-park")).prefix(512))
        let training = Array(tokenizer.encode(try data.trainingText()).dropFirst(4096).prefix(64))
        let prompt = Array(tokenizer.encode(try data.novel("emma")).prefix(32))
        let recipe = try Recipe.named(name)
        let student = try QuantizationAwareTraining.prepared(recipe) { record throws(QuantaError) in
            try QuantizationPipeline().quantize(model, recipe: recipe, calibration: CalibrationRun.windows(of: calibration), record: record)
        }
        var qat = QuantizationAwareTraining(steps: 1)
        (qat.batchSize, qat.warmup, qat.learningRate) = (1, 1, 1e-4)
        let trained = try qat.train(student, teacher: model, batch: { _ in [training] })
        #expect(try trained.trainingOutput([prompt]) != student.trainingOutput([prompt]), "one step changes the model")
        let writer = QuantizedModelFolder.Writer()
        let deployed = try QuantizationAwareTraining.deployed(trained, record: writer.record)
        let folder = QuantizedFolderTests.temporaryFolder()
        defer { try? FileManager.default.removeItem(atPath: folder) }
        try writer.write(.llama(deployed, tokenizer), base: .llama(model, tokenizer), baseModel: "smollm2", recipe: recipe, to: folder)
        guard case let .llama(loaded, _) = try QuantizedModelFolder.load(folder) else { Issue.record("not a LLaMA model"); return }
        let expected = try trained.trainingOutput([prompt]), actual = try loaded.trainingOutput([prompt])
        #expect(expected.storage.map(\.bitPattern) == actual.storage.map(\.bitPattern), "\(name): the folder's logits are not the QAT model's")
    }
}
