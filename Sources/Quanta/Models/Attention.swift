import Foundation
import QuantaKernels

/// Scaled dot-product attention for one sequence and all heads, through OpenBLAS:
///
///     out_h = softmax(Q_h K_g^T / sqrt(d) + mask) V_g,   g = h / (heads / kvHeads)   (grouped-query)
///
/// Q is [queries, heads * d], K and V are [keys, kvHeads * d] (row-major, heads side by side). With
/// `causalOffset` = c, query i sees keys 0...i + c (a decoder whose cache holds c earlier tokens);
/// nil means every query sees every key (an encoder). A causal product skips the masked scores a block of
/// queries at a time.
public struct Attention: Sendable {
    public let heads: Int
    public let kvHeads: Int
    public let headDimension: Int
    /// Queries per block of a causal product (SmolLM2's 512-token prefill, FP32, 3 interleaved rounds on Zen 3:
    /// 387 tokens/s median against 377 for 32, 385 for 128, and 325 for whole rows).
    static let causalBlock = 64

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
        // The heads are split over the FP32 products' threads; each head's products run on its worker.
        let work = heads * queryCount * keyCount * d
        let workers = work >= WorkerPool.minimumWork ? min(heads, BLAS.threads) : 1
        // A causal product runs in blocks of queries, each against the keys its last query sees, so the
        // masked half of the scores is neither computed nor multiplied by V.
        let block = causalOffset == nil ? max(queryCount, 1) : Self.causalBlock
        // With several queries, K_g^T [d, keys] is copied once per key group, so that the scores are a plain
        // product, which OpenBLAS's small-matrix kernels take without packing (MiniLM on Zen 4: 2-19% more
        // sequences/s); one query (decoding) multiplies K_g^T in place.
        let transpose = queryCount > 1
        WorkerPool.run(workers) { worker in
        let scores = UnsafeMutablePointer<Float>.allocate(capacity: min(block, queryCount) * keyCount)
        let transposedKeys = UnsafeMutablePointer<Float>.allocate(capacity: transpose ? d * keyCount : 0)
        defer { scores.deallocate(); transposedKeys.deallocate() }
        var transposedGroup = -1
        for h in stride(from: worker, to: heads, by: workers) {
            let g = h / (heads / kvHeads)
            if transpose && g != transposedGroup {
                qk_transpose(k + g * d, Int32(keyCount), Int32(d), Int32(kvStride), transposedKeys, Int32(keyCount))
                transposedGroup = g
            }
            for i0 in stride(from: 0, to: queryCount, by: block) {
                let rows = min(block, queryCount - i0)
                let keys = causalOffset.map { min(i0 + rows + $0, keyCount) } ?? keyCount
                if transpose {
                    BLAS.gemm(m: rows, n: keys, k: d, alpha: scale, a: q + i0 * qStride + h * d, lda: qStride,
                              b: transposedKeys, ldb: keyCount, c: scores, ldc: keys)
                } else {
                    BLAS.gemmTransposedB(m: rows, n: keys, k: d, alpha: scale, a: q + i0 * qStride + h * d, lda: qStride,
                                         b: k + g * d, ldb: kvStride, c: scores, ldc: keys)
                }
                for i in 0..<rows {
                    let row = scores + i * keys
                    let visible = causalOffset.map { min(i0 + i + $0 + 1, keys) } ?? keys
                    qk_softmax(row, Int32(visible))
                    for j in visible..<keys { row[j] = 0 }
                }
                BLAS.gemm(m: rows, n: d, k: keys, a: scores, lda: keys, b: v + g * d, ldb: kvStride,
                          c: output + i0 * qStride + h * d, ldc: qStride)
            }
        }
        }
    }
}
