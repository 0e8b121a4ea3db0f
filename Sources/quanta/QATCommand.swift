import ArgumentParser
import Foundation
import Quanta

struct QATCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "qat",
        abstract: "Quantization-aware training: fine-tune a recipe's PTQ model and write it as a quantized model folder.",
        discussion: """
        Starts from the recipe's PTQ model (calibrated scales as initial step sizes), fake-quantizes every \
        quantized layer with learned step sizes (LSQ) and the straight-through estimator, and trains the Linear \
        weights, biases, step sizes and SmolLM2's RMSNorm weights with AdamW (cosine schedule with warm-up, \
        gradient clipping at norm 1). SmolLM2 trains on windows of Mansfield Park, Northanger Abbey and \
        Persuasion; MiniLM on lee_background.cor's documents and the novels' paragraphs of 200 characters or \
        more. --train adds texts to those (e.g. .assets/bbc/entertainment); evaluation text is refused. With --distill (the default) the loss is the FP32 model's: \
        KL divergence of next-token distributions (SmolLM2), 1 - cosine of sentence embeddings (MiniLM). \
        Progress on stderr; the folder is written only when training ends. With --checkpoint-every K the run's \
        state (parameters and AdamW's moments) goes to OUT.checkpoint every K steps, atomically; --resume continues \
        a killed run from it with the same settings (the same run to float rounding), and the file is removed once \
        the folder is written.
        """
    )

    @OptionGroup var model: ModelOption
    @Option(name: .long, help: "A built-in recipe (\(Recipe.builtInNames.joined(separator: ", "))) or a recipe JSON file.") var recipe: String
    @Option(name: .long, help: "Optimizer steps.") var steps: Int
    @Option(name: .long, help: "Peak learning rate.") var lr: Float = 1e-5
    @Option(name: .long, help: "Sequences per step.") var batch = 4
    @Option(name: .long, help: "SmolLM2: tokens per training window.") var window = 512
    @Option(name: .long, help: "Warm-up steps.") var warmup = 10
    @Option(name: .long, help: "Seed of the data order.") var seed: UInt64 = 0
    @Option(name: .long, help: "More training text (repeatable): a file, or a folder whose .txt files are read; never evaluation text.") var train: [String] = []
    @Flag(inversion: .prefixedNo, help: "Distil the FP32 model (SmolLM2 can train on next-token cross-entropy instead).") var distill = true
    @Option(name: .long, help: "Write the run's state to OUT.checkpoint every this many steps (0: never).") var checkpointEvery = 0
    @Flag(help: "Continue from OUT.checkpoint (written by --checkpoint-every) with the same settings.") var resume = false
    @Flag(help: "Print a JSON summary at the end.") var json = false
    @Option(name: .long, help: "The folder to write.") var out: String

    struct Summary: Encodable {
        var model: String, recipe: String, steps: Int, firstLoss: Double, lastLoss: Double, tokensPerSecond: Double
        var seconds: Double, clampedStepSizes: Int, out: String
    }

    func validate() throws {
        guard checkpointEvery >= 0 else { throw ValidationError("--checkpoint-every must be 0 (never) or a positive number of steps, not \(checkpointEvery)") }
    }

    func run() throws {
        let started = Date()
        let summary = try reportingErrors { () throws(QuantaError) -> Summary in
            let reference = try ModelReference(model.model)
            if case .quantized = reference { throw .invalidArgument("\(model.model) is already quantized; give its base model") }
            let base = try LoadedModel(reference)
            let recipe = try Recipe.named(recipe, alpha: .alpha(0.5), quantizingHead: false)
            let data = EvaluationData(assets: try AssetStore.locate())
            var training = QuantizationAwareTraining(steps: steps)
            (training.learningRate, training.batchSize, training.warmup, training.distill) = (lr, batch, warmup, distill)
            var records = [QuantizationAwareTraining.Step]()
            var trainingStarted = started   // after the PTQ model is made, so that its minutes do not skew the estimate
            let report = { (step: QuantizationAwareTraining.Step) in
                records.append(step)
                let elapsed = Date().timeIntervalSince(trainingStarted), left = elapsed / Double(records.count) * Double(steps - step.step)
                progress(String(format: "step %d/%d  loss %.5f  lr %.2e  |g| %.3f  %.0f tok/s  %@ left%@", step.step, steps, step.loss,
                                step.learningRate, step.gradientNorm, step.tokensPerSecond, Self.duration(left),
                                step.clampedStepSizes > 0 ? "  (\(step.clampedStepSizes) step sizes held positive)" : ""))
            }
            let pipeline = QuantizationPipeline(), writer = QuantizedModelFolder.Writer()
            let calibration = try base.calibrationSequences(data)
            let batches = try TrainingBatches(items: base.trainingSequences(data, window: window, adding: train), batchSize: batch, seed: seed)
            let checkpointPath = out + ".checkpoint"
            // What a resume must repeat: the checkpoint's data order and schedule are these settings'.
            let run = ["model": model.model, "recipe": recipe.name, "steps": String(steps), "lr": String(lr), "batch": String(batch),
                       "window": String(window), "warmup": String(warmup), "seed": String(seed), "distill": String(distill),
                       "train": train.joined(separator: "\n")]
            let resumed = try resume ? TrainingCheckpoint(path: checkpointPath, optimizer: training.optimizer) : nil
            try resumed?.check(matches: run)
            if let resumed { progress("resuming at step \(resumed.step) of \(steps) from \(checkpointPath)") }
            let checkpointing = QuantizationAwareTraining.Checkpointing(every: checkpointEvery, run: run) { state throws(QuantaError) in
                try state.write(to: checkpointPath)
                progress("checkpoint at step \(state.step): \(checkpointPath)")
            }
            func trained<Model: QuantizableModel>(_ fp32: Model) throws(QuantaError) -> Model {
                let student = try QuantizationAwareTraining.prepared(recipe) { record throws(QuantaError) in
                    try pipeline.quantize(fp32, recipe: recipe, calibration: calibration, progress: progress, record: record)
                }
                trainingStarted = Date()
                return try QuantizationAwareTraining.deployed(training.train(student, teacher: fp32, batch: batches.batch, resuming: resumed,
                                                                             checkpointing: checkpointing, progress: report),
                                                              record: writer.record)
            }
            let trainedModel = try base.replacing(trained(base.model))
            var named = recipe
            named.name += "+qat"
            try writer.write(trainedModel, base: base, baseModel: model.model, recipe: named, to: out)
            try? FileManager.default.removeItem(atPath: checkpointPath)
            let seconds = Date().timeIntervalSince(started)
            return Summary(model: model.model, recipe: named.name, steps: steps, firstLoss: records.first?.loss ?? .nan, lastLoss: records.last?.loss ?? .nan,
                           tokensPerSecond: records.map(\.tokensPerSecond).reduce(0, +) / Double(max(records.count, 1)), seconds: seconds,
                           clampedStepSizes: records.reduce(0) { $0 + $1.clampedStepSizes }, out: out)
        }
        if json { try printJSON(summary) } else {
            printLines([String(format: "wrote %@: recipe %@, %d steps, loss %.5f -> %.5f, %.0f s", out, summary.recipe, steps,
                               summary.firstLoss, summary.lastLoss, summary.seconds)])
        }
    }

    /// "1h02m", "3m05s" or "42s".
    static func duration(_ seconds: Double) -> String {
        let s = Int(seconds.rounded())
        return s >= 3600 ? String(format: "%dh%02dm", s / 3600, s / 60 % 60) : s >= 60 ? String(format: "%dm%02ds", s / 60, s % 60) : "\(s)s"
    }
}
