/// The memory orders of cuBLASLt for a rows x columns matrix, as element offsets (bytes for INT8). The
/// tiled orders pad rows to their tile height and columns to 32; padding slots hold zeros. With
/// rup(v, d) = ceil(v / d) d and ld the stride between 32-column groups:
///
///     row            r * columns + c
///     col            c * rows + r
///     col32          (c / 32) ld + r * 32 + c % 32                                     ld = 32 rows
///     col4_4r2_8c    (c / 32) ld + (r / 8) 256 + (r % 2) 128 + ((c % 32) / 4) 16
///                                 + ((r % 8) / 2) 4 + c % 4                             ld = 32 rup(rows, 8)
///     col32_2r_4r4   (c / 32) ld + (r / 32) 1024 + (((s % 8) / 2 * 4 + s / 8) * 2 + s % 2) * 32 + c % 32,
///                    s = r % 32                                                         ld = 32 rup(rows, 32)
///
/// COL32 carries activations and outputs of cuBLASLt's IMMA GEMMs; COL4_4R2_8C (Turing) and COL32_2R_4R4
/// (Ampere) carry the weights. Sources: the cublasLtOrder_t documentation, FasterTransformer's
/// quantize_weight.cu and bitsandbytes' kTransformRowToFormat, which agree; the CUDA backend reuses these.
public enum MatrixLayout: String, Sendable, CaseIterable {
    case row, col, col32, col4_4r2_8c, col32_2r_4r4

    /// Rows of the tile the order pads to (1: no row padding).
    var tileRows: Int {
        switch self {
        case .row, .col, .col32: return 1
        case .col4_4r2_8c: return 8
        case .col32_2r_4r4: return 32
        }
    }

    /// Elements the stored matrix takes, padding included.
    public func storageCount(rows: Int, columns: Int) -> Int {
        switch self {
        case .row, .col: return rows * columns
        default: return roundUp(rows, tileRows) * roundUp(columns, 32)
        }
    }

    /// cuBLASLt's leading dimension for this order.
    public func leadingDimension(rows: Int, columns: Int) -> Int {
        switch self {
        case .row: return columns
        case .col: return rows
        default: return 32 * roundUp(rows, tileRows)
        }
    }

    /// Where element (r, c) lives.
    @inline(__always)
    public func offset(row r: Int, column c: Int, rows: Int, columns: Int) -> Int {
        let ld = leadingDimension(rows: rows, columns: columns)
        switch self {
        case .row: return r * ld + c
        case .col: return c * ld + r
        case .col32: return (c / 32) * ld + r * 32 + c % 32
        case .col4_4r2_8c:
            return (c / 32) * ld + (r / 8) * 256 + (r % 2) * 128 + ((c % 32) / 4) * 16 + ((r % 8) / 2) * 4 + c % 4
        case .col32_2r_4r4:
            let s = r % 32
            return (c / 32) * ld + (r / 32) * 1024 + (((s % 8) / 2 * 4 + s / 8) * 2 + s % 2) * 32 + c % 32
        }
    }

    /// `m` (row-major) stored in this order.
    public func store<Element: Numeric & Sendable>(_ m: Matrix<Element>) -> [Element] {
        var out = [Element](repeating: 0, count: storageCount(rows: m.rows, columns: m.columns))
        for r in 0..<m.rows { for c in 0..<m.columns { out[offset(row: r, column: c, rows: m.rows, columns: m.columns)] = m[r, c] } }
        return out
    }

    /// The row-major matrix held in `stored` (this order, rows x columns).
    public func load<Element: Numeric & Sendable>(_ stored: [Element], rows: Int, columns: Int) throws(QuantaError) -> Matrix<Element> {
        guard stored.count == storageCount(rows: rows, columns: columns) else {
            throw .shapeMismatch("\(rawValue) storage of a [\(rows), \(columns)] matrix has \(storageCount(rows: rows, columns: columns)) elements, got \(stored.count)")
        }
        var m = Matrix<Element>(rows: rows, columns: columns, repeating: 0)
        for r in 0..<rows { for c in 0..<columns { m[r, c] = stored[offset(row: r, column: c, rows: rows, columns: columns)] } }
        return m
    }

    /// `stored` (in order `self`) converted to order `target`.
    public func convert<Element: Numeric & Sendable>(_ stored: [Element], rows: Int, columns: Int, to target: MatrixLayout) throws(QuantaError) -> [Element] {
        target.store(try load(stored, rows: rows, columns: columns))
    }
}

func roundUp(_ value: Int, _ multiple: Int) -> Int { (value + multiple - 1) / multiple * multiple }
