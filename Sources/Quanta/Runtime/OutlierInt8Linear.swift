import Foundation
import QuantaKernels

/// LLM.int8() on the integer kernels. Each call splits its input (after the SmoothQuant scale) as
/// `OutlierDecomposedLinear` does: the columns with some |x| > threshold in this input (found at run time, as
/// bitsandbytes does) go to an FP32 product; the rest is quantized per token to symmetric INT8 (absmax, stored
/// as UINT8 codes Q + 128 with zero point -128) and multiplied by the packed INT8 weight in int32, with the
/// bias in the kernel's epilogue:
///
///     y[t, j] = (S_x[t] S_w[j]) sum_k Q_x[t, k] Q_w[j, k] + b[j] + sum_{c outlier} x[t, c] W[j, c]
///
/// It computes what its `OutlierDecomposedLinear` computes, up to the order of the float sums.
public struct OutlierInt8Linear: LinearLayer {
    public let decomposed: OutlierDecomposedLinear
    public let weight: PackedInt8Weight
    public let threads: Int
    public let path: KernelPath

    /// The integer form of an LLM.int8() layer with vector-wise symmetric INT8 (per-channel weights, per-token
    /// inputs), else nil.
    public init?(_ layer: any LinearLayer, threads: Int = ProcessInfo.processInfo.activeProcessorCount, path: KernelPath = .best) {
        guard let o = layer as? OutlierDecomposedLinear, "\(o.weightQuantizer)" == "\(Int8Linear.weightScheme)",
              "\(o.activationQuantizer)" == "\(TensorQuantizer.integer(.int8, .symmetric, .perToken))",
              let p = try? AffineQuantizer.chooseParameters(for: o.quantized.weight, format: .int8, scheme: .symmetric, granularity: .perChannel),
              let codes = try? AffineQuantizer.quantize(o.quantized.weight, with: p, as: Int8.self),
              let packed = try? PackedInt8Weight(codes: codes, scales: p.scales) else { return nil }
        // The dequantized weight is S_w Q_w, so its per-channel absmax gives back S_w (to rounding) and the
        // codes exactly.
        decomposed = o
        weight = packed
        self.threads = threads
        self.path = path
    }

    public var name: String { decomposed.name }
    public var inFeatures: Int { decomposed.inFeatures }
    public var outFeatures: Int { decomposed.outFeatures }
    public var weightBytes: Int { decomposed.weightBytes }

    public func forward(_ input: Matrix<Float>) -> Matrix<Float> {
        let (regular, outliers, outlierInput) = decomposed.split(input)
        var y = Matrix<Float>(rows: input.rows, columns: outFeatures, repeating: 0)
        Int8GEMM.i8f32(PaddedActivations(symmetricQuantizing: regular), weight, bias: decomposed.quantized.bias, into: &y, threads: threads, path: path)
        if !outliers.isEmpty { y.add(decomposed.outlierProduct(outlierInput, columns: outliers)) }
        return y
    }
}

extension PaddedActivations {
    /// x quantized per row to symmetric INT8 (S = max|x| / 127, or 1 for a zero row; Q = rne(clamp(x / S,
    /// -127, 127)), QuantizationParameters' symmetric per-token codes) for the u8 x s8 kernels: stored as
    /// Q + 128 with zero point -128.
    public init(symmetricQuantizing x: Matrix<Float>) {
        self.init(rows: x.rows, columns: x.columns)
        let (rows, columns, stride) = (x.rows, x.columns, self.stride)
        x.storage.withUnsafeBufferPointer { xp in codes.withUnsafeMutableBufferPointer { cp in
        scales.withUnsafeMutableBufferPointer { sp in zeroPoints.withUnsafeMutableBufferPointer { zp in
            for r in 0..<rows {
                var largest: Float = 0
                for c in 0..<columns { largest = max(largest, xp[r * columns + c].magnitude) }
                sp[r] = QuantizationParameters.nonZero(largest / 127)
                zp[r] = -128
                qk_quantize_rows_static_u8(xp.baseAddress! + r * columns, 1, Int32(columns), Int32(columns), nil, 1 / sp[r],
                                           -127, 127, 128, cp.baseAddress! + r * stride, Int32(stride))
            }
        }}}}
    }
}
