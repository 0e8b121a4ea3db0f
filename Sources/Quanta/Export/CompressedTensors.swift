import Foundation

/// The compressed-tensors formats (llm-compressor's, read by transformers and vLLM), written here and read
/// by `CompressedTensors.Scheme`. "pack-quantized" holds weight-only integer layers. A Linear named M stores:
///
///     M.weight_packed      I32 [out, in b / 32]   codes c (signed b-bit, + 2^(b-1)), element e of a row at bit
///                                                 e b of the row's little-endian bit string
///     M.weight_scale       F32 [out, groups]      (1 group per channel: [out, 1])
///     M.weight_zero_point  I32 [ceil(out b / 32), groups]   asymmetric only: zp packed the same way down
///                                                 the rows
///     M.weight_shape       I64 [2]                [out, in]
///
/// with x~ = (c - zp) s. W8A8 layers (8-bit symmetric weights and quantized inputs) use "int-quantized":
///
///     M.weight             I8 [out, in]           the codes themselves
///     M.weight_scale       F32 [out, groups]
///     M.input_scale        F32 [1]                static per-tensor inputs only
///
/// with the input scheme in the config group: dynamic per-token asymmetric (compressed-tensors' s =
/// (max - min) / 255 over [min(x, 0), max(x, 0)], integer zero point: the grid of Quanta's UINT8 per-token
/// codes), or static per-tensor symmetric. FP8 E4M3 layers use "float-quantized":
///
///     M.weight             F8_E4M3 [out, in]      v, with w~ = v s
///     M.weight_scale       F32 [out, 1] or [1]    s = max |w| / 448 per channel or per tensor
///     M.input_scale        F32 [1]                static per-tensor inputs only
///
/// with FP8 E4M3 inputs, per token (dynamic) or per tensor (dynamic or static): x~ = s fp8(x / s).
///
/// Quanta's x~ = S (Q + Z) with Q in [qmin, qmax] maps to it by c = Q + qmin' - qmin
/// (qmin' = -2^(b-1), the signed range compressed-tensors uses), s = S, zp = qmin' - qmin - Z; for signed
/// formats c = Q and zp = -Z. Both dequantize to the same float32 values.
public enum CompressedTensors {
    /// The quantization arguments of `parameters`' scheme ("weights" of a config group).
    static func weightArguments(_ p: QuantizationParameters, layer: String) throws(QuantaError) -> [String: Any] {
        var arguments: [String: Any] = ["num_bits": p.format.bits, "type": "int", "symmetric": p.scheme == .symmetric, "dynamic": false]
        switch p.granularity {
        case .perChannel: arguments["strategy"] = "channel"
        case .perTensor: arguments["strategy"] = "tensor"
        case let .perGroup(size): (arguments["strategy"], arguments["group_size"]) = ("group", size)
        default: throw .invalidArgument("\(layer): \(p.granularity) weights have no compressed-tensors strategy (tensor, channel, group)")
        }
        return arguments
    }

    /// The config group of a quantized layer: its weight and input arguments and format (targets aside).
    static func group(of layer: FakeQuantizedLinear) throws(QuantaError) -> [String: Any] {
        let weights: [String: Any], format: String
        if case let .float(f, perRow)? = layer.weightQuantizer {
            guard f == .e4m3 else { throw .invalidArgument("\(layer.name): \(f.name) weights have no compressed-tensors format (FP8 is E4M3 there)") }
            weights = ["num_bits": 8, "type": "float", "symmetric": true, "dynamic": false, "strategy": perRow ? "channel" : "tensor"]
            format = "float-quantized"
        } else if let p = layer.weightParameters {
            weights = try weightArguments(p, layer: layer.name)
            format = layer.activationQuantizer == nil ? "pack-quantized" : "int-quantized"
            guard layer.activationQuantizer == nil || (p.format == .int8 && p.scheme == .symmetric) else {
                throw .invalidArgument("\(layer.name): W8A8 compressed-tensors needs INT8 symmetric weights, not \(p.format) \(p.scheme)")
            }
        } else {
            throw .invalidArgument("\(layer.name): only integer and FP8 E4M3 weights export as compressed-tensors (this layer: \(layer.weightQuantizer.map { "\($0)" } ?? "FP32 weights"))")
        }
        let inputs = try layer.activationQuantizer.map { q throws(QuantaError) in try inputArguments(q, weights: format, layer: layer.name) }
        return ["weights": weights, "input_activations": inputs ?? NSNull(), "output_activations": NSNull(), "format": format]
    }

    /// The input arguments of a layer whose weights have `format`: integer inputs for int-quantized weights,
    /// FP8 E4M3 ones for float-quantized weights.
    static func inputArguments(_ q: TensorQuantizer, weights format: String, layer: String) throws(QuantaError) -> [String: Any] {
        switch (q, format) {
        case let (.integer(f, .asymmetric, .perToken), "int-quantized") where f.bits == 8:
            return ["num_bits": 8, "type": "int", "symmetric": false, "strategy": "token", "dynamic": true]
        case let (.staticInteger(p), "int-quantized") where p.format.bits == 8 && p.scheme == .symmetric && p.granularity == .perTensor:
            return ["num_bits": 8, "type": "int", "symmetric": true, "strategy": "tensor", "dynamic": false]
        case let (.float(f, perRow), "float-quantized") where f == .e4m3:
            return ["num_bits": 8, "type": "float", "symmetric": true, "strategy": perRow ? "token" : "tensor", "dynamic": true]
        case let (.staticFloat(f, _), "float-quantized") where f == .e4m3:
            return ["num_bits": 8, "type": "float", "symmetric": true, "strategy": "tensor", "dynamic": false]
        default:
            throw .invalidArgument("\(layer): inputs quantized as \(q) have no compressed-tensors equivalent with \(format) weights (supported: INT8 weights with 8-bit asymmetric per-token dynamic or INT8 symmetric per-tensor static inputs; FP8 E4M3 weights with FP8 E4M3 per-token or per-tensor inputs, dynamic or static)")
        }
    }

    /// config.json's `quantization_config` of quantized layers grouped by scheme (`group(of:)`, with the module
    /// names of its layers), the modules in `ignore` left out: one group targets every Linear; several (a
    /// recipe whose rules differ per layer) each target their modules by name, and the top-level format is
    /// "mixed-precision" where the groups' formats differ.
    static func quantizationConfig(groups: [(group: [String: Any], modules: [String])], ignore: [String]) -> [String: Any] {
        var config = [String: Any]()
        for (i, entry) in groups.enumerated() {
            var group = entry.group
            group["targets"] = groups.count == 1 ? ["Linear"] : entry.modules
            config["group_\(i)"] = group
        }
        let formats = Set(groups.map { $0.group["format"] as! String })
        return ["config_groups": config, "quant_method": "compressed-tensors", "format": formats.count == 1 ? formats.first! : "mixed-precision",
                "quantization_status": "compressed", "ignore": ignore, "kv_cache_scheme": NSNull(), "global_compression_ratio": NSNull()]
    }

    /// The offset from Quanta's codes to compressed-tensors' signed ones: qmin' - qmin.
    static func codeOffset(_ format: IntegerFormat) -> Int32 { -(1 << Int32(format.bits - 1)) - format.min }

    /// The tensors of quantized layer `layer` (`group(of:)` accepts it), stored under the module name `module`.
    static func entries(_ layer: FakeQuantizedLinear, module: String) throws(QuantaError) -> [SafeTensorsWriter.Entry] {
        var inputScale = [SafeTensorsWriter.Entry]()
        switch layer.activationQuantizer {
        case let .staticInteger(a)?: inputScale = [.init(name: module + ".input_scale", shape: [1], floats: [a.scales[0]])]
        case let .staticFloat(_, scale)?: inputScale = [.init(name: module + ".input_scale", shape: [1], floats: [scale])]
        default: break
        }
        if case let .float(format, perRow)? = layer.weightQuantizer {
            let (codes, scales) = try floatCodes(layer, format: format, perRow: perRow)
            return [.init(name: module + ".weight", type: .f8e4m3, shape: [layer.outFeatures, layer.inFeatures], bytes: Data(codes)),
                    .init(name: module + ".weight_scale", shape: perRow ? [layer.outFeatures, 1] : [1], floats: scales)] + inputScale
        }
        guard let p = layer.weightParameters, let q = layer.weightCodes, p.format.bits <= 8 else {
            throw .invalidArgument("\(layer.name): only integer weights of 8 bits or fewer export as compressed-tensors")
        }
        let (rows, columns) = (layer.outFeatures, layer.inFeatures), offset = codeOffset(p.format)
        if case let .perGroup(size) = p.granularity, columns % size != 0 {
            throw .invalidArgument("\(layer.name): groups of \(size) do not divide its \(columns) inputs, which compressed-tensors requires (choose a group size that divides every layer's inputs, e.g. 64 or 32 for SmolLM2)")
        }
        // Per tensor: one scale, shape [1] (and no packed zero point: compressed-tensors packs them for channel
        // and group strategies only).
        let groups = p.granularity == .perTensor ? 1 : p.scales.count / rows, scaleRows = p.granularity == .perTensor ? 1 : rows
        guard groups * scaleRows == p.scales.count, p.granularity != .perTensor || p.scheme == .symmetric else {
            throw .invalidArgument("\(layer.name): \(p.scales.count) \(p.scheme) scales for \(rows) rows have no compressed-tensors layout")
        }
        let signed = -(Int32(1) << Int32(p.format.bits - 1))...(Int32(1) << Int32(p.format.bits - 1)) - 1
        if let bad = p.zeroPoints.first(where: { !signed.contains(offset - $0) }) {
            throw .invalidArgument("\(layer.name): zero point \(bad) has no \(p.format.bits)-bit compressed-tensors zero point (\(signed))")
        }
        let codes = q.storage.map { $0 + offset }, scales = p.scales, zeroPoints = p.zeroPoints.map { offset - $0 }
        let scaleShape = p.granularity == .perTensor ? [1] : [rows, groups]
        if layer.activationQuantizer != nil {
            return [.init(name: module + ".weight", type: .i8, shape: [rows, columns], bytes: Data(codes.map { UInt8(bitPattern: Int8(clamping: $0)) })),
                    .init(name: module + ".weight_scale", shape: scaleShape, floats: scales)] + inputScale
        }
        var out: [SafeTensorsWriter.Entry] = [
            .init(name: module + ".weight_packed", type: .i32, shape: [rows, (columns * p.format.bits + 31) / 32],
                  bytes: int32Data(pack(codes, bits: p.format.bits, rows: rows, columns: columns))),
            .init(name: module + ".weight_scale", shape: scaleShape, floats: scales),
            .init(name: module + ".weight_shape", type: .i64, shape: [2],
                  bytes: [Int64(rows), Int64(columns)].withUnsafeBufferPointer { Data(buffer: $0) }),
        ]
        if p.scheme == .asymmetric {
            out.append(.init(name: module + ".weight_zero_point", type: .i32, shape: [(rows * p.format.bits + 31) / 32, groups],
                             bytes: int32Data(packDown(zeroPoints, bits: p.format.bits, rows: rows, columns: groups))))
        }
        return out
    }

    /// The FP8 codes and scales behind a layer's dequantized `.float(format, perRow)` weight w~ = s decode(c):
    /// s = max |w~| / maxNormal per row (or tensor), as the quantizer chose it (its largest element is maxNormal
    /// s exactly), c = encode(w~ / s); checked to give w~ back element for element.
    static func floatCodes(_ layer: FakeQuantizedLinear, format: FloatFormat, perRow: Bool) throws(QuantaError) -> ([UInt8], [Float]) {
        let w = layer.quantized.weight, codec = ElementCodec(format, saturating: true)
        let scales = TensorQuantizer.floatScales(w, format: format, perRow: perRow), width = w.count / scales.count
        var codes = [UInt8]()
        codes.reserveCapacity(w.count)
        for (r, scale) in scales.enumerated() {
            let values = w.storage[r * width..<(r + 1) * width]
            let rowCodes = codec.encode(values.map { $0 / scale })
            guard zip(rowCodes, values).allSatisfy({ codec.decodeTable[Int($0)] * scale == $1 }) else {
                throw .invalidArgument("\(layer.name): the weight is not \(format.name) values times one scale per \(perRow ? "row" : "tensor") (row \(r))")
            }
            codes += rowCodes
        }
        return (codes, scales)
    }

    /// A [rows, columns] matrix of codes packed down its columns: [rows b / 32, columns] words (`pack` of the
    /// transpose, transposed back), as compressed-tensors packs zero points.
    static func packDown(_ codes: [Int32], bits: Int, rows: Int, columns: Int) -> [Int32] {
        let packedRows = (rows * bits + 31) / 32
        let packed = pack(transposed(codes, rows: rows, columns: columns), bits: bits, rows: columns, columns: rows)
        return transposed(packed, rows: columns, columns: packedRows)
    }

    /// The inverse of `packDown`.
    static func unpackDown(_ words: [Int32], bits: Int, rows: Int, columns: Int) -> [Int32] {
        let packedRows = (rows * bits + 31) / 32
        let unpacked = unpack(transposed(words, rows: packedRows, columns: columns), bits: bits, rows: columns, columns: rows)
        return transposed(unpacked, rows: columns, columns: rows)
    }

    /// A row-major [rows, columns] matrix transposed.
    static func transposed(_ values: [Int32], rows: Int, columns: Int) -> [Int32] {
        (0..<rows * columns).map { values[($0 % rows) * columns + $0 / rows] }
    }

    /// Rows of signed b-bit codes packed densely into int32 words: element e of a row at bit e b of the row's
    /// bit string (words little-endian, a code split across two words where b does not divide 32).
    public static func pack(_ codes: [Int32], bits: Int, rows: Int, columns: Int) -> [Int32] {
        let words = (columns * bits + 31) / 32, mask = (UInt64(1) << UInt64(bits)) - 1
        var out = [UInt32](repeating: 0, count: rows * words)
        for r in 0..<rows {
            for e in 0..<columns {
                let value = UInt64(bitPattern: Int64(codes[r * columns + e] + (1 << Int32(bits - 1)))) & mask
                let bit = e * bits, word = r * words + bit / 32
                out[word] |= UInt32(truncatingIfNeeded: value << UInt64(bit % 32))
                if bit % 32 + bits > 32 { out[word + 1] |= UInt32(truncatingIfNeeded: value >> UInt64(32 - bit % 32)) }
            }
        }
        return out.map { Int32(bitPattern: $0) }
    }

    /// The inverse of `pack`: signed b-bit codes [rows, columns].
    public static func unpack(_ words: [Int32], bits: Int, rows: Int, columns: Int) -> [Int32] {
        let perRow = (columns * bits + 31) / 32, mask = (UInt64(1) << UInt64(bits)) - 1
        var out = [Int32](repeating: 0, count: rows * columns)
        for r in 0..<rows {
            for e in 0..<columns {
                let bit = e * bits, word = r * perRow + bit / 32
                var value = UInt64(UInt32(bitPattern: words[word])) >> UInt64(bit % 32)
                if bit % 32 + bits > 32 { value |= UInt64(UInt32(bitPattern: words[word + 1])) << UInt64(32 - bit % 32) }
                out[r * columns + e] = Int32(value & mask) - (1 << Int32(bits - 1))
            }
        }
        return out
    }

    static func int32Data(_ values: [Int32]) -> Data { values.withUnsafeBufferPointer { Data(buffer: $0) } }
}
