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

    /// On `qk_norm_rows` (its sums in 16 partial sums, the order `NormQuantize` shares), rows split over the cores.
    public func callAsFunction(_ x: Matrix<Float>) -> Matrix<Float> {
        precondition(x.columns == weight.count)
        return x.normalizingRows(kind: Int32(QK_NORM_LAYER), weight: weight, bias: bias, epsilon: epsilon)
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

    /// On `qk_norm_rows`, as LayerNorm.
    public func callAsFunction(_ x: Matrix<Float>) -> Matrix<Float> {
        precondition(x.columns == weight.count)
        return x.normalizingRows(kind: Int32(QK_NORM_RMS), weight: weight, bias: nil, epsilon: epsilon)
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
    /// The rows normalized by `qk_norm_rows` (kind QK_NORM_LAYER or QK_NORM_RMS), split over the cores.
    func normalizingRows(kind: Int32, weight: [Float], bias: [Float]?, epsilon: Float) -> Matrix<Float> {
        var y = Matrix(unfilledRows: rows, columns: columns)
        let n = columns
        storage.withUnsafeBufferPointer { xp in y.storage.withUnsafeMutableBufferPointer { yp in
        weight.withUnsafeBufferPointer { w in (bias ?? []).withUnsafeBufferPointer { b in
            let norm = qk_norm(kind: kind, weight: w.baseAddress, bias: bias == nil ? nil : b.baseAddress, epsilon: epsilon)
            WorkerPool.runChunks(rows, work: rows * n) { chunk in
                withUnsafePointer(to: norm) { qk_norm_rows($0, xp.baseAddress! + chunk.lowerBound * n, Int32(chunk.count), Int32(n), yp.baseAddress! + chunk.lowerBound * n) }
            }
        }}}}
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
