import ArgumentParser
import Quanta

@main
struct QuantaCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "quanta",
        abstract: "Quantize Transformer models and run them fast: number formats, MX blocks, benchmarks.",
        subcommands: [FormatsCommand.self, EncodeCommand.self, DecodeCommand.self, MXCommand.self, TokenizeCommand.self,
                      EmbedCommand.self, PerplexityCommand.self, GenerateCommand.self, EvalCommand.self, QuantizeCommand.self, QATCommand.self, ExportCommand.self, StudyCommand.self, SensitivityCommand.self, BenchCommand.self]
    )

    static func main() {
        BLAS.reexecWithTunedCoreType()
        ProcessMemory.keepFreedBuffers()
        main(nil)
    }
}
