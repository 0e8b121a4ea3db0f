import Foundation

/// AdamW (Loshchilov & Hutter) over named parameter arrays, as torch.optim.AdamW steps them:
///
///     p -= lr wd p                                   (decoupled weight decay)
///     m = b1 m + (1 - b1) g,   v = b2 v + (1 - b2) g^2
///     p -= lr (m / (1 - b1^t)) / (sqrt(v / (1 - b2^t)) + eps)
public struct AdamW: Sendable {
    public var beta1: Float, beta2: Float, epsilon: Float, weightDecay: Float
    public internal(set) var step = 0
    var moments: [String: (first: [Float], second: [Float])] = [:]

    public init(beta1: Float = 0.9, beta2: Float = 0.999, epsilon: Float = 1e-8, weightDecay: Float = 0.01) {
        (self.beta1, self.beta2, self.epsilon, self.weightDecay) = (beta1, beta2, epsilon, weightDecay)
    }

    /// Starts step t + 1: every `update` until the next call uses its bias corrections.
    public mutating func beginStep() { step += 1 }

    /// Updates `parameter` (named `name`) in place by its gradient at learning rate `rate`.
    public mutating func update(_ name: String, _ parameter: inout [Float], gradient: [Float], rate: Float) {
        precondition(parameter.count == gradient.count && step > 0, "\(name): call beginStep() first; shapes must match")
        // Taken out of the dictionary so that they are updated in place, not copied.
        var (m, v) = moments.removeValue(forKey: name) ?? ([Float](repeating: 0, count: parameter.count), [Float](repeating: 0, count: parameter.count))
        let firstCorrection = 1 - pow(beta1, Float(step)), secondCorrection = 1 - pow(beta2, Float(step))
        let (b1, b2, decay, eps) = (beta1, beta2, weightDecay, epsilon)
        parameter.withUnsafeMutableBufferPointer { p in m.withUnsafeMutableBufferPointer { m in v.withUnsafeMutableBufferPointer { v in
            gradient.withUnsafeBufferPointer { g in
                for i in 0..<p.count {
                    p[i] -= rate * decay * p[i]
                    m[i] = b1 * m[i] + (1 - b1) * g[i]
                    v[i] = b2 * v[i] + (1 - b2) * g[i] * g[i]
                    p[i] -= rate * (m[i] / firstCorrection) / ((v[i] / secondCorrection).squareRoot() + eps)
                }
            }
        }}}
        moments[name] = (m, v)
    }
}

/// The learning rate at step t (0-based) of `total`: linear warm-up, peak (t + 1) / warmup, over `warmup` steps, then a
/// cosine decay to `floor`:  lr = floor + (peak - floor) (1 + cos(pi (t - warmup) / (total - warmup))) / 2.
public struct CosineSchedule: Sendable {
    public var peak: Float, floor: Float, warmup: Int, total: Int

    public init(peak: Float, floor: Float = 0, warmup: Int, total: Int) {
        (self.peak, self.floor, self.warmup, self.total) = (peak, floor, warmup, total)
    }

    public func rate(at t: Int) -> Float {
        if t < warmup { return peak * Float(t + 1) / Float(warmup) }
        let progress = Float(min(t - warmup, max(total - warmup, 1))) / Float(max(total - warmup, 1))
        return floor + (peak - floor) * (1 + cos(Float.pi * progress)) / 2
    }
}
