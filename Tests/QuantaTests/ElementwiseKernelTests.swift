import Foundation
import Testing
import QuantaKernels

/// The element-wise kernels: accuracy against Double references, the AVX2 loops equal to the scalar
/// formulas bit for bit (every length, so every tail), softmax and its UINT8 codes.
@Suite struct ElementwiseKernelTests {
    /// Values over the range activations take, plus the clamping edges and both zeros.
    static let inputs: [Float] = (0..<20_001).map { Float($0 - 10_000) / 1_000 } + [-100, -88, -87.5, 88.5, 100, -0.0, 1e-30, -1e-30]

    static func ulpDistance(_ a: Float, _ b: Double) -> Double { abs(Double(a) - b) / Double(Float(b).ulp) }

    @Test func expIsWithinTwoULP() {
        for x in Self.inputs where x >= -87 && x <= 88 {
            #expect(Self.ulpDistance(qk_exp(x), Foundation.exp(Double(x))) <= 2, "exp(\(x))")
        }
        #expect(qk_exp(-1000) > 0 && qk_exp(-1000) < 1e-37 && qk_exp(1000).isFinite)
    }

    @Test func geluAndSiLUMatchTheirDefinitions() {
        for x in Self.inputs {
            let d = Double(x)
            let gelu = 0.5 * d * (1 + erf(d / 2.0.squareRoot())), silu = d / (1 + Foundation.exp(-d))
            #expect(abs(Double(qk_gelu(x)) - gelu) <= 2e-7 * max(1, abs(d)), "gelu(\(x)) = \(qk_gelu(x)), exact \(gelu)")
            #expect(abs(Double(qk_silu(x)) - silu) <= 4e-7 * max(1, abs(silu)), "silu(\(x)) = \(qk_silu(x)), exact \(silu)")
        }
    }

    @Test func vectorLoopsEqualTheScalarFormulas() {
        for count in [0, 1, 7, 8, 9, 31, 1000, Self.inputs.count] {
            let x = Array(Self.inputs.prefix(count)), up = x.reversed().map { $0 / 3 }
            for (activation, scalar) in [(Int32(QK_ACTIVATION_GELU), qk_gelu as (Float) -> Float), (Int32(QK_ACTIVATION_SILU), qk_silu)] {
                var y = x
                qk_activate(activation, &y, y.count)
                #expect(y.map(\.bitPattern) == x.map { scalar($0).bitPattern }, "activation \(activation), \(count) values")
            }
            var gate = x
            qk_silu_multiply(&gate, up, gate.count)
            #expect(gate.map(\.bitPattern) == zip(x, up).map { (qk_silu($0) * $1).bitPattern }, "\(count) values")
        }
    }

    @Test func softmaxAndItsCodes() {
        for count in [1, 5, 8, 13, 128, 1000] {
            let scores = (0..<count).map { Float(sin(Double($0) * 1.7) * 9) }
            let maximum = Double(scores.max()!), exps = scores.map { Foundation.exp(Double($0) - maximum) }, total = exps.reduce(0, +)
            var p = scores
            qk_softmax(&p, Int32(count))
            for (got, e) in zip(p, exps) { #expect(abs(Double(got) - e / total) <= 1e-6, "\(count) scores") }
            var q = scores, codes = [UInt8](repeating: 0, count: count)
            qk_softmax_u8(&q, Int32(count), &codes)
            #expect(codes == q.map { UInt8(($0 * 255).rounded(.toNearestOrEven)) }, "\(count) scores")
            #expect(abs(codes.reduce(0) { $0 + Int($1) } - 255) <= count, "codes sum to about 255")
        }
    }
}

/// The oneDNN peer row computes the same product where the CPU has VNNI (when oneDNN 2.x is installed; skipped
/// otherwise, as on CI). Without VNNI it computes sum over k pairs of clamp(a0 w0 + a1 w1, -32768, 32767):
/// vpmaddubsw's saturating pair sums, the price of its speed on the AVX2 class (Quanta's AVX2 path is exact).
@Suite struct OneDNNPeerTests {
    @Test(.enabled(if: qk_onednn_unavailable() == nil, "oneDNN 2.x is not installed"))
    func oneDNNMatmulEqualsTheIntegerProduct() throws {
        let (m, n, k) = (5, 37, 70)
        let a = (0..<m * k).map { UInt8(($0 * 37 + 11) % 256) }, w = (0..<n * k).map { Int8(truncatingIfNeeded: $0 * 53 + 7) }
        var c = [Float](repeating: 0, count: m * n)
        let scale: Float = 0.001
        let ok = a.withUnsafeBufferPointer { ap in w.withUnsafeBufferPointer { wp in c.withUnsafeMutableBufferPointer { cp -> Bool in
            guard let matmul = qk_onednn_matmul_create(Int32(m), Int32(n), Int32(k), ap.baseAddress, wp.baseAddress, scale, cp.baseAddress, 2) else { return false }
            defer { qk_onednn_matmul_destroy(matmul) }
            return qk_onednn_matmul_run(matmul, 2) == 0
        }}}
        #expect(ok)
        let saturates = qk_path_supported(QK_PATH_VNNI) == 0
        func product(_ i: Int, _ j: Int, _ p: Int) -> Int32 { p < k ? Int32(a[i * k + p]) * Int32(w[j * k + p]) : 0 }
        for i in 0..<m { for j in 0..<n {
            let expected = stride(from: 0, to: k, by: 2).reduce(Int32(0)) { total, p in
                let pair = product(i, j, p) + product(i, j, p + 1)
                return total + (saturates ? min(max(pair, -32768), 32767) : pair)
            }
            #expect(abs(c[i * n + j] - scale * Float(expected)) <= 1e-5 * max(1, abs(scale * Float(expected))), "C[\(i), \(j)]")
        }}
    }
}
