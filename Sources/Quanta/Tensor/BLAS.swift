import Foundation
#if canImport(Accelerate)
import Accelerate
#else
import COpenBLAS
#endif
#if canImport(Glibc)
import Glibc
#endif
import QuantaKernels

/// FP32 matrix products through OpenBLAS (cblas), the baseline every quantized kernel is measured against; one-row
/// products (decoding) on Quanta's own FP32 GEMV (qk_gemv_f32), which streams the weights at the memory's rate.
public enum BLAS {
    /// The OpenBLAS kernel family for this CPU (`SkylakeX` with AVX-512, `Haswell` with AVX2 + FMA), or nil.
    ///
    /// Debian's OpenBLAS 0.3.21 does not recognise recent CPUs (Sapphire Rapids, Zen 4) and falls back to
    /// its SSE3 "Prescott" kernels, which are 2-3x slower; an FP32 baseline that slow would inflate every
    /// INT8 speed-up. OpenBLAS reads `OPENBLAS_CORETYPE` when it loads, so the CLI sets it and re-executes
    /// itself (`BLAS.reexecWithTunedCoreType`); library users can set it in their environment.
    public static func preferredCoreType(cpu: CPUInfo = .current()) -> String? {
        if cpu.flags.contains("avx512f") && cpu.flags.contains("avx512bw") { return "SkylakeX" }
        if cpu.flags.contains("avx2") && cpu.flags.contains("fma") { return "Haswell" }
        return nil
    }

    /// If `OPENBLAS_CORETYPE` is unset and this CPU has a better kernel family, sets it and re-executes the
    /// current program with the same arguments (Linux); returns normally when nothing needs doing or exec fails.
    public static func reexecWithTunedCoreType() {
        #if os(Linux)
        guard getenv("OPENBLAS_CORETYPE") == nil, let core = preferredCoreType() else { return }
        setenv("OPENBLAS_CORETYPE", core, 1)
        execv("/proc/self/exe", CommandLine.unsafeArgv)
        #endif
    }

    /// Makes this process measure the AVX2 class whatever the CPU: Quanta's kernels (`QUANTA_ISA=avx2`),
    /// OpenBLAS (`OPENBLAS_CORETYPE=Haswell`) and oneDNN 2.x (`DNNL_MAX_CPU_ISA=AVX2`) all at once. The first two
    /// are read when the process starts, so the settings are made and the program re-executed with the same
    /// arguments (Linux); returns normally once they are in force (or when exec fails).
    public static func reexecForcingAVX2() {
        #if os(Linux)
        let environment = ProcessInfo.processInfo.environment
        guard environment["QUANTA_ISA"] != "avx2" || environment["OPENBLAS_CORETYPE"] != "Haswell" else { return }
        setenv("QUANTA_ISA", "avx2", 1)
        setenv("OPENBLAS_CORETYPE", "Haswell", 1)
        setenv("DNNL_MAX_CPU_ISA", "AVX2", 1)
        execv("/proc/self/exe", CommandLine.unsafeArgv)
        #endif
    }

    /// Which OpenBLAS kernels run, for benchmark headers: "OpenBLAS core type Haswell", or "OpenBLAS core
    /// type of its own choice" when OPENBLAS_CORETYPE is unset. A core type set in the environment below this
    /// CPU's (Haswell on an AVX-512 CPU) is flagged unless QUANTA_ISA names a smaller class (as `--isa avx2` does):
    /// the FP32 baseline then runs slower than it could (Zen 5: sgemm at half its AVX-512 rate), which flatters
    /// every INT8 speed-up.
    public static var kernelDescription: String {
        let environment = ProcessInfo.processInfo.environment
        guard let core = environment["OPENBLAS_CORETYPE"] else { return "OpenBLAS core type of its own choice" }
        guard environment["QUANTA_ISA"] == nil, let best = preferredCoreType(), best.lowercased() != core.lowercased() else {
            return "OpenBLAS core type \(core)"
        }
        return "OpenBLAS core type \(core) (from the environment; this CPU's best is \(best): unset OPENBLAS_CORETYPE for a fair FP32 baseline)"
    }

    /// Threads of Quanta's FP32 products: `count`, at most the online cores. OpenBLAS itself stays single-threaded
    /// and each large product is split over Quanta's worker pool (`sgemm`), so that the process has one pool of
    /// spinning workers, not two: with OpenBLAS threading its own products, its idle workers spun against the
    /// integer kernels' and the element-wise kernels' threads, and attention ran its many small per-head
    /// products one after another, each threaded by OpenBLAS (MiniLM FP32 at 2 threads on Zen 4, AVX2 class:
    /// 10-25% fewer sequences/s than with one pool).
    public static func setThreads(_ count: Int) {
        productThreads = max(1, min(count, ProcessInfo.processInfo.activeProcessorCount))
    }
    /// Threads of Quanta's FP32 products (`setThreads`; the online cores until set).
    public static var threads: Int { productThreads }
    nonisolated(unsafe) private static var productThreads = ProcessInfo.processInfo.activeProcessorCount

    /// OpenBLAS single-threaded for every call made through `BLAS` (set once, before the first product).
    private static let singleThreadedOpenBLAS: Void = {
        #if !canImport(Accelerate)
        openblas_set_num_threads(1)
        #endif
    }()

    /// Runs `body` with OpenBLAS threading its own products over `threads` threads, then makes it single-threaded
    /// again: the OpenBLAS sgemm and sgemv rows of `quanta bench gemm`, measured as OpenBLAS runs them.
    public static func withOpenBLASThreads<T>(_ threads: Int, _ body: () throws -> T) rethrows -> T {
        _ = singleThreadedOpenBLAS
        #if !canImport(Accelerate)
        openblas_set_num_threads(Int32(max(1, min(threads, ProcessInfo.processInfo.activeProcessorCount))))
        defer { openblas_set_num_threads(1) }
        #endif
        return try body()
    }

    /// Multiply-adds from which `sgemm` splits a product over `threads` (OpenBLAS's own threshold for
    /// threading sgemm, 65536 x 4).
    static let splitWork = 1 << 18

    /// C = alpha * A B^T + beta * C for row-major A [m, k] (lda), B [n, k] (ldb), C [m, n] (ldc).
    @inline(__always)
    public static func gemmTransposedB(m: Int, n: Int, k: Int, alpha: Float = 1,
                                       a: UnsafePointer<Float>, lda: Int, b: UnsafePointer<Float>, ldb: Int,
                                       beta: Float = 0, c: UnsafeMutablePointer<Float>, ldc: Int) {
        sgemm(transposeB: true, m: m, n: n, k: k, alpha: alpha, a: a, lda: lda, b: b, ldb: ldb, beta: beta, c: c, ldc: ldc)
    }

    /// Y = X W^T for row-major X [m, k] and W [n, k] in one OpenBLAS sgemm call, unsplit: with
    /// `withOpenBLASThreads`, the peer of `quanta bench gemm`.
    public static func openBLASProduct(m: Int, n: Int, k: Int, a: UnsafePointer<Float>, b: UnsafePointer<Float>, c: UnsafeMutablePointer<Float>) {
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, Int32(m), Int32(n), Int32(k), 1, a, Int32(k), b, Int32(k), 0, c, Int32(n))
    }

    /// y = A x + beta y for row-major A [rows, columns]: OpenBLAS's sgemv on its own threads (`withOpenBLASThreads`),
    /// the peer of decode-shaped products in `quanta bench gemm`.
    public static func gemv(rows: Int, columns: Int, a: UnsafePointer<Float>, x: UnsafePointer<Float>, y: UnsafeMutablePointer<Float>,
                            beta: Float = 0) {
        cblas_sgemv(CblasRowMajor, CblasNoTrans, Int32(rows), Int32(columns), 1, a, Int32(columns), x, 1, beta, y, 1)
    }

    /// G += X^T X for row-major X [rows, columns] and G [columns, columns] (a Gram matrix over the rows).
    public static func gram(rows: Int, columns: Int, x: UnsafePointer<Float>, into g: UnsafeMutablePointer<Float>) {
        guard rows > 0 else { return }
        sgemm(transposeA: true, transposeB: false, m: columns, n: columns, k: rows, alpha: 1, a: x, lda: columns, b: x, ldb: columns,
              beta: 1, c: g, ldc: columns)
    }

    /// C = alpha * A B + beta * C for row-major A [m, k], B [k, n], C [m, n].
    @inline(__always)
    public static func gemm(m: Int, n: Int, k: Int, alpha: Float = 1,
                            a: UnsafePointer<Float>, lda: Int, b: UnsafePointer<Float>, ldb: Int,
                            beta: Float = 0, c: UnsafeMutablePointer<Float>, ldc: Int) {
        sgemm(transposeB: false, m: m, n: n, k: k, alpha: alpha, a: a, lda: lda, b: b, ldb: ldb, beta: beta, c: c, ldc: ldc)
    }

    /// C = alpha op(A) op(B) + beta C (row-major; op(M) = M^T when its flag is set). A product of at least
    /// `splitWork` multiply-adds is split over `threads`: into blocks of C's rows when C has at least as many rows
    /// as columns (each block reads its rows of op(A) and all of op(B)), else into blocks of its columns. Called
    /// from a worker of the pool (attention's heads), it runs on that worker.
    static func sgemm(transposeA: Bool = false, transposeB: Bool, m: Int, n: Int, k: Int, alpha: Float, a: UnsafePointer<Float>, lda: Int,
                      b: UnsafePointer<Float>, ldb: Int, beta: Float, c: UnsafeMutablePointer<Float>, ldc: Int) {
        guard m > 0, n > 0 else { return }
        _ = singleThreadedOpenBLAS
        func product(m: Int, n: Int, a: UnsafePointer<Float>, b: UnsafePointer<Float>, c: UnsafeMutablePointer<Float>) {
            cblas_sgemm(CblasRowMajor, transposeA ? CblasTrans : CblasNoTrans, transposeB ? CblasTrans : CblasNoTrans, Int32(m), Int32(n), Int32(k), alpha,
                        a, Int32(lda), b, Int32(ldb), beta, c, Int32(ldc))
        }
        let splitRows = m >= n
        // Blocks of at least 16 rows or columns, boundaries on multiples of 16 (OpenBLAS's register tiles); with
        // pieces of 128 or more, several per worker, taken one at a time (a core slowed by another process takes fewer).
        let workers = m * n * k < splitWork ? 1 : min(threads, max(m, n) / 16)
        guard workers > 1 else { return product(m: m, n: n, a: a, b: b, c: c) }
        let pieces = WorkerPool.pieces(splitRows ? m : n, workers: workers, minimum: 128, alignment: 16)
        WorkerPool.run(pieces.count, threads: workers) { t in
            let (start, end) = (pieces[t].lowerBound, pieces[t].upperBound)
            if splitRows {   // rows of op(A): rows of A, or columns of A stored [k, m]
                product(m: end - start, n: n, a: a + (transposeA ? start : start * lda), b: b, c: c + start * ldc)
            } else {         // columns of op(B): rows of B stored [n, k], or columns of B
                product(m: m, n: end - start, a: a, b: b + (transposeB ? start * ldb : start), c: c + start)
            }
        }
    }

    /// op(A) op(B), op(M) = M^T when its flag is set, else M: the products of the backward pass
    /// (dX = dY W, dW = dY^T X).
    public static func matmul(_ a: Matrix<Float>, transposed transposeA: Bool = false, _ b: Matrix<Float>, transposed transposeB: Bool = false) -> Matrix<Float> {
        let (m, k) = transposeA ? (a.columns, a.rows) : (a.rows, a.columns)
        let (k2, n) = transposeB ? (b.columns, b.rows) : (b.rows, b.columns)
        precondition(k == k2, "op(A) [\(m), \(k)] and op(B) [\(k2), \(n)] do not chain")
        var c = Matrix<Float>(rows: m, columns: n, repeating: 0)
        guard k > 0 else { return c }
        a.storage.withUnsafeBufferPointer { ap in b.storage.withUnsafeBufferPointer { bp in c.storage.withUnsafeMutableBufferPointer { cp in
            sgemm(transposeA: transposeA, transposeB: transposeB, m: m, n: n, k: k, alpha: 1, a: ap.baseAddress!, lda: a.columns,
                  b: bp.baseAddress!, ldb: b.columns, beta: 0, c: cp.baseAddress!, ldc: n)
        }}}
        return c
    }

    /// X W^T + b for X [m, k], W [n, k] and an optional bias b [n]: the product of a linear layer. With a bias,
    /// Y starts as b in every row and the product adds into it (sgemm/sgemv with beta = 1), so the output is
    /// written once instead of zeroed, zeroed again by sgemm and then read back for the bias.
    public static func matmulTransposed(_ x: Matrix<Float>, _ w: Matrix<Float>, bias: [Float]? = nil) -> Matrix<Float> {
        precondition(x.columns == w.columns, "X \(x.shape) and W \(w.shape) differ in their last dimension")
        precondition(bias == nil || bias!.count == w.rows, "bias of \(bias!.count) values for \(w.rows) outputs")
        var y = bias.map { Matrix(rows: x.rows, repeatingRow: $0) } ?? Matrix<Float>(rows: x.rows, columns: w.rows, repeating: 0)
        let beta: Float = bias == nil ? 0 : 1
        x.storage.withUnsafeBufferPointer { xp in
            w.storage.withUnsafeBufferPointer { wp in
                y.storage.withUnsafeMutableBufferPointer { yp in
                    let (a, b, c) = (xp.baseAddress!, wp.baseAddress!, yp.baseAddress!)
                    let (m, n, k) = (x.rows, w.rows, x.columns)
                    if m == 1 {   // one token (decoding): the matrix-vector product
                        qk_gemv_f32(b, Int32(n), Int32(k), a, c, bias == nil ? 0 : 1, Int32(threads))
                    } else {
                        gemmTransposedB(m: m, n: n, k: k, a: a, lda: k, b: b, ldb: k, beta: beta, c: c, ldc: n)
                    }
                }
            }
        }
        return y
    }
}
