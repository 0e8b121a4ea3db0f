/// A partition of the columns (embedding dimensions) of an activation matrix into groups, for
/// per-embedding-group quantization (Bondarenko et al., "Understanding and Overcoming the Challenges of
/// Efficient Transformer Quantization", seed 001).
public struct EmbeddingGroups: Sendable, Hashable {
    /// `groupOfColumn[c]` is the group of column c, in 0..<groupCount.
    public let groupOfColumn: [Int]
    public let groupCount: Int

    public init(groupOfColumn: [Int], groupCount: Int) throws(QuantaError) {
        guard groupCount > 0, groupOfColumn.allSatisfy({ (0..<groupCount).contains($0) }) else {
            throw .invalidArgument("every column's group must be in 0..<\(groupCount)")
        }
        self.groupOfColumn = groupOfColumn
        self.groupCount = groupCount
    }

    /// `groups` groups of consecutive columns, as equal in size as possible (no permutation).
    public static func contiguous(columns: Int, groups: Int) throws(QuantaError) -> EmbeddingGroups {
        try ordered(Array(0..<columns), groups: groups)
    }

    /// PEG's range-based permutation: columns sorted by their range (max - min over the calibration data),
    /// then cut into `groups` equal groups, so the few outlier dimensions share a group and stop inflating
    /// the scale of all the others.
    public static func rangeBased(columnRanges: [Float], groups: Int) throws(QuantaError) -> EmbeddingGroups {
        if let bad = columnRanges.firstIndex(where: { !$0.isFinite }) {
            throw .nonFinite(tensor: "column ranges", index: bad, value: columnRanges[bad])
        }
        let order = columnRanges.indices.sorted { (columnRanges[$0], $0) < (columnRanges[$1], $1) }
        return try ordered(order, groups: groups)
    }

    /// Groups `order[0..<n/g]`, `order[n/g..<2n/g]`, ...
    static func ordered(_ order: [Int], groups: Int) throws(QuantaError) -> EmbeddingGroups {
        guard groups > 0, groups <= max(order.count, 1) else {
            throw .invalidArgument("cannot split \(order.count) columns into \(groups) groups")
        }
        var groupOfColumn = [Int](repeating: 0, count: order.count)
        for (rank, column) in order.enumerated() { groupOfColumn[column] = rank * groups / order.count }
        return try EmbeddingGroups(groupOfColumn: groupOfColumn, groupCount: groups)
    }
}
