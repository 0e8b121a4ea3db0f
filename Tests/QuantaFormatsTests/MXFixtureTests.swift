import Testing
import QuantaFormats

/// MX quantization against the OCP MX v1.0 fixtures (cross-checked with a port of microsoft/microxcaling
/// in scripts/fixtures/make_format_fixtures.py): scales, element codes and dequantized values, bit for bit.
@Suite struct MXFixtureTests {
    @Test(arguments: MXFormat.all)
    func matchesTheSpecFixture(format: MXFormat) throws {
        let fixture = try Fixtures.json("formats/mx-\(format.name).json")
        let block = fixture["block"] as! Int
        let quantizer = try MXBlockQuantizer(format: format, blockSize: block)
        let cases = fixture["cases"] as! [[String: Any]]
        #expect(cases.count >= 20)
        func floats(_ key: String, _ c: [String: Any]) -> [Float] {
            (c[key] as! [String]).map { Float(bitPattern: UInt32($0, radix: 16)!) }
        }
        for c in cases {
            let name = c["name"] as! String
            let input = floats("input", c), expected = floats("output", c)
            let tensor = quantizer.quantize(input)
            #expect(tensor.scales.map(Int.init) == c["scales"] as! [Int], "\(format) \(name): scales")
            let codes = c["codes"] as! [Int]
            for (b, scale) in tensor.scales.enumerated() where scale != 0xFF {
                let range = b * block..<min((b + 1) * block, input.count)
                #expect(range.map { Int(tensor.elements[$0]) } == Array(codes[range]), "\(format) \(name): codes of block \(b)")
            }
            let output = quantizer.dequantize(tensor)
            for (i, (a, e)) in zip(output, expected).enumerated() where !(a.bitPattern == e.bitPattern || (a.isNaN && e.isNaN)) {
                Issue.record("\(format) \(name) element \(i): input \(input[i]) gave \(a), expected \(e)")
                break
            }
            // Packed storage round-trips: rebuild the tensor from its bytes.
            let rebuilt = try MXTensor(format: format, blockSize: block, count: input.count, scales: tensor.scales,
                                       elements: PackedCodes(bitWidth: format.elementBits, count: input.count, bytes: tensor.elements.bytes))
            #expect(rebuilt == tensor)
            #expect(tensor.byteCount == tensor.blockCount + (input.count * format.elementBits + 7) / 8)
        }
    }

    @Test func zeroBlockGetsTheSmallestScaleAndSizesAreChecked() throws {
        let q = try MXBlockQuantizer(format: .mxfp4e2m1)
        let t = q.quantize([Float](repeating: 0, count: 32))
        #expect(t.scales == [0] && q.dequantize(t).allSatisfy { $0 == 0 })
        #expect(MXFormat.mxfp8e4m3.bitsPerElement(blockSize: 32) == 8.25 && MXFormat.mxfp4e2m1.bytesPerBlock(blockSize: 32) == 17)
        #expect(MXFormat.mxfp6e3m2.bytesPerBlock(blockSize: 32) == 25)
        #expect(throws: FormatError.self) { try MXBlockQuantizer(format: .mxint8, blockSize: 0) }
        #expect(throws: FormatError.scaleCountMismatch(expected: 2, actual: 1)) {
            try MXTensor(format: .mxint8, blockSize: 32, count: 40, scales: [127], elements: PackedCodes(bitWidth: 8, count: 40))
        }
    }
}

@Suite struct MXRoundTripTests {
    @Test(arguments: MXFormat.all)
    func roundTripEqualsDequantizeOfQuantize(format: MXFormat) throws {
        var generator = SplitMix64(seed: 77)
        let values = (0..<1000).map { i -> Float in
            i % 97 == 0 ? .nan : Float.random(in: -3...3, using: &generator) * (i % 50 == 0 ? 1000 : 1)
        }
        let q = try MXBlockQuantizer(format: format, blockSize: 32)
        for (a, b) in zip(q.roundTrip(values), q.dequantize(q.quantize(values))) {
            #expect(a.bitPattern == b.bitPattern || (a.isNaN && b.isNaN))
        }
    }
}
