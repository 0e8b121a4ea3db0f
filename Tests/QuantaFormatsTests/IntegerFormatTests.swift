import Testing
import QuantaFormats

@Suite struct IntegerFormatTests {
    @Test func rangesForEveryWidth() {
        for bits in 2...16 {
            let s = IntegerFormat(bits: bits, signed: true)!
            let u = IntegerFormat(bits: bits, signed: false)!
            #expect(s.min == -(1 << (bits - 1)) && s.max == (1 << (bits - 1)) - 1)
            #expect(u.min == 0 && u.max == (1 << bits) - 1)
            #expect(s.levels == (1 << bits) - 1 && u.levels == s.levels)
        }
        #expect(IntegerFormat(bits: 1, signed: true) == nil)
        #expect(IntegerFormat(bits: 17, signed: false) == nil)
    }

    @Test func roundClampedRoundsTiesToEvenAndClamps() {
        let cases: [(Float, Int32)] = [(0.5, 0), (1.5, 2), (2.5, 2), (-0.5, 0), (-1.5, -2), (-2.5, -2),
                                       (0.49999997, 0), (126.5, 126), (127.5, 127), (1e9, 127), (-1e9, -128),
                                       (.infinity, 127), (-.infinity, -128), (.nan, 0)]
        for (x, expected) in cases {
            #expect(IntegerFormat.roundClamped(x, lower: -128, upper: 127) == expected, "x = \(x)")
        }
    }

    @Test func roundClampedMatchesTheStandardLibraryOnRandomValues() {
        var generator = SplitMix64(seed: 5)
        for _ in 0..<100_000 {
            let x = Float.random(in: -40_000...40_000, using: &generator) * (Bool.random(using: &generator) ? 1 : 0.001)
            let expected = Int32(min(max(x.rounded(.toNearestOrEven), -32768), 32767))
            #expect(IntegerFormat.roundClamped(x, lower: -32768, upper: 32767) == expected)
        }
    }
}
