import Foundation

/// The study report: `report.md` with the recipe table and three SVG charts drawn by Quanta — the per-channel
/// max |activation| of one layer before and after SmoothQuant (the SmoothQuant paper's figure), that layer's
/// activation histogram with each calibrator's clipping threshold, and accuracy against bits per weight — and,
/// when the study ran `ppl-suite`, the held-out suite's per-text table and its worst change against bits per weight.
public struct StudyReport: Sendable {
    public let model: String
    public let rows: [RecipeEvaluation.Row]
    /// Parameters of the Linear layers (for bits per weight).
    public let linearParameters: Int
    public let layer: String
    public let before: ActivationStatistics
    public let after: ActivationStatistics?
    public let command: String

    public init(model: String, rows: [RecipeEvaluation.Row], linearParameters: Int, layer: String,
                before: ActivationStatistics, after: ActivationStatistics?, command: String) {
        self.model = model
        self.rows = rows
        self.linearParameters = linearParameters
        self.layer = layer
        self.before = before
        self.after = after
        self.command = command
    }

    /// The layer (among `candidates`) whose input has the largest max / median per-channel max |x|: where
    /// outlier channels hurt most.
    public static func outlierLayer(_ statistics: [String: ActivationStatistics], candidates: [String]) -> String? {
        candidates.filter { statistics[$0] != nil }.max { spread(statistics[$0]!) < spread(statistics[$1]!) }
    }

    static func spread(_ s: ActivationStatistics) -> Float {
        let sorted = s.channelAbsMax.sorted()
        return sorted.last! / max(sorted[sorted.count / 2], 1e-12)
    }

    /// Writes report.md and the charts into `folder` (created if needed), each file atomically.
    public func write(to folder: String) throws(QuantaError) {
        do { try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true) } catch {
            throw .file(path: folder, reason: "cannot be created (\(error.localizedDescription))")
        }
        var files = [("smoothquant.svg", smoothQuantChart()), ("calibration.svg", histogramChart()),
                     ("accuracy-vs-bits.svg", accuracyChart()), ("report.md", markdown())]
        if let chart = suiteChart() { files.insert(("suite-worst-vs-bits.svg", chart), at: 3) }
        for (name, text) in files { try AtomicFile.write(Data(text.utf8), to: folder + "/" + name) }
    }

    func smoothQuantChart() -> String {
        var chart = SVGChart(title: "\(layer): per-channel max |x| before and after SmoothQuant", xLabel: "input channel", yLabel: "max |x|")
        let channels = before.channelAbsMax.indices.map(Double.init)
        chart.marks.append(.bars(x: channels, y: before.channelAbsMax.map(Double.init), width: 1, color: "#d62728", label: "FP32 model"))
        if let after {
            chart.marks.append(.bars(x: channels, y: after.channelAbsMax.map(Double.init), width: 1, color: "#1f77b4", label: "after SmoothQuant"))
        }
        return chart.render()
    }

    func histogramChart() -> String {
        let h = before.histogram
        let used = (h.counts.lastIndex { $0 > 0 } ?? 0) + 1
        let group = max(1, used / 256)
        var xs = [Double](), ys = [Double]()
        for start in stride(from: 0, to: used, by: group) {
            xs.append((Double(start) + Double(group) / 2) * Double(h.binWidth))
            ys.append(h.counts[start..<min(start + group, used)].reduce(0, +))
        }
        var chart = SVGChart(title: "\(layer): |x| histogram and clipping thresholds", xLabel: "|x|", yLabel: "count (log scale)", logY: true)
        chart.marks.append(.bars(x: xs, y: ys, width: Double(group) * Double(h.binWidth), color: "#7f7f7f", label: "calibration |x|"))
        let calibrators: [Calibrator] = [.minMax(movingAverage: false), .percentile(99.9), .percentile(99.99), .percentile(99.999), .entropy, .mse]
        for (i, c) in calibrators.enumerated() {
            chart.marks.append(.vertical(x: Double(c.threshold(before)), color: SVGChart.palette[i % SVGChart.palette.count], label: c.description))
        }
        return chart.render()
    }

    /// Quality against bits per weight: the first task's perplexity (language models) or the mean cosine
    /// similarity to FP32's embeddings (sentence embedders; FP32 itself at 1).
    func accuracyChart() -> String {
        let cosine = rows.contains { $0.metric == "mean cosine to fp32" }
        let task = rows.first?.task ?? "", metric = cosine ? "mean cosine to fp32" : rows.first?.metric ?? ""
        var points = rows.filter { $0.metric == metric && $0.task == task }.map { ($0.recipe, $0.linearWeightBytes, $0.value) }
        if cosine, let fp32 = rows.first(where: { $0.recipe == "fp32" }) { points.insert(("fp32", fp32.linearWeightBytes, 1), at: 0) }
        var chart = SVGChart(title: "\(model): \(metric) (\(task)) against bits per weight", xLabel: "bits per Linear weight (scales included)",
                             yLabel: metric, logY: metric == "perplexity")
        chart.marks.append(.points(x: points.map { Double($0.1) * 8 / Double(max(linearParameters, 1)) }, y: points.map(\.2),
                                   labels: points.map(\.0), color: "#1f77b4", label: "recipes"))
        return chart.render()
    }

    /// The held-out suite's rows (`ppl-suite/NAME` perplexities), if the study ran it.
    var suiteRows: [RecipeEvaluation.Row] { rows.filter { $0.task.hasPrefix(RecipeEvaluation.Task.pplSuite.rawValue + "/") && $0.metric == "perplexity" } }

    /// Each recipe's worst perplexity change over the held-out suite against bits per weight, or nil without the suite.
    public func suiteChart() -> String? {
        let worst = rows.filter { $0.metric == "worst perplexity change" }
        guard !worst.isEmpty else { return nil }
        var chart = SVGChart(title: "\(model): worst perplexity change over the held-out suite against bits per weight",
                             xLabel: "bits per Linear weight (scales included)", yLabel: "worst perplexity change (%, log scale)", logY: true)
        // Log scale: changes at or below zero are drawn at 0.01%.
        chart.marks.append(.points(x: worst.map { Double($0.linearWeightBytes) * 8 / Double(max(linearParameters, 1)) },
                                   y: worst.map { max(100 * $0.value, 0.01) }, labels: worst.map(\.recipe), color: "#d62728", label: "recipes"))
        return chart.render()
    }

    /// The per-text table of the held-out suite: each recipe's change against FP32 on each text, and its worst.
    func suiteTable() -> [String] {
        let texts = suiteRows.filter { $0.recipe == "fp32" }.map(\.task)
        guard !texts.isEmpty else { return [] }
        let names = texts.map { String($0.dropFirst(RecipeEvaluation.Task.pplSuite.rawValue.count + 1)) }
        var lines = ["", "## Held-out suite", "",
                     "Perplexity change against FP32 on each text of `ppl-suite` (none of them calibration text), and the worst.", "",
                     "![worst change against bits per weight](suite-worst-vs-bits.svg)", "",
                     "| recipe | " + names.joined(separator: " | ") + " | worst |", "|---|" + String(repeating: "---|", count: names.count + 1)]
        let fp32 = suiteRows.filter { $0.recipe == "fp32" }
        lines.append("| fp32 perplexity | " + fp32.map { String(format: "%.2f", $0.value) }.joined(separator: " | ") + " | |")
        for recipe in rows.map(\.recipe).reduce(into: [String](), { if !$0.contains($1) && $1 != "fp32" { $0.append($1) } }) {
            let cells = texts.map { text -> String in
                guard let row = suiteRows.first(where: { $0.recipe == recipe && $0.task == text }), let base = fp32.first(where: { $0.task == text }) else { return "" }
                return String(format: "%+.2f%%", 100 * (row.value / base.value - 1))
            }
            let worst = rows.first { $0.recipe == recipe && $0.metric == "worst perplexity change" }.map { String(format: "**%+.2f%%**", 100 * $0.value) } ?? ""
            lines.append("| \(recipe) | " + cells.joined(separator: " | ") + " | \(worst) |")
        }
        return lines
    }

    public func markdown() -> String {
        var lines = ["# Quanta study: \(model)", "", "Produced by `\(command)`. Every quantized figure is measured against the FP32 engine in the same run, by the evaluation protocol of DESIGN.md.", "",
                     "| recipe | task | metric | value | vs FP32 | Linear weights (MB) | bits/weight |", "|---|---|---|---|---|---|---|"]
        for row in rows {
            let delta = row.deltaVsFP32.map { d in
                row.metric == "perplexity" ? String(format: "%+.2f%%", 100 * d / (row.value - d)) : String(format: "%+.4f", d)
            } ?? ""
            lines.append("| \(row.recipe) | \(row.task) | \(row.metric) | \(String(format: "%.4f", row.value)) | \(delta) | \(String(format: "%.2f", Double(row.linearWeightBytes) / 1e6)) | \(String(format: "%.2f", Double(row.linearWeightBytes) * 8 / Double(max(linearParameters, 1)))) |")
        }
        let spreadBefore = Self.spread(before), spreadAfter = after.map(Self.spread)
        lines += ["", "## Outlier channels and SmoothQuant", "",
                  "![per-channel max |x|](smoothquant.svg)", "",
                  "`\(layer)` is the layer whose input has the most extreme outlier channels: its largest per-channel max |x| is \(String(format: "%.1f", spreadBefore))x the median channel's" + (spreadAfter.map { String(format: ", and %.1fx after SmoothQuant (alpha 0.5) migrates the difficulty into the weights.", $0) } ?? "."),
                  "A per-tensor scale has to cover the outliers, so every other channel gets only a few of the 255 levels: that is why `w8a8-naive` collapses, and per-token scales (`w8a8`), SmoothQuant, outlier decomposition (`llm-int8`) and fine-grained blocks (`mxint8`) fix it.", "",
                  "## Calibration", "", "![histogram with clipping thresholds](calibration.svg)", "",
                  "| calibrator | threshold |", "|---|---|"]
        let calibrators: [Calibrator] = [.minMax(movingAverage: false), .percentile(99.9), .percentile(99.99), .percentile(99.999), .entropy, .mse]
        for c in calibrators { lines.append("| \(c) | \(String(format: "%.4g", c.threshold(before))) |") }
        lines += ["", "## Accuracy against size", "", "![accuracy against bits per weight](accuracy-vs-bits.svg)"]
        lines += suiteTable() + [""]
        return lines.joined(separator: "\n")
    }
}
