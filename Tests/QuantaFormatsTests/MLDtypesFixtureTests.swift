import Testing
import QuantaFormats

/// Bit-for-bit agreement with ml_dtypes 0.6.0 (fixtures from scripts/fixtures/make_format_fixtures.py):
/// every code point, every rounding tie and its neighbours, subnormals, overflow, signed zeros, NaN.
@Suite struct MLDtypesFixtureTests {
    static func sameFloat(_ a: Float, _ bits: UInt32) -> Bool {
        let b = Float(bitPattern: bits)
        return a.bitPattern == bits || (a.isNaN && b.isNaN)
    }

    @Test(arguments: FloatFormat.narrow)
    func decodesEveryCodePoint(format: FloatFormat) throws {
        let rows = try Fixtures.hexRows("formats/decode-\(format.name).txt")
        #expect(rows.count == format.codeCount)
        for row in rows {
            let value = format.decode(UInt16(row[0]))
            #expect(Self.sameFloat(value, row[1]), "\(format) code \(String(row[0], radix: 16)): \(value)")
        }
    }

    @Test(arguments: FloatFormat.all)
    func encodesEveryFixtureInputInBothModes(format: FloatFormat) throws {
        let rows = try Fixtures.hexRows("formats/encode-\(format.name).txt")
        #expect(rows.count > 3000)
        let saturating = ElementCodec(format, saturating: true), plain = ElementCodec(format, saturating: false)
        let inputs = rows.map { Float(bitPattern: $0[0]) }
        var bulkSaturating = [UInt16](repeating: 0, count: inputs.count), bulkPlain = bulkSaturating
        inputs.withUnsafeBufferPointer { src in
            bulkSaturating.withUnsafeMutableBufferPointer { saturating.encode(src, into: $0) }
            bulkPlain.withUnsafeMutableBufferPointer { plain.encode(src, into: $0) }
        }
        var failures = 0
        for (i, row) in rows.enumerated() {
            let x = inputs[i]
            let ok = format.encode(x, saturating: true) == UInt16(row[1]) && format.encode(x, saturating: false) == UInt16(row[2])
                && bulkSaturating[i] == UInt16(row[1]) && bulkPlain[i] == UInt16(row[2])
            if !ok && failures < 10 {
                failures += 1
                Issue.record("\(format) input \(String(row[0], radix: 16)) (\(x)): saturating \(String(format.encode(x, saturating: true), radix: 16)) vs \(String(row[1], radix: 16)), plain \(String(format.encode(x, saturating: false), radix: 16)) vs \(String(row[2], radix: 16))")
            }
        }
    }

    @Test func fixturesHoldTheTiesAndEdgesTheyClaim() throws {
        // The fixture is only as good as its coverage: check that the E4M3 file holds the cases that matter.
        let inputs = Set(try Fixtures.hexRows("formats/encode-fp8-e4m3.txt").map { $0[0] })
        for x: Float in [464, 0x1p-10, 0x1.8p-9, -0.0, 0, .infinity, -.infinity, .nan, 448, 0x1p-9] {
            #expect(inputs.contains(x.bitPattern), "E4M3 fixture lacks \(x)")
        }
        #expect(inputs.contains(Float(464).nextUp.bitPattern))
    }
}
