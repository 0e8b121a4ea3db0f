/// Codes of a fixed bit width packed densely, least significant bit first: code i occupies bits
/// [i * bitWidth, (i + 1) * bitWidth) of the byte stream. 4-bit codes go two to a byte (low nibble first),
/// 6-bit codes four to three bytes, 8-bit codes one to a byte.
public struct PackedCodes: Sendable, Hashable {
    public let bitWidth: Int
    public let count: Int
    public private(set) var bytes: [UInt8]

    /// Bytes needed for `count` codes of `bitWidth` bits: ceil(count * bitWidth / 8).
    public static func byteCount(count: Int, bitWidth: Int) -> Int { (count * bitWidth + 7) / 8 }

    /// `count` zero codes.
    public init(bitWidth: Int, count: Int) {
        precondition((1...16).contains(bitWidth) && count >= 0)
        self.bitWidth = bitWidth
        self.count = count
        self.bytes = [UInt8](repeating: 0, count: Self.byteCount(count: count, bitWidth: bitWidth))
    }

    /// Packs `codes`; bits above `bitWidth` are dropped.
    public init<C: Collection>(bitWidth: Int, codes: C) where C.Element: BinaryInteger {
        self.init(bitWidth: bitWidth, count: codes.count)
        for (i, code) in codes.enumerated() { self[i] = UInt16(truncatingIfNeeded: code) }
    }

    /// Adopts packed `bytes`, checking that their length is exactly `byteCount(count:bitWidth:)`.
    public init(bitWidth: Int, count: Int, bytes: [UInt8]) throws(FormatError) {
        let expected = Self.byteCount(count: count, bitWidth: bitWidth)
        guard (1...16).contains(bitWidth), count >= 0, bytes.count == expected else {
            throw .packedSizeMismatch(bitWidth: bitWidth, count: count, expectedBytes: expected, actualBytes: bytes.count)
        }
        self.bitWidth = bitWidth
        self.count = count
        self.bytes = bytes
    }

    public subscript(index: Int) -> UInt16 {
        get {
            precondition(index >= 0 && index < count)
            let bit = index * bitWidth
            var window: UInt32 = 0
            for j in 0..<((bit % 8 + bitWidth + 7) / 8) { window |= UInt32(bytes[bit / 8 + j]) << UInt32(8 * j) }
            return UInt16((window >> UInt32(bit % 8)) & ((1 << UInt32(bitWidth)) - 1))
        }
        set {
            precondition(index >= 0 && index < count)
            let bit = index * bitWidth
            let mask: UInt32 = ((1 << UInt32(bitWidth)) - 1) << UInt32(bit % 8)
            let value = (UInt32(newValue) << UInt32(bit % 8)) & mask
            for j in 0..<((bit % 8 + bitWidth + 7) / 8) {
                let shift = UInt32(8 * j)
                bytes[bit / 8 + j] = (bytes[bit / 8 + j] & ~UInt8(truncatingIfNeeded: mask >> shift))
                    | UInt8(truncatingIfNeeded: value >> shift)
            }
        }
    }

    /// All codes, unpacked.
    public var codes: [UInt16] { (0..<count).map { self[$0] } }
}
