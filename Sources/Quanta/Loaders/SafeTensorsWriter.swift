import Foundation

/// Writes safetensors files atomically: to a temporary file beside the target, then renamed into place,
/// so a reader never sees a half-written file.
public struct SafeTensorsWriter {
    public struct Entry: Sendable {
        public let name: String
        public let type: StoredElementType
        public let shape: [Int]
        public let bytes: Data

        public init(name: String, type: StoredElementType, shape: [Int], bytes: Data) {
            self.name = name
            self.type = type
            self.shape = shape
            self.bytes = bytes
        }

        /// An F32 tensor.
        public init(name: String, shape: [Int], floats: [Float]) {
            self.init(name: name, type: .f32, shape: shape,
                      bytes: floats.withUnsafeBufferPointer { Data(buffer: $0) })
        }
    }

    /// Writes `entries` (in order, each 8-byte aligned in the data section) and `metadata` to `path`.
    public static func write(_ entries: [Entry], metadata: [String: String] = [:], to path: String) throws(QuantaError) {
        var header = [String: Any]()
        if !metadata.isEmpty { header["__metadata__"] = metadata }
        var offset = 0
        var body = Data()
        for entry in entries {
            let expected = entry.shape.reduce(entry.type.byteSize, *)
            guard expected == entry.bytes.count else {
                throw .shapeMismatch("tensor '\(entry.name)': shape \(entry.shape) of \(entry.type.rawValue) needs \(expected) bytes, got \(entry.bytes.count)")
            }
            guard header[entry.name] == nil else { throw .invalidArgument("tensor '\(entry.name)' appears twice") }
            header[entry.name] = ["dtype": entry.type.rawValue, "shape": entry.shape, "data_offsets": [offset, offset + expected]]
            body.append(entry.bytes)
            offset += expected
        }
        guard var json = try? JSONSerialization.data(withJSONObject: header, options: [.sortedKeys]) else {
            throw .file(path: path, reason: "header cannot be encoded as JSON")
        }
        // Pad the header with spaces so the data section starts 8-byte aligned.
        json.append(contentsOf: [UInt8](repeating: 0x20, count: (8 - json.count % 8) % 8))
        var file = Data()
        withUnsafeBytes(of: UInt64(json.count).littleEndian) { file.append(contentsOf: $0) }
        file.append(json)
        file.append(body)
        try AtomicFile.write(file, to: path)
    }
}
