/// A histogram of |x| over [0, range) with a fixed number of equal bins. When a value beyond the range
/// arrives, the range doubles (adjacent bins merge pairwise) until it fits, so one pass over streaming
/// data suffices and memory stays constant.
public struct AbsoluteHistogram: Sendable {
    public private(set) var counts: [Double]
    public private(set) var range: Float = 0

    public init(bins: Int) {
        precondition(bins >= 2 && bins % 2 == 0)
        counts = [Double](repeating: 0, count: bins)
    }

    public var binWidth: Float { range / Float(counts.count) }
    public var total: Double { counts.reduce(0, +) }

    public mutating func add(_ values: [Float]) {
        let amax = values.reduce(Float(0)) { max($0, $1.magnitude) }
        if range == 0 { range = amax > 0 ? Float(sign: .plus, exponent: amax.exponent + 1, significand: 1) : 0 }
        while amax >= range && range > 0 { doubleRange() }
        guard range > 0 else { counts[0] += Double(values.count); return }
        let scale = Float(counts.count) / range, last = counts.count - 1
        for v in values { counts[min(Int(v.magnitude * scale), last)] += 1 }
    }

    mutating func doubleRange() {
        let n = counts.count
        for i in 0..<n / 2 { counts[i] = counts[2 * i] + counts[2 * i + 1] }
        for i in n / 2..<n { counts[i] = 0 }
        range *= 2
    }
}
