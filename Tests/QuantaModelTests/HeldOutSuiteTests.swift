import Testing
import Quanta

/// The held-out perplexity suite of issue 12: eight distinct texts, each long enough for the protocol's
/// windows, none of them part of the calibration text, and a suite evaluation that reports every text and the
/// worst change.
@Suite struct HeldOutSuiteTests {
    @Test func suiteTextsAreDistinctLongAndNotCalibrationText() throws {
        let (_, tokenizer) = try ModelFixtures.smolLM2.get()
        let data = EvaluationData(assets: try ModelFixtures.assets())
        let suite = try data.heldOutSuite()
        #expect(suite.map(\.name) == ["emma", "pride-and-prejudice", "bbc-tech", "bbc-business", "bbc-sports", "python-code",
                                      "package-docs", "number-table"])
        #expect(Set(suite.map(\.text)).count == suite.count)
        let calibration = try data.calibrationText(files: []), genres = try data.calibrationGenres()
        for (name, text) in suite {
            #expect(tokenizer.encode(text).count >= 1536, "\(name): at least three windows of 512 tokens")
            let opening = String(text.prefix(400))
            #expect(!calibration.contains(opening) && !genres.contains(opening), "\(name) appears in the calibration text")
        }
    }

    /// A decoder calibrates on Mansfield Park's windows, GPTQ's last 64 on the other genres: static
    /// calibration (the first 16) reads the novel only.
    @Test func decoderCalibrationIsTheNovelThenTheOtherGenres() throws {
        let (model, tokenizer) = try ModelFixtures.smolLM2.get()
        let data = EvaluationData(assets: try ModelFixtures.assets())
        let windows = try LoadedModel.llama(model, tokenizer).calibrationSequences(data)
        let novel = CalibrationRun.windows(of: tokenizer.encode(try data.novel("mansfield-park")), count: GPTQ.calibrationWindows)
        let genres = CalibrationRun.windows(of: tokenizer.encode(try data.calibrationGenres()))
        #expect(genres.count >= GPTQ.genreWindows, "the genre texts fill \(GPTQ.genreWindows) windows")
        #expect(windows.count == GPTQ.calibrationWindows)
        #expect(Array(windows.prefix(GPTQ.calibrationWindows - GPTQ.genreWindows)) == Array(novel.prefix(GPTQ.calibrationWindows - GPTQ.genreWindows)))
        #expect(Array(windows.suffix(GPTQ.genreWindows)) == Array(genres.prefix(GPTQ.genreWindows)))
        #expect(try LoadedModel.llama(model, tokenizer).calibrationSequences(data, files: [data.assets.austenFolder + "/persuasion.txt"])
                == CalibrationRun.windows(of: tokenizer.encode(try data.novel("persuasion")), count: GPTQ.calibrationWindows))
    }

    @Test func suiteEvaluationReportsEveryTextAndTheWorstChange() throws {
        let (model, tokenizer) = try ModelFixtures.smolLM2.get()
        let evaluation = RecipeEvaluation(data: EvaluationData(assets: try ModelFixtures.assets()))
        let recipe = try Recipe.named("kv-int8")
        let rows = try evaluation.run(.llama(model, tokenizer), modelName: "smollm2", recipes: [recipe], tasks: [.pplSuite],
                                      tokensPerText: 128)
        let texts = rows.filter { $0.recipe == "fp32" }.map(\.task)
        #expect(texts.count == 8 && texts.allSatisfy { $0.hasPrefix("ppl-suite/") })
        let changes = rows.filter { $0.recipe == recipe.name && $0.metric == "perplexity" }.map { $0.deltaVsFP32! / ($0.value - $0.deltaVsFP32!) }
        let worst = try #require(rows.first { $0.recipe == recipe.name && $0.metric == "worst perplexity change" })
        #expect(changes.count == 8 && abs(worst.value - changes.max()!) < 1e-9)
    }
}
