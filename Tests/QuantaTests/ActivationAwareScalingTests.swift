import Foundation
import Quanta
import Testing

/// AWQ's activation-aware scaling: exact in FP32 once folded, and never worse than plain quantization on the
/// calibration sample.
@Suite struct ActivationAwareScalingTests {
    static let q4_0 = GGUFExport(type: .q4_0)

    static func squaredError(_ a: Matrix<Float>, _ b: Matrix<Float>) -> Float {
        zip(a.storage, b.storage).reduce(0) { $0 + ($1.0 - $1.1) * ($1.0 - $1.1) }
    }

    /// Inputs whose channel 3 is 40 times larger than the rest (an outlier channel, as LLM activations have).
    static func sample(rows: Int, columns: Int, seed: UInt64) throws -> Matrix<Float> {
        var generator = SplitMix64(seed: seed)
        return try Matrix(rows: rows, columns: columns, storage: (0..<rows * columns).map { i in
            Float.random(in: -1...1, using: &generator) * (i % columns == 3 ? 40 : 1)
        })
    }

    @Test func factorsReduceTheOutputErrorOfTheTargetFormat() throws {
        let x = try Self.sample(rows: 64, columns: 64, seed: 1)
        var generator = SplitMix64(seed: 2)
        let w = try Matrix(rows: 32, columns: 64, storage: (0..<32 * 64).map { _ in Float.random(in: -0.1...0.1, using: &generator) })
        let s = try ActivationAwareScaling.factors(sample: x, weights: [w], roundTrip: Self.q4_0.roundTrip)
        #expect(s.count == 64 && s[3] > s.enumerated().filter { $0.offset != 3 }.map(\.element).max()!, "the outlier channel gets the largest factor: \(s)")
        // The error of the scaled product against plain Q4_0's.
        let exact = BLAS.matmulTransposed(x, w), plain = BLAS.matmulTransposed(x, try Self.q4_0.roundTrip(w))
        var scaledInput = x, scaledWeight = w
        for r in 0..<x.rows { for c in 0..<x.columns { scaledInput[r, c] /= s[c] } }
        for r in 0..<w.rows { for c in 0..<w.columns { scaledWeight[r, c] *= s[c] } }
        let equalized = BLAS.matmulTransposed(scaledInput, try Self.q4_0.roundTrip(scaledWeight))
        #expect(Self.squaredError(equalized, exact) < 0.8 * Self.squaredError(plain, exact))
        // Without quantization error there is nothing to gain: alpha = 0, s = 1.
        #expect(try ActivationAwareScaling.factors(sample: x, weights: [w], roundTrip: { $0 }) == [Float](repeating: 1, count: 64))
    }

    @Test func foldingKeepsTheFP32Function() throws {
        let model = try LlamaModel(gguf: GGUFFile(path: GGUFExportTests.tinyLlama))
        let tokens: [Int32] = (0..<96).map { Int32(1 + ($0 * 37) % 90) }
        let statistics = try CalibrationRun.statistics(model, sequences: CalibrationRun.windows(of: tokens, length: 48), sampleRows: 96)
        let folded = try ActivationAwareScaling.fold(into: model, statistics: statistics, roundTrip: Self.q4_0.roundTrip)
        #expect(folded.blocks[0].attentionNorm.weight != model.blocks[0].attentionNorm.weight, "no factor was folded")
        var a = LlamaModel.KVCache(for: model.config), b = LlamaModel.KVCache(for: model.config)
        let original = try model.forward(Array(tokens.prefix(12)), cache: &a), equalized = try folded.forward(Array(tokens.prefix(12)), cache: &b)
        let largest = original.storage.map(abs).max()!
        #expect(zip(original.storage, equalized.storage).map { abs($0 - $1) }.max()! <= 1e-4 * largest)
    }
}
