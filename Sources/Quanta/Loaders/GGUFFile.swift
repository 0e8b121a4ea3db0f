import Foundation

/// A GGUF (v2/v3) model file: header, metadata of every value type, tensor infos, aligned data section.
///
///     "GGUF" | version u32 | tensor count u64 | metadata count u64
///     metadata:     key (u64 length + UTF-8) | value type u32 | value
///     tensor infos: name | n_dims u32 | dims u64 x n_dims (dims[0] fastest) | ggml type u32 | offset u64
///     data section: starts at the next multiple of `general.alignment` (default 32)
///
/// Every count, length and offset is checked against the file before use; errors name the file, the
/// byte offset or the tensor.
public struct GGUFFile: @unchecked Sendable {
    /// A metadata value.
    public enum Value: Sendable, Hashable {
        case uint(UInt64), int(Int64), float(Double), bool(Bool), string(String)
        indirect case array([Value])

        public var integer: Int? {
            switch self {
            case let .uint(v): return v <= UInt64(Int.max) ? Int(v) : nil
            case let .int(v): return Int(v)
            default: return nil
            }
        }
        public var number: Double? {
            switch self {
            case let .float(v): return v
            case let .uint(v): return Double(v)
            case let .int(v): return Double(v)
            default: return nil
            }
        }
        public var string: String? { if case let .string(s) = self { return s } else { return nil } }
        public var array: [Value]? { if case let .array(a) = self { return a } else { return nil } }
    }

    /// One tensor: name, dims in GGUF order (dims[0] varies fastest), element type, byte range in the data section.
    public struct TensorInfo: Sendable, Hashable {
        public let name: String
        public let dimensions: [Int]
        public let type: GGMLType
        public let byteRange: Range<Int>
        public var elementCount: Int { dimensions.reduce(1, *) }
    }

    /// GGUF metadata value types (the `gguf_type` enum of ggml's gguf.h).
    public enum ValueType: UInt32, Sendable, Hashable {
        case uint8 = 0, int8, uint16, int16, uint32, int32, float32, bool, string, array, uint64, int64, float64
    }

    /// One metadata pair as the file stores it: the key, the value's type (and an array's element type),
    /// and the value. Kept in file order, so a writer can copy a file's metadata exactly.
    public struct MetadataEntry: Sendable, Hashable {
        public let key: String
        public let type: ValueType
        public let elementType: ValueType?
        public let value: Value

        public init(key: String, type: ValueType, elementType: ValueType? = nil, value: Value) {
            self.key = key
            self.type = type
            self.elementType = elementType
            self.value = value
        }
    }

    public let path: String
    public let version: UInt32
    public let metadata: [String: Value]
    /// The metadata in file order, with each value's stored type.
    public let metadataEntries: [MetadataEntry]
    public let tensors: [TensorInfo]
    let data: Data
    let dataStart: Int

    public init(path: String) throws(QuantaError) {
        try self.init(data: MappedFile.read(path), path: path)
    }

    public init(data: Data, path: String) throws(QuantaError) {
        var reader = ByteReader(data: data, path: path)
        guard try reader.read(UInt32.self) == 0x4655_4747 else { throw .file(path: path, reason: "not a GGUF file (magic is not 'GGUF')") }
        let version = try reader.read(UInt32.self)
        guard version == 2 || version == 3 else { throw .file(path: path, reason: "GGUF version \(version) is not supported (2 or 3)") }
        let tensorCount = try reader.readCount(minimumBytesEach: 8 + 4 + 4 + 8, what: "tensor")
        let metadataCount = try reader.readCount(minimumBytesEach: 8 + 4 + 1, what: "metadata")
        var metadata = [String: Value](), entries = [MetadataEntry]()
        for _ in 0..<metadataCount {
            let key = try Self.readString(&reader)
            let type = try Self.readType(&reader)
            var elementType: ValueType?
            let value: Value
            if type == .array {
                let elements = try Self.readType(&reader)
                elementType = elements
                value = try Self.readArray(of: elements, from: &reader, depth: 0)
            } else {
                value = try Self.readValue(type: type, from: &reader, depth: 0)
            }
            guard metadata.updateValue(value, forKey: key) == nil else { throw reader.fail("metadata key '\(key)' appears twice") }
            entries.append(MetadataEntry(key: key, type: type, elementType: elementType, value: value))
        }
        var infos = [(name: String, dimensions: [Int], type: GGMLType, offset: Int)]()
        for _ in 0..<tensorCount {
            let name = try Self.readString(&reader)
            let dimensionCount = try reader.read(UInt32.self)
            guard dimensionCount >= 1, dimensionCount <= 4 else { throw reader.fail("tensor '\(name)' has \(dimensionCount) dimensions (1 to 4 allowed)") }
            var dimensions = [Int]()
            for _ in 0..<dimensionCount {
                let d = try reader.read(UInt64.self)
                guard d <= 1 << 40 else { throw reader.fail("tensor '\(name)' has dimension \(d)") }
                dimensions.append(Int(d))
            }
            let rawType = try reader.read(UInt32.self)
            guard let type = GGMLType(rawValue: rawType) else {
                throw reader.fail("tensor '\(name)' has ggml type \(rawType), which Quanta does not read (supported: \(GGMLType.allCases.map(\.name).joined(separator: " ")))")
            }
            let offset = try reader.read(UInt64.self)
            guard offset <= UInt64(data.count) else { throw reader.fail("tensor '\(name)' offset \(offset) is past the end of the file") }
            infos.append((name, dimensions, type, Int(offset)))
        }
        let alignment = metadata["general.alignment"]?.integer ?? 32
        guard alignment > 0, alignment <= 1 << 16, alignment % 8 == 0 else {
            throw .file(path: path, reason: "general.alignment \(alignment) is not a positive multiple of 8")
        }
        let dataStart = (reader.offset + alignment - 1) / alignment * alignment
        guard dataStart <= data.count else { throw .file(path: path, reason: "truncated before the data section") }
        let dataSize = data.count - dataStart
        var tensors = [TensorInfo]()
        for info in infos {
            let elements = info.dimensions.reduce(1) { $0.multipliedReportingOverflow(by: $1).overflow ? Int.max : $0 * $1 }
            guard elements < 1 << 40, info.dimensions[0] % info.type.blockSize == 0 else {
                throw .file(path: path, reason: "tensor '\(info.name)': dims \(info.dimensions) do not fit \(info.type.name) blocks of \(info.type.blockSize)")
            }
            let bytes = elements / info.type.blockSize * info.type.bytesPerBlock
            guard info.offset % alignment == 0, info.offset + bytes <= dataSize else {
                throw .file(path: path, reason: "tensor '\(info.name)': \(bytes) bytes at offset \(info.offset) lie outside the \(dataSize)-byte data section or are misaligned")
            }
            tensors.append(TensorInfo(name: info.name, dimensions: info.dimensions, type: info.type, byteRange: info.offset..<info.offset + bytes))
        }
        let sorted = tensors.sorted { $0.byteRange.lowerBound < $1.byteRange.lowerBound }
        for (a, b) in zip(sorted, sorted.dropFirst()) where a.byteRange.upperBound > b.byteRange.lowerBound {
            throw .file(path: path, reason: "tensors '\(a.name)' and '\(b.name)' overlap")
        }
        self.path = path
        self.version = version
        self.metadata = metadata
        self.metadataEntries = entries
        self.tensors = tensors
        self.data = data
        self.dataStart = dataStart
    }

    /// Metadata without tensors: the description a writer copies when the model comes from another format
    /// (a Hugging Face folder, say). `path` names it in errors.
    public init(metadata entries: [MetadataEntry], path: String) {
        self.path = path
        version = 3
        metadataEntries = entries
        metadata = Dictionary(entries.map { ($0.key, $0.value) }, uniquingKeysWith: { _, last in last })
        tensors = []
        data = Data()
        dataStart = 0
    }

    static func readString(_ reader: inout ByteReader) throws(QuantaError) -> String {
        let length = try reader.readCount(minimumBytesEach: 1, what: "string length")
        let bytes = try reader.readBytes(length)
        guard let string = String(data: bytes, encoding: .utf8) else { throw reader.fail("string is not UTF-8") }
        return string
    }

    static func readType(_ reader: inout ByteReader) throws(QuantaError) -> ValueType {
        let raw = try reader.read(UInt32.self)
        guard let type = ValueType(rawValue: raw) else { throw reader.fail("unknown metadata value type \(raw)") }
        return type
    }

    static func readArray(of elementType: ValueType, from reader: inout ByteReader, depth: Int) throws(QuantaError) -> Value {
        guard depth < 4 else { throw reader.fail("arrays nested too deeply") }
        let count = try reader.readCount(minimumBytesEach: 1, what: "array")
        var values = [Value]()
        values.reserveCapacity(count)
        for _ in 0..<count { values.append(try readValue(type: elementType, from: &reader, depth: depth + 1)) }
        return .array(values)
    }

    static func readValue(type: ValueType, from reader: inout ByteReader, depth: Int) throws(QuantaError) -> Value {
        switch type {
        case .uint8: return .uint(UInt64(try reader.read(UInt8.self)))
        case .int8: return .int(Int64(try reader.read(Int8.self)))
        case .uint16: return .uint(UInt64(try reader.read(UInt16.self)))
        case .int16: return .int(Int64(try reader.read(Int16.self)))
        case .uint32: return .uint(UInt64(try reader.read(UInt32.self)))
        case .int32: return .int(Int64(try reader.read(Int32.self)))
        case .float32: return .float(Double(Float(bitPattern: try reader.read(UInt32.self))))
        case .bool:
            let byte = try reader.read(UInt8.self)
            guard byte <= 1 else { throw reader.fail("bool value \(byte)") }
            return .bool(byte == 1)
        case .string: return .string(try readString(&reader))
        case .array: return try readArray(of: readType(&reader), from: &reader, depth: depth)
        case .uint64: return .uint(try reader.read(UInt64.self))
        case .int64: return .int(try reader.read(Int64.self))
        case .float64: return .float(Double(bitPattern: try reader.read(UInt64.self)))
        }
    }

    /// The description of tensor `name`.
    public func info(_ name: String) throws(QuantaError) -> TensorInfo {
        guard let info = tensors.first(where: { $0.name == name }) else {
            throw .file(path: path, reason: "no tensor named '\(name)'")
        }
        return info
    }

    /// Tensor `name` dequantized to Float, in GGUF order (dims[0] fastest: a [rows = dims[1], columns = dims[0]]
    /// matrix row-major). `expectedDimensions`, when given, must match exactly.
    public func floats(_ name: String, expectedDimensions: [Int]? = nil) throws(QuantaError) -> [Float] {
        let info = try info(name)
        if let expectedDimensions, expectedDimensions != info.dimensions {
            throw .file(path: path, reason: "tensor '\(name)' has dims \(info.dimensions), expected \(expectedDimensions)")
        }
        return try bytes(name).withUnsafeBytes { info.type.dequantize($0, count: info.elementCount) }
    }

    /// Tensor `name`'s stored bytes, in its ggml type's layout.
    public func bytes(_ name: String) throws(QuantaError) -> Data {
        let range = try info(name).byteRange
        return data.subdata(in: dataStart + range.lowerBound..<dataStart + range.upperBound)
    }

    /// Metadata value `key`, or an error naming it.
    public func value(_ key: String) throws(QuantaError) -> Value {
        guard let value = metadata[key] else { throw .file(path: path, reason: "metadata key '\(key)' is missing") }
        return value
    }
}
