import Foundation
import Testing
import Quanta

/// The FP32 products split over Quanta's threads (blocks of C's rows, or of its columns) against a Double
/// reference, for every transposition, shapes whose blocks end off the 16-row grid, and accumulation.
@Suite struct BLASTests {
    /// op(A) op(B) in Double.
    static func reference(_ a: Matrix<Float>, _ transposeA: Bool, _ b: Matrix<Float>, _ transposeB: Bool) -> [Double] {
        let (m, k) = transposeA ? (a.columns, a.rows) : (a.rows, a.columns)
        let n = transposeB ? b.rows : b.columns
        return (0..<m * n).map { index in
            let (i, j) = (index / n, index % n)
            return (0..<k).reduce(0.0) { sum, p in
                sum + Double(transposeA ? a[p, i] : a[i, p]) * Double(transposeB ? b[j, p] : b[p, j])
            }
        }
    }

    static func expectClose(_ got: [Float], _ want: [Double], _ what: String) {
        #expect(got.count == want.count, "\(what): \(got.count) values, want \(want.count)")
        let worst = zip(got, want).map { abs(Double($0) - $1) / max(1, abs($1)) }.max() ?? 0
        #expect(worst < 1e-4, "\(what): worst relative error \(worst)")
    }

    /// (m, n, k): more rows than columns (split by rows), more columns than rows (split by columns), and one below
    /// the split threshold; none a multiple of 16.
    @Test(arguments: [(333, 70, 41), (37, 501, 30), (9, 13, 7)])
    func productsEqualTheReferenceForEveryTransposition(_ shape: (Int, Int, Int)) {
        let (m, n, k) = shape
        BLAS.setThreads(2)
        for transposeA in [false, true] {
            for transposeB in [false, true] {
                let a = transposeA ? TestData.gaussian(rows: k, columns: m, seed: 1) : TestData.gaussian(rows: m, columns: k, seed: 1)
                let b = transposeB ? TestData.gaussian(rows: n, columns: k, seed: 2) : TestData.gaussian(rows: k, columns: n, seed: 2)
                let c = BLAS.matmul(a, transposed: transposeA, b, transposed: transposeB)
                #expect(c.rows == m && c.columns == n)
                Self.expectClose(c.storage, Self.reference(a, transposeA, b, transposeB), "\(m)x\(n)x\(k) A^T \(transposeA) B^T \(transposeB)")
            }
        }
    }

    @Test func gramAccumulatesAndLinearAddsItsBias() {
        BLAS.setThreads(2)
        let x = TestData.gaussian(rows: 700, columns: 45, seed: 3)
        var g = [Float](repeating: 1, count: 45 * 45)
        x.storage.withUnsafeBufferPointer { xp in BLAS.gram(rows: 700, columns: 45, x: xp.baseAddress!, into: &g) }
        Self.expectClose(g, Self.reference(x, true, x, false).map { $0 + 1 }, "gram")

        let w = TestData.gaussian(rows: 90, columns: 45, seed: 4), bias = (0..<90).map { Float($0) / 10 }
        let y = BLAS.matmulTransposed(x, w, bias: bias)
        Self.expectClose(y.storage, Self.reference(x, false, w, true).enumerated().map { $1 + Double(bias[$0 % 90]) }, "linear")
    }
}
