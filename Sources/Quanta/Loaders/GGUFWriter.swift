import Foundation

/// Writes GGUF v3 files the way the `gguf` package's GGUFWriter lays them out, atomically (a temporary file
/// renamed into place, so a reader never sees a half-written file):
///
///     "GGUF" | version 3 u32 | tensor count u64 | metadata count u64
///     metadata in the given order: key | value type u32 | value   (arrays: element type u32 | count u64 | values)
///     tensor infos: name | n_dims u32 | dims u64 x n_dims | ggml type u32 | offset u64 (from the data start)
///     zero padding to `general.alignment` (default 32), then each tensor's bytes, each padded the same way
public enum GGUFWriter {
    /// One tensor: dims in GGUF order (dims[0] varies fastest: a matrix [rows, columns] is [columns, rows]).
    public struct Tensor: Sendable {
        public let name: String
        public let dimensions: [Int]
        public let type: GGMLType
        public let bytes: Data

        public init(name: String, dimensions: [Int], type: GGMLType, bytes: Data) {
            self.name = name
            self.dimensions = dimensions
            self.type = type
            self.bytes = bytes
        }
    }

    public static func write(metadata: [GGUFFile.MetadataEntry], tensors: [Tensor], to path: String) throws(QuantaError) {
        try AtomicFile.write(encode(metadata: metadata, tensors: tensors, path: path), to: path)
    }

    /// The file's bytes; `path` names the file in errors.
    public static func encode(metadata: [GGUFFile.MetadataEntry], tensors: [Tensor], path: String) throws(QuantaError) -> Data {
        var alignment = 32
        if let entry = metadata.first(where: { $0.key == "general.alignment" }) {
            guard let value = entry.value.integer, value > 0, value % 8 == 0 else {
                throw .file(path: path, reason: "general.alignment \(entry.value) is not a positive multiple of 8")
            }
            alignment = value
        }
        var out = Data("GGUF".utf8)
        append(UInt32(3), to: &out)
        append(UInt64(tensors.count), to: &out)
        append(UInt64(metadata.count), to: &out)
        var keys = Set<String>()
        for entry in metadata {
            guard keys.insert(entry.key).inserted else { throw .file(path: path, reason: "metadata key '\(entry.key)' appears twice") }
            append(entry.key, to: &out)
            append(entry.type.rawValue, to: &out)
            if entry.type == .array {
                guard let elementType = entry.elementType, elementType != .array, let elements = entry.value.array else {
                    throw .file(path: path, reason: "metadata '\(entry.key)': an array needs a non-array element type and array value")
                }
                append(elementType.rawValue, to: &out)
                append(UInt64(elements.count), to: &out)
                for element in elements { try append(element, as: elementType, key: entry.key, path: path, to: &out) }
            } else {
                try append(entry.value, as: entry.type, key: entry.key, path: path, to: &out)
            }
        }
        var offset = 0, names = Set<String>()
        for tensor in tensors {
            guard names.insert(tensor.name).inserted else { throw .file(path: path, reason: "tensor '\(tensor.name)' appears twice") }
            let elements = tensor.dimensions.reduce(1, *)
            guard (1...4).contains(tensor.dimensions.count), tensor.dimensions.allSatisfy({ $0 > 0 }),
                  tensor.dimensions[0] % tensor.type.blockSize == 0,
                  tensor.bytes.count == elements / tensor.type.blockSize * tensor.type.bytesPerBlock else {
                throw .file(path: path, reason: "tensor '\(tensor.name)': \(tensor.bytes.count) bytes do not hold dims \(tensor.dimensions) of \(tensor.type.name)")
            }
            append(tensor.name, to: &out)
            append(UInt32(tensor.dimensions.count), to: &out)
            for d in tensor.dimensions { append(UInt64(d), to: &out) }
            append(tensor.type.rawValue, to: &out)
            append(UInt64(offset), to: &out)
            offset += padded(tensor.bytes.count, to: alignment)
        }
        out.append(Data(count: padded(out.count, to: alignment) - out.count))
        for tensor in tensors {
            out.append(tensor.bytes)
            out.append(Data(count: padded(tensor.bytes.count, to: alignment) - tensor.bytes.count))
        }
        return out
    }

    static func padded(_ n: Int, to alignment: Int) -> Int { (n + alignment - 1) / alignment * alignment }

    static func append<T: FixedWidthInteger>(_ value: T, to out: inout Data) {
        withUnsafeBytes(of: value.littleEndian) { out.append(contentsOf: $0) }
    }

    static func append(_ string: String, to out: inout Data) {
        append(UInt64(string.utf8.count), to: &out)
        out.append(contentsOf: string.utf8)
    }

    /// `value` in the width of `type`; a value that does not fit the type is an error naming the key.
    static func append(_ value: GGUFFile.Value, as type: GGUFFile.ValueType, key: String, path: String, to out: inout Data) throws(QuantaError) {
        func integer<T: FixedWidthInteger>(_: T.Type) throws(QuantaError) -> T {
            let converted: T? = switch value {
            case let .uint(v): T(exactly: v)
            case let .int(v): T(exactly: v)
            default: nil
            }
            guard let converted else { throw .file(path: path, reason: "metadata '\(key)': \(value) is not a \(type)") }
            return converted
        }
        switch type {
        case .uint8: append(try integer(UInt8.self), to: &out)
        case .int8: append(try integer(Int8.self), to: &out)
        case .uint16: append(try integer(UInt16.self), to: &out)
        case .int16: append(try integer(Int16.self), to: &out)
        case .uint32: append(try integer(UInt32.self), to: &out)
        case .int32: append(try integer(Int32.self), to: &out)
        case .uint64: append(try integer(UInt64.self), to: &out)
        case .int64: append(try integer(Int64.self), to: &out)
        case .float32, .float64:
            guard case let .float(v) = value else { throw .file(path: path, reason: "metadata '\(key)': \(value) is not a \(type)") }
            if type == .float32 { append(Float(v).bitPattern, to: &out) } else { append(v.bitPattern, to: &out) }
        case .bool:
            guard case let .bool(v) = value else { throw .file(path: path, reason: "metadata '\(key)': \(value) is not a bool") }
            out.append(v ? 1 : 0)
        case .string:
            guard case let .string(v) = value else { throw .file(path: path, reason: "metadata '\(key)': \(value) is not a string") }
            append(v, to: &out)
        case .array:
            throw .file(path: path, reason: "metadata '\(key)': arrays of arrays are not written")
        }
    }
}
