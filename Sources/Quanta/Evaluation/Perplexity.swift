import Foundation

/// Perplexity by DESIGN.md's protocol: the first `tokens` tokens of a text (no BOS), cut into
/// non-overlapping windows of `window` tokens, each scored from an empty cache; every token after the first
/// of its window is predicted from those before it:
///
///     PPL = exp( - (1/N) * sum over windows w, positions 1 <= i < |w| of log softmax(logits_{i-1})[t_i] )
public struct Perplexity: Sendable {
    public let window: Int

    public init(window: Int = 512) throws(QuantaError) {
        guard window >= 2 else { throw .invalidArgument("perplexity window must be at least 2 tokens, got \(window)") }
        self.window = window
    }

    /// Perplexity of `model` on `tokens`; `progress(windowsDone, windowsTotal)` after each window.
    public func evaluate(_ model: LlamaModel, tokens: [Int32],
                         progress: (Int, Int) -> Void = { _, _ in }) throws(QuantaError) -> Double {
        let windows = stride(from: 0, to: tokens.count, by: window).map { Array(tokens[$0..<min($0 + window, tokens.count)]) }
            .filter { $0.count >= 2 }
        guard !windows.isEmpty else { throw .invalidArgument("perplexity needs at least 2 tokens, got \(tokens.count)") }
        var negativeLogLikelihood = 0.0, predictions = 0
        for (w, ids) in windows.enumerated() {
            var cache = LlamaModel.KVCache(for: model.config)
            let logits = try model.forward(ids, cache: &cache)
            for i in 1..<ids.count {
                negativeLogLikelihood -= Self.logSoftmax(logits.row(i - 1), at: Int(ids[i]))
                predictions += 1
            }
            progress(w + 1, windows.count)
        }
        return exp(negativeLogLikelihood / Double(predictions))
    }

    /// log softmax(row)[index], computed in Double.
    static func logSoftmax(_ row: ArraySlice<Float>, at index: Int) -> Double {
        let maximum = Double(row.max() ?? 0)
        let sum = row.reduce(0.0) { $0 + exp(Double($1) - maximum) }
        return Double(row[row.startIndex + index]) - maximum - log(sum)
    }
}
