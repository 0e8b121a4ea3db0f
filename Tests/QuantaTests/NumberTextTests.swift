import Testing
import Quanta

@Suite struct NumberTextTests {
    @Test func shortestDecimalReadsBackAsTheSameFloat() {
        var generator = SplitMix64(seed: 2)
        for _ in 0..<50_000 {
            let x = Float(bitPattern: UInt32.random(in: 0...UInt32.max, using: &generator))
            guard x.isFinite else { continue }
            let text = NumberText.shortest(x)
            #expect(Float(text)?.bitPattern == x.bitPattern, "\(text)")
        }
        #expect([448, -0.0, 0.5, .infinity, -.infinity, .nan].map(NumberText.shortest) == ["448", "-0", "0.5", "inf", "-inf", "nan"])
    }

    @Test func parseErrorsNameTheLineAndTheText() throws {
        let parsed = try? NumberText.parseFloats("1 2\n  3.5e2\t-inf\n")
        #expect(parsed == [1, 2, 350, -.infinity])
        #expect(throws: QuantaError.self) { try NumberText.parseFloats("1\n2 x3\n") }
        do {
            _ = try NumberText.parseFloats("1\n2 x3\n")
        } catch {
            #expect("\(error)" == "line 2: 'x3' is not a number")
        }
        #expect(try NumberText.parseCodes("0x7e 7F\n0x00", limit: 256) == [0x7E, 0x7F, 0])
        #expect(throws: QuantaError.self) { try NumberText.parseCodes("0x40", limit: 64) }
        #expect(NumberText.hexCode(0x7E, bitWidth: 8) == "0x7e" && NumberText.hexCode(0x5, bitWidth: 4) == "0x05")
    }
}
