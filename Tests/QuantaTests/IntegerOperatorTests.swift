import Foundation
import Quanta
import Testing

/// I-BERT's integer operators against scripts/fixtures/make_ibert_fixtures.py (a NumPy int64 re-implementation;
/// square roots from Python's math.isqrt) bit for bit, and against the functions they approximate.
@Suite struct IntegerOperatorTests {
    static func fixture(_ key: String) -> [Any] {
        let path = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent("Fixtures/ibert/operators.json")
        return ((try? JSONSerialization.jsonObject(with: Data(contentsOf: path))) as? [String: Any])?[key] as? [Any] ?? []
    }

    static func integers(_ value: Any?) -> [Int64] { (value as! [NSNumber]).map(\.int64Value) }

    @Test func squareRootIsExactFloor() {
        let cases = Self.fixture("isqrt") as! [[String: String]]
        #expect(cases.count > 2000)
        for entry in cases {
            let n = UInt64(entry["n"]!)!
            #expect(IntegerOperators.squareRoot(n) == UInt64(entry["root"]!)!, "n = \(n)")
        }
    }

    @Test func geluMatchesTheReferenceAndItsErrorBound() throws {
        for entry in Self.fixture("gelu") as! [[String: Any]] {
            let gelu = try IntegerGELU(inputScale: Double(entry["input_scale"] as! String)!)
            #expect(gelu.outputScale == Double(entry["output_scale"] as! String)!)
            #expect(Self.integers(entry["q"]).map { gelu($0) } == Self.integers(entry["out"]), "scale \(gelu.inputScale)")
        }
        // I-BERT's bound on [-4, 4]: |i-GELU - GELU| <= 0.018, which is the polynomial's own error (0.01815,
        // NumPy on a fine grid); the integer version at a fine input scale stays within 0.0185.
        let scale = 1e-3, gelu = try IntegerGELU(inputScale: scale)
        let worst = (-4000...4000).map { q -> Double in
            let x = Double(q) * scale
            return abs(Double(gelu(Int64(q))) * gelu.outputScale - x / 2 * (1 + erf(x / 2.0.squareRoot())))
        }.max()!
        #expect(worst <= 0.0185, "max |i-GELU - GELU| \(worst)")
    }

    @Test func softmaxMatchesTheReferenceAndExpItsErrorBound() throws {
        for entry in Self.fixture("softmax") as! [[String: Any]] {
            let softmax = try IntegerSoftmax(inputScale: Double(entry["input_scale"] as! String)!)
            #expect(try softmax(Self.integers(entry["q"])) == Self.integers(entry["out"]), "scale \(softmax.inputScale)")
        }
        // i-exp: |exp(x) - 0.3585 S^2 q_e| for x <= 0 within the polynomial's own error on (-ln 2, 0], 0.00213
        // (the paper's "2e-3"), at a fine input scale.
        let scale = 1e-3, softmax = try IntegerSoftmax(inputScale: scale)
        let worst = (-20000...0).map { d in abs(Foundation.exp(Double(d) * scale) - Double(softmax.exp(Int64(d))) * IntegerSoftmax.a * scale * scale) }.max()!
        #expect(worst <= 2.2e-3, "max |i-exp - exp| \(worst)")
        // Probabilities as UINT8 codes of 1/256: a dominant entry saturates at 255; a row's codes sum to about 256.
        #expect(try IntegerSoftmax(inputScale: 0.05)([0, -400, -400]) == [255, 0, 0])
        #expect(throws: QuantaError.self) { try IntegerSoftmax(inputScale: 0) }
        #expect(throws: QuantaError.self) { try IntegerGELU(inputScale: .nan) }
        let codes = try IntegerSoftmax(inputScale: 0.05)([0, -20, -40, -400])
        let expected: Double = 1 / (1 + Foundation.exp(-1.0) + Foundation.exp(-2.0)), total: Int64 = codes.reduce(0, +)
        #expect(abs(total - 256) <= 4 && abs(Double(codes[0]) / 256 - expected) < 0.01, "\(codes)")
    }

    @Test func layerNormMatchesTheReferenceAndNormalises() throws {
        for entry in Self.fixture("layer_norm") as! [[String: Any]] {
            let weight = (entry["weight"] as! [NSNumber]).map(\.floatValue), bias = (entry["bias"] as! [NSNumber]).map(\.floatValue)
            #expect(throws: QuantaError.self) { try IntegerLayerNorm(weight: [0] + weight.dropFirst(), bias: bias) }
            let norm = try IntegerLayerNorm(weight: weight, bias: bias)
            let q = Self.integers(entry["q"]), out = norm(q)
            #expect(out == Self.integers(entry["out"]))
            // Dequantized, the codes are LayerNorm's output (no epsilon) to within 1e-3 of its scale.
            let x = q.map(Double.init), mean = x.reduce(0, +) / Double(x.count)
            let deviation = (x.map { ($0 - mean) * ($0 - mean) }.reduce(0, +) / Double(x.count)).squareRoot()
            let worst = out.indices.map { c in
                abs(Double(out[c]) * norm.outputScale(channel: c) - ((x[c] - mean) / deviation * Double(weight[c]) + Double(bias[c])))
            }.max()!
            // The integer mean moves every y by up to 1/2 (0.5 / sigma after normalising, times gamma <= 2).
            #expect(worst <= 2 * (0.5 / deviation) + 1e-4, "max |integer LayerNorm - LayerNorm| \(worst) (sigma \(deviation))")
        }
    }

    /// Integer attention of one head against float attention on the dequantized codes: the output within a
    /// few of its INT8 steps (each UINT8 probability is rounded to nearest: off by at most 1/512), causal rows too.
    @Test(arguments: [false, true]) func attentionMatchesFloatAttention(causal: Bool) throws {
        let (rows, d) = (24, 32), (sq, sk, sv, so) = (0.05, 0.04, 0.03, 0.03)
        var generator = SplitMix64(seed: causal ? 7 : 8)
        func codes() -> [Int8] { (0..<rows * d).map { _ in Int8.random(in: -127...127, using: &generator) } }
        let (q, k, v) = (codes(), codes(), codes())
        let attention = try IntegerAttention(queryScale: sq, keyScale: sk, valueScale: sv, headDimension: d, outputScale: so)
        let out = try attention(queries: q, keys: k, values: v, causal: causal)
        var worst = 0.0
        for i in 0..<rows {
            let visible = causal ? i + 1 : rows
            let scores = (0..<visible).map { j in (0..<d).reduce(0.0) { $0 + Double(q[i * d + $1]) * sq * Double(k[j * d + $1]) * sk } / Double(d).squareRoot() }
            let top = scores.max()!, weights = scores.map { Foundation.exp($0 - top) }, total = weights.reduce(0, +)
            for c in 0..<d {
                let expected = (0..<visible).reduce(0.0) { $0 + weights[$1] / total * Double(v[$1 * d + c]) * sv }
                worst = max(worst, abs(Double(out[i * d + c]) * so - expected))
            }
        }
        #expect(worst <= 3 * so, "max |integer - float attention| \(worst) (output step \(so))")
        #expect(throws: QuantaError.self) { try attention(queries: q, keys: k, values: Array(v.dropLast()), causal: causal) }
    }
}
