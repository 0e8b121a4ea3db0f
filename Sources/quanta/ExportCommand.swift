import ArgumentParser
import Foundation
import Quanta

struct ExportCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "export",
        abstract: "Write a model in a format other engines run: GGUF for llama.cpp.",
        discussion: """
        --format gguf (LLaMA-class models such as smollm2): the source file's metadata and tokenizer are copied, \
        the Linear weights are written in --type with ggml's reference quantizer (the bytes llama.cpp's own \
        quantizer gives for the same FP32 rows), the token embedding (and an untied output head) in \
        --embedding-type, the norm weights in F32. Types: \(GGUFExport.types.keys.sorted().joined(separator: ", ")). \
        --rotate first folds a randomised Hadamard rotation of the residual stream into the weights (the RMSNorm \
        weights into the Linears that read them; the tied embedding becomes a separate output.weight): the FP32 \
        function is unchanged, the weights lose their outlier channels, and stock llama.cpp runs the file. \
        The file is written atomically; quanta itself reads it back (--model FILE.gguf).
        """
    )

    @OptionGroup var model: ModelOption
    @Option(name: .long, help: "gguf") var format: String
    @Option(name: .long, help: "The Linear weights' type: \(GGUFExport.types.keys.sorted().joined(separator: ", ")).") var type: String
    @Option(name: .customLong("embedding-type"), help: "The token embedding's (and untied head's) type (default: --type; q8_0 for the 4-bit types, as llama.cpp keeps SmolLM2's tied head).") var embeddingType: String?
    @Flag(help: "Fold a randomised Hadamard rotation of the residual stream into the weights first.") var rotate = false
    @Flag(name: .customLong("search-clipping"), help: "Choose each block's clipping by MSE (still plain ggml blocks) instead of ggml's reference quantizer.") var searchClipping = false
    @Option(name: .long, help: "Seed of the rotation.") var seed: UInt64 = 1
    @Option(name: .long, help: "The file to write.") var out: String

    func run() throws {
        guard format == "gguf" else {
            throw fail(.invalidArgument("unknown export format '\(format)' (supported: gguf)"), status: ExitStatus.unknownName)
        }
        func ggmlType(_ name: String) throws -> GGMLType {
            guard let type = GGUFExport.types[name.lowercased()] else {
                throw fail(.invalidArgument("unknown GGUF type '\(name)' (supported: \(GGUFExport.types.keys.sorted().joined(separator: ", ")))"),
                           status: ExitStatus.unknownName)
            }
            return type
        }
        let export = GGUFExport(type: try ggmlType(type), embeddingType: try embeddingType.map(ggmlType), searchesClipping: searchClipping)
        let summary = try reportingErrors { () throws(QuantaError) -> String in
            guard case let .llama(path) = try ModelReference(model.model) else {
                throw .invalidArgument("GGUF export takes a LLaMA-class GGUF model (smollm2 or a .gguf file), not \(model.model)")
            }
            let source = try GGUFFile(path: path)
            var llama = try LlamaModel(gguf: source)
            if rotate { llama = try Rotation.fold(into: llama, seed: seed) }
            try export.write(llama, source: source, to: out)
            let bytes = (try? FileManager.default.attributesOfItem(atPath: out)[.size] as? Int) ?? 0
            return "wrote \(out): \(export.type.name) Linear weights, \(export.embeddingType.name) embeddings\(rotate ? ", rotated (seed \(seed))" : "")\(searchClipping ? ", clipping searched" : ""), \(String(format: "%.1f", Double(bytes) / 1e6)) MB"
        }
        printLines([summary])
    }
}
