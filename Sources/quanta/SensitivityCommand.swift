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
        switch try LoadedModel(ModelReference(name)) {
        case let .llama(llama, tokenizer):
            let tokens = try tokenizer.encode(data.novel("mansfield-park"))
            let calibration = Array(tokens.prefix(16 * 512)), heldOut = Array(tokens.dropFirst(16 * 512).prefix(512))
            return try analysis.rank(llama, recipe: recipe, calibrationTokens: calibration, heldOut: heldOut) { done, total in
                if done % 10 == 0 || done == total { progress("sensitivity: layer \(done)/\(total)") }
            }
        case let .bert(bert, tokenizer):
            let documents = try data.calibrationDocuments()
            return try analysis.rank(bert, tokenizer: tokenizer, recipe: recipe, calibrationTexts: Array(documents.prefix(documents.count - 64)),
                                     heldOut: Array(documents.suffix(64))) { done, total in progress("sensitivity: layer \(done)/\(total)") }
        }
    }
}
