import Foundation
import Quanta

/// Assets (fetched by scripts/fetch-assets) and committed oracle fixtures for the model-level tests.
/// These tests need the real models: they fail, naming what is missing, when the assets are absent.
enum ModelFixtures {
    static let repository = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

    static func assets() throws -> AssetStore {
        let root = ProcessInfo.processInfo.environment["QUANTA_ASSETS"] ?? repository.appendingPathComponent(".assets").path
        return AssetStore(root: root)
    }

    static func json(_ name: String, folder: String = "models") throws -> [String: Any] {
        let data = try Data(contentsOf: repository.appendingPathComponent("Tests/Fixtures/\(folder)/\(name)"))
        return try JSONSerialization.jsonObject(with: data) as! [String: Any]
    }

    static func int32Lists(_ value: Any?) -> [[Int32]] {
        (value as! [[Any]]).map { $0.map { Int32(($0 as! NSNumber).intValue) } }
    }

    static func floatList(_ value: Any?) -> [Float] { (value as! [Any]).map { ($0 as! NSNumber).floatValue } }

    /// The models are big: load each once per test process.
    static let miniLM: Result<(BertModel, WordPieceTokenizer), Error> = Result {
        let folder = try assets().miniLMFolder
        return (try BertModel(folder: folder), try WordPieceTokenizer(vocabularyFile: folder + "/vocab.txt", maxLength: 256))
    }

    static let smolLM2: Result<(LlamaModel, ByteLevelBPETokenizer), Error> = Result {
        let gguf = try GGUFFile(path: try assets().smolLM2File)
        return (try LlamaModel(gguf: gguf), try ByteLevelBPETokenizer(gguf: gguf))
    }
}
