/// Bulk conversion between Float buffers and the codes of one `FloatFormat`.
///
/// Encoding runs the branch-free integer algorithm of `FloatFormat.encode` over the buffer (the loop
/// vectorises); decoding is a lookup in a table of all 2^bitWidth values built once per codec.
public struct ElementCodec: Sendable {
    public let format: FloatFormat
    public let saturating: Bool
    /// `decodeTable[code]` is the value of `code`.
    public let decodeTable: [Float]
    let constants: EncodeConstants

    public init(_ format: FloatFormat, saturating: Bool = true) {
        self.format = format
        self.saturating = saturating
        self.decodeTable = (0..<format.codeCount).map { format.decode(UInt16($0)) }
        self.constants = EncodeConstants(format, saturating: saturating)
    }

    /// Writes the code of `source[i]` to `destination[i]` (round to nearest-even); formats of at most 8 bits.
    public func encode(_ source: UnsafeBufferPointer<Float>, into destination: UnsafeMutableBufferPointer<UInt8>) {
        encodeCodes(source, into: destination)
    }

    /// Writes the code of `source[i]` to `destination[i]` (round to nearest-even); any format.
    public func encode(_ source: UnsafeBufferPointer<Float>, into destination: UnsafeMutableBufferPointer<UInt16>) {
        encodeCodes(source, into: destination)
    }

    /// Writes the value of `source[i]` to `destination[i]`.
    public func decode(_ source: UnsafeBufferPointer<UInt8>, into destination: UnsafeMutableBufferPointer<Float>) {
        decodeCodes(source, into: destination)
    }

    /// Writes the value of `source[i]` to `destination[i]`.
    public func decode(_ source: UnsafeBufferPointer<UInt16>, into destination: UnsafeMutableBufferPointer<Float>) {
        decodeCodes(source, into: destination)
    }

    // Generic bodies, specialised for UInt8 and UInt16 inside this module by the overloads above.
    func encodeCodes<Code: FixedWidthInteger & UnsignedInteger>(
        _ source: UnsafeBufferPointer<Float>, into destination: UnsafeMutableBufferPointer<Code>
    ) {
        precondition(destination.count >= source.count && Code.bitWidth >= format.bitWidth)
        guard let src = source.baseAddress, let dst = destination.baseAddress else { return }
        let c = constants
        if c.hasSign {
            for i in 0..<source.count { dst[i] = Code(truncatingIfNeeded: c.encodeSigned(src[i])) }
        } else {
            for i in 0..<source.count { dst[i] = Code(truncatingIfNeeded: c.encodeUnsignedExponent(src[i].bitPattern)) }
        }
    }

    func decodeCodes<Code: FixedWidthInteger & UnsignedInteger>(
        _ source: UnsafeBufferPointer<Code>, into destination: UnsafeMutableBufferPointer<Float>
    ) {
        precondition(destination.count >= source.count)
        let mask = format.codeCount - 1
        decodeTable.withUnsafeBufferPointer { table in
            guard let t = table.baseAddress, let src = source.baseAddress, let dst = destination.baseAddress else { return }
            for i in 0..<source.count {
                dst[i] = t[Int(src[i]) & mask]
            }
        }
    }

    /// The codes of `values`, one byte each (formats of at most 8 bits).
    public func encode(_ values: [Float]) -> [UInt8] {
        var codes = [UInt8](repeating: 0, count: values.count)
        values.withUnsafeBufferPointer { src in codes.withUnsafeMutableBufferPointer { encode(src, into: $0) } }
        return codes
    }

    /// The values of `codes`.
    public func decode(_ codes: [UInt8]) -> [Float] {
        var values = [Float](repeating: 0, count: codes.count)
        codes.withUnsafeBufferPointer { src in values.withUnsafeMutableBufferPointer { decode(src, into: $0) } }
        return values
    }
}
