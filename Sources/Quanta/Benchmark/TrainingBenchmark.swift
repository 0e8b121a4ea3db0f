/// `quanta bench train`: training tokens/s of one optimizer step (forward pass keeping activations, backward
/// pass, AdamW update) of the FP32 model and of QAT models, side by side on the same batch: SmolLM2 one
/// sequence of 512 tokens with next-token cross-entropy, MiniLM 8 sequences of 128 tokens with the
/// distillation loss against the FP32 embeddings.
public struct TrainingBenchmark: Sendable {
    public let threads: Int
    public let stopwatch: Stopwatch

    public init(threads: Int, stopwatch: Stopwatch) {
        self.threads = threads
        self.stopwatch = stopwatch
    }

    /// `variants`: (name, model) pairs of one architecture, FP32 first, each trained on `batch`.
    public func run<Model: TrainableModel>(modelName: String, variants: [(String, Model)], batch: [[Int32]]) throws(QuantaError) -> [ModelBenchmark.Row] {
        BLAS.setThreads(threads)
        guard let reference = variants.first?.1 else { return [] }
        let loss: (Matrix<Float>) throws(QuantaError) -> (loss: Double, gradient: Matrix<Float>)
        if let task = Model.taskLoss(batch) { loss = task } else { loss = Model.distillationLoss(teacher: try reference.trainingOutput(batch)) }
        let tokens = Double(batch.reduce(0) { $0 + $1.count })
        var failure: QuantaError?
        let bodies = variants.map { variant in
            var model = variant.1, optimizer = AdamW()
            return {
                do throws(QuantaError) {
                    var (_, gradients) = try model.gradients(batch, loss: loss)
                    gradients.clip(toGlobalNorm: 1)
                    optimizer.beginStep()
                    var stepSizes = StepSizeGuard()
                    model = try model.updatingParameters({ name, parameter in
                        if let g = gradients[name] { optimizer.update(name, &parameter, gradient: g, rate: 1e-6) }
                    }, guarding: &stepSizes)
                } catch { failure = failure ?? error }
            }
        }
        let seconds = stopwatch.interleavedMedianSeconds(bodies)
        if let failure { throw failure }
        return zip(variants, seconds).map { ModelBenchmark.Row(model: modelName, recipe: $0.0, threads: threads, metric: "train_tokens_per_s", value: tokens / $1) }
    }
}
