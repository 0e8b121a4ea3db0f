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
        #expect(ModelFixtures.int32Lists(fixture["llama_cpp_ids"]) == expected)   // the two oracles agree
        for (text, ids) in zip(texts, expected) {
            #expect(tokenizer.encode(text, specialTokens: false) == ids, "\(text.prefix(60))")
            #expect(tokenizer.decode(ids) == text, "decode \(text.prefix(60))")
        }
        let special = fixture["special"] as! [String: Any]
        for (text, ids) in zip(special["texts"] as! [String], ModelFixtures.int32Lists(special["ids"])) {
            #expect(tokenizer.encode(text) == ids, "with control tokens: \(text.prefix(60))")
        }
    }
}
