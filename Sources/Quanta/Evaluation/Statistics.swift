/// The statistics of the evaluation protocol.
public enum Statistics {
    /// Spearman's rank correlation: Pearson correlation of the ranks (ties get their average rank).
    public static func spearman(_ a: [Double], _ b: [Double]) -> Double {
        precondition(a.count == b.count && a.count > 1)
        return pearson(ranks(a), ranks(b))
    }

    public static func pearson(_ a: [Double], _ b: [Double]) -> Double {
        let n = Double(a.count)
        let ma = a.reduce(0, +) / n, mb = b.reduce(0, +) / n
        var cov = 0.0, va = 0.0, vb = 0.0
        for (x, y) in zip(a, b) { cov += (x - ma) * (y - mb); va += (x - ma) * (x - ma); vb += (y - mb) * (y - mb) }
        return cov / (va * vb).squareRoot()
    }

    /// 1-based ranks with ties averaged.
    public static func ranks(_ values: [Double]) -> [Double] {
        let order = values.indices.sorted { values[$0] < values[$1] }
        var ranks = [Double](repeating: 0, count: values.count)
        var i = 0
        while i < order.count {
            var j = i
            while j + 1 < order.count && values[order[j + 1]] == values[order[i]] { j += 1 }
            let average = Double(i + j) / 2 + 1
            for k in i...j { ranks[order[k]] = average }
            i = j + 1
        }
        return ranks
    }

    /// Cosine similarity of two vectors.
    public static func cosine(_ a: [Float], _ b: [Float]) -> Double {
        var dot = 0.0, na = 0.0, nb = 0.0
        for (x, y) in zip(a, b) { dot += Double(x) * Double(y); na += Double(x) * Double(x); nb += Double(y) * Double(y) }
        return dot / max((na * nb).squareRoot(), 1e-30)
    }

    /// Nearest-centroid classification: each test vector gets the label of the class centroid (mean of the
    /// class's training vectors) with the highest cosine similarity. Returns the accuracy in [0, 1].
    public static func nearestCentroidAccuracy(train: [([Float], Int)], test: [([Float], Int)]) -> Double {
        let labels = Set(train.map(\.1)).sorted()
        let centroids = labels.map { label -> [Float] in
            let members = train.filter { $0.1 == label }.map(\.0)
            var sum = [Float](repeating: 0, count: members[0].count)
            for m in members { for i in sum.indices { sum[i] += m[i] } }
            return sum.map { $0 / Float(members.count) }
        }
        let correct = test.filter { vector, label in
            let best = centroids.indices.max { cosine(vector, centroids[$0]) < cosine(vector, centroids[$1]) }!
            return labels[best] == label
        }.count
        return Double(correct) / Double(max(test.count, 1))
    }
}
