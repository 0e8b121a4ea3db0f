import Foundation

/// Little-endian reads from a byte buffer with every bound checked: a read past the end, or a length
/// that cannot fit in what is left, throws a `QuantaError.file` naming `path` and the byte offset.
struct ByteReader {
    let data: Data
    let path: String
    private(set) var offset: Int

    init(data: Data, path: String, offset: Int = 0) {
        self.data = data
        self.path = path
        self.offset = offset
    }

    var remaining: Int { data.count - offset }

    func fail(_ reason: String) -> QuantaError { .file(path: path, reason: "at byte \(offset): \(reason)") }

    mutating func skip(_ count: Int) throws(QuantaError) {
        guard count >= 0, count <= remaining else { throw fail("truncated: need \(count) bytes, \(remaining) left") }
        offset += count
    }

    mutating func read<T: FixedWidthInteger>(_: T.Type) throws(QuantaError) -> T {
        let size = MemoryLayout<T>.size
        guard size <= remaining else { throw fail("truncated: need \(size) bytes, \(remaining) left") }
        let value = data.withUnsafeBytes { T(littleEndian: $0.loadUnaligned(fromByteOffset: offset, as: T.self)) }
        offset += size
        return value
    }

    /// A count that must be at most `limit` and, at `minimumBytesEach` bytes per item, fit in what is left.
    mutating func readCount(minimumBytesEach: Int, what: String) throws(QuantaError) -> Int {
        let count = try read(UInt64.self)
        guard count <= UInt64(remaining / max(minimumBytesEach, 1)) else {
            throw fail("\(what) count \(count) cannot fit in the \(remaining) bytes left")
        }
        return Int(count)
    }

    mutating func readBytes(_ count: Int) throws(QuantaError) -> Data {
        let start = offset
        try skip(count)
        return data.subdata(in: start..<start + count)
    }
}
