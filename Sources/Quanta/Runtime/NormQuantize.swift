import QuantaKernels

/// LayerNorm / RMSNorm fused with the per-token UINT8 quantization of the Linear that reads the normalized
/// rows (`qk_norm_quantize_rows_u8`): the float rows are never written. The codes, scales and zero points
/// equal those of normalizing first and quantizing after (`Int8Linear`'s input), bit for bit.
public enum NormQuantize {
    public static func rmsNorm(_ x: Matrix<Float>, _ norm: RMSNorm) -> PaddedActivations {
        run(x, kind: Int32(QK_NORM_RMS), weight: norm.weight, bias: nil, epsilon: norm.epsilon)
    }

    public static func layerNorm(_ x: Matrix<Float>, _ norm: LayerNorm) -> PaddedActivations {
        run(x, kind: Int32(QK_NORM_LAYER), weight: norm.weight, bias: norm.bias, epsilon: norm.epsilon)
    }

    /// The codes in cuBLASLt's COL32 order (`MatrixLayout.col32`), with the per-row scales and zero points.
    public static func rmsNormCOL32(_ x: Matrix<Float>, _ norm: RMSNorm) -> (codes: [UInt8], scales: [Float], zeroPoints: [Int32]) {
        var codes = [UInt8](repeating: 0, count: 32 * x.rows * ((x.columns + 31) / 32))
        var a = PaddedActivations(rows: x.rows, columns: x.columns)
        quantize(x, kind: Int32(QK_NORM_RMS), weight: norm.weight, bias: nil, epsilon: norm.epsilon, order: Int32(QK_ORDER_COL32),
                 codes: &codes, stride: 0, scales: &a.scales, zeroPoints: &a.zeroPoints)
        return (codes, a.scales, a.zeroPoints)
    }

    static func run(_ x: Matrix<Float>, kind: Int32, weight: [Float], bias: [Float]?, epsilon: Float) -> PaddedActivations {
        precondition(weight.count == x.columns)
        var a = PaddedActivations(rows: x.rows, columns: x.columns)
        quantize(x, kind: kind, weight: weight, bias: bias, epsilon: epsilon, order: Int32(QK_ORDER_ROW),
                 codes: &a.codes, stride: a.stride, scales: &a.scales, zeroPoints: &a.zeroPoints)
        return a
    }

    static func quantize(_ x: Matrix<Float>, kind: Int32, weight: [Float], bias: [Float]?, epsilon: Float, order: Int32,
                         codes: inout [UInt8], stride: Int, scales: inout [Float], zeroPoints: inout [Int32]) {
        x.storage.withUnsafeBufferPointer { xp in weight.withUnsafeBufferPointer { w in (bias ?? []).withUnsafeBufferPointer { b in
            var norm = qk_norm(kind: kind, weight: w.baseAddress, bias: bias == nil ? nil : b.baseAddress, epsilon: epsilon)
            qk_norm_quantize_rows_u8(&norm, xp.baseAddress, Int32(x.rows), Int32(x.columns), Int32(x.columns), order,
                                     &codes, Int32(stride), &scales, &zeroPoints)
        }}}
    }
}
