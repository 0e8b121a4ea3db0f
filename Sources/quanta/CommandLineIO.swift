import ArgumentParser
import Foundation
import Quanta

/// Exit statuses of the CLI contract.
enum ExitStatus {
    /// Bad input data (a number that does not parse, a code out of range).
    static let badInput: Int32 = 1
    /// An unknown format name.
    static let unknownName: Int32 = 2
}

/// Prints `error` on stderr and leaves with `status`; nothing has been written to stdout.
func fail(_ error: QuantaError, status: Int32) -> ExitCode {
    FileHandle.standardError.write(Data("quanta: \(error)\n".utf8))
    return ExitCode(status)
}

/// All of standard input as text.
func readStandardInput() -> String {
    String(decoding: FileHandle.standardInput.readDataToEndOfFile(), as: UTF8.self)
}

/// Writes `lines` to stdout in one piece.
func printLines(_ lines: [String]) {
    guard !lines.isEmpty else { return }
    FileHandle.standardOutput.write(Data((lines.joined(separator: "\n") + "\n").utf8))
}

/// Writes `value` to stdout as pretty-printed JSON with sorted keys (the `--json` output of every verb).
func printJSON<T: Encodable>(_ value: T) throws {
    let encoder = JSONEncoder()
    encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
    printLines([String(decoding: try encoder.encode(value), as: UTF8.self)])
}

/// The element format called `name`, or exit 2 listing the valid names.
func floatFormat(named name: String) throws -> FloatFormat {
    guard let format = FloatFormat.named(name) else {
        throw fail(.unknownName(kind: "format", name: name, valid: FloatFormat.all.map(\.name)),
                   status: ExitStatus.unknownName)
    }
    return format
}
