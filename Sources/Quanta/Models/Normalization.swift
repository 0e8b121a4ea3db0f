import Foundation
import QuantaKernels

/// LayerNorm over the last axis: y = (x - mean) / sqrt(var + eps) * weight + bias (biased variance).
public struct LayerNorm: Sendable {
    public var weight: [Float]
    public var bias: [Float]
    public let epsilon: Float

    public init(weight: [Float], bias: [Float], epsilon: Float) throws(QuantaError) {
        guard weight.count == bias.count else { throw .shapeMismatch("LayerNorm weight \(weight.count) vs bias \(bias.count)") }
        self.weight = weight
        self.bias = bias
        self.epsilon = epsilon
    }

    public func callAsFunction(_ x: Matrix<Float>) -> Matrix<Float> {
        precondition(x.columns == weight.count)
        return x.mappingRows { row in
            let n = Float(row.count)
            var mean: Float = 0
            for v in row { mean += v }
            mean /= n
            var variance: Float = 0
            for v in row { variance += (v - mean) * (v - mean) }
            let inverse = 1 / (variance / n + epsilon).squareRoot()
            for c in row.indices { row[c] = (row[c] - mean) * inverse * weight[c] + bias[c] }
        }
    }
}

/// RMSNorm over the last axis: y = x / sqrt(mean(x^2) + eps) * weight.
public struct RMSNorm: Sendable {
    public var weight: [Float]
    public let epsilon: Float

    public init(weight: [Float], epsilon: Float) {
        self.weight = weight
        self.epsilon = epsilon
    }

    public func callAsFunction(_ x: Matrix<Float>) -> Matrix<Float> {
        precondition(x.columns == weight.count)
        return x.mappingRows { row in
            var squares: Float = 0
            for v in row { squares += v * v }
            let inverse = 1 / (squares / Float(row.count) + epsilon).squareRoot()
            for c in row.indices { row[c] = row[c] * inverse * weight[c] }
        }
    }
}

/// Element-wise activations.
public enum Activation: Sendable {
    /// GELU with erf: x/2 (1 + erf(x / sqrt 2)) (BERT), erf to 1.5e-7 (`qk_gelu`).
    case gelu
    /// SiLU: x / (1 + e^-x) (LLaMA's SwiGLU gate), e^x to 2 ulp (`qk_silu`).
    case silu

    @inline(__always)
    public func callAsFunction(_ x: Float) -> Float {
        switch self {
        case .gelu: return qk_gelu(x)
        case .silu: return qk_silu(x)
        }
    }

    /// The kernels' code for this activation (QK_ACTIVATION_*).
    var code: Int32 {
        switch self {
        case .gelu: return Int32(QK_ACTIVATION_GELU)
        case .silu: return Int32(QK_ACTIVATION_SILU)
        }
    }
}

extension Matrix where Element == Float {
    /// A copy with `transform` applied to each row in place.
    func mappingRows(_ transform: (UnsafeMutableBufferPointer<Float>) -> Void) -> Matrix<Float> {
        var y = self
        let n = columns
        y.storage.withUnsafeMutableBufferPointer { p in
            for r in 0..<rows { transform(UnsafeMutableBufferPointer(rebasing: p[r * n..<(r + 1) * n])) }
        }
        return y
    }

    /// self += other, element-wise (residual connections).
    mutating func add(_ other: Matrix<Float>) {
        precondition(rows == other.rows && columns == other.columns)
        storage.withUnsafeMutableBufferPointer { p in
            other.storage.withUnsafeBufferPointer { q in for i in 0..<p.count { p[i] += q[i] } }
        }
    }

    /// Applies `f` to every element (`qk_activate`, in chunks over the cores).
    public mutating func apply(_ f: Activation) {
        storage.withUnsafeMutableBufferPointer { p in
            WorkerPool.runChunks(p.count, work: p.count) { range in qk_activate(f.code, p.baseAddress! + range.lowerBound, range.count) }
        }
    }

    /// self = silu(self) * other, element-wise (SwiGLU's gate, `qk_silu_multiply`).
    public mutating func siluMultiply(_ other: Matrix<Float>) {
        precondition(rows == other.rows && columns == other.columns)
        storage.withUnsafeMutableBufferPointer { g in
            other.storage.withUnsafeBufferPointer { u in
                WorkerPool.runChunks(g.count, work: g.count) { range in qk_silu_multiply(g.baseAddress! + range.lowerBound, u.baseAddress! + range.lowerBound, range.count) }
            }
        }
    }
}
