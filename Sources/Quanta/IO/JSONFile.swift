import Foundation

/// JSON objects read from and written to files (written atomically, keys sorted, pretty-printed).
public enum JSONFile {
    public static func object(at path: String) throws(QuantaError) -> [String: Any] {
        guard let data = FileManager.default.contents(atPath: path),
              let json = (try? JSONSerialization.jsonObject(with: data)) as? [String: Any] else {
            throw .file(path: path, reason: "missing or not a JSON object")
        }
        return json
    }

    public static func write(_ object: [String: Any], to path: String) throws(QuantaError) {
        guard let data = try? JSONSerialization.data(withJSONObject: object, options: [.sortedKeys, .prettyPrinted, .withoutEscapingSlashes]) else {
            throw .file(path: path, reason: "cannot be encoded as JSON")
        }
        try AtomicFile.write(data + Data("\n".utf8), to: path)
    }
}
