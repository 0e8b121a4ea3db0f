import Foundation
import Testing

/// A wrong path, a file of the wrong kind or a missing tensor: non-zero exit and a message naming it.
@Suite struct ModelPathErrorTests {
    static func folder() throws -> URL {
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("quanta-cli-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
        return url
    }

    @Test func missingPathIsNamed() throws {
        let r = try quanta(["embed", "--model", "/no/such/model"], input: "hello\n")
        #expect(r.status == 1 && r.stdout.isEmpty && r.stderr.contains("/no/such/model"))
    }

    @Test func fileOfTheWrongKindIsNamed() throws {
        let dir = try Self.folder()
        let text = dir.appendingPathComponent("notes.txt")
        try Data("just text".utf8).write(to: text)
        let r = try quanta(["tokenize", "--model", text.path], input: "hello\n")
        #expect(r.status == 1 && r.stderr.contains("notes.txt") && r.stderr.contains("not a model"))
        let fake = dir.appendingPathComponent("fake.gguf")
        try Data("GGML and then some bytes".utf8).write(to: fake)
        let g = try quanta(["perplexity", "--model", fake.path, "--text", text.path])
        #expect(g.status == 1 && g.stderr.contains("fake.gguf") && g.stderr.contains("not a GGUF file"))
    }

    @Test func missingTensorIsNamed() throws {
        let dir = try Self.folder()
        let config = #"{"hidden_size": 4, "num_hidden_layers": 1, "num_attention_heads": 2, "intermediate_size": 8, "vocab_size": 10, "max_position_embeddings": 8, "type_vocab_size": 2}"#
        try Data(config.utf8).write(to: dir.appendingPathComponent("config.json"))
        // A valid safetensors file holding one unrelated tensor.
        let header = #"{"other.weight": {"dtype": "F32", "shape": [1], "data_offsets": [0, 4]}}"#
        var file = Data()
        withUnsafeBytes(of: UInt64(header.utf8.count).littleEndian) { file.append(contentsOf: $0) }
        file.append(Data(header.utf8))
        file.append(Data([0, 0, 128, 63]))
        try file.write(to: dir.appendingPathComponent("model.safetensors"))
        try Data("[PAD]\n[UNK]\n[CLS]\n[SEP]\n".utf8).write(to: dir.appendingPathComponent("vocab.txt"))
        let r = try quanta(["embed", "--model", dir.path], input: "hello\n")
        #expect(r.status == 1 && r.stderr.contains("model.safetensors") && r.stderr.contains("embeddings.word_embeddings.weight"))
    }
}
