import Foundation
import Testing
import Quanta

/// Perplexity by DESIGN.md's protocol against llama.cpp (F32 weights, F32 KV cache) on the two texts.
@Suite struct PerplexityOracleTests {
    @Test(arguments: ["emma", "bbc-tech"])
    func perplexityMatchesLlamaCpp(text name: String) throws {
        let fixture = try ModelFixtures.json("smollm2-perplexity.json")
        let entry = (fixture["texts"] as! [[String: Any]]).first { $0["name"] as! String == name }!
        let data = EvaluationData(assets: try ModelFixtures.assets())
        let text = name == "emma" ? try data.novel("emma") : try data.bbcTech()
        #expect(text.count == entry["text_chars"] as! Int, "the evaluation text is assembled as the oracle's")
        let (model, tokenizer) = try ModelFixtures.smolLM2.get()
        let ids = Array(tokenizer.encode(text).prefix(fixture["tokens"] as! Int))
        #expect(ids == ModelFixtures.int32Lists([entry["ids"]!])[0])
        let perplexity = try Perplexity(window: fixture["window"] as! Int).evaluate(model, tokens: ids)
        let reference = (entry["ppl"] as! NSNumber).doubleValue
        #expect(abs(perplexity / reference - 1) < 0.001, "perplexity \(perplexity) vs llama.cpp \(reference)")
        print("SmolLM2 \(name): perplexity \(perplexity), llama.cpp \(reference)")
    }
}
