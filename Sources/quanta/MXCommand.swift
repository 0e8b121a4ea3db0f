import ArgumentParser
import Quanta

struct MXCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "mx",
        abstract: "Quantize floats from stdin to an MX block format and print the dequantized values.",
        discussion: "Consecutive blocks of --block values in input order share one E8M0 scale (OCP Microscaling v1.0); the last block may be shorter. Prints one value per line, the shortest decimal that reads back as the same Float. Exit status 2 for an unknown format, 1 for a token that is not a number."
    )

    @Option(name: .long, help: "mxfp8-e4m3, mxfp8-e5m2, mxfp6-e2m3, mxfp6-e3m2, mxfp4-e2m1 or mxint8.")
    var format: String

    @Option(name: .long, help: "Values per block (sharing one scale).")
    var block = 32

    func run() throws {
        guard let mx = MXFormat.named(format) else {
            throw fail(.unknownName(kind: "MX format", name: format, valid: MXFormat.all.map(\.name)),
                       status: ExitStatus.unknownName)
        }
        let quantizer: MXBlockQuantizer
        do { quantizer = try MXBlockQuantizer(format: mx, blockSize: block) } catch {
            throw fail(.format(error), status: ExitStatus.badInput)
        }
        let values: [Float]
        do { values = try NumberText.parseFloats(readStandardInput()) } catch { throw fail(error, status: ExitStatus.badInput) }
        printLines(quantizer.roundTrip(values).map(NumberText.shortest))
    }
}
