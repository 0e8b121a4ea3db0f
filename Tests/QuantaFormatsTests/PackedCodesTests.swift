import Testing
import QuantaFormats

@Suite struct PackedCodesTests {
    @Test(arguments: [4, 6, 8, 3, 5, 7, 12])
    func packUnpackRoundTripsExactly(bitWidth: Int) {
        var generator = SplitMix64(seed: UInt64(bitWidth))
        for count in [0, 1, 2, 3, 4, 5, 31, 32, 33, 100] {
            let codes = (0..<count).map { _ in UInt16.random(in: 0..<(1 << bitWidth), using: &generator) }
            let packed = PackedCodes(bitWidth: bitWidth, codes: codes)
            #expect(packed.bytes.count == (count * bitWidth + 7) / 8)
            #expect(packed.codes == codes)
        }
    }

    @Test func sixBitCodesGoFourToThreeBytesLeastSignificantFirst() {
        let packed = PackedCodes(bitWidth: 6, codes: [0x3F, 0x00, 0x2A, 0x15])
        // bits: 111111 | 000000 | 101010 | 010101  (code 0 lowest)
        #expect(packed.bytes == [0x3F, 0xA0, 0x56])
        let nibbles = PackedCodes(bitWidth: 4, codes: [0x1, 0xF, 0x7])
        #expect(nibbles.bytes == [0xF1, 0x07])
    }

    @Test func adoptingBytesChecksTheirSize() {
        #expect(throws: FormatError.packedSizeMismatch(bitWidth: 6, count: 4, expectedBytes: 3, actualBytes: 4)) {
            try PackedCodes(bitWidth: 6, count: 4, bytes: [0, 0, 0, 0])
        }
        #expect((try? PackedCodes(bitWidth: 4, count: 3, bytes: [0xF1, 0x07]))?.codes == [1, 15, 7])
    }
}
