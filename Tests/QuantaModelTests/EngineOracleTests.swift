import Testing
import Quanta

/// The FP32 engines against sentence-transformers and llama.cpp.
@Suite struct EngineOracleTests {
    @Test func miniLMEmbeddingsMatchSentenceTransformers() throws {
        let fixture = try ModelFixtures.json("minilm-embeddings.json")
        let texts = fixture["texts"] as! [String]
        let expected = (fixture["embeddings"] as! [Any]).map(ModelFixtures.floatList)
        let (model, tokenizer) = try ModelFixtures.miniLM.get()
        let embeddings = try SentenceEmbedder(model: model, tokenizer: tokenizer).embed(texts)
        for (i, (a, b)) in zip(embeddings, expected).enumerated() {
            let cosine = Statistics.cosine(a, b)
            #expect(cosine >= 0.99999, "sentence \(i): cosine \(cosine)")
        }
    }
}

/// SmolLM2 logits against llama.cpp (F32-dequantized weights, F32 KV cache).
@Suite struct LlamaOracleTests {
    /// Largest |logit difference| accepted: llama.cpp sums in a different order (and with FMA), so FP32
    /// results differ in the last bits; over 30 layers that grows to a few thousandths of a logit.
    static let tolerance: Float = 0.01

    @Test func logitsMatchLlamaCpp() throws {
        let fixture = try ModelFixtures.json("smollm2-logits.json")
        let sampleIDs = (fixture["sample_ids"] as! [Int])
        let (model, _) = try ModelFixtures.smolLM2.get()
        var worst: Float = 0
        for prompt in fixture["prompts"] as! [[String: Any]] {
            let ids = ModelFixtures.int32Lists([prompt["ids"]!])[0]
            var cache = LlamaModel.KVCache(for: model.config)
            let logits = try model.forward(ids, cache: &cache)
            let topIDs = prompt["top_ids"] as! [[Int]], topLogits = (prompt["top_logits"] as! [Any]).map(ModelFixtures.floatList)
            let samples = (prompt["sample_logits"] as! [Any]).map(ModelFixtures.floatList)
            for position in 0..<ids.count {
                let row = logits.row(position), base = row.startIndex
                let argmax = row.indices.max { row[$0] < row[$1] }! - base
                #expect(argmax == topIDs[position][0], "position \(position): top-1 \(argmax) vs llama.cpp \(topIDs[position][0])")
                for (id, value) in zip(topIDs[position], topLogits[position]) { worst = max(worst, abs(row[base + id] - value)) }
                for (id, value) in zip(sampleIDs, samples[position]) { worst = max(worst, abs(row[base + id] - value)) }
            }
            if let last = prompt["last"] as? [Any] {
                let row = logits.row(ids.count - 1)
                for (a, b) in zip(row, ModelFixtures.floatList(last)) { worst = max(worst, abs(a - b)) }
            }
        }
        #expect(worst <= Self.tolerance, "max |logit difference| \(worst)")
        print("SmolLM2 vs llama.cpp: max |logit difference| = \(worst)")
    }

    @Test func greedyGenerationMatchesLlamaCpp() throws {
        let prompt = (try ModelFixtures.json("smollm2-logits.json")["prompts"] as! [[String: Any]])[0]
        let (model, _) = try ModelFixtures.smolLM2.get()
        var cache = LlamaModel.KVCache(for: model.config)
        var input = ModelFixtures.int32Lists([prompt["ids"]!])[0]
        var generated = [Int32]()
        var generator = SplitMix64(seed: 0)
        for _ in 0..<(prompt["greedy"] as! [Int]).count {
            let logits = try model.forward(input, cache: &cache, lastOnly: true)
            let next = Sampler.next(logits.row(0), greedy: true, temperature: 0, using: &generator)
            generated.append(next)
            input = [next]
        }
        #expect(generated == ModelFixtures.int32Lists([prompt["greedy"]!])[0])
    }
}
