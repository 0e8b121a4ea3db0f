import COpenBLAS

/// FP32 matrix products through OpenBLAS (cblas), the baseline every quantized kernel is measured against.
public enum BLAS {
    /// Threads OpenBLAS uses for every later call.
    public static func setThreads(_ count: Int) { openblas_set_num_threads(Int32(max(count, 1))) }
    public static var threads: Int { Int(openblas_get_num_threads()) }

    /// C = alpha * A B^T + beta * C for row-major A [m, k] (lda), B [n, k] (ldb), C [m, n] (ldc).
    @inline(__always)
    public static func gemmTransposedB(m: Int, n: Int, k: Int, alpha: Float = 1,
                                       a: UnsafePointer<Float>, lda: Int, b: UnsafePointer<Float>, ldb: Int,
                                       beta: Float = 0, c: UnsafeMutablePointer<Float>, ldc: Int) {
        guard m > 0, n > 0 else { return }
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, Int32(m), Int32(n), Int32(k), alpha,
                    a, Int32(lda), b, Int32(ldb), beta, c, Int32(ldc))
    }

    /// C = alpha * A B + beta * C for row-major A [m, k], B [k, n], C [m, n].
    @inline(__always)
    public static func gemm(m: Int, n: Int, k: Int, alpha: Float = 1,
                            a: UnsafePointer<Float>, lda: Int, b: UnsafePointer<Float>, ldb: Int,
                            beta: Float = 0, c: UnsafeMutablePointer<Float>, ldc: Int) {
        guard m > 0, n > 0 else { return }
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, Int32(m), Int32(n), Int32(k), alpha,
                    a, Int32(lda), b, Int32(ldb), beta, c, Int32(ldc))
    }

    /// X W^T for X [m, k] and W [n, k]: the product of a linear layer.
    public static func matmulTransposed(_ x: Matrix<Float>, _ w: Matrix<Float>) -> Matrix<Float> {
        precondition(x.columns == w.columns, "X \(x.shape) and W \(w.shape) differ in their last dimension")
        var y = Matrix<Float>(rows: x.rows, columns: w.rows, repeating: 0)
        x.storage.withUnsafeBufferPointer { xp in
            w.storage.withUnsafeBufferPointer { wp in
                y.storage.withUnsafeMutableBufferPointer { yp in
                    gemmTransposedB(m: x.rows, n: w.rows, k: x.columns, a: xp.baseAddress!, lda: x.columns,
                                    b: wp.baseAddress!, ldb: w.columns, c: yp.baseAddress!, ldc: w.rows)
                }
            }
        }
        return y
    }
}
