/// A dense row-major matrix: element (r, c) is `storage[r * columns + c]`.
///
/// Quanta's convention for a linear layer is Y = X W^T + b with X [tokens, inFeatures] and
/// W [outFeatures, inFeatures], as PyTorch stores it: the reduction axis is the last one of both operands,
/// so a row of X is a token and a row of W is an output channel.
public struct Matrix<Element>: Sendable where Element: Sendable {
    public let rows: Int
    public let columns: Int
    public var storage: [Element]

    /// A matrix over `storage`; throws unless storage holds exactly rows * columns elements.
    public init(rows: Int, columns: Int, storage: [Element]) throws(QuantaError) {
        guard rows >= 0, columns >= 0, storage.count == rows * columns else {
            throw .shapeMismatch("a \(rows)x\(columns) matrix needs \(max(rows, 0) * max(columns, 0)) elements, got \(storage.count)")
        }
        self.rows = rows
        self.columns = columns
        self.storage = storage
    }

    /// A rows x columns matrix filled with `value`.
    public init(rows: Int, columns: Int, repeating value: Element) {
        precondition(rows >= 0 && columns >= 0)
        self.rows = rows
        self.columns = columns
        self.storage = [Element](repeating: value, count: rows * columns)
    }

    /// A rows x row.count matrix whose every row is `row` (a bias broadcast over tokens).
    public init(rows: Int, repeatingRow row: [Element]) {
        precondition(rows >= 0)
        self.rows = rows
        columns = row.count
        storage = [Element](unsafeUninitializedCapacity: rows * row.count) { buffer, count in
            row.withUnsafeBufferPointer { source in
                for r in 0..<rows { _ = UnsafeMutableBufferPointer(rebasing: buffer[r * source.count..<(r + 1) * source.count]).initialize(from: source) }
            }
            count = rows * row.count
        }
    }

    public var count: Int { storage.count }
    public var shape: String { "[\(rows), \(columns)]" }

    public subscript(row: Int, column: Int) -> Element {
        get { storage[row * columns + column] }
        set { storage[row * columns + column] = newValue }
    }

    /// Row r as a slice of the storage.
    public func row(_ r: Int) -> ArraySlice<Element> { storage[r * columns..<(r + 1) * columns] }

    /// The matrices of `widths` consecutive columns each (widths summing to `columns`), left to right.
    public func splitColumns(_ widths: [Int]) -> [Matrix<Element>] {
        precondition(widths.reduce(0, +) == columns && widths.allSatisfy { $0 >= 0 })
        var start = 0
        return widths.map { width in
            defer { start += width }
            var part = [Element]()
            part.reserveCapacity(rows * width)
            for r in 0..<rows { part += storage[r * columns + start..<r * columns + start + width] }
            return try! Matrix(rows: rows, columns: width, storage: part)
        }
    }
}

extension Matrix: Equatable where Element: Equatable {}

extension Matrix where Element == Float {
    /// The [rows, indices.count] matrix whose column j is column indices[j] of this one.
    func selectingColumns(_ indices: [Int]) -> Matrix<Float> {
        var out = Matrix(rows: rows, columns: indices.count, repeating: 0)
        for r in 0..<rows { for (j, source) in indices.enumerated() { out[r, j] = self[r, source] } }
        return out
    }

    /// The [columns, rows] transpose.
    func transposed() -> Matrix<Float> {
        var t = Matrix(rows: columns, columns: rows, repeating: 0)
        for r in 0..<rows { for c in 0..<columns { t[c, r] = self[r, c] } }
        return t
    }
}

extension Matrix where Element: BitwiseCopyable {
    /// A rows x columns matrix whose elements the caller writes, every one, before any is read (a kernel's
    /// output): no pass over memory that the kernel overwrites anyway.
    public init(unfilledRows rows: Int, columns: Int) {
        precondition(rows >= 0 && columns >= 0)
        self.rows = rows
        self.columns = columns
        storage = [Element](unsafeUninitializedCapacity: rows * columns) { _, count in count = rows * columns }
    }
}
