/// A small binary floating-point element format, described by one row of parameters from which every
/// conversion is derived (microxcaling's `formats.py` style: one table, no per-format code).
///
/// A code is `[sign][exponent field e][mantissa field m]`, most significant bit first. Its value is
///
///     normal     (e != 0):  (-1)^sign * 2^(e - bias) * (1 + m / 2^mantissaBits)
///     subnormal  (e == 0):  (-1)^sign * 2^(1 - bias) * (m / 2^mantissaBits)
///
/// except for the codes that `specials` reserves for infinities and NaN. E8M0 has no sign, no mantissa
/// and no subnormals: code e is 2^(e - 127), and 0xFF is NaN.
public struct FloatFormat: Sendable, Hashable, CustomStringConvertible {
    /// Which codes are not finite numbers.
    public enum Specials: Sendable, Hashable {
        /// IEEE 754 style: exponent field all ones is infinity (mantissa 0) or NaN (mantissa != 0).
        case infinitiesAndNaN
        /// OCP E4M3 ("fn"): no infinities; the one code with all exponent and mantissa bits set is NaN.
        case singleNaN
        /// Every code is finite (FP6, FP4).
        case finiteOnly
        /// E8M0: unsigned powers of two; the all-ones code is NaN.
        case unsignedExponentOnly
    }

    public let name: String
    public let exponentBits: Int
    public let mantissaBits: Int
    public let bias: Int
    public let specials: Specials

    public init(name: String, exponentBits: Int, mantissaBits: Int, bias: Int, specials: Specials) {
        precondition(exponentBits >= 1 && exponentBits <= 8 && mantissaBits >= 0 && mantissaBits <= 22)
        self.name = name
        self.exponentBits = exponentBits
        self.mantissaBits = mantissaBits
        self.bias = bias
        self.specials = specials
    }

    public var description: String { name }

    public var hasSign: Bool { specials != .unsignedExponentOnly }
    /// Bits in one code: sign (if any) + exponent + mantissa.
    public var bitWidth: Int { (hasSign ? 1 : 0) + exponentBits + mantissaBits }
    /// Number of distinct codes, 2^bitWidth.
    public var codeCount: Int { 1 << bitWidth }
    /// Mask of the bits below the sign bit.
    var magnitudeMask: UInt32 { (1 << UInt32(exponentBits + mantissaBits)) - 1 }
    var signBit: UInt32 { hasSign ? 1 << UInt32(exponentBits + mantissaBits) : 0 }
    var exponentFieldMax: UInt32 { (1 << UInt32(exponentBits)) - 1 }
    var mantissaMask: UInt32 { (1 << UInt32(mantissaBits)) - 1 }

    /// The magnitude bits of the largest finite code.
    public var maxFiniteMagnitudeCode: UInt32 {
        switch specials {
        case .infinitiesAndNaN: return ((exponentFieldMax - 1) << UInt32(mantissaBits)) | mantissaMask
        case .singleNaN: return magnitudeMask - 1
        case .finiteOnly: return magnitudeMask
        case .unsignedExponentOnly: return magnitudeMask - 1
        }
    }
    /// Largest finite value: 448 (E4M3), 57344 (E5M2), 7.5 (E2M3), 28 (E3M2), 6 (E2M1), 2^127 (E8M0).
    public var maxNormal: Float { decode(UInt16(maxFiniteMagnitudeCode)) }
    /// Smallest positive normal value, 2^(1 - bias) (2^-127 for E8M0, whose smallest code is normal).
    public var minNormal: Float {
        Float(sign: .plus, exponent: specials == .unsignedExponentOnly ? -bias : 1 - bias, significand: 1)
    }
    /// Smallest positive subnormal value, 2^(1 - bias - mantissaBits); `minNormal` when there are none.
    public var minSubnormal: Float {
        mantissaBits == 0 ? minNormal : Float(sign: .plus, exponent: 1 - bias - mantissaBits, significand: 1)
    }
    /// The exponent of the largest power of two in the format, floor(log2(maxNormal)): the `emax` of OCP MX.
    public var maxExponent: Int { maxNormal.exponent }
    public var hasInfinity: Bool { specials == .infinitiesAndNaN }
    public var hasNaN: Bool { specials != .finiteOnly }
}

extension FloatFormat {
    /// OCP FP8 E4M3 (`float8_e4m3fn`): bias 7, max 448, no infinities, NaN = S.1111.111.
    public static let e4m3 = FloatFormat(name: "fp8-e4m3", exponentBits: 4, mantissaBits: 3, bias: 7, specials: .singleNaN)
    /// OCP FP8 E5M2 (`float8_e5m2`): bias 15, max 57344, IEEE infinities and NaNs.
    public static let e5m2 = FloatFormat(name: "fp8-e5m2", exponentBits: 5, mantissaBits: 2, bias: 15, specials: .infinitiesAndNaN)
    /// OCP MX FP6 E2M3 (`float6_e2m3fn`): bias 1, max 7.5, all codes finite.
    public static let e2m3 = FloatFormat(name: "fp6-e2m3", exponentBits: 2, mantissaBits: 3, bias: 1, specials: .finiteOnly)
    /// OCP MX FP6 E3M2 (`float6_e3m2fn`): bias 3, max 28, all codes finite.
    public static let e3m2 = FloatFormat(name: "fp6-e3m2", exponentBits: 3, mantissaBits: 2, bias: 3, specials: .finiteOnly)
    /// OCP MX FP4 E2M1 (`float4_e2m1fn`): bias 1, max 6, all codes finite.
    public static let e2m1 = FloatFormat(name: "fp4-e2m1", exponentBits: 2, mantissaBits: 1, bias: 1, specials: .finiteOnly)
    /// OCP MX scale E8M0 (`float8_e8m0fnu`): 2^(code - 127), 0xFF = NaN, no zero, no sign.
    public static let e8m0 = FloatFormat(name: "e8m0", exponentBits: 8, mantissaBits: 0, bias: 127, specials: .unsignedExponentOnly)
    /// bfloat16: the upper half of an IEEE binary32.
    public static let bfloat16 = FloatFormat(name: "bf16", exponentBits: 8, mantissaBits: 7, bias: 127, specials: .infinitiesAndNaN)
    /// IEEE binary16.
    public static let float16 = FloatFormat(name: "fp16", exponentBits: 5, mantissaBits: 10, bias: 15, specials: .infinitiesAndNaN)

    /// The formats of the CLI contract, by name.
    public static let narrow: [FloatFormat] = [.e4m3, .e5m2, .e2m3, .e3m2, .e2m1, .e8m0]
    /// Every format in the table.
    public static let all: [FloatFormat] = narrow + [.bfloat16, .float16]

    /// Looks a format up by its name (`fp8-e4m3`, ..., `bf16`, `fp16`).
    public static func named(_ name: String) -> FloatFormat? {
        all.first { $0.name == name }
    }
}
