import Foundation

/// A safetensors file, memory-mapped and validated before any tensor is read.
///
/// Layout: 8 bytes little-endian header length N, N bytes of JSON header
/// `{"name": {"dtype": "F32", "shape": [..], "data_offsets": [begin, end]}, "__metadata__": {..}}`,
/// then the data section; offsets are relative to the data section. Validation: the header fits in the
/// file and is a JSON object; every dtype is known; every shape is non-negative and its byte size
/// (checked for overflow) equals end - begin; every range lies inside the data section; no two ranges
/// overlap. Any failure is a `QuantaError.file` naming the file and the tensor.
public struct SafeTensorsFile: @unchecked Sendable {
    public let path: String
    public let metadata: [String: String]
    /// Tensors in file order (by offset).
    public let tensors: [StoredTensorInfo]
    let data: Data
    let dataStart: Int

    /// Largest header accepted (the format's own limit is 100 MB).
    static let maxHeaderBytes = 100_000_000

    public init(path: String) throws(QuantaError) {
        try self.init(data: MappedFile.read(path), path: path)
    }

    /// Parses `data` as a safetensors file; `path` only names it in errors.
    public init(data: Data, path: String) throws(QuantaError) {
        func fail(_ reason: String) -> QuantaError { .file(path: path, reason: reason) }
        guard data.count >= 8 else { throw fail("truncated: \(data.count) bytes, a safetensors file starts with an 8-byte header length") }
        let headerLength = data.withUnsafeBytes { UInt64(littleEndian: $0.loadUnaligned(fromByteOffset: 0, as: UInt64.self)) }
        guard headerLength <= UInt64(Self.maxHeaderBytes), Int(headerLength) <= data.count - 8 else {
            throw fail("header length \(headerLength) exceeds the file size \(data.count) or the 100 MB limit")
        }
        let headerBytes = data.subdata(in: 8..<8 + Int(headerLength))
        guard let header = (try? JSONSerialization.jsonObject(with: headerBytes)) as? [String: Any] else {
            throw fail("header is not a JSON object")
        }
        let dataStart = 8 + Int(headerLength)
        let dataSize = data.count - dataStart
        var metadata = [String: String]()
        var tensors = [StoredTensorInfo]()
        for (name, value) in header {
            if name == "__metadata__" {
                guard let map = value as? [String: String] else { throw fail("__metadata__ must map strings to strings") }
                metadata = map
                continue
            }
            guard let entry = value as? [String: Any] else { throw fail("tensor '\(name)': entry is not an object") }
            guard let dtypeName = entry["dtype"] as? String, let type = StoredElementType(rawValue: dtypeName) else {
                throw fail("tensor '\(name)': unsupported dtype \(entry["dtype"] ?? "missing") (supported: \(StoredElementType.allCases.map(\.rawValue).joined(separator: " ")))")
            }
            guard let shape = Self.integers(entry["shape"]), shape.allSatisfy({ $0 >= 0 }) else {
                throw fail("tensor '\(name)': shape must be a list of non-negative integers")
            }
            guard let offsets = Self.integers(entry["data_offsets"]), offsets.count == 2,
                  offsets[0] >= 0, offsets[0] <= offsets[1], offsets[1] <= dataSize else {
                throw fail("tensor '\(name)': data_offsets \(entry["data_offsets"] ?? "missing") lie outside the \(dataSize)-byte data section")
            }
            var bytes = type.byteSize
            for dimension in shape {
                let (product, overflow) = bytes.multipliedReportingOverflow(by: dimension)
                guard !overflow else { throw fail("tensor '\(name)': shape \(shape) overflows") }
                bytes = product
            }
            guard bytes == offsets[1] - offsets[0] else {
                throw fail("tensor '\(name)': shape \(shape) of \(dtypeName) needs \(bytes) bytes, data_offsets span \(offsets[1] - offsets[0])")
            }
            tensors.append(StoredTensorInfo(name: name, type: type, shape: shape, byteRange: offsets[0]..<offsets[1]))
        }
        tensors.sort { ($0.byteRange.lowerBound, $0.byteRange.upperBound, $0.name) < ($1.byteRange.lowerBound, $1.byteRange.upperBound, $1.name) }
        for (a, b) in zip(tensors, tensors.dropFirst()) where a.byteRange.upperBound > b.byteRange.lowerBound {
            throw fail("tensors '\(a.name)' and '\(b.name)' overlap")
        }
        self.path = path
        self.metadata = metadata
        self.tensors = tensors
        self.data = data
        self.dataStart = dataStart
    }

    static func integers(_ value: Any?) -> [Int]? {
        guard let list = value as? [Any] else { return nil }
        var result = [Int]()
        for item in list {
            guard let number = item as? NSNumber, number.doubleValue.rounded() == number.doubleValue,
                  number.doubleValue.magnitude < 0x1p62 else { return nil }
            result.append(number.intValue)
        }
        return result
    }

    /// The description of tensor `name`.
    public func info(_ name: String) throws(QuantaError) -> StoredTensorInfo {
        guard let info = tensors.first(where: { $0.name == name }) else {
            throw .file(path: path, reason: "no tensor named '\(name)'")
        }
        return info
    }

    /// The raw bytes of tensor `name`.
    public func bytes(_ name: String) throws(QuantaError) -> Data {
        let info = try info(name)
        return data.subdata(in: dataStart + info.byteRange.lowerBound..<dataStart + info.byteRange.upperBound)
    }

    /// Tensor `name` converted to Float (F32, F16, BF16, F8_E4M3, I8, U8, I32 and I64 are all accepted), with its shape.
    /// `expectedShape`, when given, must match exactly.
    public func floats(_ name: String, expectedShape: [Int]? = nil) throws(QuantaError) -> (shape: [Int], values: [Float]) {
        let info = try info(name)
        if let expectedShape, expectedShape != info.shape {
            throw .file(path: path, reason: "tensor '\(name)' has shape \(info.shape), expected \(expectedShape)")
        }
        let raw = try bytes(name)
        let values: [Float] = raw.withUnsafeBytes { buffer in
            let count = info.elementCount
            switch info.type {
            case .f32: return (0..<count).map { Float(bitPattern: UInt32(littleEndian: buffer.loadUnaligned(fromByteOffset: 4 * $0, as: UInt32.self))) }
            case .f16: return (0..<count).map { FloatFormat.float16.decode(UInt16(littleEndian: buffer.loadUnaligned(fromByteOffset: 2 * $0, as: UInt16.self))) }
            case .bf16: return (0..<count).map { Float(bitPattern: UInt32(UInt16(littleEndian: buffer.loadUnaligned(fromByteOffset: 2 * $0, as: UInt16.self))) << 16) }
            case .i8: return (0..<count).map { Float(Int8(bitPattern: buffer[$0])) }
            case .u8: return (0..<count).map { Float(buffer[$0]) }
            case .f8e4m3: return (0..<count).map { FloatFormat.e4m3.decode(UInt16(buffer[$0])) }
            case .i32: return (0..<count).map { Float(Int32(littleEndian: buffer.loadUnaligned(fromByteOffset: 4 * $0, as: Int32.self))) }
            case .i64: return (0..<count).map { Float(Int64(littleEndian: buffer.loadUnaligned(fromByteOffset: 8 * $0, as: Int64.self))) }
            }
        }
        return (info.shape, values)
    }
}
