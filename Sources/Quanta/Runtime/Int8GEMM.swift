import Foundation
import QuantaKernels

/// Which implementation of the INT8 kernels runs; all give identical results.
public enum KernelPath: String, Sendable, CaseIterable {
    case portable, avx2, vnni

    var c: qk_path {
        switch self {
        case .portable: return QK_PATH_PORTABLE
        case .avx2: return QK_PATH_AVX2
        case .vnni: return QK_PATH_VNNI
        }
    }

    /// The fastest path this CPU runs (detected at run time).
    public static var best: KernelPath {
        let path = qk_best_path()
        return allCases.first { $0.c == path } ?? .portable
    }

    public var isSupported: Bool { qk_path_supported(c) != 0 }
}

/// An INT8 weight W [n, k] (symmetric codes, per-output-channel scales) packed once for the kernels
/// (`qk_pack_weights`: panels of 16 output columns, k in groups of 4), with sum_k W[j, k] for the
/// zero-point correction of asymmetric activations.
public struct PackedInt8Weight: Sendable {
    public let outFeatures: Int, inFeatures: Int
    let packed: [Int8]
    public let rowSums: [Int32]
    public let scales: [Float]

    public init(codes: Matrix<Int8>, scales: [Float]) throws(QuantaError) {
        guard scales.count == codes.rows else { throw .shapeMismatch("\(scales.count) weight scales for \(codes.rows) output channels") }
        guard codes.columns < 1 << 16 else { throw .invalidArgument("k = \(codes.columns) could overflow the int32 accumulators") }
        outFeatures = codes.rows
        inFeatures = codes.columns
        var packed = [Int8](repeating: 0, count: qk_packed_size(Int32(codes.rows), Int32(codes.columns)))
        codes.storage.withUnsafeBufferPointer { w in
            packed.withUnsafeMutableBufferPointer { qk_pack_weights(w.baseAddress, Int32(codes.rows), Int32(codes.columns), Int32(codes.columns), $0.baseAddress) }
        }
        self.packed = packed
        rowSums = Int8Matmul.weightRowSums(codes)
        self.scales = scales
    }
}

/// UINT8 activation codes A [m, k] in rows padded to a multiple of 4 bytes (what the kernels read), with
/// per-row scale and zero point: a~ = S (Q + Z).
public struct PaddedActivations: Sendable {
    public let rows: Int, columns: Int, stride: Int
    public var codes: [UInt8]
    public var scales: [Float]
    public var zeroPoints: [Int32]

    public init(rows: Int, columns: Int) {
        self.rows = rows
        self.columns = columns
        stride = (columns + 3) / 4 * 4
        codes = [UInt8](repeating: 0, count: rows * stride)
        scales = [Float](repeating: 1, count: rows)
        zeroPoints = [Int32](repeating: 0, count: rows)
    }

    public init(codes: Matrix<UInt8>, scales: [Float], zeroPoints: [Int32]) {
        self.init(rows: codes.rows, columns: codes.columns)
        for r in 0..<rows { self.codes.replaceSubrange(r * stride..<r * stride + columns, with: codes.row(r)) }
        self.scales = scales
        self.zeroPoints = zeroPoints
    }
}

/// The INT8 GEMM of seed 000 on the CPU: Y = A W^T with A's UINT8 codes and W's INT8 codes, int32
/// accumulation, and the output mode applied in the kernel's epilogue:
///
///     i8i32:  C[i, j] = acc[i, j] + Z_a[i] * sum_k W[j, k]
///     i8f32:  Y[i, j] = (S_a[i] * S_w[j]) * float(acc[i, j] + Z_a[i] * sum_k W[j, k]) + b[j]
///
/// Columns are split over `threads` threads in panels of 16; nothing is allocated per call beyond the
/// output the caller passes.
public enum Int8GEMM {
    public static func i8i32(_ a: PaddedActivations, _ w: PackedInt8Weight, into c: inout Matrix<Int32>,
                             threads: Int = 1, path: KernelPath = .best) {
        precondition(a.columns == w.inFeatures && c.rows == a.rows && c.columns == w.outFeatures)
        c.storage.withUnsafeMutableBufferPointer { out in
            run(a, w, threads: threads, path: path, mode: 0, bias: nil, i32: out.baseAddress, f32: nil)
        }
    }

    public static func i8f32(_ a: PaddedActivations, _ w: PackedInt8Weight, bias: [Float]? = nil, into y: inout Matrix<Float>,
                             threads: Int = 1, path: KernelPath = .best) {
        precondition(a.columns == w.inFeatures && y.rows == a.rows && y.columns == w.outFeatures)
        precondition(bias == nil || bias!.count == w.outFeatures)
        y.storage.withUnsafeMutableBufferPointer { out in
            run(a, w, threads: threads, path: path, mode: 1, bias: bias, i32: nil, f32: out.baseAddress)
        }
    }

    static func run(_ a: PaddedActivations, _ w: PackedInt8Weight, threads: Int, path: KernelPath, mode: Int32,
                    bias: [Float]?, i32: UnsafeMutablePointer<Int32>?, f32: UnsafeMutablePointer<Float>?) {
        let panels = (w.outFeatures + Int(QK_PANEL) - 1) / Int(QK_PANEL)
        let workers = max(1, min(threads, panels))
        a.codes.withUnsafeBufferPointer { codes in
        a.scales.withUnsafeBufferPointer { aScale in
        a.zeroPoints.withUnsafeBufferPointer { aZero in
        w.packed.withUnsafeBufferPointer { packed in
        w.rowSums.withUnsafeBufferPointer { sums in
        w.scales.withUnsafeBufferPointer { wScale in
        (bias ?? []).withUnsafeBufferPointer { b in
            let epilogue = qk_epilogue(mode: mode, a_zero: aZero.baseAddress, w_sum: sums.baseAddress, a_scale: aScale.baseAddress,
                                       w_scale: wScale.baseAddress, bias: bias == nil ? nil : b.baseAddress,
                                       c_i32: i32, c_f32: f32, ldc: Int32(w.outFeatures))
            withUnsafePointer(to: epilogue) { e in
                let call = ParallelCall { t in
                    let n0 = t * panels / workers * Int(QK_PANEL), n1 = min((t + 1) * panels / workers * Int(QK_PANEL), w.outFeatures)
                    qk_gemm_u8s8(path.c, codes.baseAddress, Int32(a.rows), Int32(a.columns), Int32(a.stride), packed.baseAddress,
                                 Int32(w.outFeatures), Int32(n0), Int32(n1), e)
                }
                call.run(workers)
            }
        }}}}}}}
    }
}

/// A body run once per worker index on the calling thread's Dispatch pool. The kernels write disjoint
/// output columns and only read shared inputs, so the unchecked sendability is safe.
struct ParallelCall: @unchecked Sendable {
    let body: (Int) -> Void

    func run(_ workers: Int) {
        if workers == 1 { body(0) } else { DispatchQueue.concurrentPerform(iterations: workers) { body($0) } }
    }
}
