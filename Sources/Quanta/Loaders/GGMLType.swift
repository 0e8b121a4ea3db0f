/// The ggml tensor types Quanta reads, with their block layouts (llama.cpp `ggml-common.h`):
///
///     F32  : 4 bytes per value
///     F16  : 2 bytes per value (IEEE binary16)
///     BF16 : 2 bytes per value
///     Q8_0 : blocks of 32: f16 d, int8 q[32]                x = d * q                    (34 bytes, 8.5 bits/weight)
///     Q4_0 : blocks of 32: f16 d, u8 qs[16]                 x = d * (nibble - 8)         (18 bytes, 4.5 bits/weight)
///     Q4_1 : blocks of 32: f16 d, f16 m, u8 qs[16]          x = d * nibble + m           (20 bytes, 5 bits/weight)
///     MXFP4: blocks of 32: e8m0 e, u8 qs[16]                x = 2^(e-128) * K[nibble]    (17 bytes, 4.25 bits/weight)
///            K = {0, 1, 2, 3, 4, 6, 8, 12, 0, -1, -2, -3, -4, -6, -8, -12}: the E2M1 values doubled, so the
///            scale is half the OCP MX scale 2^(e-127) (ggml's `kvalues_mxfp4`, `GGML_E8M0_TO_FP32_HALF`)
///
/// In Q4 blocks, element j < 16 is the low nibble of qs[j] and element j + 16 its high nibble.
public enum GGMLType: UInt32, Sendable, CaseIterable {
    case f32 = 0, f16 = 1, q4_0 = 2, q4_1 = 3, q8_0 = 8, bf16 = 30, mxfp4 = 39

    public var name: String {
        switch self {
        case .f32: return "F32"
        case .f16: return "F16"
        case .q4_0: return "Q4_0"
        case .q4_1: return "Q4_1"
        case .q8_0: return "Q8_0"
        case .bf16: return "BF16"
        case .mxfp4: return "MXFP4"
        }
    }

    /// Values per block (1 for plain types).
    public var blockSize: Int {
        switch self {
        case .f32, .f16, .bf16: return 1
        case .q4_0, .q4_1, .q8_0, .mxfp4: return 32
        }
    }

    /// Bytes per block.
    public var bytesPerBlock: Int {
        switch self {
        case .f32: return 4
        case .f16, .bf16: return 2
        case .q8_0: return 34
        case .q4_0: return 18
        case .q4_1: return 20
        case .mxfp4: return 17
        }
    }

    /// Dequantizes `count` values (a multiple of `blockSize`) from `bytes`.
    public func dequantize(_ bytes: UnsafeRawBufferPointer, count: Int) -> [Float] {
        precondition(count % blockSize == 0 && bytes.count >= count / blockSize * bytesPerBlock)
        func half(_ offset: Int) -> Float { FloatFormat.float16.decode(UInt16(littleEndian: bytes.loadUnaligned(fromByteOffset: offset, as: UInt16.self))) }
        var out = [Float](repeating: 0, count: count)
        switch self {
        case .f32:
            for i in 0..<count { out[i] = Float(bitPattern: UInt32(littleEndian: bytes.loadUnaligned(fromByteOffset: 4 * i, as: UInt32.self))) }
        case .f16:
            for i in 0..<count { out[i] = half(2 * i) }
        case .bf16:
            for i in 0..<count { out[i] = Float(bitPattern: UInt32(UInt16(littleEndian: bytes.loadUnaligned(fromByteOffset: 2 * i, as: UInt16.self))) << 16) }
        case .q8_0, .q4_0, .q4_1, .mxfp4:
            out.withUnsafeMutableBufferPointer { y in
                for b in 0..<count / 32 {
                    dequantizeBlock(UnsafeRawBufferPointer(rebasing: bytes[b * bytesPerBlock..<(b + 1) * bytesPerBlock]), into: y.baseAddress! + b * 32)
                }
            }
        }
        return out
    }

    /// One block's 32 values.
    func dequantizeBlock(_ bytes: UnsafeRawBufferPointer, into y: UnsafeMutablePointer<Float>) {
        func half(_ offset: Int) -> Float { FloatFormat.float16.decode(UInt16(littleEndian: bytes.loadUnaligned(fromByteOffset: offset, as: UInt16.self))) }
        func nibbles(at offset: Int, _ value: (UInt8) -> Float) {
            for j in 0..<16 {
                y[j] = value(bytes[offset + j] & 0x0F)
                y[j + 16] = value(bytes[offset + j] >> 4)
            }
        }
        switch self {
        case .q8_0:
            let d = half(0)
            for j in 0..<32 { y[j] = d * Float(Int8(bitPattern: bytes[2 + j])) }
        case .q4_0:
            let d = half(0)
            nibbles(at: 2) { d * Float(Int($0) - 8) }
        case .q4_1:
            let d = half(0), m = half(2)
            nibbles(at: 4) { d * Float($0) + m }
        case .mxfp4:
            let d = Self.mxfp4HalfScale(bytes[0])
            nibbles(at: 1) { d * Self.mxfp4Values[Int($0)] }
        case .f32, .f16, .bf16:
            preconditionFailure("plain types have no blocks")
        }
    }

    /// ggml's `kvalues_mxfp4`: the E2M1 code points, doubled.
    static let mxfp4Values: [Float] = [0, 1, 2, 3, 4, 6, 8, 12, 0, -1, -2, -3, -4, -6, -8, -12]

    /// 2^(e - 128), half the E8M0 scale 2^(e - 127) (subnormal for e < 2, as ggml builds it from bits).
    static func mxfp4HalfScale(_ e: UInt8) -> Float {
        Float(bitPattern: e < 2 ? UInt32(0x0020_0000) << UInt32(e) : UInt32(e - 1) << 23)
    }
}
