/// The batches a training run takes, step by step: items (token windows of a decoder's training text, an
/// encoder's documents) in an order drawn once from a seed, `batchSize` per step, wrapping around.
public struct TrainingBatches: Sendable {
    public let items: [[Int32]]
    public let batchSize: Int
    let order: [Int]

    public init(items: [[Int32]], batchSize: Int, seed: UInt64) throws(QuantaError) {
        guard !items.isEmpty, batchSize > 0 else { throw .invalidArgument("no training data, or a batch of \(batchSize)") }
        var generator = SplitMix64(seed: seed)
        self.items = items
        self.batchSize = batchSize
        order = Array(items.indices).shuffled(using: &generator)
    }

    /// The items of step `step` (0-based).
    public func batch(_ step: Int) -> [[Int32]] {
        (0..<batchSize).map { items[order[(step * batchSize + $0) % items.count]] }
    }

    /// `tokens` cut into consecutive windows of `length` (a shorter last one is dropped).
    public static func windows(of tokens: [Int32], length: Int) -> [[Int32]] {
        stride(from: 0, to: tokens.count - length + 1, by: max(length, 1)).map { Array(tokens[$0..<$0 + length]) }
    }
}
