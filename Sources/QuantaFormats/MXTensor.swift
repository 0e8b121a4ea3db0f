/// A vector quantized to an MX format: one E8M0 scale per block of `blockSize` consecutive values
/// (the last block may be shorter) and the element codes, packed.
public struct MXTensor: Sendable, Hashable {
    public let format: MXFormat
    public let blockSize: Int
    public let count: Int
    /// E8M0 codes: block b is scaled by 2^(scales[b] - 127); 0xFF marks a block that held NaN or infinity.
    public let scales: [UInt8]
    public let elements: PackedCodes

    public var blockCount: Int { (count + blockSize - 1) / blockSize }

    /// Checks every size: `scales` has one byte per block, `elements` one code of the element width per value.
    public init(format: MXFormat, blockSize: Int, count: Int, scales: [UInt8], elements: PackedCodes) throws(FormatError) {
        guard blockSize > 0 else { throw .invalidBlockSize(blockSize) }
        let blocks = (count + blockSize - 1) / blockSize
        guard scales.count == blocks else { throw .scaleCountMismatch(expected: blocks, actual: scales.count) }
        guard elements.count == count, elements.bitWidth == format.elementBits else {
            throw .packedSizeMismatch(bitWidth: format.elementBits, count: count,
                                      expectedBytes: PackedCodes.byteCount(count: count, bitWidth: format.elementBits),
                                      actualBytes: elements.bytes.count)
        }
        self.format = format
        self.blockSize = blockSize
        self.count = count
        self.scales = scales
        self.elements = elements
    }

    /// Bytes of storage: scales plus packed elements.
    public var byteCount: Int { scales.count + elements.bytes.count }
}
