/// A model the training engine runs: LLaMA and BERT conform, and a third architecture costs one conformance
/// (its forward pass with saved activations, its backward pass, its parameters by name).
public protocol TrainableModel: Sendable, LinearLayerModel {
    /// What a loss sees of `batch`: the LLaMA's logits of every token [tokens, vocabulary], BERT's sentence
    /// embeddings [sequences, hidden].
    func trainingOutput(_ batch: [[Int32]]) throws(QuantaError) -> Matrix<Float>
    /// The loss of `trainingOutput(batch)` and its gradient for every parameter.
    func gradients(_ batch: [[Int32]], loss: (Matrix<Float>) throws(QuantaError) -> (loss: Double, gradient: Matrix<Float>))
        throws(QuantaError) -> (loss: Double, gradients: ParameterGradients)
    /// The model with each trainable parameter passed through `update` by tensor name.
    func updatingParameters(_ update: (String, inout [Float]) -> Void, guarding: inout StepSizeGuard) throws(QuantaError) -> Self
    /// The loss of `batch` without a teacher, or nil when the model has none (an encoder: distil instead).
    static func taskLoss(_ batch: [[Int32]]) -> ((Matrix<Float>) throws(QuantaError) -> (loss: Double, gradient: Matrix<Float>))?
    /// The loss of matching the teacher's `trainingOutput`.
    static func distillationLoss(teacher: Matrix<Float>) -> (Matrix<Float>) throws(QuantaError) -> (loss: Double, gradient: Matrix<Float>)
}

extension LlamaModel: TrainableModel {
    /// Each sequence's logits from an empty cache, stacked.
    public func trainingOutput(_ batch: [[Int32]]) throws(QuantaError) -> Matrix<Float> {
        var rows = [Float]()
        for sequence in batch {
            var cache = KVCache(for: config)
            rows += try forward(sequence, cache: &cache).storage
        }
        return try Matrix(rows: batch.reduce(0) { $0 + $1.count }, columns: config.vocabularySize, storage: rows)
    }

    /// Next-token cross-entropy (each sequence's last token predicts nothing).
    public static func taskLoss(_ batch: [[Int32]]) -> ((Matrix<Float>) throws(QuantaError) -> (loss: Double, gradient: Matrix<Float>))? {
        let targets = batch.flatMap { ids in Array(ids.dropFirst()) + [LossFunction.ignored] }
        return { logits throws(QuantaError) in try LossFunction.crossEntropy(logits: logits, targets: targets) }
    }

    /// KL(teacher || student) of the next-token distributions.
    public static func distillationLoss(teacher: Matrix<Float>) -> (Matrix<Float>) throws(QuantaError) -> (loss: Double, gradient: Matrix<Float>) {
        { logits throws(QuantaError) in try LossFunction.klDivergence(student: logits, teacher: teacher) }
    }
}

extension BertModel: TrainableModel {
    public func trainingOutput(_ batch: [[Int32]]) throws(QuantaError) -> Matrix<Float> {
        try Matrix(rows: batch.count, columns: config.hiddenSize, storage: embed(batch).flatMap { $0 })
    }

    public static func taskLoss(_ batch: [[Int32]]) -> ((Matrix<Float>) throws(QuantaError) -> (loss: Double, gradient: Matrix<Float>))? { nil }

    /// 1 - cos(u, t) averaged over sentences (both embeddings are unit vectors: 1 - u . t); dL/du = -t / S.
    public static func distillationLoss(teacher: Matrix<Float>) -> (Matrix<Float>) throws(QuantaError) -> (loss: Double, gradient: Matrix<Float>) {
        { u throws(QuantaError) in
            guard u.rows == teacher.rows, u.columns == teacher.columns else {
                throw .shapeMismatch("embeddings \(u.shape) vs the teacher's \(teacher.shape)")
            }
            var dot = 0.0, gradient = teacher
            for i in 0..<u.count {
                dot += Double(u.storage[i]) * Double(teacher.storage[i])
                gradient.storage[i] = -teacher.storage[i] / Float(u.rows)
            }
            return (1 - dot / Double(u.rows), gradient)
        }
    }
}
