import ArgumentParser
import Quanta

struct EncodeCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "encode",
        abstract: "Encode decimal floats from stdin into codes of an element format.",
        discussion: "Reads whitespace-separated decimal numbers (nan, inf, -inf allowed) and prints one code per line as lower-case hex with two digits (0x7e), rounding to nearest-even. Exit status 2 for an unknown format, 1 for a token that is not a number (nothing is printed then)."
    )

    @Option(name: .long, help: "fp8-e4m3, fp8-e5m2, fp6-e2m3, fp6-e3m2, fp4-e2m1 or e8m0 (also bf16, fp16).")
    var format: String

    @Flag(name: .customLong("no-saturate"),
          help: "Overflow to inf (E5M2) or NaN (E4M3) as ml_dtypes does, instead of clamping to the largest finite value.")
    var noSaturate = false

    func run() throws {
        let format = try floatFormat(named: format)
        let values: [Float]
        do { values = try NumberText.parseFloats(readStandardInput()) } catch { throw fail(error, status: ExitStatus.badInput) }
        printLines(values.map { NumberText.hexCode(format.encode($0, saturating: !noSaturate), bitWidth: format.bitWidth) })
    }
}
