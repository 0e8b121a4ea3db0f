import Foundation
import QuantaKernels

/// Scaled dot-product attention for one sequence and all heads, through OpenBLAS:
///
///     out_h = softmax(Q_h K_g^T / sqrt(d) + mask) V_g,   g = h / (heads / kvHeads)   (grouped-query)
///
/// Q is [queries, heads * d], K and V are [keys, kvHeads * d] (row-major, heads side by side). With
/// `causalOffset` = c, query i sees keys 0...i + c (a decoder whose cache holds c earlier tokens);
/// nil means every query sees every key (an encoder).
public struct Attention: Sendable {
    public let heads: Int
    public let kvHeads: Int
    public let headDimension: Int

    public init(heads: Int, kvHeads: Int, headDimension: Int) throws(QuantaError) {
        guard heads > 0, kvHeads > 0, heads % kvHeads == 0, headDimension > 0 else {
            throw .invalidArgument("attention: \(heads) heads cannot share \(kvHeads) key/value heads")
        }
        self.heads = heads
        self.kvHeads = kvHeads
        self.headDimension = headDimension
    }

    public func callAsFunction(queries q: UnsafePointer<Float>, queryCount: Int,
                               keys k: UnsafePointer<Float>, values v: UnsafePointer<Float>, keyCount: Int,
                               causalOffset: Int?, output: UnsafeMutablePointer<Float>) {
        let d = headDimension, qStride = heads * d, kvStride = kvHeads * d
        let scale = 1 / Float(d).squareRoot()
        // With single-threaded OpenBLAS (the integer runtime's setting) the heads are split over the cores;
        // otherwise OpenBLAS threads each product.
        let work = heads * queryCount * keyCount * d
        let workers = BLAS.threads == 1 && work >= WorkerPool.minimumWork ? min(heads, ProcessInfo.processInfo.activeProcessorCount) : 1
        WorkerPool.run(workers) { worker in
        let scores = UnsafeMutablePointer<Float>.allocate(capacity: queryCount * keyCount)
        defer { scores.deallocate() }
        for h in stride(from: worker, to: heads, by: workers) {
            let g = h / (heads / kvHeads)
            BLAS.gemmTransposedB(m: queryCount, n: keyCount, k: d, alpha: scale, a: q + h * d, lda: qStride,
                                 b: k + g * d, ldb: kvStride, c: scores, ldc: keyCount)
            for i in 0..<queryCount {
                let row = scores + i * keyCount
                let visible = causalOffset.map { min(i + $0 + 1, keyCount) } ?? keyCount
                qk_softmax(row, Int32(visible))
                for j in visible..<keyCount { row[j] = 0 }
            }
            BLAS.gemm(m: queryCount, n: d, k: keyCount, a: scores, lda: keyCount, b: v + g * d, ldb: kvStride,
                      c: output + h * d, ldc: qStride)
        }
        }
    }
}
