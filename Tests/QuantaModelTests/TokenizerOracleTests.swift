import Testing
import Quanta

/// Token ids identical to HF `tokenizers` (fixtures from scripts/fixtures/make_model_fixtures.py).
@Suite struct TokenizerOracleTests {
    @Test func wordPieceMatchesHuggingFace() throws {
        let fixture = try ModelFixtures.json("minilm-tokens.json")
        let texts = fixture["texts"] as! [String], expected = ModelFixtures.int32Lists(fixture["ids"])
        let tokenizer = try ModelFixtures.miniLM.get().1
        #expect(texts.count >= 20)
        for (text, ids) in zip(texts, expected) {
            #expect(tokenizer.encode(text) == ids, "\(text.prefix(60))")
        }
    }

    @Test func byteLevelBPEMatchesHuggingFace() throws {
        let fixture = try ModelFixtures.json("smollm2-tokens.json")
        let texts = fixture["texts"] as! [String], expected = ModelFixtures.int32Lists(fixture["ids"])
        let tokenizer = try ModelFixtures.smolLM2.get().1
        #expect(texts.count >= 20)
        for (text, ids) in zip(texts, expected) {
            #expect(tokenizer.encode(text) == ids, "\(text.prefix(60))")
            #expect(tokenizer.decode(ids) == text || text.contains("\u{FFFD}"), "decode \(text.prefix(60))")
        }
    }
}
