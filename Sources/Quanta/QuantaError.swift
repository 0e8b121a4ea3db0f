/// The one error type of Quanta. Every case carries what a user needs to find the problem: the file,
/// tensor, shape or value at fault.
public enum QuantaError: Error, Sendable, CustomStringConvertible {
    /// A format, recipe or model name that is not known; `valid` lists the names that are.
    case unknownName(kind: String, name: String, valid: [String])
    /// Text that does not parse as a number: the 1-based line and the offending text.
    case invalidNumber(line: Int, text: String)
    /// A NaN or infinity where finite values are required.
    case nonFinite(tensor: String, index: Int, value: Float)
    /// Shapes that do not fit together.
    case shapeMismatch(String)
    /// An argument outside its valid range.
    case invalidArgument(String)
    /// A file that cannot be read, written or parsed.
    case file(path: String, reason: String)
    /// An error of the format layer.
    case format(FormatError)

    public var description: String {
        switch self {
        case let .unknownName(kind, name, valid):
            return "unknown \(kind) '\(name)'; valid names: \(valid.joined(separator: " "))"
        case let .invalidNumber(line, text):
            return "line \(line): '\(text)' is not a number"
        case let .nonFinite(tensor, index, value):
            return "\(tensor): element \(index) is \(value); finite values are required"
        case let .shapeMismatch(message), let .invalidArgument(message):
            return message
        case let .file(path, reason):
            return "\(path): \(reason)"
        case let .format(error):
            return error.description
        }
    }
}
