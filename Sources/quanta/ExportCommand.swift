import ArgumentParser
import Foundation
import Quanta

struct ExportCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "export",
        abstract: "Write a model in a format other engines run: GGUF for llama.cpp, a Hugging Face folder for transformers.",
        discussion: """
        --format gguf (LLaMA-class models such as smollm2, or a Hugging Face LLaMA folder): the source file's \
        metadata and tokenizer are copied (from a Hugging Face folder: built from config.json and tokenizer.json), \
        the Linear weights are written in --type with ggml's reference quantizer (the bytes llama.cpp's own \
        quantizer gives for the same FP32 rows), the token embedding (and an untied output head) in \
        --embedding-type, the norm weights in F32. Types: \(GGUFExport.types.keys.sorted().joined(separator: ", ")). \
        --rotate first folds a randomised Hadamard rotation of the residual stream into the weights (the RMSNorm \
        weights into the Linears that read them; the tied embedding becomes a separate output.weight): the FP32 \
        function is unchanged, the weights lose their outlier channels, and stock llama.cpp runs the file. \
        With --recipe (or a quantized model folder as --model), the recipe's model is exported: weight-only \
        integer layers in groups of 32 are written with their own codes (GPTQ's, say) when they are a ggml \
        block type's (INT8 symmetric: q8_0; INT4 symmetric: q4_0; 4-bit asymmetric: q4_1); the other tensors \
        are quantized as without a recipe. The file is written atomically; quanta itself reads it back \
        (--model FILE.gguf).
        """
    )

    @OptionGroup var model: ModelOption
    @Option(name: .long, help: "A weight-only recipe whose layers use groups of 32 (built-in or a JSON file), applied first.") var recipe: String?
    @OptionGroup var head: HeadOption
    @Option(name: .long, parsing: .upToNextOption, help: "Calibration text files for the recipe (default: Mansfield Park).") var calib: [String] = []
    @Option(name: .long, help: "gguf (a file for llama.cpp) or compressed-tensors (a Hugging Face folder; FP32 without a recipe).") var format: String
    @Option(name: .long, help: "GGUF: the Linear weights' type: \(GGUFExport.types.keys.sorted().joined(separator: ", ")) (default f32).") var type: String?
    @Option(name: .customLong("embedding-type"), help: "The token embedding's (and untied head's) type (default: --type; q8_0 for the 4-bit types, as llama.cpp keeps SmolLM2's tied head).") var embeddingType: String?
    @Flag(help: "Fold a randomised Hadamard rotation of the residual stream into the weights first.") var rotate = false
    @Flag(name: .customLong("search-clipping"), help: "Choose each block's clipping by MSE (still plain ggml blocks) instead of ggml's reference quantizer.") var searchClipping = false
    @Option(name: .long, help: "Seed of the rotation.") var seed: UInt64 = 1
    @Option(name: .long, help: "The file (gguf) or folder (compressed-tensors) to write.") var out: String

    func run() throws {
        guard ["gguf", "compressed-tensors"].contains(format) else {
            throw fail(.invalidArgument("unknown export format '\(format)' (supported: gguf, compressed-tensors)"), status: ExitStatus.unknownName)
        }
        func ggmlType(_ name: String) throws -> GGMLType {
            guard let type = GGUFExport.types[name.lowercased()] else {
                throw fail(.invalidArgument("unknown GGUF type '\(name)' (supported: \(GGUFExport.types.keys.sorted().joined(separator: ", ")))"),
                           status: ExitStatus.unknownName)
            }
            return type
        }
        let gguf = format == "gguf" ? GGUFExport(type: try ggmlType(type ?? "f32"), embeddingType: try embeddingType.map(ggmlType), searchesClipping: searchClipping) : nil
        let summary = try reportingErrors { () throws(QuantaError) -> String in
            let (llama, tokenizer, source) = try exportedModel()
            if let gguf {
                try gguf.write(llama, source: source, to: out)
                let bytes = (try? FileManager.default.attributesOfItem(atPath: out)[.size] as? Int) ?? 0
                return "wrote \(out): \(gguf.type.name) Linear weights, \(gguf.embeddingType.name) embeddings\(rotate ? ", rotated (seed \(seed))" : "")\(searchClipping ? ", clipping searched" : ""), \(String(format: "%.1f", Double(bytes) / 1e6)) MB"
            }
            try HuggingFaceExport.write(llama, tokenizer: tokenizer, source: source, to: out)
            let quantized = llama.allLinearLayers.compactMap { $0 as? FakeQuantizedLinear }
            let form = quantized.isEmpty ? "FP32" : quantized.contains { $0.activationQuantizer != nil } ? "W8A8 layers int-quantized (compressed-tensors)" : "weight-only layers pack-quantized (compressed-tensors)"
            return "wrote \(out): Hugging Face LlamaForCausalLM folder, \(form)\(rotate ? ", rotated (seed \(seed))" : "")"
        }
        printLines([summary])
    }

    /// The model to export (the recipe's, the quantized folder's, or FP32, rotated with --rotate), its tokenizer,
    /// and the GGUF file whose metadata it copies.
    func exportedModel() throws(QuantaError) -> (LlamaModel, ByteLevelBPETokenizer, GGUFFile) {
        var reference = try ModelReference(model.model)
        var loaded: LoadedModel?
        if case let .quantized(folder) = reference {
            guard recipe == nil else { throw .invalidArgument("\(model.model) is already quantized; give its base model with --recipe") }
            loaded = try LoadedModel(reference)
            reference = try ModelReference(QuantizedModelFolder.description(of: folder).baseModel)
        }
        var (llama, tokenizer, source): (LlamaModel, ByteLevelBPETokenizer, GGUFFile)
        switch reference {
        case let .llama(path):
            source = try GGUFFile(path: path)
            (llama, tokenizer) = (try LlamaModel(gguf: source), try ByteLevelBPETokenizer(gguf: source))
        case let .huggingFaceLlama(folder):
            let hf = try HuggingFaceFolder(folder)
            (llama, tokenizer) = try hf.llama()
            source = hf.ggufMetadata(llama, tokenizer: tokenizer)
        default:
            throw .invalidArgument("export takes a LLaMA-class model (smollm2, a .gguf file, a Hugging Face LLaMA folder or a quantized folder of one), not \(model.model)")
        }
        if let recipe {
            let recipe = try Recipe.named(recipe, quantizingHead: head.quantizeHead)
            loaded = try QuantizationPipeline().quantize(.llama(llama, tokenizer), recipe: recipe, data: EvaluationData(assets: AssetStore.locate()),
                                                        calibrationFiles: calib, progress: progress)
        }
        if case let .llama(quantized, quantizedTokenizer)? = loaded { (llama, tokenizer) = (quantized, quantizedTokenizer) }
        if rotate {
            guard loaded == nil else { throw .invalidArgument("--rotate folds into FP32 weights; it does not combine with a recipe here") }
            llama = try Rotation.fold(into: llama, seed: seed)
        }
        return (llama, tokenizer, source)
    }
}
