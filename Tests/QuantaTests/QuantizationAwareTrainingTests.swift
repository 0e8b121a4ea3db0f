import Foundation
import Quanta
import Testing

/// Quantization-aware training: LSQ's forward pass is the deployed fake quantization bit for bit, its
/// gradients follow the paper, and a few QAT steps on the tiny LLaMA of the training fixtures lower the
/// distillation loss and deploy without drift (QAT forward = deployed forward = integer kernels).
@Suite struct QuantizationAwareTrainingTests {
    static let tinyLlama = TrainingOracleTests.folder + "/tiny-llama.gguf.bin"

    @Test func learnedStepSizeForwardIsTheDeployedFakeQuantization() throws {
        let w = TestData.gaussian(rows: 6, columns: 40, seed: 3)
        for (format, scheme, granularity) in [(IntegerFormat.int4, QuantizationScheme.asymmetric, Granularity.perGroup(size: 16)),
                                              (.int8, .symmetric, .perChannel), (.int8, .symmetric, .perTensor)] {
            let p = try AffineQuantizer.chooseParameters(for: w, format: format, scheme: scheme, granularity: granularity, tensor: "w")
            let shrunk = try QuantizationParameters(scales: p.scales.map { $0 * 0.7 }, zeroPoints: p.zeroPoints, format: format, scheme: scheme, granularity: granularity)
            // The integer codes and back: what the integer kernels and the stored model compute.
            let codes = try AffineQuantizer.quantize(w, with: shrunk, as: Int32.self)
            #expect(LearnedStepSize.fakeQuantize(w, shrunk).value == (try AffineQuantizer.dequantize(codes, with: shrunk)))
            #expect(try AffineQuantizer.fakeQuantize(w, with: shrunk) == (try AffineQuantizer.dequantize(codes, with: shrunk)))
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

    /// The kernel (`qk_lsq_rows`, rows in chunks over the cores) against LSQ's formulas element by element, on every
    /// granularity, with a quarter of the inputs clipped: values and input gradients bit for bit, step-size
    /// gradients to float rounding (the chunks sum in another order).
    @Test func learnedStepSizeKernelMatchesTheFormulas() throws {
        let x = TestData.gaussian(rows: 300, columns: 256, seed: 5), dy = TestData.gaussian(rows: 300, columns: 256, seed: 6)
        let groups = try EmbeddingGroups(groupOfColumn: (0..<256).map { ($0 * 7) % 5 }, groupCount: 5)
        for (format, scheme, granularity) in [(IntegerFormat.int8, QuantizationScheme.symmetric, Granularity.perTensor), (.int8, .symmetric, .perChannel),
                                              (.uint8, .asymmetric, .perToken), (.int4, .asymmetric, .perGroup(size: 48)),
                                              (.int8, .symmetric, .perEmbeddingGroup(groups))] {
            let chosen = try AffineQuantizer.chooseParameters(for: x, format: format, scheme: scheme, granularity: granularity, tensor: "x")
            let p = try QuantizationParameters(scales: chosen.scales.map { $0 * 0.6 }, zeroPoints: chosen.zeroPoints, format: format, scheme: scheme, granularity: granularity)
            let result = LearnedStepSize.fakeQuantize(x, p, outputGradient: dy)
            var value = [Float](), input = [Float](), sums = [Double](repeating: 0, count: p.scales.count), shares = [Double](repeating: 0, count: p.scales.count)
            for r in 0..<x.rows {
                for c in 0..<x.columns {
                    let i = granularity.parameterIndex(row: r, column: c, columns: x.columns), z = p.zeroPoints[i]
                    let u = x[r, c] * (1 / p.scales[i]), (lower, upper) = (Float(p.codeRange.lowerBound + z), Float(p.codeRange.upperBound + z))
                    let code = Float(IntegerFormat.roundClamped(u, lower: p.codeRange.lowerBound + z, upper: p.codeRange.upperBound + z))
                    let inside = u >= lower && u <= upper
                    value.append(p.scales[i] * code)
                    input.append(inside ? dy[r, c] : 0)
                    sums[i] += Double(dy[r, c] * (inside ? code - u : code))
                    shares[i] += 1
                }
            }
            #expect(result.value.storage == value && result.input!.storage == input, "\(granularity)")
            #expect(input.contains(0), "\(granularity): some inputs are clipped")
            let expected = sums.indices.map { Float(sums[$0] / (shares[$0] * Double(max(p.codeRange.upperBound, 1))).squareRoot()) }
            for (got, want) in zip(result.scales!, expected) { #expect(abs(got - want) <= 1e-5 * max(1, abs(want)), "\(granularity)") }
        }
    }

    /// The kernel (`qk_lsq_rows`' layout, `qk_low_bit_rows`) against ParetoQ's formulas (`LowBitWeight`'s doc comment)
    /// element by element, per channel and per group, with a third of the weights clipped: values and input
    /// gradients bit for bit, range gradients to float rounding.
    @Test(arguments: LowBitWeight.allCases) func lowBitKernelMatchesTheFormulas(_ kind: LowBitWeight) throws {
        let w = TestData.gaussian(rows: 300, columns: 256, seed: 7), dy = TestData.gaussian(rows: 300, columns: 256, seed: 8)
        let k: Float = kind == .binary ? 1 : kind == .ternary ? 1.5 : 4
        for granularity in [Granularity.perChannel, .perGroup(size: 64)] {
            let initial = try kind.initialParameters(for: w, granularity: granularity)
            let p = try QuantizationParameters(scales: initial.scales.map { $0 * 0.5 }, zeroPoints: initial.zeroPoints, format: initial.format,
                                               scheme: .symmetric, granularity: granularity)
            let result = kind.fakeQuantize(w, p, outputGradient: dy)
            var value = [Float](), input = [Float](), sums = [Double](repeating: 0, count: p.scales.count), shares = [Double](repeating: 0, count: p.scales.count)
            for r in 0..<w.rows {
                for c in 0..<w.columns {
                    let i = granularity.parameterIndex(row: r, column: c, columns: w.columns), x = w[r, c]
                    let u = x / (p.scales[i] * k), clamped = min(max(u, -0.99), 0.99)
                    let code: Float = switch kind {
                    case .binary: x > 0 ? 1 : x < 0 ? -1 : 0
                    case .ternary: (1.5 * clamped).rounded(.toNearestOrEven)
                    case .twoBit: 2 * (2 * clamped - 0.5).rounded(.toNearestOrEven) + 1
                    }
                    let inside = abs(u) <= (kind == .binary ? 1 : 0.99), level = code / k
                    value.append(p.scales[i] * code)
                    input.append(inside ? dy[r, c] : 0)
                    sums[i] += Double(dy[r, c] * (kind == .binary || !inside ? level : level - u) * k)
                    shares[i] += 1
                }
            }
            #expect(result.value.storage == value && result.input!.storage == input, "\(granularity)")
            #expect(input.contains(0), "\(granularity): some weights are clipped")
            let expected = sums.indices.map { Float(sums[$0] / shares[$0].squareRoot()) }
            for (got, want) in zip(result.scales!, expected) { #expect(abs(got - want) <= 1e-5 * max(1, abs(want)), "\(granularity)") }
        }
    }

    /// The tiny LLaMA of the training fixtures, PTQ'd by `recipe` and made trainable: a built-in recipe, or
    /// `w4a16-g32` (INT4 asymmetric groups of 32 along the 64-wide rows, which groups of 128 would not split).
    static func qatModel(_ recipe: String) throws -> (fp32: LlamaModel, qat: LlamaModel) {
        let model = try LlamaModel(gguf: GGUFFile(path: tinyLlama))
        var generator = SplitMix64(seed: 9)
        let calibration = (0..<256).map { _ in Int32.random(in: 0..<96, using: &generator) }
        let chosen = recipe == "w4a16-g32" ? Recipe(name: recipe, everyLayer: .init(weight: .integer(.int4, .asymmetric, .perGroup(size: 32)), activation: nil))
            : try Recipe.named(recipe)
        let qat = try QuantizationAwareTraining.prepared(chosen) { record throws(QuantaError) in
            try QuantizationPipeline().quantize(model, recipe: chosen, calibration: CalibrationRun.windows(of: calibration), record: record)
        }
        return (model, qat)
    }

    /// QAT of a GPTQ recipe starts at the GPTQ model (its latent weights are GPTQ's rounded ones), not at RTN's.
    @Test func gptqTrainingStartsFromTheGPTQWeights() throws {
        let model = try LlamaModel(gguf: GGUFFile(path: Self.tinyLlama))
        var spec = try Recipe.named("w4a16-g128-gptq").rules[0].spec!
        spec.weight = .integer(.int4, .asymmetric, .perGroup(size: 32))
        let recipe = Recipe(name: "w4a16-g32-gptq", everyLayer: spec)
        var generator = SplitMix64(seed: 9)
        let calibration = CalibrationRun.windows(of: (0..<256).map { _ in Int32.random(in: 0..<96, using: &generator) }, length: 64)
        let pipeline = QuantizationPipeline()
        let gptq = try pipeline.quantize(model, recipe: recipe, calibration: calibration)
        let qat = try QuantizationAwareTraining.prepared(recipe) { record throws(QuantaError) in
            try pipeline.quantize(model, recipe: recipe, calibration: calibration, record: record)
        }
        let rtn = try QuantizationPipeline().quantize(model, recipe: Recipe(name: "w4a16-g32", everyLayer: .init(weight: spec.weight, activation: nil)), calibration: [])
        var differsFromRTN = false
        for (trained, (ptq, rounded)) in zip(qat.allLinearLayers, zip(gptq.allLinearLayers, rtn.allLinearLayers)) {
            guard let trained = trained as? QATLinear, let ptq = ptq as? FakeQuantizedLinear, let rounded = rounded as? FakeQuantizedLinear else { continue }
            #expect(trained.deployed.quantized.weight.storage == ptq.quantized.weight.storage, "\(trained.name)")
            differsFromRTN = differsFromRTN || trained.deployed.quantized.weight.storage != rounded.quantized.weight.storage
        }
        #expect(differsFromRTN)
    }

    /// ParetoQ's level sets, exactly: SEQ's alpha {+-1/4, +-3/4} (no zero), ternary's alpha {-2/3, 0, 2/3}, binary's
    /// +-alpha; each value on its deployment grid, so the stored model is the trained one.
    @Test(arguments: LowBitWeight.allCases) func paretoQLevelSets(_ kind: LowBitWeight) throws {
        let w = try Matrix<Float>(rows: 1, columns: 401, storage: (0...400).map { Float($0 - 200) / 100 })   // -2 ... 2 in steps of 0.01
        let p = try kind.initialParameters(for: w, granularity: .perChannel)
        let alpha: Float = kind == .binary ? w.storage.map(abs).reduce(0, +) / 401 : 2
        let value = kind.fakeQuantize(w, p).value
        let levels = Set(value.storage.map { ($0 / alpha * 12).rounded() / 12 })
        switch kind {
        case .twoBit: #expect(levels == [-0.75, -0.25, 0.25, 0.75])
        case .ternary: #expect(levels == [Float(-8) / 12, 0, Float(8) / 12])
        case .binary: #expect(levels == [-1, 0, 1] && value[0, 200] == 0)
        }
        #expect(value == (try AffineQuantizer.fakeQuantize(value, with: p)))
        if kind == .ternary {   // thresholds at |w| = alpha / 3
            #expect(value[0, 200 + 66] == 0 && value[0, 200 + 67] > 0 && value[0, 200 - 67] < 0)
        }
        if kind == .twoBit {   // thresholds at w / alpha = 0 and +-1/2 (w = 1 is a tie: to even, the inner level)
            #expect(value[0, 201] / alpha == 0.25 && value[0, 199] / alpha == -0.25 && value[0, 300] / alpha == 0.25 && value[0, 301] / alpha == 0.75)
        }
    }

    @Test func paretoQGradients() throws {
        // Two bits, alpha = 4 (S = 1): w = 1 (u = 0.25 -> level 0.25, inside), w = 5 (u = 1.25: clipped, level 0.75).
        let p = try QuantizationParameters(scales: [1], zeroPoints: [0], format: LowBitWeight.twoBit.deploymentFormat, scheme: .symmetric, granularity: .perTensor)
        let w = try Matrix<Float>(rows: 1, columns: 2, storage: [1, 5]), dy = try Matrix<Float>(rows: 1, columns: 2, storage: [2, 3])
        let g = LowBitWeight.twoBit.fakeQuantize(w, p, outputGradient: dy)
        #expect(g.value.storage == [1, 3] && g.input!.storage == [2, 0])
        // dL/dS = k sum dy (level - u inside, level outside) / sqrt(2) = 4 (2 (0.25 - 0.25) + 3 * 0.75) / sqrt(2).
        #expect(abs(g.scales![0] - 4 * 2.25 / Float(2).squareRoot()) < 1e-5)
    }

    /// A run stopped after a checkpoint and resumed from the file ends where the uninterrupted run ends (to float
    /// rounding: step sizes come back through their logarithms); resuming without AdamW's moments does not, and a
    /// checkpoint of other settings is refused.
    @Test func resumedTrainingContinuesTheRun() throws {
        let (teacher, student) = try Self.qatModel("w8a8-static")
        var training = QuantizationAwareTraining(steps: 6)
        (training.learningRate, training.warmup, training.batchSize) = (1e-4, 2, 2)
        var generator = SplitMix64(seed: 2)
        let batches = (0..<6).map { _ in (0..<2).map { _ in (0..<12).map { _ in Int32.random(in: 0..<96, using: &generator) } } }
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("quanta-checkpoint-\(UUID().uuidString)").path
        defer { try? FileManager.default.removeItem(atPath: path) }
        let run = ["recipe": "w8a8-static", "steps": "6"]
        var uninterrupted = [Double]()
        _ = try training.train(student, teacher: teacher, batch: { batches[$0] },
                               checkpointing: .init(every: 3, run: run) { state throws(QuantaError) in try state.write(to: path) }) { uninterrupted.append($0.loss) }
        let saved = try TrainingCheckpoint(path: path, optimizer: training.optimizer)
        #expect(saved.step == 3 && saved.optimizer.step == 3)
        #expect(try SafeTensorsFile(path: path).tensors.count == 3 * saved.parameters.count)   // each parameter and its two moments
        try saved.check(matches: run)
        #expect(throws: QuantaError.self) { try saved.check(matches: run.merging(["steps": "7"]) { $1 }) }

        func losses(from checkpoint: TrainingCheckpoint) throws -> [Double] {
            var losses = [Double]()
            _ = try training.train(student, teacher: teacher, batch: { batches[$0] }, resuming: checkpoint) { losses.append($0.loss) }
            return losses
        }
        let resumed = try losses(from: saved)
        #expect(resumed.count == 3)
        let gap = zip(resumed, uninterrupted[3...]).map { abs($0 - $1) / $1 }.max()!
        #expect(gap <= 1e-4, "resumed losses \(resumed), uninterrupted \(uninterrupted[3...])")
        let forgetful = TrainingCheckpoint(step: saved.step, parameters: saved.parameters, optimizer: training.optimizer, run: saved.run)
        let restarted = try losses(from: forgetful)
        #expect(zip(restarted, uninterrupted[3...]).map { abs($0 - $1) / $1 }.max()! > 100 * max(gap, 1e-7))
    }

    @Test(arguments: ["w4a16-g32", "w8a8-static", "ternary-g64-seq"]) func trainingLowersTheDistillationLossAndDeploysWithoutDrift(_ recipe: String) throws {
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
        #expect(after < 0.9 * before, "\(recipe): held-out KL \(before) -> \(after)")

        // No drift: the deployed model computes what the QAT model computed, and the integer kernels agree per layer.
        let deployed = try QuantizationAwareTraining.deployed(trained)
        #expect(try deployed.trainingOutput(heldOut) == trained.trainingOutput(heldOut))
        for layer in deployed.allLinearLayers where layer is FakeQuantizedLinear && recipe != "ternary-g64-seq" {   // no INT2 kernel
            let integer = IntegerRuntime.lower(layer, threads: 1)
            #expect(IntegerRuntime.isInteger(integer), "\(layer.name) has no integer kernel")
            let x = TestData.gaussian(rows: 5, columns: layer.inFeatures, seed: 4)
            let (a, b) = (layer.forward(x), integer.forward(x))
            let worst = zip(a.storage, b.storage).map { abs($0 - $1) }.max()!
            #expect(worst <= 2e-5 * a.storage.map(\.magnitude).max()!, "\(layer.name): max |difference| \(worst)")
        }
    }
}
