import Testing
import Quanta

/// cuBLASLt memory orders: every conversion round-trips exactly, every element has its own slot, and the
/// offsets agree with worked examples derived from the cuBLASLt/FasterTransformer/bitsandbytes formulas.
@Suite struct MatrixLayoutTests {
    @Test func everyConversionRoundTrips() throws {
        for (rows, columns) in [(1, 1), (3, 5), (8, 32), (13, 70), (32, 64), (40, 33), (70, 96)] {
            var g = SplitMix64(seed: UInt64(rows * 100 + columns))
            let m = try Matrix(rows: rows, columns: columns, storage: (0..<rows * columns).map { _ in Int8.random(in: -128...127, using: &g) })
            for from in MatrixLayout.allCases {
                let stored = from.store(m)
                // A permutation into the padded buffer: distinct offsets, all in range.
                let offsets = (0..<rows).flatMap { r in (0..<columns).map { from.offset(row: r, column: $0, rows: rows, columns: columns) } }
                #expect(Set(offsets).count == rows * columns && offsets.allSatisfy { (0..<stored.count).contains($0) }, "\(from) \(rows)x\(columns)")
                for to in MatrixLayout.allCases {
                    let converted = try from.convert(stored, rows: rows, columns: columns, to: to)
                    #expect(try to.load(converted, rows: rows, columns: columns).storage == m.storage, "\(from) -> \(to) \(rows)x\(columns)")
                }
            }
        }
    }

    @Test func offsetsMatchWorkedExamples() {
        // rows = 32, columns = 64 (tables of the cuBLASLt order documentation's formulas).
        let examples: [(MatrixLayout, Int, Int, Int)] = [
            (.col32, 0, 1, 1), (.col32, 1, 0, 32), (.col32, 0, 32, 1024), (.col32, 31, 31, 1023),
            (.col4_4r2_8c, 0, 1, 1), (.col4_4r2_8c, 0, 4, 16), (.col4_4r2_8c, 1, 0, 128), (.col4_4r2_8c, 2, 0, 4),
            (.col4_4r2_8c, 7, 0, 140), (.col4_4r2_8c, 8, 0, 256), (.col4_4r2_8c, 0, 32, 1024), (.col4_4r2_8c, 31, 0, 908),
            (.col32_2r_4r4, 1, 0, 32), (.col32_2r_4r4, 2, 0, 256), (.col32_2r_4r4, 8, 0, 64), (.col32_2r_4r4, 9, 0, 96),
            (.col32_2r_4r4, 7, 0, 800), (.col32_2r_4r4, 31, 0, 1023 - 31), (.col32_2r_4r4, 0, 32, 1024),
        ]
        for (layout, r, c, expected) in examples {
            #expect(layout.offset(row: r, column: c, rows: 32, columns: 64) == expected, "\(layout) (\(r), \(c))")
        }
    }

    @Test func wrongSizesAreRefused() {
        #expect(throws: QuantaError.self) { try MatrixLayout.col32_2r_4r4.load([Int8](repeating: 0, count: 64), rows: 2, columns: 32) }
    }
}
