import Testing
import QuantaFormats

@Suite struct FloatFormatTests {
    @Test func tableConstantsMatchTheSpecifications() {
        #expect(FloatFormat.e4m3.maxNormal == 448)
        #expect(FloatFormat.e5m2.maxNormal == 57344)
        #expect(FloatFormat.e2m3.maxNormal == 7.5)
        #expect(FloatFormat.e3m2.maxNormal == 28)
        #expect(FloatFormat.e2m1.maxNormal == 6)
        #expect(FloatFormat.e8m0.maxNormal == 0x1p127)
        #expect(FloatFormat.float16.maxNormal == 65504)
        #expect(FloatFormat.bfloat16.maxNormal == Float(bitPattern: 0x7F7F_0000))
        #expect(FloatFormat.e4m3.minSubnormal == 0x1p-9)
        #expect(FloatFormat.e5m2.minSubnormal == 0x1p-16)
        #expect(FloatFormat.e2m1.minSubnormal == 0.5)
        #expect(FloatFormat.e8m0.minNormal == 0x1p-127)
        #expect(FloatFormat.all.map(\.bitWidth) == [8, 8, 6, 6, 4, 8, 16, 16])
        #expect(FloatFormat.all.map(\.maxExponent) == [8, 15, 2, 4, 2, 127, 127, 15])
    }

    @Test func float16DecodesEveryCodeLikeTheNativeType() {
        for code in 0...UInt16.max {
            let expected = Float(Float16(bitPattern: code))
            let actual = FloatFormat.float16.decode(code)
            #expect(actual.bitPattern == expected.bitPattern || (actual.isNaN && expected.isNaN), "code \(code)")
        }
    }

    @Test func bfloat16DecodesEveryCodeAsTheUpperHalfOfBinary32() {
        for code in 0...UInt16.max {
            let expected = Float(bitPattern: UInt32(code) << 16)
            let actual = FloatFormat.bfloat16.decode(code)
            #expect(actual.bitPattern == expected.bitPattern || (actual.isNaN && expected.isNaN), "code \(code)")
        }
    }

    @Test func float16EncodesLikeTheNativeConversion() {
        var generator = SplitMix64(seed: 7)
        for _ in 0..<200_000 {
            let x = Float(bitPattern: UInt32.random(in: 0...UInt32.max, using: &generator))
            guard !x.isNaN else { continue }
            let expected = Float16(x).bitPattern
            #expect(FloatFormat.float16.encode(x, saturating: false) == expected, "input bits \(x.bitPattern)")
        }
    }

    @Test func stochasticRoundingPicksANeighbourAndIsUnbiased() {
        var generator = SplitMix64(seed: 1)
        let format = FloatFormat.e4m3
        let finite = (0..<256).map { format.decode(UInt16($0)) }.filter { $0.isFinite }
        for x: Float in [0.3, -1.0625 * 3, 0.0029, 200.5, 447.9, -0.0001] {
            let lower = finite.filter { $0 <= x }.max()!, upper = finite.filter { $0 >= x }.min()!
            var sum: Double = 0
            let n = 40_000
            for _ in 0..<n {
                let value = format.decode(format.encode(x, rounding: .stochastic, using: &generator))
                #expect(value == lower || value == upper, "x = \(x) gave \(value), not \(lower) or \(upper)")
                sum += Double(value)
            }
            let mean = sum / Double(n)
            #expect(abs(mean - Double(x)) < 0.02 * Double(upper - lower) + 1e-9, "x = \(x), mean = \(mean)")
        }
    }

    @Test func stochasticRoundingKeepsExactValuesExact() {
        var generator = SplitMix64(seed: 3)
        for code in 0..<256 where !FloatFormat.e4m3.decode(UInt16(code)).isNaN {
            let x = FloatFormat.e4m3.decode(UInt16(code))
            #expect(FloatFormat.e4m3.encode(x, rounding: .stochastic, using: &generator) == UInt16(code))
        }
    }

    @Test func bulkCodecAgreesWithScalarEncodeOnEveryFloatPattern() {
        var generator = SplitMix64(seed: 11)
        let inputs = (0..<100_000).map { _ in Float(bitPattern: UInt32.random(in: 0...UInt32.max, using: &generator)) }
        for format in FloatFormat.narrow {
            for saturating in [true, false] {
                let codec = ElementCodec(format, saturating: saturating)
                let bulk = codec.encode(inputs)
                for (x, code) in zip(inputs, bulk) {
                    #expect(UInt16(code) == format.encode(x, saturating: saturating))
                }
                let decoded = codec.decode(bulk)
                for (code, value) in zip(bulk, decoded) {
                    let expected = format.decode(UInt16(code))
                    #expect(value.bitPattern == expected.bitPattern || (value.isNaN && expected.isNaN))
                }
            }
        }
    }
}
