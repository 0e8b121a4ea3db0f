/// Errors of the format layer: each names the value, name or size that was wrong.
public enum FormatError: Error, Sendable, Hashable, CustomStringConvertible {
    case packedSizeMismatch(bitWidth: Int, count: Int, expectedBytes: Int, actualBytes: Int)
    case invalidBlockSize(Int)
    case scaleCountMismatch(expected: Int, actual: Int)

    public var description: String {
        switch self {
        case let .packedSizeMismatch(bitWidth, count, expected, actual):
            return "packed data for \(count) codes of \(bitWidth) bits must be \(expected) bytes, got \(actual)"
        case let .invalidBlockSize(size):
            return "MX block size must be positive, got \(size)"
        case let .scaleCountMismatch(expected, actual):
            return "MX tensor needs \(expected) scales, got \(actual)"
        }
    }
}
