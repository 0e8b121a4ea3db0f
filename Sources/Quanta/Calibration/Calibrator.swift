import Foundation

/// How a static clipping threshold T (activations are clipped to [-T, T]) is chosen from calibration
/// statistics.
public enum Calibrator: Sendable, Hashable, CustomStringConvertible {
    /// T = max |x| seen (optionally the moving-average extremes).
    case minMax(movingAverage: Bool)
    /// T = the given percentile of |x| (99.9, 99.99, 99.999).
    case percentile(Double)
    /// TensorRT's entropy calibration: 2048 bins, 128 quantized levels; T minimises KL(P || Q).
    case entropy
    /// T minimises the mean squared quantization error estimated from the histogram.
    case mse

    public var description: String {
        switch self {
        case let .minMax(moving): return moving ? "minmax-ema" : "minmax"
        case let .percentile(p): return "percentile-\(p)"
        case .entropy: return "entropy"
        case .mse: return "mse"
        }
    }

    /// The threshold for `statistics`, for a signed format with `levels` positive steps (127 for INT8).
    public func threshold(_ statistics: ActivationStatistics, levels: Int = 127) -> Float {
        let h = statistics.histogram
        guard h.range > 0, statistics.absMax > 0 else { return 0 }
        switch self {
        case let .minMax(moving):
            if moving, let lo = statistics.movingMinimum, let hi = statistics.movingMaximum { return max(lo.magnitude, hi.magnitude) }
            return statistics.absMax
        case let .percentile(p):
            let target = h.total * p / 100
            var cumulative = 0.0
            for (i, c) in h.counts.enumerated() {
                cumulative += c
                if cumulative >= target { return min(Float(i + 1) * h.binWidth, statistics.absMax) }
            }
            return statistics.absMax
        case .entropy:
            return min(Self.entropyThreshold(h.counts, binWidth: h.binWidth, quantizedBins: levels + 1), statistics.absMax)
        case .mse:
            return Self.mseThreshold(h, levels: levels, absMax: statistics.absMax)
        }
    }

    /// TensorRT's algorithm: for each candidate i (number of kept bins, from `quantizedBins` to all), P is the
    /// histogram's first i bins with the clipped tail added to bin i-1; Q merges those i bins into
    /// `quantizedBins` groups and spreads each group's mass evenly over its non-empty bins; pick the i with
    /// the smallest KL(P || Q) and return T = (i + 0.5) * binWidth.
    static func entropyThreshold(_ counts: [Double], binWidth: Float, quantizedBins: Int) -> Float {
        // Start from the last non-empty bin: bins beyond it change nothing.
        let used = (counts.lastIndex { $0 > 0 } ?? 0) + 1
        guard used > quantizedBins else { return Float(used) * binWidth }
        var bestBins = used, bestDivergence = Double.infinity
        for i in quantizedBins...used {
            var p = Array(counts[0..<i])
            p[i - 1] += counts[i...].reduce(0, +)
            var q = [Double](repeating: 0, count: i)
            let groupSize = Double(i) / Double(quantizedBins)
            for g in 0..<quantizedBins {
                let start = Int((Double(g) * groupSize).rounded(.down))
                let end = g == quantizedBins - 1 ? i : Int((Double(g + 1) * groupSize).rounded(.down))
                guard start < end else { continue }
                let mass = counts[start..<end].reduce(0, +)
                let nonEmpty = counts[start..<end].filter { $0 > 0 }.count
                guard nonEmpty > 0 else { continue }
                for j in start..<end where counts[j] > 0 { q[j] = mass / Double(nonEmpty) }
            }
            let pSum = p.reduce(0, +), qSum = q.reduce(0, +)
            var divergence = 0.0
            for j in 0..<i where p[j] > 0 {
                let pj = p[j] / pSum, qj = q[j] / qSum
                divergence += qj > 0 ? pj * log(pj / qj) : pj * log(pj / 1e-12)
            }
            if divergence < bestDivergence { bestDivergence = divergence; bestBins = i }
        }
        return (Float(bestBins) + 0.5) * binWidth
    }

    /// Searches thresholds T = k/128 * max|x| (k = 1...128) for the smallest estimated squared error of
    /// symmetric quantization with step T / levels, treating each bin's mass as sitting at its centre.
    static func mseThreshold(_ h: AbsoluteHistogram, levels: Int, absMax: Float) -> Float {
        var best = absMax, bestError = Double.infinity
        for k in 1...128 {
            let t = absMax * Float(k) / 128
            let step = Double(t) / Double(levels)
            var error = 0.0
            for (i, c) in h.counts.enumerated() where c > 0 {
                let centre = (Double(i) + 0.5) * Double(h.binWidth)
                let q = centre >= Double(t) ? Double(t) : (centre / step).rounded() * step
                error += c * (centre - q) * (centre - q)
            }
            if error < bestError { bestError = error; best = t }
        }
        return best
    }
}
