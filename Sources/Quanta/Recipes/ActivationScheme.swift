/// How a Linear's input is quantized: with scales computed at run time, or fixed by calibration.
public enum ActivationScheme: Sendable, CustomStringConvertible {
    /// Scales from the activation itself on every call (per token, per row or per MX block).
    case dynamic(TensorQuantizer)
    /// Symmetric INT8, one scale per tensor: S = T / 127 with T from `calibrator` (TensorRT's static scheme).
    case staticInt8(Calibrator)
    /// A float format, one scale per tensor: S = T / maxNormal with T from `calibrator`.
    case staticFloat(FloatFormat, Calibrator)
    /// Per-embedding-group INT8 (PEG): the input channels, sorted by their calibrated max |x|, are cut into
    /// `groups` equal groups, each with its own static symmetric scale (max |x| of the group / 127).
    case staticPerEmbeddingGroup(groups: Int)

    public var description: String {
        switch self {
        case let .dynamic(q): return "dynamic \(q)"
        case let .staticInt8(c): return "int8 per-tensor static (\(c))"
        case let .staticFloat(f, c): return "\(f.name) per-tensor static (\(c))"
        case let .staticPerEmbeddingGroup(groups): return "int8 per-embedding-group static (\(groups) groups, range-sorted)"
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
        case let .staticPerEmbeddingGroup(count):
            guard let statistics else { throw .invalidArgument("\(layer): per-embedding-group scales need calibration data") }
            let groups = try EmbeddingGroups.rangeBased(columnRanges: statistics.channelAbsMax, groups: count)
            var groupMax = [Float](repeating: 0, count: count)
            for (c, g) in groups.groupOfColumn.enumerated() { groupMax[g] = max(groupMax[g], statistics.channelAbsMax[c]) }
            return .staticInteger(try QuantizationParameters(minimum: groupMax.map { -$0 }, maximum: groupMax, format: .int8,
                                                             scheme: .symmetric, granularity: .perEmbeddingGroup(groups)))
        }
    }
}
