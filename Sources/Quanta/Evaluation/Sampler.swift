import Foundation

/// Picks the next token from a row of logits.
public enum Sampler {
    /// argmax when `greedy`, else a draw from softmax(logits / temperature).
    public static func next<G: RandomNumberGenerator>(_ logits: ArraySlice<Float>, greedy: Bool, temperature: Float,
                                                      using generator: inout G) -> Int32 {
        let base = logits.startIndex
        if greedy || temperature <= 0 {
            return Int32(logits.indices.max { logits[$0] < logits[$1] }! - base)
        }
        let maximum = logits.max()!
        let weights = logits.map { Double(expf(($0 - maximum) / temperature)) }
        var target = Double.random(in: 0..<weights.reduce(0, +), using: &generator)
        for (i, w) in weights.enumerated() {
            target -= w
            if target < 0 { return Int32(i) }
        }
        return Int32(weights.count - 1)
    }
}
