import Foundation

/// A model the quantization pipeline handles whatever its architecture. Calibration, SmoothQuant, the
/// recipe's whole-model steps, sensitivity analysis and quantization-aware training are written once against
/// this protocol (with `TrainableModel` and `LinearLayerModel`), so an architecture costs its conformances
/// (`LlamaModel+Quantizable.swift`, `BertModel+Quantizable.swift`) beside its forward and backward passes.
/// Every input is a list of token sequences: a decoder's are windows of running text, an encoder's are documents.
public protocol QuantizableModel: TrainableModel {
    /// The architecture's name in a quantized folder's description.
    static var architecture: String { get }
    /// How many calibration sequences the activation statistics come from (GPTQ's Gram matrices take at
    /// least `GPTQ.calibrationWindows`).
    static var calibrationSequences: Int { get }

    /// The batch `quanta bench train` times: this many training sequences of at most this many tokens.
    static var trainingBenchmarkBatch: (sequences: Int, tokens: Int) { get }

    /// Runs `sequences` through the model for the observers on its Linear inputs (the outputs are dropped),
    /// `progress(done, total)` as it goes.
    func calibrationPass(_ sequences: [[Int32]], progress: (Int, Int) -> Void) throws(QuantaError)

    /// The model with every Linear layer replaced by `replace(layer, statistics)` block by block, the statistics
    /// of a block's inputs (with Gram matrices when `gram`) collected by running `sequences` through the blocks
    /// already replaced: what the quantized model will feed each layer, as GPTQ's reference implementation
    /// calibrates. nil where the architecture runs only whole passes (the recipe then calibrates on the FP32 model).
    func sequentiallyReplacingLinearLayers(_ sequences: [[Int32]], gram: Bool,
                                           replace: (any LinearLayer, [String: ActivationStatistics]) throws(QuantaError) -> any LinearLayer) throws(QuantaError) -> Self?

    /// The model with SmoothQuant's per-input-channel factors s folded in: for each group of Linears reading
    /// one input, s = `factors(statistics of the input, a shared per-channel max or nil, the group's weights)`,
    /// W[:, j] s_j, and the input divided by s_j where the architecture produces it (`SmoothQuant`).
    func smoothQuantFolded(statistics: [String: ActivationStatistics], factors: SmoothQuant.FactorRule) throws(QuantaError) -> Self

    /// Why this architecture cannot take `step`, or nil when it can; `check(_:)` asks before any work.
    static func refusal(of step: WholeModelStep) -> String?

    /// The FP32 function with an orthogonal rotation of the residual stream folded in (`Rotation`), or an
    /// error naming why the architecture cannot take one.
    func rotated(seed: UInt64) throws(QuantaError) -> Self

    /// The I-BERT integer-only encoder calibrated on `calibration`, or an error naming why the architecture
    /// has none.
    func integerOnly(calibration: [[Int32]]) throws(QuantaError) -> Self

    /// The model with its attention keys and values stored through `quantizer`, or an error naming why the
    /// architecture keeps no cache.
    func quantizingKVCache(_ quantizer: TensorQuantizer) throws(QuantaError) -> Self

    /// What a quantized folder stores besides its Linear layers (a decoder's norm weights, which SmoothQuant
    /// changes, and its embeddings where they differ from `base`'s), or, when `replacesLinearLayers`, every
    /// tensor of a model that runs without them (the integer-only encoder).
    func storedTensors(base: Self) throws(QuantaError) -> (tensors: [SafeTensorsWriter.Entry], replacesLinearLayers: Bool)

    /// This base model with a quantized folder loaded: each Linear layer made by `linear` (from the layer's
    /// stored entry and the base's layer of that name), the rest from what `storedTensors` wrote to `file`.
    func loadingStored(_ file: SafeTensorsFile, description: QuantizedModelFolder.Description,
                       linear: (any LinearLayer) throws(QuantaError) -> any LinearLayer) throws(QuantaError) -> Self
}

/// A recipe step that transforms the whole model rather than its Linear layers, which an architecture takes
/// or refuses (`QuantizableModel.refusal(of:)`).
public enum WholeModelStep: Sendable, CaseIterable {
    case rotation, integerOnly, kvCache
}

extension Recipe {
    /// The whole-model steps this recipe takes.
    public var wholeModelSteps: [WholeModelStep] {
        WholeModelStep.allCases.filter { step in
            switch step {
            case .rotation: rotationSeed != nil
            case .integerOnly: integerOnly
            case .kvCache: kvCache != nil
            }
        }
    }
}

extension QuantizableModel {
    public func sequentiallyReplacingLinearLayers(_ sequences: [[Int32]], gram: Bool,
                                                  replace: (any LinearLayer, [String: ActivationStatistics]) throws(QuantaError) -> any LinearLayer) throws(QuantaError) -> Self? {
        nil
    }

    /// Throws, naming the recipe and the reason, when this architecture refuses one of `recipe`'s whole-model
    /// steps: called before calibration or evaluation starts, so bad input fails first, not after minutes.
    public static func check(_ recipe: Recipe) throws(QuantaError) {
        for step in recipe.wholeModelSteps {
            if let reason = refusal(of: step) { throw .invalidArgument("\(recipe.name): \(reason)") }
        }
    }

    /// Throws the architecture's reason for refusing `step` (its implementation of that step).
    func refusing(_ step: WholeModelStep) throws(QuantaError) -> Never {
        throw .invalidArgument(Self.refusal(of: step) ?? "\(Self.architecture) cannot take the \(step) step")
    }

    /// How much worse a candidate (this model with some layers quantized) does on `heldOut` sequences: the
    /// perplexity ratio less 1, exp(L(candidate) - L(self)), where the model has a task loss (a language
    /// model's next-token cross-entropy); otherwise the distillation loss against this model's outputs (an
    /// embedder's 1 - mean cosine). This model's outputs are computed once, here.
    public func degradation(heldOut: [[Int32]]) throws(QuantaError) -> (Self) throws(QuantaError) -> Double {
        let reference = try trainingOutput(heldOut)
        if let task = Self.taskLoss(heldOut) {
            let baseline = try task(reference).loss
            return { candidate throws(QuantaError) in try exp(task(candidate.trainingOutput(heldOut)).loss - baseline) - 1 }
        }
        let distance = Self.distillationLoss(teacher: reference)
        return { candidate throws(QuantaError) in try distance(candidate.trainingOutput(heldOut)).loss }
    }
}
