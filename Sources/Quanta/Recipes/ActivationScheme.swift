/// How a Linear's input is quantized: with scales computed at run time, or fixed by calibration.
public enum ActivationScheme: Sendable, CustomStringConvertible {
    /// Scales from the activation itself on every call (per token, per row or per MX block).
    case dynamic(TensorQuantizer)
    /// Symmetric INT8, one scale per tensor: S = T / 127 with T from `calibrator` (TensorRT's static scheme).
    case staticInt8(Calibrator)
    /// A float format, one scale per tensor: S = T / maxNormal with T from `calibrator`.
    case staticFloat(FloatFormat, Calibrator)

    public var description: String {
        switch self {
        case let .dynamic(q): return "dynamic \(q)"
        case let .staticInt8(c): return "int8 per-tensor static (\(c))"
        case let .staticFloat(f, c): return "\(f.name) per-tensor static (\(c))"
        }
    }

    public var needsCalibration: Bool {
        if case .dynamic = self { return false }
        return true
    }

    /// The quantizer for a layer whose calibration statistics are `statistics`.
    public func quantizer(statistics: ActivationStatistics?, layer: String) throws(QuantaError) -> TensorQuantizer {
        switch self {
        case let .dynamic(q):
            return q
        case let .staticInt8(calibrator):
            guard let statistics else { throw .invalidArgument("\(layer): a static activation scale needs calibration data") }
            let t = calibrator.threshold(statistics)
            return .staticInteger(try QuantizationParameters(minimum: [-t], maximum: [t], format: .int8, scheme: .symmetric, granularity: .perTensor))
        case let .staticFloat(format, calibrator):
            guard let statistics else { throw .invalidArgument("\(layer): a static activation scale needs calibration data") }
            let t = calibrator.threshold(statistics, levels: 127)
            return .staticFloat(format, scale: t > 0 ? t / format.maxNormal : 1)
        }
    }
}
