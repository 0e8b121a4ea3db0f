/// `quanta bench model`: the FP32 engine and a quantized one (integer kernels where the recipe has them)
/// side by side on the same inputs: MiniLM on a batch of 32 sequences of 128 tokens (sequences/s), SmolLM2
/// prefilling 512 tokens and decoding 128 tokens one at a time from an empty cache (tokens/s).
public struct ModelBenchmark: Sendable {
    public struct Row: Sendable, Codable {
        public let model: String, recipe: String, threads: Int, metric: String, value: Double
    }

    public let threads: Int
    public let stopwatch: Stopwatch

    public init(threads: Int, stopwatch: Stopwatch) {
        self.threads = threads
        self.stopwatch = stopwatch
    }

    /// `variants`: (recipe name, model) pairs, FP32 first, then models lowered to the integer runtime with
    /// `threads` threads; `text` supplies the token ids. Every workload of every variant runs once per timed
    /// round (`Stopwatch.interleavedMedianSeconds`), so the ratios between variants hold on a noisy machine.
    public func run(modelName: String, variants: [(String, LoadedModel)], text: String,
                    progress: (String) -> Void = { _ in }) throws(QuantaError) -> [Row] {
        BLAS.setThreads(threads)
        var workloads = [(recipe: String, metric: String, units: Double, body: () -> Void)]()
        for (recipe, model) in variants {
            func add(_ metric: String, _ units: Double, _ body: @escaping () -> Void) { workloads.append((recipe, metric, units, body)) }
            switch model {
            case let .bert(bert, tokenizer):
                let ids = Self.tokens(tokenizer.encode(text), count: 32 * 128)
                let batch = (0..<32).map { Array(ids[$0 * 128..<($0 + 1) * 128]) }
                _ = try bert.embed(batch)   // once outside the timing, so a failure is reported
                add("sequences_per_s", 32) { _ = try? bert.embed(batch) }
            case let .llama(llama, tokenizer):
                let ids = Self.tokens(tokenizer.encode(text), count: 512 + 128)
                var check = LlamaModel.KVCache(for: llama.config)
                _ = try llama.forward(Array(ids.prefix(8)), cache: &check, lastOnly: true)   // a failure is reported, not timed
                add("prefill_tokens_per_s", 512) {
                    var cache = LlamaModel.KVCache(for: llama.config)
                    _ = try? llama.forward(Array(ids.prefix(512)), cache: &cache, lastOnly: true)
                }
                add("decode_tokens_per_s", 128) {
                    var cache = LlamaModel.KVCache(for: llama.config)
                    for id in ids.suffix(128) {
                        _ = try? llama.forward([id], cache: &cache, lastOnly: true)
                    }
                }
            }
        }
        progress("\(workloads.count) workloads of \(variants.map(\.0).joined(separator: ", ")), \(stopwatch.runs) interleaved rounds")
        let seconds = stopwatch.interleavedMedianSeconds(workloads.map(\.body))
        return zip(workloads, seconds).map { w, s in Row(model: modelName, recipe: w.recipe, threads: threads, metric: w.metric, value: w.units / s) }
    }

    /// `count` ids: `ids` repeated as often as needed.
    static func tokens(_ ids: [Int32], count: Int) -> [Int32] {
        precondition(!ids.isEmpty)
        return (0..<count).map { ids[$0 % ids.count] }
    }
}
