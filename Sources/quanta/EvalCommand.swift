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
        let model: String, task: String, metric: String, value: Double
    }

    @OptionGroup var model: ModelOption
    @Option(name: .long, help: "lee, polarity, bbc, ppl-austen or ppl-bbc (repeatable).") var task: [Task] = []
    @Flag(help: "Print a JSON array of {model, task, metric, value}.") var json = false

    func run() throws {
        let loaded = try reportingErrors { () throws(QuantaError) in try LoadedModel(ModelReference(model.model)) }
        let data = EvaluationData(assets: try reportingErrors { () throws(QuantaError) in try AssetStore.locate() })
        var rows = [Row]()
        switch loaded {
        case let .bert(bert, tokenizer):
            let tasks = task.isEmpty ? [.lee, .polarity, .bbc] : task
            guard tasks.allSatisfy(\.isEmbedding) else {
                throw fail(.invalidArgument("\(model.model) is a sentence-embedding model: tasks lee, polarity, bbc"), status: ExitStatus.badInput)
            }
            let embedder = SentenceEmbedder(model: bert, tokenizer: tokenizer)
            let tasksRunner = EmbeddingTasks(data: data)
            for t in tasks {
                progress("eval \(t.rawValue)...")
                let value = try reportingErrors { () throws(QuantaError) -> Double in
                    switch t {
                    case .lee: return try tasksRunner.leeSpearman(embedder)
                    case .polarity: return try tasksRunner.polarityAccuracy(embedder)
                    default: return try tasksRunner.bbcAccuracy(embedder) { done, total in
                        if done % 320 == 0 || done == total { progress("  bbc \(done)/\(total)") }
                    }
                    }
                }
                rows.append(Row(model: model.model, task: t.rawValue, metric: t == .lee ? "spearman" : "accuracy", value: value))
            }
        case let .llama(llama, tokenizer):
            let tasks = task.isEmpty ? [.pplAusten, .pplBBC] : task
            guard tasks.allSatisfy({ !$0.isEmbedding }) else {
                throw fail(.invalidArgument("\(model.model) is a language model: tasks ppl-austen, ppl-bbc"), status: ExitStatus.badInput)
            }
            for t in tasks {
                let value = try reportingErrors { () throws(QuantaError) -> Double in
                    let text = t == .pplAusten ? try data.novel("emma") : try data.bbcTech()
                    let ids = Array(tokenizer.encode(text).prefix(2048))
                    return try Perplexity(window: 512).evaluate(llama, tokens: ids) { done, total in
                        progress("eval \(t.rawValue): window \(done)/\(total)")
                    }
                }
                rows.append(Row(model: model.model, task: t.rawValue, metric: "perplexity", value: value))
            }
        }
        if json {
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
            printLines([String(decoding: try encoder.encode(rows), as: UTF8.self)])
        } else {
            printLines(TextTable.render(header: ["model", "task", "metric", "value"],
                                        rows: rows.map { [$0.model, $0.task, $0.metric, String(format: "%.4f", $0.value)] }))
        }
    }
}
