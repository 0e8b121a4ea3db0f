/// How a Float that falls between two codes is rounded.
public enum Rounding: Sendable, Hashable {
    /// Round to nearest, ties to the even code (IEEE 754 default; what ml_dtypes does).
    case nearestEven
    /// Round up with probability equal to the distance from the lower code, as a fraction of the gap
    /// (unbiased in expectation; for training). Uses the generator passed to the conversion.
    case stochastic
}

extension FloatFormat {
    /// The value of `code` (bits above `bitWidth` are ignored), as a Float. Every value of every format in the
    /// table is exactly representable as a Float.
    public func decode(_ code: UInt16) -> Float {
        let c = UInt32(code) & (magnitudeMask | signBit)
        let negative = c & signBit != 0
        let magnitude = c & magnitudeMask
        let e = Int(magnitude >> UInt32(mantissaBits))
        let m = magnitude & mantissaMask
        if specials == .unsignedExponentOnly {
            return magnitude == magnitudeMask ? .nan : Float(sign: .plus, exponent: e - bias, significand: 1)
        }
        switch specials {
        case .infinitiesAndNaN where UInt32(e) == exponentFieldMax:
            return m == 0 ? (negative ? -.infinity : .infinity) : .nan
        case .singleNaN where magnitude == magnitudeMask:
            return .nan
        default:
            break
        }
        let value: Float = e == 0
            ? Float(sign: .plus, exponent: 1 - bias - mantissaBits, significand: Float(m))
            : Float(sign: .plus, exponent: e - bias, significand: 1 + Float(m) / Float(1 << mantissaBits))
        return negative ? -value : value
    }

    /// The code of `x`, rounded to nearest-even.
    ///
    /// Saturating mode clamps everything beyond the largest finite value (infinities included) to
    /// +-maxNormal. Non-saturating mode follows ml_dtypes: a value that rounds past the largest finite
    /// code (that is, |x| > maxNormal + half an ulp, or equal to it when that tie rounds away) becomes
    /// infinity where the format has one (E5M2), NaN where it has only NaN (E4M3), and saturates where it
    /// has neither (FP6, FP4). NaN stays NaN (sign kept). Where a format has no NaN (FP6, FP4), NaN maps
    /// to the zero of the opposite sign, bit for bit as ml_dtypes 0.6 does (its NaN is "negated -0").
    ///
    /// E8M0 follows ml_dtypes too: it rounds the exponent half up (1.5 * 2^k -> 2^(k+1)), maps every
    /// positive value up to 2^-127 to 2^-127 (and those between 2^-127 and 2^-126 to 2^-126), and maps 0, negatives, NaN and (unless saturating) values
    /// from 1.5 * 2^127 up to NaN (0xFF); saturating, large positives and +inf give 2^127 (0xFE).
    public func encode(_ x: Float, saturating: Bool = true) -> UInt16 {
        EncodeConstants(self, saturating: saturating).encode(x)
    }

    /// The code of `x` under `rounding`: nearest-even, or stochastic with randomness from `generator`
    /// (E8M0 always rounds as `encode` does).
    public func encode<G: RandomNumberGenerator>(
        _ x: Float, saturating: Bool = true, rounding: Rounding, using generator: inout G
    ) -> UInt16 {
        let constants = EncodeConstants(self, saturating: saturating)
        // E8M0 scales are always rounded to nearest (they are chosen, not accumulated).
        guard rounding == .stochastic, x.isFinite, hasSign else { return constants.encode(x) }
        // Truncate toward zero, then step up one code with probability (|x| - lower) / (upper - lower).
        let magnitude = abs(x)
        var lower = constants.encodeMagnitude(magnitude.bitPattern)
        if decode(UInt16(lower)) > magnitude || decode(UInt16(lower)).isNaN { lower -= 1 }
        var code = lower
        if lower < maxFiniteMagnitudeCode {
            let low = decode(UInt16(lower)), high = decode(UInt16(lower + 1))
            let fraction = (magnitude - low) / (high - low)
            if Float.random(in: 0..<1, using: &generator) < fraction { code = lower + 1 }
        } else {
            code = constants.encodeMagnitude(magnitude.bitPattern)
        }
        return UInt16(code | (x.sign == .minus ? signBit : 0))
    }
}

/// Everything `encode` needs, derived once from a format's parameters so that bulk loops hold only
/// integer constants. The algorithm works on the binary32 bit pattern a of |x|:
///
///     normal target  (a >= bits(minNormal)): code = (a + 2^(s-1) - 1 + bit_s(a) - (127 - bias) << 23) >> s,
///                                            s = 23 - mantissaBits  (round to nearest-even at bit s)
///     subnormal target:                      code = bits(|x| + M) - bits(M),  M = 2^(24 - bias - mantissaBits)
///                                            (the FPU's own nearest-even addition does the rounding)
///
/// then codes above the largest finite one overflow (saturate, or become inf/NaN), and NaN maps to NaN.
struct EncodeConstants: Sendable {
    let shift: UInt32
    let roundingBias: UInt32
    let rebias: UInt32
    let minNormalBits: UInt32
    let magic: Float
    let maxCode: UInt32
    let overflowCode: UInt32
    let nanCode: UInt32
    let signPosition: UInt32
    let hasSign: Bool
    let saturating: Bool

    init(_ format: FloatFormat, saturating: Bool) {
        shift = UInt32(23 - format.mantissaBits)
        roundingBias = (1 << (shift - 1)) - 1
        rebias = UInt32(127 - format.bias) << 23
        minNormalBits = UInt32(max(128 - format.bias, 1)) << 23
        magic = Float(bitPattern: UInt32(151 - format.bias - format.mantissaBits) << 23)
        maxCode = format.maxFiniteMagnitudeCode
        switch format.specials {
        case .infinitiesAndNaN:
            overflowCode = saturating ? maxCode : format.exponentFieldMax << UInt32(format.mantissaBits)
            nanCode = (format.exponentFieldMax << UInt32(format.mantissaBits)) | (1 << UInt32(format.mantissaBits - 1))  // quiet NaN
        case .singleNaN, .unsignedExponentOnly:
            overflowCode = saturating ? maxCode : format.magnitudeMask
            nanCode = format.magnitudeMask
        case .finiteOnly:
            overflowCode = maxCode
            nanCode = format.signBit
        }
        signPosition = UInt32(format.exponentBits + format.mantissaBits)
        hasSign = format.hasSign
        self.saturating = saturating
    }

    /// Magnitude code of the binary32 bit pattern `a` (sign bit clear): nearest-even, overflow, NaN.
    @inline(__always)
    func encodeMagnitude(_ a: UInt32) -> UInt32 {
        let normal = (a &+ roundingBias &+ ((a >> shift) & 1) &- rebias) >> shift
        let subnormal = (Float(bitPattern: a) + magic).bitPattern &- magic.bitPattern
        var code = a < minNormalBits ? subnormal : normal
        code = code > maxCode ? overflowCode : code
        return a > 0x7F80_0000 ? nanCode : code
    }

    /// The code of x: the magnitude code with the sign bit XORed in (for NaN in FP6/FP4 the magnitude
    /// code already holds a sign bit, which the NaN's sign flips).
    @inline(__always)
    func encode(_ x: Float) -> UInt16 {
        hasSign ? encodeSigned(x) : UInt16(encodeUnsignedExponent(x.bitPattern))
    }

    /// `encode` for the formats with a sign bit (all but E8M0); branch-free, so bulk loops vectorise.
    @inline(__always)
    func encodeSigned(_ x: Float) -> UInt16 {
        let bits = x.bitPattern
        let magnitude = encodeMagnitude(bits & 0x7FFF_FFFF)
        return UInt16(truncatingIfNeeded: magnitude ^ ((bits >> 31) << signPosition))
    }

    /// E8M0 code of the binary32 pattern `bits` (see `FloatFormat.encode` for the rules).
    @inline(__always)
    func encodeUnsignedExponent(_ bits: UInt32) -> UInt32 {
        if bits >= 0x7F80_0000 { return bits == 0x7F80_0000 && saturating ? 0xFE : 0xFF }  // +inf, NaN, negatives
        if bits == 0 { return 0xFF }
        if bits < 0x0080_0000 { return bits > 0x0040_0000 ? 1 : 0 }                       // binary32 subnormals: above 2^-127 -> 2^-126
        let code = (bits + 0x0040_0000) >> 23                                              // round half up
        return code >= 0xFF ? (saturating ? 0xFE : 0xFF) : code
    }
}
