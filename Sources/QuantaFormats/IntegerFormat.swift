/// A two's-complement (signed) or plain binary (unsigned) integer code of 2 to 16 bits.
///
/// Signed b-bit codes span [-2^(b-1), 2^(b-1) - 1], unsigned ones [0, 2^b - 1]. The *narrow* signed range
/// [-(2^(b-1) - 1), 2^(b-1) - 1] drops the lowest code so that negation is closed, as symmetric
/// quantization (TensorRT, SmoothQuant) uses it.
public struct IntegerFormat: Sendable, Hashable, CustomStringConvertible {
    public let bits: Int
    public let isSigned: Bool

    /// A `bits`-wide format; nil unless 2 <= bits <= 16.
    public init?(bits: Int, signed: Bool) {
        guard (2...16).contains(bits) else { return nil }
        self.bits = bits
        self.isSigned = signed
    }

    public static let int8 = IntegerFormat(bits: 8, signed: true)!
    /// 7-bit weights: the codes whose products AVX2's vpmaddubsw sums without saturating (QK_SMALL_WEIGHT).
    public static let int7 = IntegerFormat(bits: 7, signed: true)!
    public static let uint8 = IntegerFormat(bits: 8, signed: false)!
    public static let int4 = IntegerFormat(bits: 4, signed: true)!
    public static let uint4 = IntegerFormat(bits: 4, signed: false)!

    public var description: String { (isSigned ? "int" : "uint") + String(bits) }

    /// Smallest code: -2^(b-1) signed, 0 unsigned.
    public var min: Int32 { isSigned ? -(1 << Int32(bits - 1)) : 0 }
    /// Largest code: 2^(b-1) - 1 signed, 2^b - 1 unsigned.
    public var max: Int32 { isSigned ? (1 << Int32(bits - 1)) - 1 : (1 << Int32(bits)) - 1 }
    /// Number of steps between the smallest and the largest code, 2^b - 1.
    public var levels: Int32 { max - min }

    /// round-to-nearest-even(x), clamped to [lower, upper]. NaN maps to 0.
    @inlinable
    public static func roundClamped(_ x: Float, lower: Int32, upper: Int32) -> Int32 {
        // Clamping first is exact (the bounds are integers) and keeps |x| < 2^22, where adding and
        // subtracting 1.5 * 2^23 rounds to nearest-even in the FPU without a libm call.
        let clamped = Swift.min(Swift.max(x, Float(lower)), Float(upper))
        let magic: Float = 12_582_912
        let rounded = (clamped + magic) - magic
        return rounded.isNaN ? 0 : Int32(rounded)
    }
}
