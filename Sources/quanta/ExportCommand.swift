import ArgumentParser
import Foundation
import Quanta

struct ExportCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "export",
        abstract: "Write a model in a format other engines run: GGUF for llama.cpp, a Hugging Face folder for transformers, vLLM and sentence-transformers.",
        discussion: """
        --format gguf (LLaMA-class models such as smollm2, or a Hugging Face LLaMA folder): the source file's \
        metadata and tokenizer are copied (from a Hugging Face folder: built from config.json and tokenizer.json), \
        the Linear weights are written in --type with ggml's reference quantizer (the bytes llama.cpp's own \
        quantizer gives for the same FP32 rows), the token embedding (and an untied output head) in \
        --embedding-type, the norm weights in F32. Types: \(GGUFExport.types.keys.sorted().joined(separator: ", ")). \
        --rotate first folds a randomised Hadamard rotation of the residual stream into the weights (the RMSNorm \
        weights into the Linears that read them; the tied embedding becomes a separate output.weight): the FP32 \
        function is unchanged, the weights lose their outlier channels, and stock llama.cpp runs the file; with \
        --recipe, the recipe quantizes the rotated weights (q4_0-gptq: GPTQ calibrated on the rotated model). \
        --equalize (after the rotation, before the recipe) scales each Linear's input channels by AWQ's \
        activation-aware factors, chosen per group of Linears sharing an input to minimise the --type \
        quantization's output error on 1024 calibration tokens, and folds the inverse into the RMSNorm weights \
        and up's rows: exact in FP32, plain ggml blocks in the file. \
        With --recipe (or a quantized model folder as --model), the recipe's model is exported: weight-only \
        integer layers in groups of 32 are written with their own codes (GPTQ's, say) when they are a ggml \
        block type's (INT8 symmetric: q8_0; INT4 symmetric: q4_0; 4-bit asymmetric: q4_1); the other tensors \
        are quantized as without a recipe. The file is written atomically; quanta itself reads it back \
        (--model FILE.gguf).

        --format compressed-tensors: a Hugging Face folder that transformers (and vLLM, sentence-transformers) \
        load as it is. A LLaMA-class model becomes a LlamaForCausalLM folder (tokenizer.json built from the GGUF \
        vocabulary and merges, Q/K rows in transformers' rotate_half order), a BERT model (minilm) a BertModel \
        folder with its tokenizer and sentence-transformers files copied. FP32 without a recipe; with one, the \
        quantized Linears in compressed-tensors form, a config group per scheme: integer weight-only layers \
        pack-quantized (groups must divide every layer's inputs), W8A8 (INT8 symmetric weights, 8-bit asymmetric \
        per-token dynamic or INT8 symmetric per-tensor static inputs) int-quantized, FP8 E4M3 weights and inputs \
        (fp8-e4m3, fp8-e4m3-dynamic) float-quantized. quanta reads the folder back.
        """
    )

    @OptionGroup var model: ModelOption
    @Option(name: .long, help: "A recipe (built-in or a JSON file) applied first; for GGUF, weight-only with groups of 32.") var recipe: String?
    @OptionGroup var head: HeadOption
    @Option(name: .long, parsing: .upToNextOption, help: "Calibration text files for the recipe (default: Mansfield Park).") var calib: [String] = []
    @Option(name: .long, help: "gguf (a file for llama.cpp) or compressed-tensors (a Hugging Face folder; FP32 without a recipe).") var format: String
    @Option(name: .long, help: "GGUF: the Linear weights' type: \(GGUFExport.types.keys.sorted().joined(separator: ", ")) (default f32).") var type: String?
    @Option(name: .customLong("embedding-type"), help: "The token embedding's (and untied head's) type (default: --type; q8_0 for the 4-bit types, as llama.cpp keeps SmolLM2's tied head).") var embeddingType: String?
    @Flag(help: "Fold a randomised Hadamard rotation of the residual stream into the weights first.") var rotate = false
    @Flag(name: .customLong("search-clipping"), help: "Choose each block's clipping by MSE (still plain ggml blocks) instead of ggml's reference quantizer.") var searchClipping = false
    @Flag(help: "Scale each Linear's input channels by AWQ's activation-aware factors for --type (chosen on the calibration text), folded into the RMSNorm weights and up's rows.") var equalize = false
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
            let (model, source) = try exportedModel(gguf: gguf)
            let rotation = (rotate ? ", rotated (seed \(seed))" : "") + (equalize ? ", equalized (AWQ)" : "")
            switch (model, source) {
            case let (.llama(llama, tokenizer), .gguf(file)):
                if let gguf {
                    try gguf.write(llama, source: file, to: out)
                    let bytes = (try? FileManager.default.attributesOfItem(atPath: out)[.size] as? Int) ?? 0
                    return "wrote \(out): \(gguf.type.name) Linear weights, \(gguf.embeddingType.name) embeddings\(rotation)\(searchClipping ? ", clipping searched" : ""), \(String(format: "%.1f", Double(bytes) / 1e6)) MB"
                }
                try HuggingFaceExport.write(llama, tokenizer: tokenizer, source: file, to: out)
                return "wrote \(out): Hugging Face LlamaForCausalLM folder, \(Self.form(of: model))\(rotation)"
            case let (.bert(bert, _), .folder(folder)) where gguf == nil:
                try HuggingFaceExport.write(bert, source: folder, to: out)
                return "wrote \(out): Hugging Face BertModel folder (sentence-transformers), \(Self.form(of: model))"
            default:
                throw .invalidArgument("--format gguf takes a LLaMA-class model; export a BERT model with --format compressed-tensors")
            }
        }
        printLines([summary])
    }

    /// How the layers of an exported Hugging Face folder are stored.
    static func form(of model: LoadedModel) -> String {
        let quantized = model.allLinearLayers.compactMap { $0 as? FakeQuantizedLinear }
        guard let layer = quantized.first else { return "FP32" }
        if case .float? = layer.weightQuantizer { return "FP8 layers float-quantized (compressed-tensors)" }
        return layer.activationQuantizer != nil ? "W8A8 layers int-quantized (compressed-tensors)" : "weight-only layers pack-quantized (compressed-tensors)"
    }

    /// Where an exported model's metadata comes from: the GGUF file whose metadata (or, for a Hugging Face LLaMA
    /// folder, the metadata built from it) a LLaMA export copies; the folder whose tokenizer and
    /// sentence-transformers files a BERT export copies.
    enum Source { case gguf(GGUFFile), folder(String) }

    /// The model to export (FP32, rotated with --rotate, equalized with --equalize, then quantized by --recipe;
    /// or the quantized folder's)
    /// and its source.
    func exportedModel(gguf: GGUFExport?) throws(QuantaError) -> (LoadedModel, Source) {
        var reference = try ModelReference(model.model)
        var loaded: LoadedModel?
        if case let .quantized(folder) = reference {
            guard recipe == nil else { throw .invalidArgument("\(model.model) is already quantized; give its base model with --recipe") }
            loaded = try LoadedModel(reference)
            reference = try ModelReference(QuantizedModelFolder.description(of: folder).baseModel)
        }
        let base: LoadedModel, source: Source
        switch reference {
        case let .llama(path):
            let file = try GGUFFile(path: path)
            (base, source) = (.llama(try LlamaModel(gguf: file), try ByteLevelBPETokenizer(gguf: file)), .gguf(file))
        case let .huggingFaceLlama(folder):
            let hf = try HuggingFaceFolder(folder)
            let (llama, tokenizer) = try hf.llama()
            (base, source) = (.llama(llama, tokenizer), .gguf(hf.ggufMetadata(llama, tokenizer: tokenizer)))
        case let .bert(folder):
            (base, source) = (try LoadedModel(reference), .folder(folder))
        case .quantized:
            throw .invalidArgument("\(model.model) is based on another quantized folder; export from its base model")
        }
        var model = base
        if rotate {
            guard loaded == nil else {
                throw .invalidArgument("--rotate folds into FP32 weights; give the FP32 model (with --recipe to quantize the rotated weights), not a quantized folder")
            }
            model = try base.replacing(base.model.rotated(seed: seed))
        }
        if equalize {
            guard let type = gguf?.type, loaded == nil, case .llama = model else {
                throw .invalidArgument("--equalize scales the FP32 weights of a LLaMA-class model for a GGUF --type; give the FP32 model and --format gguf")
            }
            progress("equalizing for \(type.name): calibrating")
            let calibration = try model.calibrationSequences(EvaluationData(assets: AssetStore.locate()), files: calib).prefix(2)
            let statistics = try CalibrationRun.statistics(model.model, sequences: Array(calibration), sampleRows: 1024)
            model = try model.replacing(ActivationAwareScaling.fold(into: model.model, statistics: statistics, roundTrip: gguf!.roundTrip))
        }
        if let recipe {
            let recipe = try Recipe.named(recipe, quantizingHead: head.quantizeHead)
            loaded = try QuantizationPipeline().quantize(model, recipe: recipe, data: EvaluationData(assets: AssetStore.locate()),
                                                        calibrationFiles: calib, progress: progress)
        }
        return (loaded ?? model, source)
    }
}
