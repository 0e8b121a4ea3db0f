/// Symmetric (Z = 0, range centred on zero) or asymmetric (any range containing zero).
public enum QuantizationScheme: String, Sendable, Hashable, CaseIterable {
    case symmetric, asymmetric
}

/// Scales and zero points of a uniform integer quantizer, one pair per group of `granularity`.
///
/// Sign convention (the seed's Equation 1, used everywhere in Quanta):
///
///     Q(x)  = clamp(rne(x * (1/S)) - Z, qmin, qmax)
///     x~    = S * (Q(x) + Z)
///
/// so Z is the negated integer zero point of PyTorch/ONNX (x = 0 maps to the code -Z). From a clipping
/// range [alpha, beta]:
///
///     symmetric:  S = max(|alpha|, |beta|) / qmax,  Z = 0,  codes in [-qmax, qmax]  (narrow range)
///     asymmetric: alpha' = min(alpha, 0), beta' = max(beta, 0),
///                 S = (beta' - alpha') / (2^b - 1),  Z = rne(alpha' / S) - qmin,  codes in [qmin, qmax]
///
/// A range of zero width gets S = 1 (every value is then exactly 0). Multiplying by the rounded inverse
/// scale (as torchao does) rather than dividing is what the fast kernels do, so reference and kernels agree
/// bit for bit.
public struct QuantizationParameters: Sendable, Hashable {
    public let format: IntegerFormat
    public let scheme: QuantizationScheme
    public let granularity: Granularity
    public let scales: [Float]
    public let zeroPoints: [Int32]

    /// Smallest and largest code used: the narrow range [-qmax, qmax] when symmetric.
    public var codeRange: ClosedRange<Int32> {
        scheme == .symmetric ? -format.max...format.max : format.min...format.max
    }

    /// Parameters from one clipping range [minimum[i], maximum[i]] per group.
    public init(minimum: [Float], maximum: [Float], format: IntegerFormat, scheme: QuantizationScheme,
                granularity: Granularity) throws(QuantaError) {
        guard minimum.count == maximum.count else {
            throw .shapeMismatch("\(minimum.count) range minima but \(maximum.count) maxima")
        }
        guard scheme == .asymmetric || format.isSigned else {
            throw .invalidArgument("symmetric quantization needs a signed format, not \(format)")
        }
        for (i, (lo, hi)) in zip(minimum, maximum).enumerated() {
            guard lo.isFinite else { throw .nonFinite(tensor: "clipping range minimum", index: i, value: lo) }
            guard hi.isFinite else { throw .nonFinite(tensor: "clipping range maximum", index: i, value: hi) }
            guard lo <= hi else { throw .invalidArgument("clipping range \(i): minimum \(lo) > maximum \(hi)") }
        }
        self.format = format
        self.scheme = scheme
        self.granularity = granularity
        switch scheme {
        case .symmetric:
            scales = zip(minimum, maximum).map { Self.nonZero(max($0.magnitude, $1.magnitude) / Float(format.max)) }
            zeroPoints = [Int32](repeating: 0, count: minimum.count)
        case .asymmetric:
            scales = zip(minimum, maximum).map { Self.nonZero((max($1, 0) - min($0, 0)) / Float(format.levels)) }
            zeroPoints = zip(minimum, scales).map { lo, s in
                IntegerFormat.roundClamped(min(lo, 0) / s, lower: -(1 << 24), upper: 1 << 24) - format.min
            }
        }
    }

    /// Adopts explicit scales and zero points (a saved model, a custom recipe).
    public init(scales: [Float], zeroPoints: [Int32], format: IntegerFormat, scheme: QuantizationScheme,
                granularity: Granularity) throws(QuantaError) {
        guard scales.count == zeroPoints.count else {
            throw .shapeMismatch("\(scales.count) scales but \(zeroPoints.count) zero points")
        }
        if let bad = scales.firstIndex(where: { !($0.isFinite && $0 > 0) }) {
            throw .invalidArgument("scale \(bad) is \(scales[bad]); scales must be finite and positive")
        }
        self.format = format
        self.scheme = scheme
        self.granularity = granularity
        self.scales = scales
        self.zeroPoints = zeroPoints
    }

    static func nonZero(_ scale: Float) -> Float { scale > 0 ? scale : 1 }
}
