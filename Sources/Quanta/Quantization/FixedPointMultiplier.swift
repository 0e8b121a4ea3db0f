/// A real multiplier M > 0 held as an integer mantissa and a right shift, for requantizing int32
/// accumulators without floating point (gemmlowp / TFLite style):
///
///     M ~= mantissa * 2^-shift,   mantissa in [2^30, 2^31)
///     apply(acc) = rne(acc * mantissa / 2^shift)      (exact: one 64-bit product, one rounding)
///
/// Quanta rounds the shift to nearest with ties to even, the same rule as every other rounding in the
/// project (gemmlowp rounds ties away from zero after a first doubling-high rounding; one rounding is
/// exact and simpler).
public struct FixedPointMultiplier: Sendable, Hashable {
    public let mantissa: Int32
    public let shift: Int

    /// The nearest representable multiplier to `real`; needs 2^-32 <= real < 2^31 (smaller multipliers
    /// would zero any int32 accumulator; larger ones overflow).
    public init(_ real: Double) throws(QuantaError) {
        guard real.isFinite, real >= 0x1p-32, real < 0x1p31 else {
            throw .invalidArgument("requantization multiplier \(real) is outside [2^-32, 2^31)")
        }
        // real = f * 2^e with f in [1, 2): mantissa = rne(f * 2^30), shift = 30 - e.
        var e = real.exponent
        var m = (real.significand * 0x1p30).rounded(.toNearestOrEven)
        if m == 0x1p31 { m = 0x1p30; e += 1 }
        mantissa = Int32(m)
        shift = 30 - Int(e)
    }

    /// The multiplier's exact value, mantissa * 2^-shift.
    public var value: Double { Double(mantissa) * Double(sign: .plus, exponent: -shift, significand: 1) }

    /// rne(acc * mantissa / 2^shift), exactly.
    @inline(__always)
    public func apply(_ acc: Int32) -> Int64 {
        Self.roundingShiftRight(Int64(acc) * Int64(mantissa), by: shift)
    }

    /// rne(p / 2^s) for s >= 0 (ties to even), on integers.
    @inline(__always)
    public static func roundingShiftRight(_ p: Int64, by s: Int) -> Int64 {
        guard s > 0 else { return p << -s }
        guard s < 63 else { return 0 }   // |p| < 2^62 here: the quotient is below one half
        let floor = p >> s
        let remainder = p - (floor << s)          // in [0, 2^s)
        let half = Int64(1) << (s - 1)
        return remainder > half || (remainder == half && floor & 1 == 1) ? floor + 1 : floor
    }
}
