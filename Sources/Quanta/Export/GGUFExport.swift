import Foundation

/// Writes a LLaMA model as a GGUF file that stock llama.cpp runs: the source file's metadata (architecture,
/// hyper-parameters, tokenizer) copied with each value's stored type, `general.file_type` set to the type
/// written, and the model's tensors (`LlamaModel.tensors()`) in ggml's block layouts:
///
///     Linear weights              `type`            (f32, f16, bf16, q8_0, q4_0, q4_1, mxfp4)
///     token_embd, output (untied) `embeddingType`   (default: `type`, but Q8_0 for the 4-bit types, as
///                                                     llama.cpp's quantizer keeps a tied head whose rows are
///                                                     not a multiple of 256 long, SmolLM2's 576)
///     norm weights                F32
///
/// By default each block type is ggml's reference quantizer byte for byte; `searchesClipping` picks each
/// block's clipping by MSE instead (`GGMLType.quantize(_:tensor:searchingClipping:)`), still plain blocks.
/// Whatever transform the model carries (a rotation folded into its weights, say) is baked into plain
/// weights, so nothing beyond llama.cpp's own graph is needed to run it.
public struct GGUFExport: Sendable {
    public var type: GGMLType
    public var embeddingType: GGMLType
    public var searchesClipping: Bool

    /// The types `quanta export --type` accepts, by their llama.cpp names.
    public static let types: [String: GGMLType] = [
        "f32": .f32, "f16": .f16, "bf16": .bf16, "q8_0": .q8_0, "q4_0": .q4_0, "q4_1": .q4_1, "mxfp4": .mxfp4,
    ]

    public init(type: GGMLType, embeddingType: GGMLType? = nil, searchesClipping: Bool = false) {
        self.type = type
        self.embeddingType = embeddingType ?? ([.q4_0, .q4_1, .mxfp4].contains(type) ? .q8_0 : type)
        self.searchesClipping = searchesClipping
    }

    /// llama.cpp's `llama_ftype` for a file whose Linear weights are `type` (`general.file_type`).
    static func fileType(_ type: GGMLType) -> UInt64 {
        switch type {
        case .f32: return 0
        case .f16: return 1
        case .q4_0: return 2
        case .q4_1: return 3
        case .q8_0: return 7
        case .bf16: return 32
        case .mxfp4: return 38
        }
    }

    /// The GGUF tensors of `model`: each in its role's type, dims in GGUF order.
    public func tensors(of model: LlamaModel) throws(QuantaError) -> [GGUFWriter.Tensor] {
        try model.tensors().map { tensor throws(QuantaError) in
            let type: GGMLType = switch tensor.role {
            case .norm: .f32
            case .linear: self.type
            case .embedding, .head: embeddingType
            }
            return GGUFWriter.Tensor(name: tensor.name, dimensions: tensor.shape.reversed(), type: type,
                                     bytes: try type.quantize(tensor.values, tensor: tensor.name, searchingClipping: searchesClipping))
        }
    }

    /// `source`'s metadata with the file type (and, for block types, the quantization version) of this export.
    public func metadata(from source: GGUFFile) -> [GGUFFile.MetadataEntry] {
        var entries = source.metadataEntries.filter { !["general.file_type", "general.quantization_version", "general.quantized_by"].contains($0.key) }
        entries.append(.init(key: "general.file_type", type: .uint32, value: .uint(Self.fileType(type))))
        if type.blockSize > 1 || embeddingType.blockSize > 1 {
            entries.append(.init(key: "general.quantization_version", type: .uint32, value: .uint(2)))
        }
        entries.append(.init(key: "general.quantized_by", type: .string, value: .string("Quanta")))
        return entries
    }

    /// Writes `model` with `source`'s metadata to `path` (atomically).
    public func write(_ model: LlamaModel, source: GGUFFile, to path: String) throws(QuantaError) {
        try GGUFWriter.write(metadata: metadata(from: source), tensors: tensors(of: model), to: path)
    }
}
