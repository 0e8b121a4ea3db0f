import ArgumentParser
import Foundation
import Quanta

extension RecipeEvaluation.Task: ExpressibleByArgument {}

extension SmoothQuant.Strength: ExpressibleByArgument {
    public init?(argument: String) {
        if argument == "auto" { self = .automatic; return }
        guard let value = Float(argument), (0...1).contains(value) else { return nil }
        self = .alpha(value)
    }

    public var defaultValueDescription: String { description }
}

struct EvalCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "eval",
        abstract: "Run the evaluation tasks of the protocol and print their metrics.",
        discussion: """
        MiniLM tasks: lee (Spearman rho of cosine similarity vs human scores over the 1225 Lee document pairs), \
        polarity (Pang-Lee 10-fold nearest-centroid accuracy), bbc (BBC News 5-class nearest-centroid accuracy, \
        60/40 split by file name). SmolLM2 tasks: ppl-austen (perplexity on the first 2048 tokens of Emma), \
        ppl-bbc (the same on the BBC tech articles), ppl-suite (the held-out suite: the first 2048 tokens of \
        each of Emma, Pride and Prejudice, the BBC tech, business and sports articles, Python source, package \
        documentation and a table of numbers, each as ppl-suite/NAME, then each recipe's worst perplexity \
        change over them). Without --task, every task of the model but ppl-suite runs. \
        Each --recipe is evaluated against FP32 in the same run (a quantized model folder from `quanta quantize` given as --model is evaluated against its base model); MiniLM recipes also report the mean and \
        minimum cosine similarity of their Lee document embeddings to FP32's. Static recipes calibrate on \
        Mansfield Park (SmolLM2, 16 windows of 512 tokens) or gensim's lee_background.cor (MiniLM).
        """
    )

    @OptionGroup var model: ModelOption
    @OptionGroup var head: HeadOption
    @Option(name: .long, help: "lee, polarity, bbc, ppl-austen, ppl-bbc or ppl-suite (repeatable).") var task: [RecipeEvaluation.Task] = []
    @Option(name: .long, help: "Also evaluate these recipes (repeatable): \(Recipe.builtInNames.joined(separator: ", ")), or a recipe JSON file (see docs/RECIPES.md).")
    var recipe: [String] = []
    @Option(name: .long, help: "SmoothQuant's migration strength for recipes that use it: a number in [0, 1], or auto (searched per group of layers on the calibration sample).")
    var alpha: SmoothQuant.Strength = .alpha(0.5)
    @Option(name: .long, parsing: .upToNextOption, help: "Calibration text files for static recipes (default: Mansfield Park for SmolLM2, lee_background.cor for MiniLM; MiniLM takes one text per line).")
    var calib: [String] = []
    @Flag(name: .customLong("integer-kernels"), help: "Run the layers that have integer kernels (INT8 per-channel weights with UINT8 inputs per token, per token in blocks of 32, or static per-tensor INT8 inputs; LLM.int8(); UINT8/UINT4 weight-only) in integer arithmetic instead of fake quantization.")
    var integerKernels = false
    @Option(name: .customLong("keep-fp32"), help: "Leave each recipe's N most sensitive layers in FP32 (ranked as `quanta sensitivity` does).")
    var keepFP32 = 0
    @Flag(help: "Print a JSON array of {model, recipe, task, metric, value, deltaVsFP32, linearWeightBytes}.") var json = false

    func run() throws {
        let rows = try reportingErrors { () throws(QuantaError) -> [RecipeEvaluation.Row] in
            // A quantized model folder is compared with its base model in FP32.
            let reference = try ModelReference(model.model)
            var stored = [RecipeEvaluation.Variant]()
            var modelName = model.model
            if case let .quantized(folder) = reference {
                let description = try QuantizedModelFolder.description(of: folder)
                stored = [.stored(name: "\(description.recipe) (\(folder))", model: try LoadedModel(reference))]
                modelName = description.baseModel
            }
            let loaded = try LoadedModel(ModelReference(modelName))
            var recipes = try recipe.map { name throws(QuantaError) in try Recipe.named(name, alpha: alpha, quantizingHead: head.quantizeHead) }
            if keepFP32 > 0 {
                recipes = try recipes.map { r throws(QuantaError) in
                    progress("ranking \(r.name)'s layers by sensitivity...")
                    return r.keepingFP32(try SensitivityCommand.rank(model: model.model, recipe: r).prefix(keepFP32).map(\.layer))
                }
            }
            let evaluation = RecipeEvaluation(data: EvaluationData(assets: try AssetStore.locate()), calibrationFiles: calib, integerKernels: integerKernels)
            return try evaluation.run(loaded, modelName: modelName, variants: stored + recipes.map { .recipe($0) },
                                      tasks: task.isEmpty ? nil : task, progress: progress)
        }
        if json {
            try printJSON(rows)
            return
        }
        printLines(Self.table(rows))
    }

    /// The rows as a text table; perplexity deltas in percent, other deltas in metric units.
    static func table(_ rows: [RecipeEvaluation.Row]) -> [String] {
        TextTable.render(header: ["model", "recipe", "task", "metric", "value", "vs fp32", "linear weight MB"], rows: rows.map { row in
            let delta = row.deltaVsFP32.map { d in
                row.metric == "perplexity" ? String(format: "%+.2f%%", 100 * d / (row.value - d)) : String(format: "%+.4f", d)
            } ?? ""
            let value = row.metric == "worst perplexity change" ? String(format: "%+.2f%%", 100 * row.value) : String(format: "%.4f", row.value)
            return [row.model, row.recipe, row.task, row.metric, value, delta,
                    String(format: "%.2f", Double(row.linearWeightBytes) / 1e6)]
        })
    }
}
