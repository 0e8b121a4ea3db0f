/// Which elements of a matrix share one scale and zero point. Matrices are [rows, columns] with the
/// reduction axis last (see `Matrix`): W is [outFeatures, inFeatures], X is [tokens, features].
public enum Granularity: Sendable, Hashable, CustomStringConvertible {
    /// One pair for the whole tensor.
    case perTensor
    /// One pair per output channel: a row of W [out, in] (a column of W in the seed's Y = XW).
    case perChannel
    /// One pair per token: a row of X [tokens, features].
    case perToken
    /// One pair per block of `size` consecutive elements along each row (the last block may be shorter).
    case perGroup(size: Int)
    /// Per-embedding-group (PEG): the columns (embedding dimensions of X) are split into groups, and each
    /// group shares one pair across all tokens.
    case perEmbeddingGroup(EmbeddingGroups)

    public var description: String {
        switch self {
        case .perTensor: return "per-tensor"
        case .perChannel: return "per-channel"
        case .perToken: return "per-token"
        case let .perGroup(size): return "per-group(\(size))"
        case let .perEmbeddingGroup(groups): return "per-embedding-group(\(groups.groupCount))"
        }
    }

    /// How many scale/zero-point pairs a rows x columns matrix needs.
    public func parameterCount(rows: Int, columns: Int) -> Int {
        switch self {
        case .perTensor: return 1
        case .perChannel, .perToken: return rows
        case let .perGroup(size): return rows * ((columns + size - 1) / size)
        case let .perEmbeddingGroup(groups): return groups.groupCount
        }
    }

    /// The pair that element (row, column) of a matrix with `columns` columns uses.
    @inline(__always)
    public func parameterIndex(row: Int, column: Int, columns: Int) -> Int {
        switch self {
        case .perTensor: return 0
        case .perChannel, .perToken: return row
        case let .perGroup(size): return row * ((columns + size - 1) / size) + column / size
        case let .perEmbeddingGroup(groups): return groups.groupOfColumn[column]
        }
    }

    /// Throws unless this granularity fits a rows x columns matrix.
    public func validate(rows: Int, columns: Int) throws(QuantaError) {
        switch self {
        case let .perGroup(size) where size <= 0:
            throw .invalidArgument("group size must be positive, got \(size)")
        case let .perEmbeddingGroup(groups) where groups.groupOfColumn.count != columns:
            throw .shapeMismatch("embedding groups cover \(groups.groupOfColumn.count) columns, the matrix has \(columns)")
        default:
            return
        }
    }
}
