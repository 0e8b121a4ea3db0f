import Foundation

/// Whole-file writes that never leave a half-written file: write a temporary file in the same folder,
/// then rename it over the target (rename is atomic within a file system).
public enum AtomicFile {
    public static func write(_ data: Data, to path: String) throws(QuantaError) {
        let target = URL(fileURLWithPath: path)
        let temporary = target.deletingLastPathComponent()
            .appendingPathComponent(".\(target.lastPathComponent).tmp-\(ProcessInfo.processInfo.processIdentifier)")
        do {
            try data.write(to: temporary)
            if rename(temporary.path, target.path) != 0 {
                throw CocoaError(.fileWriteUnknown, userInfo: [NSFilePathErrorKey: path])
            }
        } catch {
            try? FileManager.default.removeItem(at: temporary)
            throw .file(path: path, reason: "cannot be written (\(error.localizedDescription))")
        }
    }
}

/// Whole-file reads, memory-mapped: pages load on demand and large model files cost no copy.
public enum MappedFile {
    public static func read(_ path: String) throws(QuantaError) -> Data {
        do { return try Data(contentsOf: URL(fileURLWithPath: path), options: .alwaysMapped) } catch {
            throw .file(path: path, reason: "cannot be read (\(error.localizedDescription))")
        }
    }
}
