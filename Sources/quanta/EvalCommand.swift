import ArgumentParser
import Foundation
import Quanta

struct EvalCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "eval",
        abstract: "Run the evaluation tasks of the protocol and print their metrics.",
        discussion: """
        MiniLM tasks: lee (Spearman rho of cosine similarity vs human scores over the 1225 Lee document pairs), \
        polarity (Pang-Lee 10-fold nearest-centroid accuracy), bbc (BBC News 5-class nearest-centroid accuracy, \
        60/40 split by file name). SmolLM2 tasks: ppl-austen (perplexity on the first 2048 tokens of Emma), \
        ppl-bbc (the same on the BBC tech articles). Without --task, every task of the model runs.
        """
    )

    enum Task: String, CaseIterable, ExpressibleByArgument {
        case lee, polarity, bbc, pplAusten = "ppl-austen", pplBBC = "ppl-bbc"
        var isEmbedding: Bool { [.lee, .polarity, .bbc].contains(self) }
    }

    struct Row: Codable {
        let model: String, recipe: String, task: String, metric: String, value: Double, deltaVsFP32: Double?
    }

    @OptionGroup var model: ModelOption
    @Option(name: .long, help: "lee, polarity, bbc, ppl-austen or ppl-bbc (repeatable).") var task: [Task] = []
    @Option(name: .long, help: "Also evaluate these recipes, each against FP32 in the same run (repeatable): \(Recipe.builtInNames.joined(separator: ", ")).")
    var recipe: [String] = []
    @Option(name: .long, help: "SmoothQuant's migration strength alpha for recipes that use it.") var alpha: Float = 0.5
    @Flag(help: "Print a JSON array of {model, recipe, task, metric, value, deltaVsFP32}.") var json = false

    func run() throws {
        let loaded = try reportingErrors { () throws(QuantaError) in try LoadedModel(ModelReference(model.model)) }
        let recipes = try reportingErrors { () throws(QuantaError) in try recipe.map { name throws(QuantaError) in try Recipe.builtIn(name, alpha: alpha) } }
        let data = EvaluationData(assets: try reportingErrors { () throws(QuantaError) in try AssetStore.locate() })
        var rows = [Row]()
        let pipeline = QuantizationPipeline()
        func record(_ recipe: String, _ task: Task, _ metric: String, _ value: Double) {
            let baseline = rows.first { $0.recipe == "fp32" && $0.task == task.rawValue }?.value
            rows.append(Row(model: model.model, recipe: recipe, task: task.rawValue, metric: metric, value: value,
                            deltaVsFP32: baseline.map { value - $0 }))
        }
        switch loaded {
        case let .bert(bert, tokenizer):
            let tasks = task.isEmpty ? [.lee, .polarity, .bbc] : task
            guard tasks.allSatisfy(\.isEmbedding) else {
                throw fail(.invalidArgument("\(model.model) is a sentence-embedding model: tasks lee, polarity, bbc"), status: ExitStatus.badInput)
            }
            let calibrationTexts = try reportingErrors { () throws(QuantaError) in try data.calibrationDocuments() }
            let variants = try [("fp32", bert)] + recipes.map { r in
                (r.name, try reportingErrors { () throws(QuantaError) in
                    try pipeline.quantize(bert, tokenizer: tokenizer, recipe: r, calibrationTexts: calibrationTexts) { progress("\(r.name): \($0)") }
                })
            }
            let runner = EmbeddingTasks(data: data)
            let reference = SentenceEmbedder(model: bert, tokenizer: tokenizer)
            for (name, variant) in variants {
                let embedder = SentenceEmbedder(model: variant, tokenizer: tokenizer)
                if name != "fp32" {
                    let (mean, minimum) = try reportingErrors { () throws(QuantaError) in try runner.cosineToReference(embedder, reference: reference) }
                    rows.append(Row(model: model.model, recipe: name, task: "lee", metric: "mean cosine to fp32", value: mean, deltaVsFP32: nil))
                    rows.append(Row(model: model.model, recipe: name, task: "lee", metric: "min cosine to fp32", value: minimum, deltaVsFP32: nil))
                }
                for t in tasks {
                    progress("eval \(name) \(t.rawValue)...")
                    let value = try reportingErrors { () throws(QuantaError) -> Double in
                        switch t {
                        case .lee: return try runner.leeSpearman(embedder)
                        case .polarity: return try runner.polarityAccuracy(embedder)
                        default: return try runner.bbcAccuracy(embedder) { done, total in
                            if done % 320 == 0 || done == total { progress("  bbc \(done)/\(total)") }
                        }
                        }
                    }
                    record(name, t, t == .lee ? "spearman" : "accuracy", value)
                }
            }
        case let .llama(llama, tokenizer):
            let tasks = task.isEmpty ? [.pplAusten, .pplBBC] : task
            guard tasks.allSatisfy({ !$0.isEmbedding }) else {
                throw fail(.invalidArgument("\(model.model) is a language model: tasks ppl-austen, ppl-bbc"), status: ExitStatus.badInput)
            }
            let texts = try reportingErrors { () throws(QuantaError) -> [Task: [Int32]] in
                var texts = [Task: [Int32]]()
                for t in tasks { texts[t] = Array(tokenizer.encode(t == .pplAusten ? try data.novel("emma") : try data.bbcTech()).prefix(2048)) }
                return texts
            }
            let calibrationTokens = try reportingErrors { () throws(QuantaError) in try tokenizer.encode(data.novel("mansfield-park")) }
            let variants = try [("fp32", llama)] + recipes.map { r in
                (r.name, try reportingErrors { () throws(QuantaError) in
                    try pipeline.quantize(llama, recipe: r, calibrationTokens: calibrationTokens) { progress("\(r.name): \($0)") }
                })
            }
            for (name, variant) in variants {
                for t in tasks {
                    let value = try reportingErrors { () throws(QuantaError) -> Double in
                        try Perplexity(window: 512).evaluate(variant, tokens: texts[t]!) { done, total in
                            progress("eval \(name) \(t.rawValue): window \(done)/\(total)")
                        }
                    }
                    record(name, t, "perplexity", value)
                }
            }
        }
        if json {
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
            printLines([String(decoding: try encoder.encode(rows), as: UTF8.self)])
        } else {
            printLines(TextTable.render(header: ["model", "recipe", "task", "metric", "value", "vs fp32"], rows: rows.map { row in
                let delta = row.deltaVsFP32.map { d in
                    row.metric == "perplexity" ? String(format: "%+.2f%%", 100 * d / (row.value - d)) : String(format: "%+.4f", d)
                } ?? ""
                return [row.model, row.recipe, row.task, row.metric, String(format: "%.4f", row.value), delta]
            }))
        }
    }
}
