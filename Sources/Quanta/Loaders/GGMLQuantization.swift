import Foundation

/// ggml's reference quantizers (`quantize_row_*_ref` in ggml-quants.c, as the `gguf` package's NumPy port
/// computes them), byte for byte, rounding ties included. Per block of 32 values x, in float32 arithmetic:
///
///     Q8_0 : d = max|x| / 127, q = roundf(x / d)          (ties away from zero; 1/d computed once, x * (1/d))
///     Q4_0 : m = the x of largest |x| (the first one), d = m / -8, q = min(15, trunc(x * (1/d) + 8.5))
///     Q4_1 : d = (max - min) / 15, q = min(15, trunc((x - min) * (1/d) + 0.5)), stored with m = min
///     MXFP4: e = floor(log2 max|x|) - 2 + 127, d = 2^(e-128), q = the first i minimising |d K[i] - x|
///
/// with 1/d taken as 0 when d is 0; d and m are stored as IEEE half (round to nearest even), but the codes
/// use the float32 d. F16 rounds to nearest even (overflow to infinity, as NumPy's astype); BF16 rounds to
/// nearest even and quiets NaN (ggml_compute_fp32_to_bf16). Nibbles: element j < 16 low, j + 16 high.
///
/// With `searchingClipping`, each block's range is scaled by the factor s in {1, 0.98, ..., 0.60, 1.25, 1.5} that
/// minimises the block's squared error after dequantization (with the half-precision d and m as stored):
/// max|x| s for Q8_0 and MXFP4, m s for Q4_0, and for Q4_1 the range [min, max] shrunk by s about its
/// centre. s = 1 is the reference, so the error never grows; the bytes are plain blocks any reader takes.
extension GGMLType {
    /// The range factors the clipping search tries, the reference's first (above 1: MXFP4's next scale up,
    /// which stops clipping a block maximum past 1.5 2^floor(log2 max)).
    static let clippingFactors: [Float] = (0...20).map { 1 - Float($0) * 0.02 } + [1.25, 1.5]

    /// `values` (a multiple of `blockSize`, all finite for the block types) in this type's layout.
    /// `tensor` names the values in errors.
    public func quantize(_ values: [Float], tensor: String, searchingClipping: Bool = false) throws(QuantaError) -> Data {
        guard values.count % blockSize == 0 else {
            throw .shapeMismatch("tensor '\(tensor)': \(values.count) values are not whole \(name) blocks of \(blockSize)")
        }
        if blockSize > 1, let bad = values.firstIndex(where: { !$0.isFinite }) {
            throw .nonFinite(tensor: tensor, index: bad, value: values[bad])
        }
        var out = [UInt8](repeating: 0, count: values.count / blockSize * bytesPerBlock)
        values.withUnsafeBufferPointer { x in
            out.withUnsafeMutableBytes { y in
                switch self {
                case .f32:
                    for i in x.indices { y.storeBytes(of: x[i].bitPattern.littleEndian, toByteOffset: 4 * i, as: UInt32.self) }
                case .f16:
                    for i in x.indices { y.storeBytes(of: Self.half(x[i]), toByteOffset: 2 * i, as: UInt16.self) }
                case .bf16:
                    for i in x.indices { y.storeBytes(of: Self.brain(x[i]).littleEndian, toByteOffset: 2 * i, as: UInt16.self) }
                default:
                    var candidate = [UInt8](repeating: 0, count: bytesPerBlock), decoded = [Float](repeating: 0, count: 32)
                    for b in 0..<x.count / 32 {
                        let block = UnsafeBufferPointer(rebasing: x[b * 32..<b * 32 + 32])
                        let bytes = UnsafeMutableRawBufferPointer(rebasing: y[b * bytesPerBlock..<(b + 1) * bytesPerBlock])
                        quantizeBlock(block, into: bytes, shrink: 1)
                        guard searchingClipping else { continue }
                        var best = squaredError(block, UnsafeRawBufferPointer(bytes), &decoded)
                        for s in Self.clippingFactors.dropFirst() {
                            candidate.withUnsafeMutableBytes { c in
                                quantizeBlock(block, into: c, shrink: s)
                                let error = squaredError(block, UnsafeRawBufferPointer(c), &decoded)
                                if error < best { best = error; bytes.copyMemory(from: UnsafeRawBufferPointer(c)) }
                            }
                        }
                    }
                }
            }
        }
        return Data(out)
    }

    /// sum (x - dequantized)^2 over one block.
    private func squaredError(_ x: UnsafeBufferPointer<Float>, _ bytes: UnsafeRawBufferPointer, _ decoded: inout [Float]) -> Double {
        decoded.withUnsafeMutableBufferPointer { dequantizeBlock(bytes, into: $0.baseAddress!) }
        var sum = 0.0
        for j in 0..<32 { let e = Double(x[j]) - Double(decoded[j]); sum += e * e }
        return sum
    }

    /// One block with its range shrunk by `shrink` (1: the reference quantizer exactly).
    private func quantizeBlock(_ x: UnsafeBufferPointer<Float>, into y: UnsafeMutableRawBufferPointer, shrink: Float) {
        func inverse(_ d: Float) -> Float { d == 0 ? 0 : 1 / d }
        func packNibbles(at offset: Int, _ code: (Float) -> UInt8) {
            for j in 0..<16 { y[offset + j] = code(x[j]) | code(x[j + 16]) << 4 }
        }
        switch self {
        case .q8_0:
            let d = x.reduce(Float(0)) { max($0, abs($1)) } * shrink / 127, id = inverse(d)
            y.storeBytes(of: Self.half(d), as: UInt16.self)
            for j in 0..<32 { y[2 + j] = UInt8(bitPattern: Int8(Self.clamped((x[j] * id).rounded(.toNearestOrAwayFromZero), -128, 127))) }
        case .q4_0:
            var m = x[0]
            for v in x where abs(v) > abs(m) { m = v }
            let d = m * shrink / -8, id = inverse(d)
            y.storeBytes(of: Self.half(d), as: UInt16.self)
            packNibbles(at: 2) { v in UInt8(Self.clamped((v * id + 8.5).rounded(.towardZero), 0, 15)) }
        case .q4_1:
            var low = x.min()!, high = x.max()!
            if shrink != 1 {
                let cut = (high - low) * (1 - shrink) / 2
                (low, high) = (low + cut, high - cut)
            }
            let d = (high - low) / 15, id = inverse(d)
            y.storeBytes(of: Self.half(d), as: UInt16.self)
            y.storeBytes(of: Self.half(low), toByteOffset: 2, as: UInt16.self)
            packNibbles(at: 4) { v in UInt8(Self.clamped(((v - low) * id + 0.5).rounded(.towardZero), 0, 15)) }
        case .mxfp4:
            let amax = x.reduce(Float(0)) { max($0, abs($1)) } * shrink
            // log2f as ggml and NumPy call it; scales below 2^-127 (amax < 2^-125) clamp to e = 0.
            let e = amax > 0 ? UInt8(clamping: Int(log2(amax).rounded(.down)) - 2 + 127) : 0
            let d = Self.mxfp4HalfScale(e)
            y[0] = e
            packNibbles(at: 1) { v in
                var best = 0, bestError = abs(d * Self.mxfp4Values[0] - v)
                for i in 1..<16 {
                    let error = abs(d * Self.mxfp4Values[i] - v)
                    if error < bestError { best = i; bestError = error }
                }
                return UInt8(best)
            }
        case .f32, .f16, .bf16:
            preconditionFailure("plain types have no blocks")
        }
    }

    /// v clamped to [low, high], NaN to 0: codes stay defined when a subnormal d makes 1/d infinite (where
    /// ggml's C converts infinity to an integer, which is undefined).
    static func clamped(_ v: Float, _ low: Float, _ high: Float) -> Float { v.isNaN ? 0 : min(high, max(low, v)) }

    /// IEEE half, round to nearest even, little-endian bits (overflow gives infinity).
    static func half(_ v: Float) -> UInt16 { FloatFormat.float16.encode(v, saturating: false).littleEndian }

    /// bfloat16, round to nearest even; NaN keeps its sign and upper payload and is made quiet.
    static func brain(_ v: Float) -> UInt16 {
        let n = v.bitPattern
        if n & 0x7FFF_FFFF > 0x7F80_0000 { return UInt16((n & 0xFFFF_0000 | 64 << 16) >> 16) }
        return UInt16((UInt64(n) + 0x7FFF + UInt64((n >> 16) & 1)) >> 16)
    }
}
