import Foundation
import Testing
import Quanta

/// The study report's held-out suite section: the per-text table computed from the rows, and the chart.
@Suite struct StudyReportTests {
    static func row(_ recipe: String, _ task: String, _ metric: String, _ value: Double, bytes: Int) -> RecipeEvaluation.Row {
        RecipeEvaluation.Row(model: "smollm2", recipe: recipe, task: task, metric: metric, value: value, deltaVsFP32: nil, linearWeightBytes: bytes)
    }

    @Test func suiteTableAndChart() throws {
        var statistics = ActivationStatistics(channels: 4)
        try statistics.observe(Matrix(rows: 2, columns: 4, storage: [1, -2, 3, 0.5, 0, 1, -1, 8]), layer: "blk.0.attn_q")
        let rows = [Self.row("fp32", "ppl-suite/emma", "perplexity", 20, bytes: 400), Self.row("fp32", "ppl-suite/python-code", "perplexity", 10, bytes: 400),
                    Self.row("w8a8", "ppl-suite/emma", "perplexity", 20.5, bytes: 100), Self.row("w8a8", "ppl-suite/python-code", "perplexity", 10.1, bytes: 100),
                    Self.row("w8a8", "ppl-suite", "worst perplexity change", 0.025, bytes: 100)]
        let report = StudyReport(model: "smollm2", rows: rows, linearParameters: 100, layer: "blk.0.attn_q", before: statistics, after: nil, command: "quanta study")
        let markdown = report.markdown()
        #expect(markdown.contains("| recipe | emma | python-code | worst |"))
        #expect(markdown.contains("| fp32 perplexity | 20.00 | 10.00 | |"))
        #expect(markdown.contains("| w8a8 | +2.50% | +1.00% | **+2.50%** |"))
        let chart = try #require(report.suiteChart())
        #expect(chart.contains("w8a8") && chart.contains("<svg"))
        let plain = StudyReport(model: "smollm2", rows: [Self.row("fp32", "ppl-austen", "perplexity", 30, bytes: 400)], linearParameters: 100, layer: "blk.0.attn_q", before: statistics, after: nil, command: "q")
        #expect(plain.suiteChart() == nil && !plain.markdown().contains("Held-out suite"))
    }
}
