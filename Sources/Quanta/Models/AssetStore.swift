import Foundation

/// Where models and data live: the git-ignored `.assets/` folder that `scripts/fetch-assets` fills.
/// Found as `$QUANTA_ASSETS`, else `.assets` in the working folder, else `.assets` at the root of the
/// checkout the executable was built in.
public struct AssetStore: Sendable {
    public let root: String

    public init(root: String) { self.root = root }

    public static func locate() throws(QuantaError) -> AssetStore {
        var candidates = [String]()
        if let explicit = ProcessInfo.processInfo.environment["QUANTA_ASSETS"] { candidates.append(explicit) }
        candidates.append(FileManager.default.currentDirectoryPath + "/.assets")
        var folder = URL(fileURLWithPath: CommandLine.arguments.first ?? ".").resolvingSymlinksInPath().deletingLastPathComponent()
        for _ in 0..<5 {
            candidates.append(folder.appendingPathComponent(".assets").path)
            folder = folder.deletingLastPathComponent()
        }
        guard let root = candidates.first(where: { FileManager.default.fileExists(atPath: $0 + "/minilm") || FileManager.default.fileExists(atPath: $0 + "/smollm2") }) else {
            throw .file(path: candidates.first ?? ".assets", reason: "no assets found; run scripts/fetch-assets (or set QUANTA_ASSETS)")
        }
        return AssetStore(root: root)
    }

    public var miniLMFolder: String { root + "/minilm" }
    public var smolLM2File: String {
        let folder = root + "/smollm2"
        let gguf = (try? FileManager.default.contentsOfDirectory(atPath: folder))?.sorted().first { $0.hasSuffix(".gguf") }
        return folder + "/" + (gguf ?? "model.gguf")
    }
    public var austenFolder: String { root + "/austen" }
    public var bbcFolder: String { root + "/bbc" }
    public var gensimFolder: String { root + "/gensim" }
    public var sixFolder: String { root + "/six" }
}
