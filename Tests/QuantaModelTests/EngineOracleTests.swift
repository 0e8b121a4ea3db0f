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
