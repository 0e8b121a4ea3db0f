import ArgumentParser
import Quanta

struct FormatsCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "formats",
        abstract: "Print every code point of an element format with its value.",
        discussion: "One line per code, in code order: the code as 0x-prefixed hex, a space, its value as the shortest decimal that reads back as the same Float (nan, inf, -inf allowed). With no FORMAT, print a table of every format's parameters."
    )

    @Argument(help: "fp8-e4m3, fp8-e5m2, fp6-e2m3, fp6-e3m2, fp4-e2m1, e8m0, bf16 or fp16. Omit for the table of all formats.")
    var format: String?

    func run() throws {
        guard let name = format else {
            printLines(Self.parameterTable())
            return
        }
        let format = try floatFormat(named: name)
        printLines((0..<format.codeCount).map { code in
            NumberText.hexCode(UInt16(code), bitWidth: format.bitWidth) + " " + NumberText.shortest(format.decode(UInt16(code)))
        })
    }

    static func parameterTable() -> [String] {
        let header = ["format", "bits", "exp", "mant", "bias", "max normal", "min normal", "min subnormal", "inf", "nan"]
        let rows = FloatFormat.all.map { f in
            [f.name, "\(f.bitWidth)", "\(f.exponentBits)", "\(f.mantissaBits)", "\(f.bias)",
             NumberText.shortest(f.maxNormal), NumberText.shortest(f.minNormal), NumberText.shortest(f.minSubnormal),
             f.hasInfinity ? "yes" : "no", f.hasNaN ? "yes" : "no"]
        }
        return TextTable.render(header: header, rows: rows)
    }
}
