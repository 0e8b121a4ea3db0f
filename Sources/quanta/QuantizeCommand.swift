import ArgumentParser
import Foundation
import Quanta

struct QuantizeCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "quantize",
        abstract: "Quantize a model by a recipe and write it to a folder (quanta.json + model.safetensors).",
        discussion: """
        The folder holds each Linear's packed codes, scales and zero points, the calibrated activation \
        parameters and the tensors the recipe's transforms changed (docs/QUANTIZED_FORMAT.md); the tokenizer \
        and the untouched tensors come from the base model. Give the folder as --model to embed, perplexity, \
        generate, eval or bench. An existing folder is replaced only if it is a quantized model folder.
        """
    )

    @OptionGroup var model: ModelOption
    @OptionGroup var head: HeadOption
    @Option(name: .long, help: "A built-in recipe (\(Recipe.builtInNames.joined(separator: ", "))) or a recipe JSON file.") var recipe: String
    @Option(name: .long, help: "SmoothQuant's migration strength for recipes that use it: a number in [0, 1], or auto.")
    var alpha: SmoothQuant.Strength = .alpha(0.5)
    @Option(name: .long, parsing: .upToNextOption, help: "Calibration text files (default: Mansfield Park for SmolLM2, lee_background.cor for MiniLM; MiniLM takes one text per line).")
    var calib: [String] = []
    @Option(name: .long, help: "The folder to write.") var out: String

    func run() throws {
        let summary = try reportingErrors { () throws(QuantaError) -> String in
            let reference = try ModelReference(model.model)
            if case .quantized = reference { throw .invalidArgument("\(model.model) is already quantized; give its base model") }
            let base = try LoadedModel(reference)
            let recipe = try Recipe.named(recipe, alpha: alpha, quantizingHead: head.quantizeHead)
            let data = EvaluationData(assets: try AssetStore.locate())
            let writer = QuantizedModelFolder.Writer()
            let quantized = try QuantizationPipeline().quantize(base, recipe: recipe, data: data, calibrationFiles: calib,
                                                                progress: progress, record: writer.record)
            try writer.write(quantized, base: base, baseModel: model.model, recipe: recipe, to: out)
            let bytes = (try? FileManager.default.attributesOfItem(atPath: out + "/" + QuantizedModelFolder.tensorFile)[.size] as? Int) ?? 0
            return "wrote \(out): recipe \(recipe.name), \(QuantizedModelFolder.tensorFile) \(String(format: "%.2f", Double(bytes) / 1e6)) MB"
        }
        printLines([summary])
    }
}
