/// MiniLM's evaluation tasks (DESIGN.md): Lee document similarity, Pang-Lee polarity, BBC 5-class.
public struct EmbeddingTasks: Sendable {
    public let data: EvaluationData

    public init(data: EvaluationData) { self.data = data }

    /// Spearman rho between the cosine similarities of the 1225 Lee document pairs and the human scores.
    public func leeSpearman(_ embedder: SentenceEmbedder) throws(QuantaError) -> Double {
        let (documents, pairs) = try data.lee()
        let e = try embedder.embed(documents)
        return Statistics.spearman(pairs.map { Statistics.cosine(e[$0.0], e[$0.1]) }, pairs.map(\.2))
    }

    /// 10-fold nearest-centroid accuracy on Pang-Lee polarity; sentence i is in fold i % 10.
    public func polarityAccuracy(_ embedder: SentenceEmbedder) throws(QuantaError) -> Double {
        let items = try data.polarity()
        let e = try embedder.embed(items.map(\.text))
        var correct = 0.0
        for fold in 0..<10 {
            let train = items.indices.filter { $0 % 10 != fold }.map { (e[$0], items[$0].label) }
            let test = items.indices.filter { $0 % 10 == fold }.map { (e[$0], items[$0].label) }
            correct += Statistics.nearestCentroidAccuracy(train: train, test: test) * Double(test.count)
        }
        return correct / Double(items.count)
    }

    /// BBC 5-class nearest-centroid accuracy: per class, the first 60% of files (by name) train, the rest test.
    public func bbcAccuracy(_ embedder: SentenceEmbedder, progress: (Int, Int) -> Void = { _, _ in }) throws(QuantaError) -> Double {
        let classes = try data.bbc()
        var texts = [String](), labels = [Int](), isTrain = [Bool]()
        for (label, entry) in classes.enumerated() {
            let trainCount = entry.files.count * 6 / 10
            for (i, file) in entry.files.enumerated() {
                texts.append(try EvaluationData.read(file))
                labels.append(label)
                isTrain.append(i < trainCount)
            }
        }
        let e = try embedder.embed(texts, progress: progress)
        let train = texts.indices.filter { isTrain[$0] }.map { (e[$0], labels[$0]) }
        let test = texts.indices.filter { !isTrain[$0] }.map { (e[$0], labels[$0]) }
        return Statistics.nearestCentroidAccuracy(train: train, test: test)
    }

    /// The texts whose embeddings a task compares with FP32's: the 50 Lee documents, the 200 polarity
    /// sentences, or the first 20 BBC articles of each class (by file name).
    public func cosineTexts(_ task: RecipeEvaluation.Task) throws(QuantaError) -> [String] {
        switch task {
        case .polarity: return try data.polarity().map(\.text)
        case .bbc:
            var texts = [String]()
            for group in try data.bbc() { for file in group.files.prefix(20) { texts.append(try EvaluationData.read(file)) } }
            return texts
        default: return try data.lee().documents
        }
    }

    /// Mean and minimum cosine similarity of paired embeddings.
    public static func cosines(_ a: [[Float]], _ b: [[Float]]) -> (mean: Double, minimum: Double) {
        let cosines = zip(a, b).map { Statistics.cosine($0, $1) }
        return (cosines.reduce(0, +) / Double(cosines.count), cosines.min() ?? 0)
    }
}
