import Testing
import Quanta

@Suite struct FixedPointMultiplierTests {
    @Test func representsTheMultiplierToThirtyBits() throws {
        var generator = SplitMix64(seed: 9)
        for _ in 0..<10_000 {
            let real = Double(sign: .plus, exponent: Int.random(in: -30...20, using: &generator),
                              significand: Double.random(in: 1..<2, using: &generator))
            let m = try FixedPointMultiplier(real)
            #expect(m.mantissa >= 1 << 30)
            #expect(abs(m.value - real) <= real * 0x1p-31)
        }
    }

    @Test func applyIsTheExactlyRoundedProduct() throws {
        // Against a double-precision reference on the represented multiplier: exact whenever the
        // product acc * mantissa fits in 53 bits (Double is exact there), for every rounding tie too.
        var generator = SplitMix64(seed: 10)
        for _ in 0..<100_000 {
            let m = try FixedPointMultiplier(Double.random(in: 0.00001...4, using: &generator))
            let acc = Int32.random(in: -(1 << 21)...(1 << 21), using: &generator)
            let exact = (Double(acc) * Double(m.mantissa) * Double(sign: .plus, exponent: -m.shift, significand: 1))
                .rounded(.toNearestOrEven)
            #expect(m.apply(acc) == Int64(exact), "acc \(acc) mantissa \(m.mantissa) shift \(m.shift)")
        }
    }

    @Test func tiesRoundToEven() throws {
        let half = try FixedPointMultiplier(0.5)
        #expect([-5, -3, -1, 1, 3, 5, 7].map { half.apply(Int32($0)) } == [-2, -2, 0, 0, 2, 2, 4])
        let quarter = try FixedPointMultiplier(0.25)
        #expect([2, 6, 10, -2, -6].map { quarter.apply(Int32($0)) } == [0, 2, 2, 0, -2])
    }

    @Test func matchesTheRealMultiplierExceptNearTies() throws {
        // Against a double reference on the *real* multiplier: the 31-bit mantissa is off by at most
        // real * 2^-31, so results agree unless the product lies that close to a tie.
        var generator = SplitMix64(seed: 12)
        for _ in 0..<100_000 {
            let real = Double.random(in: 0.0001...2, using: &generator)
            let acc = Int32.random(in: Int32.min / 2...Int32.max / 2, using: &generator)
            let product = Double(acc) * real
            let distanceToTie = abs(abs(product - product.rounded(.down)) - 0.5)
            let result = try FixedPointMultiplier(real).apply(acc)
            if distanceToTie > abs(product) * 0x1p-30 {
                #expect(result == Int64(product.rounded(.toNearestOrEven)), "acc \(acc) real \(real)")
            } else {
                #expect(abs(Double(result) - product) <= 0.5 + abs(product) * 0x1p-31 + 1e-6)
            }
        }
    }

    @Test func outOfRangeMultipliersAreRefused() {
        for bad in [0, -1, 0x1p31, .infinity, .nan, 0x1p-40] as [Double] {
            #expect(throws: QuantaError.self) { try FixedPointMultiplier(bad) }
        }
    }
}
