import Foundation

/// Runs a model over calibration data with an observer on the input of every Linear layer, and returns
/// each layer's `ActivationStatistics`. The observers see one batch at a time, so memory is bounded by a
/// batch of activations.
public enum CalibrationRun {
    /// `model` run over `sequences` (`QuantizableModel.calibrationPass`) with an observer on every Linear
    /// input. `gram`: also each layer's sum of x x^T (GPTQ's Hessian).
    public static func statistics<Model: QuantizableModel>(_ model: Model, sequences: [[Int32]], sampleRows: Int = 256, gram: Bool = false,
                                                           progress: (Int, Int) -> Void = { _, _ in }) throws(QuantaError) -> [String: ActivationStatistics] {
        let recorder = StatisticsRecorder(sampleRows: sampleRows, gram: gram)
        try model.mapLinearLayers { layer throws(QuantaError) in ObservingLinear(inner: layer, recorder: recorder) }
            .calibrationPass(sequences, progress: progress)
        try recorder.check()
        return recorder.statistics
    }

    /// Consecutive windows of `length` tokens from the start of `tokens` (the last one may be shorter), at
    /// most `count` of them: a decoder's calibration sequences.
    public static func windows(of tokens: [Int32], length: Int = 512, count: Int = .max) -> [[Int32]] {
        stride(from: 0, to: tokens.count, by: length).prefix(count).map { Array(tokens[$0..<min($0 + length, tokens.count)]) }
    }
}

/// Collects statistics from the observers (which run inside non-throwing `forward` calls).
final class StatisticsRecorder: @unchecked Sendable {
    private let lock = NSLock()
    private var byLayer = [String: ActivationStatistics]()
    private var failure: QuantaError?
    private let sampleRows: Int, gram: Bool

    init(sampleRows: Int, gram: Bool) { (self.sampleRows, self.gram) = (sampleRows, gram) }

    func observe(_ x: Matrix<Float>, layer: String) {
        lock.lock()
        defer { lock.unlock() }
        guard failure == nil else { return }
        var stats = byLayer[layer] ?? ActivationStatistics(channels: x.columns, sampleRows: sampleRows, gram: gram)
        do { try stats.observe(x, layer: layer) } catch { failure = error }
        byLayer[layer] = stats
    }

    func check() throws(QuantaError) {
        lock.lock()
        defer { lock.unlock() }
        if let failure { throw failure }
    }

    var statistics: [String: ActivationStatistics] {
        lock.lock()
        defer { lock.unlock() }
        return byLayer
    }
}

/// A Linear that records its input before running the wrapped layer: the input as the layer's quantizer
/// will see it, that is after a SmoothQuant input scale (`FloatLinear.inputScale`).
struct ObservingLinear: LinearLayer {
    let inner: any LinearLayer
    let recorder: StatisticsRecorder

    var name: String { inner.name }
    var inFeatures: Int { inner.inFeatures }
    var outFeatures: Int { inner.outFeatures }
    var weightBytes: Int { inner.weightBytes }

    func forward(_ x: Matrix<Float>) -> Matrix<Float> {
        if let float = inner as? FloatLinear {
            let scaled = float.scaledInput(x)
            recorder.observe(scaled, layer: name)
            return float.multiply(scaled)
        }
        recorder.observe(x, layer: name)
        return inner.forward(x)
    }
}
