import Foundation

/// The evaluation texts of DESIGN.md's protocol, read from the asset folder.
public struct EvaluationData: Sendable {
    public let assets: AssetStore

    public init(assets: AssetStore) { self.assets = assets }

    static func read(_ path: String) throws(QuantaError) -> String {
        guard let data = FileManager.default.contents(atPath: path) else {
            throw .file(path: path, reason: "missing; run scripts/fetch-assets")
        }
        return String(decoding: data, as: UTF8.self)
    }

    static func lines(_ path: String) throws(QuantaError) -> [String] {
        try read(path).split(separator: "\n").map { String($0) }.filter { !$0.allSatisfy(\.isWhitespace) }
    }

    /// The 50 Lee documents and the human similarity of each pair i < j (row i, column j of the matrix).
    public func lee() throws(QuantaError) -> (documents: [String], pairs: [(Int, Int, Double)]) {
        let documents = try Self.lines(assets.gensimFolder + "/lee.cor")
        let matrixPath = assets.gensimFolder + "/similarities0-1.txt"
        let rows = try Self.lines(matrixPath).map { $0.split(whereSeparator: { $0 == "\t" || $0 == " " }).compactMap { Double($0) } }
        guard documents.count == 50, rows.count == 50, rows.allSatisfy({ $0.count == 50 }) else {
            throw .file(path: matrixPath, reason: "expected 50 documents and a 50 x 50 similarity matrix")
        }
        var pairs = [(Int, Int, Double)]()
        for i in 0..<50 { for j in i + 1..<50 { pairs.append((i, j, rows[i][j])) } }
        return (documents, pairs)
    }

    /// MiniLM's calibration documents: gensim's `lee_background.cor` (300 news texts, disjoint from Lee's 50).
    public func calibrationDocuments() throws(QuantaError) -> [String] {
        try Self.lines(assets.gensimFolder + "/lee_background.cor")
    }

    /// A sentence embedder's calibration texts: one per non-empty line of `files` (`--calib`), or
    /// `calibrationDocuments()` when there are none.
    public func calibrationDocuments(files: [String]) throws(QuantaError) -> [String] {
        guard !files.isEmpty else { return try calibrationDocuments() }
        var texts = [String]()
        for file in files { texts += try Self.lines(file) }
        guard !texts.isEmpty else { throw .file(path: files.joined(separator: ", "), reason: "no calibration text (every line is empty)") }
        return texts
    }

    /// A decoder's calibration text: `files` (`--calib`) joined by a blank line, or Mansfield Park
    /// (`LoadedModel.calibrationSequences` follows it with `calibrationGenres()`).
    public func calibrationText(files: [String]) throws(QuantaError) -> String {
        guard !files.isEmpty else { return try novel("mansfield-park") }
        var parts = [String]()
        for file in files { parts.append(try Self.read(file)) }
        let text = parts.joined(separator: "\n\n")
        guard !text.allSatisfy(\.isWhitespace) else { throw .file(path: files.joined(separator: ", "), reason: "no calibration text (the files are empty)") }
        return text
    }

    /// A decoder's calibration text of the genres other than novels that users run, none of them evaluation
    /// text (`isEvaluationText`), joined by a blank line: the first BBC entertainment and politics articles (in
    /// name order, up to `newsCharacters` of each class), Python source (six's `six.py`), package documentation
    /// (MiniLM's model card and six's `METADATA`) and a table of numbers (gensim's Lee similarity matrix).
    /// GPTQ's Hessians take half their windows from it, so that 4-bit rounding fits more than Austen's prose.
    public func calibrationGenres(newsCharacters: Int = 32_000) throws(QuantaError) -> String {
        var parts = [String]()
        for label in ["entertainment", "politics"] {
            var characters = 0
            for article in try bbcArticles(label).components(separatedBy: "\n\n") where characters < newsCharacters {
                parts.append(article)
                characters += article.count
            }
        }
        for path in [assets.sixFolder + "/six.py", assets.miniLMFolder + "/README.md", assets.sixFolder + "/METADATA",
                     assets.gensimFolder + "/similarities0-1.txt"] {
            parts.append(try Self.read(path))
        }
        return parts.joined(separator: "\n\n")
    }

    /// The 200 Pang-Lee polarity sentences with their labels (0 = negative, 1 = positive).
    public func polarity() throws(QuantaError) -> [(text: String, label: Int)] {
        let path = assets.gensimFolder + "/pang_lee_polarity.cor"
        return try Self.lines(path).map { line throws(QuantaError) in
            let parts = line.split(separator: " ", maxSplits: 1)
            guard parts.count == 2, let label = ["__label__neg": 0, "__label__pos": 1][String(parts[0])] else {
                throw .file(path: path, reason: "line '\(line.prefix(40))' does not start with __label__neg or __label__pos")
            }
            return (String(parts[1]), label)
        }
    }

    /// The BBC News articles by class (classes and files sorted by name).
    public func bbc() throws(QuantaError) -> [(label: String, files: [String])] {
        let root = assets.bbcFolder
        guard let classes = try? FileManager.default.contentsOfDirectory(atPath: root).sorted(), !classes.isEmpty else {
            throw .file(path: root, reason: "missing; run scripts/fetch-assets")
        }
        return classes.compactMap { label in
            let files = ((try? FileManager.default.contentsOfDirectory(atPath: root + "/" + label)) ?? [])
                .filter { $0.hasSuffix(".txt") }.sorted().map { root + "/" + label + "/" + $0 }
            return files.isEmpty ? nil : (label, files)
        }
    }

    /// A sentence embedder's training documents: lee_background.cor's, then the paragraphs of the training text
    /// (`trainingText(adding:)`: blank-line separated, lines joined by spaces) of at least `minimumCharacters` characters.
    public func embedderTrainingDocuments(adding extra: [String] = [], minimumCharacters: Int = 200) throws(QuantaError) -> [String] {
        let paragraphs = try trainingText(adding: extra).components(separatedBy: "\n\n")
            .map { $0.split(whereSeparator: \.isNewline).joined(separator: " ") }
            .filter { $0.count >= minimumCharacters }
        return try calibrationDocuments() + paragraphs
    }

    /// A decoder's training text (quantization-aware training): Mansfield Park, Northanger Abbey and
    /// Persuasion, then the `extra` texts (files, or folders whose `.txt` files are read in name order), joined
    /// by a blank line. Evaluation text is refused (`isEvaluationText`).
    public func trainingText(adding extra: [String] = []) throws(QuantaError) -> String {
        var parts = try ["mansfield-park", "northanger-abbey", "persuasion"].map { title throws(QuantaError) in try novel(title) }
        for path in extra {
            var isFolder: ObjCBool = false
            guard FileManager.default.fileExists(atPath: path, isDirectory: &isFolder) else { throw .file(path: path, reason: "no such file or folder") }
            let files = isFolder.boolValue
                ? ((try? FileManager.default.contentsOfDirectory(atPath: path)) ?? []).filter { $0.hasSuffix(".txt") }.sorted().map { path + "/" + $0 }
                : [path]
            guard !files.isEmpty else { throw .file(path: path, reason: "a folder without .txt files") }
            for file in files {
                guard !isEvaluationText(file) else { throw .file(path: file, reason: "evaluation text; training never reads it") }
                parts.append(try Self.read(file))
            }
        }
        return parts.joined(separator: "\n\n")
    }

    /// Whether `path` is one of the evaluation texts (the held-out suite, Sense and Sensibility, and the
    /// embedding tasks' Lee, polarity and BBC documents; BBC entertainment and politics are not evaluation text).
    public func isEvaluationText(_ path: String) -> Bool {
        let file = URL(fileURLWithPath: path).standardizedFileURL.resolvingSymlinksInPath()
        let name = file.lastPathComponent, folder = file.deletingLastPathComponent().path
        func same(_ other: String) -> Bool { URL(fileURLWithPath: other).standardizedFileURL.resolvingSymlinksInPath().path == folder }
        return (same(assets.austenFolder) && ["emma.txt", "pride-and-prejudice.txt", "sense-and-sensibility.txt"].contains(name))
            || (same(assets.gensimFolder) && ["lee.cor", "pang_lee_polarity.cor", "word2vec.py", "METADATA", "simlex999.txt"].contains(name))
            || ["tech", "business", "sports"].contains { same(assets.bbcFolder + "/" + $0) }
    }

    /// The held-out perplexity suite (issue 12): texts of eight kinds, none of them calibration text and none
    /// used to choose any default. Two novels (Emma, Pride and Prejudice), three BBC classes (tech, business,
    /// sports), Python source (gensim's `word2vec.py`), package documentation (gensim's `METADATA`, the
    /// README of its PyPI page) and a table of numbers (SimLex-999: word pairs and human scores).
    public func heldOutSuite() throws(QuantaError) -> [(name: String, text: String)] {
        [("emma", try novel("emma")), ("pride-and-prejudice", try novel("pride-and-prejudice")),
         ("bbc-tech", try bbcTech()), ("bbc-business", try bbcArticles("business")), ("bbc-sports", try bbcArticles("sports")),
         ("python-code", try Self.read(assets.gensimFolder + "/word2vec.py")),
         ("package-docs", try Self.read(assets.gensimFolder + "/METADATA")),
         ("number-table", try Self.read(assets.gensimFolder + "/simlex999.txt"))]
    }

    /// Jane Austen's *Emma* (evaluation) and *Mansfield Park* (calibration).
    public func novel(_ title: String) throws(QuantaError) -> String { try Self.read(assets.austenFolder + "/\(title).txt") }

    /// The BBC tech articles concatenated in file-name order, joined by a blank line: each article's
    /// trailing newlines are dropped and consecutive articles are separated by "\n\n".
    public func bbcTech() throws(QuantaError) -> String { try bbcArticles("tech") }

    /// The articles of one BBC class (`business`, `entertainment`, `politics`, `sports`, `tech`), joined as
    /// `bbcTech()` joins the tech articles.
    public func bbcArticles(_ label: String) throws(QuantaError) -> String {
        guard let articles = try bbc().first(where: { $0.label == label }) else {
            throw .file(path: assets.bbcFolder + "/" + label, reason: "missing; run scripts/fetch-assets")
        }
        var texts = [String]()
        for file in articles.files {
            var text = try Self.read(file)
            while text.hasSuffix("\n") { text.removeLast() }
            texts.append(text)
        }
        return texts.joined(separator: "\n\n")
    }
}
