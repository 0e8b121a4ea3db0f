import ArgumentParser
import Foundation
import Quanta

struct SensitivityCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "sensitivity",
        abstract: "Rank Linear layers by how much quantizing each alone (per the recipe) hurts the model.",
        discussion: "SmolLM2: perplexity on 512 held-out tokens of Mansfield Park (after its calibration windows), as a ratio to FP32. MiniLM: 1 - mean cosine to FP32 on 64 held-out lee_background.cor documents. Never the evaluation text. Use the ranking with `quanta eval --keep-fp32 N`."
    )

    @OptionGroup var model: ModelOption
    @Option(name: .long, help: "The recipe (a built-in name or a JSON file).") var recipe: String
    @Option(name: .long, help: "How many layers to print (default: all).") var top: Int?
    @Flag(help: "Print a JSON array of {layer, degradation}.") var json = false

    func run() throws {
        let entries = try reportingErrors { () throws(QuantaError) -> [SensitivityAnalysis.Entry] in
            try Self.rank(model: model.model, recipe: try Recipe.named(recipe))
        }
        let shown = Array(entries.prefix(top ?? entries.count))
        if json {
            try printJSON(shown)
        } else {
            printLines(TextTable.render(header: ["rank", "layer", "degradation"],
                                        rows: shown.enumerated().map { ["\($0.offset + 1)", $0.element.layer, String(format: "%.5f", $0.element.degradation)] }))
        }
    }

    /// The ranking for `model` under `recipe`, on the held-out calibration data.
    static func rank(model name: String, recipe: Recipe, pipeline: QuantizationPipeline = QuantizationPipeline()) throws(QuantaError) -> [SensitivityAnalysis.Entry] {
        let data = EvaluationData(assets: try AssetStore.locate())
        let analysis = SensitivityAnalysis(pipeline: pipeline)
        let loaded = try LoadedModel(ModelReference(name))
        // Held out from the calibration split: SmolLM2's window after its 16 calibration windows, MiniLM's last 64 documents.
        let sequences = try loaded.calibrationSequences(data)
        let heldOut = if case .llama = loaded { 1 } else { 64 }
        let calibration = Array(sequences.prefix(min(type(of: loaded.model).calibrationSequences, sequences.count - heldOut)))
        func rank<Model: QuantizableModel>(_ model: Model) throws(QuantaError) -> [SensitivityAnalysis.Entry] {
            try analysis.rank(model, recipe: recipe, calibration: calibration, heldOut: Array(sequences[calibration.count..<calibration.count + heldOut])) { done, total in
                if done % 10 == 0 || done == total { progress("sensitivity: layer \(done)/\(total)") }
            }
        }
        return try rank(loaded.model)
    }
}
