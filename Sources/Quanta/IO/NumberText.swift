/// Reading and writing numbers as text, for the CLI's scriptable contract.
public enum NumberText {
    /// The whitespace-separated decimal numbers of `text` (also `nan`, `inf`, `-inf`), or an error naming
    /// the 1-based line and the first token that is not a number.
    public static func parseFloats(_ text: String) throws(QuantaError) -> [Float] {
        try parseTokens(text) { Float($0) }
    }

    /// The whitespace-separated codes of `text`, written as hexadecimal with an optional `0x` prefix
    /// (`0x7e`, `7e`), each below `limit`.
    public static func parseCodes(_ text: String, limit: Int) throws(QuantaError) -> [UInt16] {
        try parseTokens(text) { token in
            let digits = token.hasPrefix("0x") || token.hasPrefix("0X") ? token.dropFirst(2) : Substring(token)
            guard !digits.isEmpty, let code = Int(digits, radix: 16), code >= 0, code < limit else { return nil }
            return UInt16(code)
        }
    }

    static func parseTokens<T>(_ text: String, _ parse: (String) -> T?) throws(QuantaError) -> [T] {
        var values = [T]()
        var lineNumber = 0
        for line in text.split(separator: "\n", omittingEmptySubsequences: false) {
            lineNumber += 1
            for token in line.split(whereSeparator: { $0 == " " || $0 == "\t" || $0 == "\r" }) {
                guard let value = parse(String(token)) else {
                    throw .invalidNumber(line: lineNumber, text: String(token))
                }
                values.append(value)
            }
        }
        return values
    }

    /// The shortest decimal that reads back as the same Float (`448`, `0.001953125`, `-0`, `1e-05`),
    /// or `nan`, `inf`, `-inf`.
    public static func shortest(_ x: Float) -> String {
        if x.isNaN { return "nan" }
        if x.isInfinite { return x < 0 ? "-inf" : "inf" }
        let text = x.description
        return text.hasSuffix(".0") ? String(text.dropLast(2)) : text
    }

    /// A code as lower-case hexadecimal with `0x` and two digits (four for 16-bit formats): `0x7e`.
    public static func hexCode(_ code: UInt16, bitWidth: Int) -> String {
        let digits = String(code, radix: 16)
        let width = bitWidth > 8 ? 4 : 2
        return "0x" + String(repeating: "0", count: max(0, width - digits.count)) + digits
    }
}
