import Foundation

/// Quantization-aware training (seed 000, part I): the PTQ model of a recipe, its quantized Linear layers
/// turned into `QATLinear` (latent FP32 weights, learned step sizes, straight-through fake quantization),
/// fine-tuned with AdamW, optionally distilling the FP32 model, then deployed as the ordinary quantized model.
public struct QuantizationAwareTraining: Sendable {
    public var steps: Int
    /// Sequences per optimizer step.
    public var batchSize = 4
    public var learningRate: Float = 1e-5
    /// The step sizes' learning rate (on their logs: a relative change per step) as a multiple of `learningRate`.
    public var stepSizeRateFactor: Float = 30
    public var warmup = 10
    public var weightDecay: Float = 0
    public var maxGradientNorm: Float = 1
    /// Train on the FP32 teacher's outputs (KL divergence of next-token distributions, 1 - cosine of sentence
    /// embeddings) instead of the task loss.
    public var distill = true

    public init(steps: Int) { self.steps = steps }

    /// One optimizer step's figures, for progress lines and the summary.
    public struct Step: Sendable, Codable {
        public var step: Int, loss: Double, learningRate: Float, gradientNorm: Float, tokensPerSecond: Double, clampedStepSizes: Int
    }

    /// Writes the run's state every `every` steps (not after the last): `write` gets a checkpoint whose `run`
    /// is `run` (the settings a resume must repeat).
    public struct Checkpointing {
        public var every: Int
        public var run: [String: String]
        public var write: (TrainingCheckpoint) throws(QuantaError) -> Void
        public init(every: Int, run: [String: String], write: @escaping (TrainingCheckpoint) throws(QuantaError) -> Void) {
            (self.every, self.run, self.write) = (every, run, write)
        }
    }

    /// AdamW with this run's settings.
    public var optimizer: AdamW { AdamW(weightDecay: weightDecay) }

    /// `model` (a PTQ model whose quantized layers `prepared` turned into `QATLinear`) trained for `steps`
    /// steps on `batch(step)`; `teacher` (the FP32 model) gives the targets when distilling. With `resuming`, the
    /// model takes the checkpoint's parameters and the run continues after its step with its optimizer state
    /// (the same run to float rounding: step sizes come back through their logarithms).
    public func train<Model: TrainableModel>(_ model: Model, teacher: Model?, batch: (Int) -> [[Int32]],
                                              resuming checkpoint: TrainingCheckpoint? = nil, checkpointing: Checkpointing? = nil,
                                              progress: (Step) -> Void = { _ in }) throws(QuantaError) -> Model {
        guard steps > 0, batchSize > 0 else { throw .invalidArgument("training needs a positive number of steps and sequences per step") }
        let schedule = CosineSchedule(peak: learningRate, floor: learningRate / 10, warmup: min(warmup, steps), total: steps)
        var optimizer = checkpoint?.optimizer ?? self.optimizer
        var model = try checkpoint?.restoring(model) ?? model
        let first = checkpoint?.step ?? 0
        guard first < steps else { throw .invalidArgument("the checkpoint is at step \(first), and the run has \(steps) steps") }
        for step in first..<steps {
            let started = Date()
            let sequences = batch(step)
            let loss: (Matrix<Float>) throws(QuantaError) -> (loss: Double, gradient: Matrix<Float>)
            if distill {
                guard let teacher else { throw .invalidArgument("distillation needs the FP32 teacher") }
                loss = Model.distillationLoss(teacher: try teacher.trainingOutput(sequences))
            } else {
                guard let task = Model.taskLoss(sequences) else { throw .invalidArgument("this model has no loss of its own: distil from the FP32 model") }
                loss = task
            }
            var (value, gradients) = try model.gradients(sequences, loss: loss)
            guard value.isFinite else { throw .invalidArgument("the training loss is \(value) at step \(step + 1); lower the learning rate") }
            let norm = gradients.clip(toGlobalNorm: maxGradientNorm)
            let rate = schedule.rate(at: step)
            optimizer.beginStep()
            var stepSizes = StepSizeGuard()
            model = try model.updatingParameters({ name, parameter in
                guard let gradient = gradients[name] else { return }
                optimizer.update(name, &parameter, gradient: gradient, rate: name.hasSuffix("_scale") ? rate * stepSizeRateFactor : rate)
            }, guarding: &stepSizes)
            let tokens = sequences.reduce(0) { $0 + $1.count }
            progress(Step(step: step + 1, loss: value, learningRate: rate, gradientNorm: norm,
                          tokensPerSecond: Double(tokens) / max(Date().timeIntervalSince(started), 1e-9), clampedStepSizes: stepSizes.held))
            if let checkpointing, checkpointing.every > 0, (step + 1) % checkpointing.every == 0, step + 1 < steps {
                try checkpointing.write(TrainingCheckpoint(model, step: step + 1, optimizer: optimizer, run: checkpointing.run))
            }
        }
        return model
    }

    /// The QAT model of `recipe`: `quantize(record:)` runs the recipe's PTQ (a `QuantizationPipeline`) and reports
    /// each FP32 layer after the recipe's transforms with the layer made of it; every fake-quantized layer
    /// becomes a `QATLinear` over that FP32 layer (over GPTQ's rounded weights for a GPTQ recipe), starting from
    /// the PTQ step sizes (ParetoQ's quantizer where the recipe's layer has one).
    public static func prepared<Model: TrainableModel>(
        _ recipe: Recipe, _ quantize: (_ record: @escaping QuantizationPipeline.LayerRecorder) throws(QuantaError) -> Model
    ) throws(QuantaError) -> Model {
        let latents = LatentLayers()
        let quantized = try quantize { source, _ in latents.add(source) }
        return try quantized.mapLinearLayers { layer throws(QuantaError) in
            guard let layer = layer as? FakeQuantizedLinear else { return layer }
            guard let latent = latents.layers[layer.name] else { throw .invalidArgument("\(layer.name): its FP32 layer was not recorded") }
            let spec = recipe.spec(for: layer.name)
            // A GPTQ layer starts from GPTQ's weights (its error compensation is what rounding the FP32 ones lacks).
            return QATLinear(layer, latent: spec?.gptq == nil ? latent : layer.quantized, lowBit: spec?.lowBit)
        }
    }

    /// The trained model as an ordinary quantized model: each `QATLinear` replaced by its `deployed` layer.
    /// `record(source, quantized)` sees each layer as `QuantizedModelFolder.Writer.record` takes it.
    public static func deployed<Model: TrainableModel>(_ model: Model, record: QuantizationPipeline.LayerRecorder? = nil) throws(QuantaError) -> Model {
        try model.mapLinearLayers { layer throws(QuantaError) in
            let (source, deployed): (any LinearLayer, any LinearLayer) = (layer as? QATLinear).map { ($0.latent, $0.deployed) } ?? (layer, layer)
            try record?(source, deployed)
            return deployed
        }
    }
}

/// The FP32 layers a PTQ run reported, by name.
final class LatentLayers: @unchecked Sendable {
    var layers = [String: FloatLinear]()
    func add(_ layer: any LinearLayer) { if let layer = layer as? FloatLinear { layers[layer.name] = layer } }
}
