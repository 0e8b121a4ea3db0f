import Foundation
import Quanta
import Testing

/// Quantization-aware training: LSQ's forward pass is the deployed fake quantization bit for bit, its
/// gradients follow the paper, and a few QAT steps on the tiny LLaMA of the training fixtures lower the
/// distillation loss and deploy without drift (QAT forward = deployed forward = integer kernels).
@Suite struct QuantizationAwareTrainingTests {
    static let tinyLlama = TrainingOracleTests.folder + "/tiny-llama.gguf"

    @Test func learnedStepSizeForwardIsTheDeployedFakeQuantization() throws {
        let w = TestData.gaussian(rows: 6, columns: 40, seed: 3)
        for (format, scheme, granularity) in [(IntegerFormat.int4, QuantizationScheme.asymmetric, Granularity.perGroup(size: 16)),
                                              (.int8, .symmetric, .perChannel), (.int8, .symmetric, .perTensor)] {
            let p = try AffineQuantizer.chooseParameters(for: w, format: format, scheme: scheme, granularity: granularity, tensor: "w")
            let shrunk = try QuantizationParameters(scales: p.scales.map { $0 * 0.7 }, zeroPoints: p.zeroPoints, format: format, scheme: scheme, granularity: granularity)
            #expect(LearnedStepSize.fakeQuantize(w, shrunk).value == (try AffineQuantizer.fakeQuantize(w, with: shrunk)))
        }
    }

    @Test func learnedStepSizeGradients() throws {
        // INT8 symmetric per tensor, s = 0.1: codes in [-127, 127].
        let p = try QuantizationParameters(scales: [0.1], zeroPoints: [0], format: .int8, scheme: .symmetric, granularity: .perTensor)
        let x = try Matrix<Float>(rows: 1, columns: 3, storage: [0.26, -20, 12.7]), dy = try Matrix<Float>(rows: 1, columns: 3, storage: [1, 2, 3])
        let result = LearnedStepSize.fakeQuantize(x, p, outputGradient: dy)
        #expect(result.value.storage == [Float(0.1) * 3, Float(0.1) * -127, Float(0.1) * 127])
        // Inside the range the input's gradient passes; a clipped input gets none.
        #expect(result.input!.storage == [1, 0, 3])
        // dL/ds = sum dy * (round(u) - u inside, the bound outside) * g, g = 1 / sqrt(N Qp) = 1 / sqrt(3 * 127).
        let u0 = Float(0.26) * (1 / Float(0.1)), u2 = Float(12.7) * (1 / Float(0.1))
        let expected = (1 * (3 - u0) + 2 * -127 + 3 * (127 - u2)) / (3 * 127 as Float).squareRoot()
        #expect(abs(result.scales![0] - expected) < 1e-5)
    }

    /// The tiny LLaMA of the training fixtures, PTQ'd by `recipe` and made trainable: a built-in recipe, or
    /// `w4a16-g32` (INT4 asymmetric groups of 32 along the 64-wide rows, which groups of 128 would not split).
    static func qatModel(_ recipe: String) throws -> (fp32: LlamaModel, qat: LlamaModel) {
        let model = try LlamaModel(gguf: GGUFFile(path: tinyLlama))
        var generator = SplitMix64(seed: 9)
        let calibration = (0..<256).map { _ in Int32.random(in: 0..<96, using: &generator) }
        let qat = try QuantizationAwareTraining.prepared { record throws(QuantaError) in
            let chosen = recipe == "w4a16-g32" ? Recipe(name: recipe, everyLayer: .init(weight: .integer(.int4, .asymmetric, .perGroup(size: 32)), activation: nil))
                : try Recipe.named(recipe)
            return try QuantizationPipeline().quantize(model, recipe: chosen, calibrationTokens: calibration, record: record)
        }
        return (model, qat)
    }

    @Test(arguments: ["w4a16-g32", "w8a8-static"]) func trainingLowersTheDistillationLossAndDeploysWithoutDrift(_ recipe: String) throws {
        let (teacher, student) = try Self.qatModel(recipe)
        #expect(student.allLinearLayers.filter { $0 is QATLinear }.count == 14)
        var training = QuantizationAwareTraining(steps: 30)
        (training.learningRate, training.warmup, training.batchSize) = (1e-4, 3, 2)
        var generator = SplitMix64(seed: 1)
        let batches = (0..<30).map { _ in (0..<2).map { _ in (0..<12).map { _ in Int32.random(in: 0..<96, using: &generator) } } }
        var losses = [Double]()
        let trained = try training.train(student, teacher: teacher, batch: { batches[$0] }) { losses.append($0.loss) }
        // Held-out sequences: the trained student is closer to its teacher than the PTQ model was.
        let heldOut = (0..<4).map { _ in (0..<12).map { _ in Int32.random(in: 0..<96, using: &generator) } }
        let loss = LlamaModel.distillationLoss(teacher: try teacher.trainingOutput(heldOut))
        let before = try loss(student.trainingOutput(heldOut)).loss, after = try loss(trained.trainingOutput(heldOut)).loss
        #expect(losses.count == 30 && losses.allSatisfy(\.isFinite))
        #expect(after < 0.8 * before, "\(recipe): held-out KL \(before) -> \(after)")

        // No drift: the deployed model computes what the QAT model computed, and the integer kernels agree per layer.
        let deployed = try QuantizationAwareTraining.deployed(trained)
        #expect(try deployed.trainingOutput(heldOut) == trained.trainingOutput(heldOut))
        for layer in deployed.allLinearLayers where layer is FakeQuantizedLinear {
            let integer = IntegerRuntime.lower(layer, threads: 1)
            #expect(IntegerRuntime.isInteger(integer), "\(layer.name) has no integer kernel")
            let x = TestData.gaussian(rows: 5, columns: layer.inFeatures, seed: 4)
            let (a, b) = (layer.forward(x), integer.forward(x))
            let worst = zip(a.storage, b.storage).map { abs($0 - $1) }.max()!
            #expect(worst <= 2e-5 * a.storage.map(\.magnitude).max()!, "\(layer.name): max |difference| \(worst)")
        }
    }
}
