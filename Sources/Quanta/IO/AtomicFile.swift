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

/// Whole-folder writes: `fill` writes a fresh folder beside the target, which is then renamed into place, so a
/// killed run leaves no half-written folder. An existing target is replaced only when it is empty or
/// `replaceable` (a folder this kind of writer made).
public enum AtomicFolder {
    public static func replace(_ folder: String, kind: String, replaceable: (String) -> Bool,
                               fill: (String) throws(QuantaError) -> Void) throws(QuantaError) {
        let manager = FileManager.default
        let target = URL(fileURLWithPath: folder).standardizedFileURL
        var isFolder: ObjCBool = false
        if manager.fileExists(atPath: target.path, isDirectory: &isFolder) {
            let empty = isFolder.boolValue && ((try? manager.contentsOfDirectory(atPath: target.path))?.isEmpty ?? false)
            guard empty || (isFolder.boolValue && replaceable(target.path)) else {
                throw .file(path: folder, reason: "exists and is not \(kind); refusing to overwrite it")
            }
        }
        let temporary = target.deletingLastPathComponent().appendingPathComponent(".\(target.lastPathComponent).tmp-\(ProcessInfo.processInfo.processIdentifier)")
        do { try manager.createDirectory(at: temporary, withIntermediateDirectories: true) } catch {
            throw .file(path: temporary.path, reason: "cannot be created (\(error.localizedDescription))")
        }
        do throws(QuantaError) {
            try fill(temporary.path)
            if manager.fileExists(atPath: target.path) {
                do { try manager.removeItem(at: target) } catch { throw .file(path: folder, reason: "cannot be replaced (\(error.localizedDescription))") }
            }
            guard rename(temporary.path, target.path) == 0 else { throw .file(path: folder, reason: "cannot be written (rename failed)") }
        } catch {
            try? manager.removeItem(at: temporary)
            throw error
        }
    }
}
