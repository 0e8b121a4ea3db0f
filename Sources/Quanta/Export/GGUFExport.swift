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
/// A weight-only quantized layer (a recipe's, GPTQ's) is written with its own codes when its integer
/// parameters are a ggml block type's (`blocks(of:as:)`): nothing is quantized twice.
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

    /// A Linear weight [out, in] quantized to `type` as the file stores it (rows in blocks along the input)
    /// and dequantized: what llama.cpp multiplies with.
    public func roundTrip(_ weight: Matrix<Float>) throws(QuantaError) -> Matrix<Float> {
        let bytes = try type.quantize(weight.storage, tensor: "weight", searchingClipping: searchesClipping)
        return try Matrix(rows: weight.rows, columns: weight.columns, storage: bytes.withUnsafeBytes { type.dequantize($0, count: weight.count) })
    }

    /// The GGUF tensors of `model`: each in its role's type, dims in GGUF order.
    public func tensors(of model: LlamaModel) throws(QuantaError) -> [GGUFWriter.Tensor] {
        try model.tensors().map { tensor throws(QuantaError) in
            let type: GGMLType = switch tensor.role {
            case .norm, .bias: .f32
            case .linear: self.type
            case .embedding, .head: embeddingType
            }
            let bytes: Data
            if let quantized = tensor.layer as? FakeQuantizedLinear {
                bytes = try Self.blocks(of: quantized, as: type)
            } else {
                bytes = try type.quantize(tensor.values, tensor: tensor.name, searchingClipping: searchesClipping)
            }
            return GGUFWriter.Tensor(name: tensor.name, dimensions: tensor.shape.reversed(), type: type, bytes: bytes)
        }
    }

    /// The blocks of `type` that hold `layer`'s integer weight codes, for weight-only layers quantized in groups
    /// of 32 along the input. With x~ = S (Q + Z), Q in [qmin, qmax] (`AffineQuantizer`):
    ///
    ///     Q8_0: INT8 symmetric             d = S, q = Q
    ///     Q4_0: INT4 symmetric             d = S, nibble = Q + 8                 (x~ = d (nibble - 8))
    ///     Q4_1: 4-bit (INT4 or UINT4)      d = S, nibble = Q - qmin, m = S (qmin + Z)   (x~ = d nibble + m)
    ///
    /// d and m are stored in half precision: exact when S is (relative error <= 2^-11 otherwise).
    public static func blocks(of layer: FakeQuantizedLinear, as type: GGMLType) throws(QuantaError) -> Data {
        guard layer.activationQuantizer == nil else {
            throw .invalidArgument("\(layer.name) quantizes its input, which a GGUF file cannot carry: export a weight-only recipe")
        }
        guard let p = layer.weightParameters, let codes = layer.weightCodes, p.granularity == .perGroup(size: 32), layer.inFeatures % 32 == 0 else {
            throw .invalidArgument("\(layer.name): only integer weights in groups of 32 along the input map onto ggml blocks (this layer: \(layer.weightQuantizer.map { "\($0)" } ?? "FP32"))")
        }
        let fits = switch type {
        case .q8_0: p.format == .int8 && p.scheme == .symmetric
        case .q4_0: p.format == .int4 && p.scheme == .symmetric
        case .q4_1: p.format.bits == 4
        default: false
        }
        guard fits else {
            throw .invalidArgument("\(layer.name): \(p.format) \(p.scheme) weights do not fit \(type.name) blocks (Q8_0: INT8 symmetric; Q4_0: INT4 symmetric; Q4_1: 4-bit asymmetric)")
        }
        let (rows, columns) = (layer.outFeatures, layer.inFeatures)
        var out = Data(capacity: rows * columns / 32 * type.bytesPerBlock)
        var block = [UInt8](repeating: 0, count: type.bytesPerBlock)
        for r in 0..<rows {
            for g in 0..<columns / 32 {
                let index = p.granularity.parameterIndex(row: r, column: g * 32, columns: columns)
                let (s, z) = (p.scales[index], p.zeroPoints[index])
                func code(_ j: Int) -> Int32 { codes[r, g * 32 + j] }
                func nibble(_ n: Int32) -> UInt8 { UInt8(clamping: Swift.max(0, Swift.min(15, n))) }
                withUnsafeBytes(of: GGMLType.half(s)) { block[0] = $0[0]; block[1] = $0[1] }
                switch type {
                case .q8_0:
                    for j in 0..<32 { block[2 + j] = UInt8(bitPattern: Int8(clamping: code(j))) }
                case .q4_0:
                    for j in 0..<16 { block[2 + j] = nibble(code(j) + 8) | nibble(code(j + 16) + 8) << 4 }
                default:
                    let low = Int32(p.format.min)
                    withUnsafeBytes(of: GGMLType.half(s * Float(low + z))) { block[2] = $0[0]; block[3] = $0[1] }
                    for j in 0..<16 { block[4 + j] = nibble(code(j) - low) | nibble(code(j + 16) - low) << 4 }
                }
                out.append(contentsOf: block)
            }
        }
        return out
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
