import ArgumentParser
import Foundation
import Quanta

struct BenchCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "bench",
        abstract: "Benchmarks: medians of timed runs after warm-up, printed as tables (or JSON).",
        subcommands: [FormatsBench.self]
    )
}

struct FormatsBench: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "formats",
        abstract: "Bulk FP32 <-> element-format conversion rate, one thread, in M elements/s.",
        discussion: "Converts a buffer of values spread over each format's range (subnormals and overflow included) from FP32 to codes (encode, round to nearest-even, saturating) and back (decode), and prints the median of --runs timed runs after two warm-up runs."
    )

    @Option(help: "Elements per buffer.") var elements = 1 << 24
    @Option(help: "Timed runs (the median is reported).") var runs = 7
    @Flag(help: "Print a JSON array of {format, direction, elements, medianMilliseconds, millionElementsPerSecond}.")
    var json = false

    func validate() throws {
        guard elements > 0, runs > 0 else { throw ValidationError("--elements and --runs must be positive") }
    }

    func run() throws {
        let rows = FormatBenchmark(elements: elements, stopwatch: Stopwatch(warmup: 2, runs: runs)).run()
        if json {
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
            printLines([String(decoding: try encoder.encode(rows), as: UTF8.self)])
            return
        }
        printLines(["cpu: \(CPUInfo.current().summary)",
                    "threads: 1, elements: \(elements), median of \(runs) runs after 2 warm-up runs", ""]
                   + TextTable.render(
            header: ["format", "direction", "median ms", "M elements/s"],
            rows: rows.map { [$0.format, $0.direction, String(format: "%.2f", $0.medianMilliseconds),
                              String(format: "%.0f", $0.millionElementsPerSecond)] }))
    }
}
