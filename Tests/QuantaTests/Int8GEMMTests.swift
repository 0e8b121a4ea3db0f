import Testing
import Quanta

/// The INT8 kernels: every path this CPU runs equals the plain integer reference bit for bit, including
/// the codes at their extremes (where an unguarded vpmaddubsw would saturate), ragged shapes and threads.
@Suite struct Int8GEMMTests {
    static func reference(_ a: Matrix<UInt8>, zero: [Int32], _ w: Matrix<Int8>) -> [Int32] {
        var c = [Int32]()
        for i in 0..<a.rows {
            for j in 0..<w.rows {
                var acc: Int32 = 0
                for k in 0..<a.columns { acc += Int32(a[i, k]) * Int32(w[j, k]) }
                c.append(acc + zero[i] * w.row(j).reduce(0) { $0 + Int32($1) })
            }
        }
        return c
    }

    static func operands(m: Int, n: Int, k: Int, seed: UInt64, extreme: Bool) throws -> (Matrix<UInt8>, Matrix<Int8>, [Int32]) {
        var g = SplitMix64(seed: seed)
        let a = try Matrix(rows: m, columns: k, storage: (0..<m * k).map { _ in extreme ? UInt8(255) : UInt8.random(in: 0...255, using: &g) })
        let w = try Matrix(rows: n, columns: k, storage: (0..<n * k).map { i in extreme ? (i % 3 == 0 ? Int8(127) : Int8(-128)) : Int8.random(in: -128...127, using: &g) })
        let zero = (0..<m).map { _ in Int32.random(in: -255...0, using: &g) }
        return (a, w, zero)
    }

    @Test(arguments: KernelPath.allCases.filter(\.isSupported))
    func everyPathEqualsTheReference(_ path: KernelPath) throws {
        for (m, n, k, extreme) in [(1, 16, 4, false), (7, 37, 45, false), (13, 64, 130, true), (6, 33, 1027, true), (97, 48, 64, false), (1, 300, 999, false)] {
            let (a, w, zero) = try Self.operands(m: m, n: n, k: k, seed: UInt64(m * n + k), extreme: extreme)
            let packed = try PackedInt8Weight(codes: w, scales: [Float](repeating: 1, count: n))
            let activations = PaddedActivations(codes: a, scales: [Float](repeating: 1, count: m), zeroPoints: zero)
            let expected = Self.reference(a, zero: zero, w)
            for threads in [1, 2] {
                var c = Matrix<Int32>(rows: m, columns: n, repeating: 0)
                Int8GEMM.i8i32(activations, packed, into: &c, threads: threads, path: path)
                #expect(c.storage == expected, "\(path) \(m)x\(n)x\(k) threads \(threads)")
            }
        }
    }

    @Test(arguments: KernelPath.allCases.filter(\.isSupported))
    func dequantizingEpilogueMatchesItsFormula(_ path: KernelPath) throws {
        let (m, n, k) = (9, 41, 70)
        let (a, w, zero) = try Self.operands(m: m, n: n, k: k, seed: 5, extreme: false)
        var g = SplitMix64(seed: 9)
        let sa = (0..<m).map { _ in Float.random(in: 0.001...0.1, using: &g) }, sw = (0..<n).map { _ in Float.random(in: 0.001...0.1, using: &g) }
        let bias = (0..<n).map { _ in Float.random(in: -1...1, using: &g) }
        let acc = Self.reference(a, zero: zero, w)
        var y = Matrix<Float>(rows: m, columns: n, repeating: 0)
        Int8GEMM.i8f32(PaddedActivations(codes: a, scales: sa, zeroPoints: zero), try PackedInt8Weight(codes: w, scales: sw), bias: bias, into: &y, threads: 2, path: path)
        for i in 0..<m {
            for j in 0..<n {
                let expected = (sa[i] * sw[j]) * Float(acc[i * n + j]) + bias[j]
                #expect(y[i, j].bitPattern == expected.bitPattern, "\(path) [\(i), \(j)]")
            }
        }
    }
}
