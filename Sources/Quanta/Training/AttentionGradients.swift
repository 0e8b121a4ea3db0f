import QuantaKernels

/// dL/dQ, dL/dK and dL/dV of one sequence's attention.
public struct AttentionGradients: Sendable {
    public var queries: Matrix<Float>, keys: Matrix<Float>, values: Matrix<Float>
}

extension Attention {
    /// The backward pass of out_h = P_h V_g, P_h = softmax(S_h), S_h = Q_h K_g^T / sqrt(d) (+ the causal mask),
    /// for one sequence whose queries are its keys (no cache), given dL/dout. Per head, P is recomputed and
    ///
    ///     dV_g += P^T dO_h,   dP = dO_h V_g^T,   dS = P (dP - rowsum(dP P)),
    ///     dQ_h = dS K_g / sqrt(d),   dK_g += dS^T Q_h / sqrt(d)
    ///
    /// (grouped-query heads add into their shared K and V gradients).
    public func backward(queries q: Matrix<Float>, keys k: Matrix<Float>, values v: Matrix<Float>, causal: Bool,
                         outputGradient dOut: Matrix<Float>) -> AttentionGradients {
        let d = headDimension, tokens = q.rows, qStride = heads * d, kvStride = kvHeads * d
        precondition(q.columns == qStride && k.columns == kvStride && v.columns == kvStride && dOut.columns == qStride
                     && k.rows == tokens && v.rows == tokens && dOut.rows == tokens)
        let scale = 1 / Float(d).squareRoot()
        var gradients = AttentionGradients(queries: Matrix(rows: tokens, columns: qStride, repeating: 0),
                                           keys: Matrix(rows: tokens, columns: kvStride, repeating: 0),
                                           values: Matrix(rows: tokens, columns: kvStride, repeating: 0))
        var p = [Float](repeating: 0, count: tokens * tokens), dp = p
        q.storage.withUnsafeBufferPointer { qp in k.storage.withUnsafeBufferPointer { kp in v.storage.withUnsafeBufferPointer { vp in
        dOut.storage.withUnsafeBufferPointer { op in p.withUnsafeMutableBufferPointer { pp in dp.withUnsafeMutableBufferPointer { dpp in
        gradients.queries.storage.withUnsafeMutableBufferPointer { dq in gradients.keys.storage.withUnsafeMutableBufferPointer { dk in
        gradients.values.storage.withUnsafeMutableBufferPointer { dv in
            let (probabilities, dProbabilities) = (pp.baseAddress!, dpp.baseAddress!)
            for h in 0..<heads {
                let g = h / (heads / kvHeads)
                let (qh, kg, vg, oh) = (qp.baseAddress! + h * d, kp.baseAddress! + g * d, vp.baseAddress! + g * d, op.baseAddress! + h * d)
                BLAS.gemmTransposedB(m: tokens, n: tokens, k: d, alpha: scale, a: qh, lda: qStride, b: kg, ldb: kvStride,
                                     c: probabilities, ldc: tokens)
                for i in 0..<tokens {
                    let row = probabilities + i * tokens, visible = causal ? i + 1 : tokens
                    qk_softmax(row, Int32(visible))
                    for j in visible..<tokens { row[j] = 0 }
                }
                BLAS.sgemm(transposeA: true, transposeB: false, m: tokens, n: d, k: tokens, alpha: 1, a: probabilities, lda: tokens,
                           b: oh, ldb: qStride, beta: 1, c: dv.baseAddress! + g * d, ldc: kvStride)
                BLAS.gemmTransposedB(m: tokens, n: tokens, k: d, a: oh, lda: qStride, b: vg, ldb: kvStride, c: dProbabilities, ldc: tokens)
                for i in 0..<tokens {
                    let (row, dRow) = (probabilities + i * tokens, dProbabilities + i * tokens)
                    var dot: Float = 0
                    for j in 0..<tokens { dot += row[j] * dRow[j] }
                    for j in 0..<tokens { dRow[j] = row[j] * (dRow[j] - dot) }
                }
                BLAS.gemm(m: tokens, n: d, k: tokens, alpha: scale, a: dProbabilities, lda: tokens, b: kg, ldb: kvStride,
                          c: dq.baseAddress! + h * d, ldc: qStride)
                BLAS.sgemm(transposeA: true, transposeB: false, m: tokens, n: d, k: tokens, alpha: scale, a: dProbabilities, lda: tokens,
                           b: qh, ldb: qStride, beta: 1, c: dk.baseAddress! + g * d, ldc: kvStride)
            }
        }}}}}}}}}
        return gradients
    }
}

extension Attention {
    /// Attention of each sequence's rows (stacked: `lengths` rows each) on its own keys, causal or not.
    public func perSequence(queries q: Matrix<Float>, keys k: Matrix<Float>, values v: Matrix<Float>, lengths: [Int], causal: Bool) -> Matrix<Float> {
        precondition(q.rows == lengths.reduce(0, +) && k.rows == q.rows && v.rows == q.rows)
        var context = Matrix<Float>(unfilledRows: q.rows, columns: q.columns)   // every head writes its columns of every row
        q.storage.withUnsafeBufferPointer { qp in k.storage.withUnsafeBufferPointer { kp in v.storage.withUnsafeBufferPointer { vp in
            context.storage.withUnsafeMutableBufferPointer { cp in
                var start = 0
                for length in lengths {
                    self(queries: qp.baseAddress! + start * q.columns, queryCount: length, keys: kp.baseAddress! + start * k.columns,
                         values: vp.baseAddress! + start * v.columns, keyCount: length, causalOffset: causal ? 0 : nil,
                         output: cp.baseAddress! + start * q.columns)
                    start += length
                }
            }
        }}}
        return context
    }

    /// `backward` of each sequence of `perSequence`, stacked back.
    public func backward(queries q: Matrix<Float>, keys k: Matrix<Float>, values v: Matrix<Float>, lengths: [Int], causal: Bool,
                         outputGradient dOut: Matrix<Float>) -> AttentionGradients {
        var (dq, dk, dv) = ([Float](), [Float](), [Float]())
        var start = 0
        for length in lengths {
            let range = start..<start + length
            let g = backward(queries: q.rows(range), keys: k.rows(range), values: v.rows(range), causal: causal, outputGradient: dOut.rows(range))
            (dq, dk, dv) = (dq + g.queries.storage, dk + g.keys.storage, dv + g.values.storage)
            start += length
        }
        return AttentionGradients(queries: try! Matrix(rows: q.rows, columns: q.columns, storage: dq),
                                  keys: try! Matrix(rows: k.rows, columns: k.columns, storage: dk),
                                  values: try! Matrix(rows: v.rows, columns: v.columns, storage: dv))
    }
}
