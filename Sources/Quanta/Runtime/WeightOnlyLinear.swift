import Foundation
import QuantaKernels

/// A weight-only quantized Linear for decoding (`w8a16`, `w4a16-g128`): UINT8 codes per output channel or
/// UINT4 codes per group, each with a scale and a zero point, dequantized in registers inside the product
/// (`qk_gemm_weight_only`) so that only the codes stream from memory:
///
///     y[t, j] = sum_g S[j, g] (sum_{k in g} x[t, k] Q[j, k] + Z[j, g] sum_{k in g} x[t, k]) + b[j]
public struct WeightOnlyLinear: LinearLayer {
    public let name: String
    public let outFeatures: Int, inFeatures: Int
    public let bits: Int, group: Int
    let codes: [UInt8]
    let scales: [Float], zeroPoints: [Float]
    public let bias: [Float]?
    public let inputScale: [Float]?
    public let threads: Int

    /// The weight-only form of `layer` when its weight is 8-bit asymmetric per channel or 4-bit asymmetric per
    /// group (of a multiple of 16 dividing the input width) with no input quantizer; else nil. Signed codes are
    /// stored unsigned: S (Q + Z) = S ((Q - qmin) + (Z + qmin)).
    public init?(_ layer: any LinearLayer, threads: Int = ProcessInfo.processInfo.activeProcessorCount) {
        guard let q = layer as? FakeQuantizedLinear, q.activationQuantizer == nil,
              case let .integer(format, .asymmetric, granularity)? = q.weightQuantizer else { return nil }
        let w = q.quantized.weight
        switch (format.bits, granularity) {
        case (8, .perChannel): group = w.columns
        case let (4, .perGroup(size)) where size % 16 == 0 && w.columns % size == 0: group = size
        default: return nil
        }
        guard w.columns / group <= Int(QK_MAX_GROUPS), let p = q.weightParameters,
              let signed = try? AffineQuantizer.quantize(w, with: p, as: Int32.self) else { return nil }
        name = q.name
        (outFeatures, inFeatures, bits) = (w.rows, w.columns, format.bits)
        let q8 = signed.storage.map { UInt8($0 - format.min) }
        codes = bits == 8 ? q8 : stride(from: 0, to: q8.count, by: 2).map { q8[$0] | q8[$0 + 1] << 4 }
        scales = p.scales
        zeroPoints = p.zeroPoints.map { Float($0 + format.min) }
        bias = q.quantized.bias
        inputScale = q.quantized.inputScale
        self.threads = threads
    }

    public var weightBytes: Int { codes.count + 8 * scales.count }

    /// Rows of input above which the weight is dequantized once per call and the product goes to sgemm.
    static let maximumStreamingRows = 8

    public func forward(_ input: Matrix<Float>) -> Matrix<Float> {
        let x = FloatLinear.scaled(input, by: inputScale)
        if x.rows > Self.maximumStreamingRows { return prefill(x) }
        var y = Matrix<Float>(rows: x.rows, columns: outFeatures, repeating: 0)
        let blocks = (outFeatures + 15) / 16
        let workers = x.rows * outFeatures * inFeatures < WorkerPool.minimumWork ? 1 : max(1, min(threads, blocks))
        x.storage.withUnsafeBufferPointer { xp in codes.withUnsafeBufferPointer { c in scales.withUnsafeBufferPointer { s in
        zeroPoints.withUnsafeBufferPointer { z in (bias ?? []).withUnsafeBufferPointer { b in y.storage.withUnsafeMutableBufferPointer { yp in
            let weight = qk_weight_only(bits: Int32(bits), k: Int32(inFeatures), group: Int32(group), codes: c.baseAddress,
                                        scales: s.baseAddress, zero_points: z.baseAddress)
            let out = yp.baseAddress
            withUnsafePointer(to: weight) { wp in
                WorkerPool.run(workers) { t in
                    let n0 = t * blocks / workers * 16, n1 = min((t + 1) * blocks / workers * 16, outFeatures)
                    qk_gemm_weight_only(1, xp.baseAddress, Int32(x.rows), Int32(x.columns), wp, bias == nil ? nil : b.baseAddress,
                                        out, Int32(outFeatures), Int32(n0), Int32(n1))
                }
            }
        }}}}}}
        return y
    }

    /// Many rows (a prefill): W~ dequantized into a scratch matrix, then the FP32 product.
    func prefill(_ x: Matrix<Float>) -> Matrix<Float> {
        var w = Matrix<Float>(rows: outFeatures, columns: inFeatures, repeating: 0)
        codes.withUnsafeBufferPointer { c in scales.withUnsafeBufferPointer { s in zeroPoints.withUnsafeBufferPointer { z in
            w.storage.withUnsafeMutableBufferPointer { out in
                var weight = qk_weight_only(bits: Int32(bits), k: Int32(inFeatures), group: Int32(group), codes: c.baseAddress,
                                            scales: s.baseAddress, zero_points: z.baseAddress)
                qk_dequantize_weight_only(&weight, 0, Int32(outFeatures), out.baseAddress)
            }
        }}}
        var y = BLAS.matmulTransposed(x, w)   // the input is already scaled
        if let bias { for r in 0..<y.rows { for c in 0..<y.columns { y[r, c] += bias[c] } } }
        return y
    }
}
