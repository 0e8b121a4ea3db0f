import ArgumentParser
import Quanta

struct DecodeCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "decode",
        abstract: "Decode codes of an element format from stdin into floats.",
        discussion: "Reads whitespace-separated hex codes (0x7e or 7e) and prints one value per line: the shortest decimal that reads back as the same Float (nan, inf, -inf allowed). Exit status 2 for an unknown format, 1 for a token that is not a code of the format (nothing is printed then)."
    )

    @Option(name: .long, help: "fp8-e4m3, fp8-e5m2, fp6-e2m3, fp6-e3m2, fp4-e2m1 or e8m0 (also bf16, fp16).")
    var format: String

    func run() throws {
        let format = try floatFormat(named: format)
        let codes: [UInt16]
        do { codes = try NumberText.parseCodes(readStandardInput(), limit: format.codeCount) } catch {
            throw fail(error, status: ExitStatus.badInput)
        }
        printLines(codes.map { NumberText.shortest(format.decode($0)) })
    }
}
