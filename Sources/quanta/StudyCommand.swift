import ArgumentParser
import Foundation
import Quanta

struct StudyCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "study",
        abstract: "Evaluate recipes against FP32 and write a report (report.md and SVG charts).",
        discussion: "Runs `quanta eval` for FP32 and every recipe, then draws: the per-channel max |activation| of the layer with the worst outlier channels, before and after SmoothQuant; that layer's activation histogram with each calibrator's clipping threshold; the first task's metric against bits per weight; with --task ppl-suite, the held-out suite's per-text table and each recipe's worst perplexity change against bits per weight. Without --recipe, a representative set runs."
    )

    static let defaultRecipes = ["w8a8-naive", "w8a8", "w8a8-smoothquant", "w8a8-static", "llm-int8", "fp8-e4m3", "mxint8", "mxfp8", "mxfp6", "mxfp4", "w8a16", "w4a16-g128"]

    @OptionGroup var model: ModelOption
    @Option(name: .long, help: "Recipes to study (repeatable); default: \(defaultRecipes.joined(separator: " ")).") var recipe: [String] = []
    @Option(name: .long, help: "Tasks (repeatable); default: all of the model's.") var task: [RecipeEvaluation.Task] = []
    @Option(name: .long, help: "Folder to write report.md and the charts into.") var out: String

    func run() throws {
        let names = recipe.isEmpty ? Self.defaultRecipes : recipe
        let arguments = ["quanta", "study", "--model", model.model] + names.flatMap { ["--recipe", $0] } + task.flatMap { ["--task", $0.rawValue] } + ["--out", out]
        let report = try reportingErrors { () throws(QuantaError) -> StudyReport in
            let loaded = try LoadedModel(ModelReference(model.model))
            let recipes = try names.map { name throws(QuantaError) in try Recipe.named(name) }
            let data = EvaluationData(assets: try AssetStore.locate())
            let evaluation = RecipeEvaluation(data: data)
            let rows = try evaluation.run(loaded, modelName: model.model, recipes: recipes, tasks: task.isEmpty ? nil : task, progress: progress)
            // Statistics of the FP32 model (shared with the recipes' calibration) and of its SmoothQuant fold.
            let calibration = try loaded.calibrationSequences(data)
            func report<Model: QuantizableModel>(_ fp32: Model) throws(QuantaError) -> StudyReport {
                let calibrate = { (m: Model) throws(QuantaError) in
                    try CalibrationRun.statistics(m, sequences: Array(calibration.prefix(Model.calibrationSequences))) { done, total in
                        progress("calibration \(done)/\(total)")
                    }
                }
                let before = try evaluation.pipeline.fp32Statistics { () throws(QuantaError) in try calibrate(fp32) }
                // The first Linear reading each normalised input: BERT's query and intermediate, LLaMA's attn_q and ffn_gate.
                let readers = ["query", "intermediate.dense", "attn_q", "ffn_gate"]
                let layer = StudyReport.outlierLayer(before, candidates: fp32.linearLayers.map(\.name).filter { name in readers.contains { name.hasSuffix($0) } })!
                let after = try calibrate(SmoothQuant.fold(into: fp32, statistics: before, alpha: 0.5))
                return StudyReport(model: model.model, rows: rows, linearParameters: fp32.linearLayers.reduce(0) { $0 + $1.weight.count },
                                   layer: layer, before: before[layer]!, after: after[layer], command: arguments.joined(separator: " "))
            }
            return try report(loaded.model)
        }
        try reportingErrors { () throws(QuantaError) in try report.write(to: out) }
        let suite = report.suiteChart() == nil ? "" : ", suite-worst-vs-bits.svg"
        printLines(EvalCommand.table(report.rows) + ["", "wrote \(out)/report.md, smoothquant.svg, calibration.svg, accuracy-vs-bits.svg\(suite)"])
    }
}
