import Foundation

/// The compressed-tensors "pack-quantized" format (llm-compressor's, read by transformers and vLLM) for
/// weight-only integer layers, both ways. A Linear named M stores:
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
/// codes), or static per-tensor symmetric.
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
        guard let p = layer.weightParameters else {
            throw .invalidArgument("\(layer.name): only integer weights export as compressed-tensors (this layer: \(layer.weightQuantizer.map { "\($0)" } ?? "FP32 weights"))")
        }
        let weights = try weightArguments(p, layer: layer.name)
        guard let input = layer.activationQuantizer else {
            return ["weights": weights, "input_activations": NSNull(), "output_activations": NSNull(), "format": "pack-quantized"]
        }
        guard p.format == .int8, p.scheme == .symmetric else {
            throw .invalidArgument("\(layer.name): W8A8 compressed-tensors needs INT8 symmetric weights, not \(p.format) \(p.scheme)")
        }
        let arguments: [String: Any] = switch input {
        case let .integer(format, .asymmetric, .perToken) where format.bits == 8:
            ["num_bits": 8, "type": "int", "symmetric": false, "strategy": "token", "dynamic": true]
        case let .staticInteger(q) where q.format.bits == 8 && q.scheme == .symmetric && q.granularity == .perTensor:
            ["num_bits": 8, "type": "int", "symmetric": true, "strategy": "tensor", "dynamic": false]
        default:
            throw .invalidArgument("\(layer.name): inputs quantized as \(input) have no compressed-tensors equivalent here (supported: 8-bit asymmetric per-token dynamic, INT8 symmetric per-tensor static)")
        }
        return ["weights": weights, "input_activations": arguments, "output_activations": NSNull(), "format": "int-quantized"]
    }

    /// config.json's `quantization_config`: `group` over every Linear, the modules in `ignore` left out.
    static func quantizationConfig(group: [String: Any], ignore: [String]) -> [String: Any] {
        var group = group
        group["targets"] = ["Linear"]
        return ["config_groups": ["group_0": group], "quant_method": "compressed-tensors", "format": group["format"]!,
                "quantization_status": "compressed", "ignore": ignore, "kv_cache_scheme": NSNull(), "global_compression_ratio": NSNull()]
    }

    /// The offset from Quanta's codes to compressed-tensors' signed ones: qmin' - qmin.
    static func codeOffset(_ format: IntegerFormat) -> Int32 { -(1 << Int32(format.bits - 1)) - format.min }

    /// The tensors of quantized layer `layer` (`group(of:)` accepts it), stored under the module name `module`.
    static func entries(_ layer: FakeQuantizedLinear, module: String) throws(QuantaError) -> [SafeTensorsWriter.Entry] {
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
        if let input = layer.activationQuantizer {
            var out: [SafeTensorsWriter.Entry] = [
                .init(name: module + ".weight", type: .i8, shape: [rows, columns], bytes: Data(codes.map { UInt8(bitPattern: Int8(clamping: $0)) })),
                .init(name: module + ".weight_scale", shape: scaleShape, floats: scales),
            ]
            if case let .staticInteger(a) = input { out.append(.init(name: module + ".input_scale", shape: [1], floats: [a.scales[0]])) }
            return out
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

    /// The scheme of a compressed-tensors folder's config.json (nil without a quantization_config): one config
    /// group of integer weights, pack-quantized or int-quantized (with its input scheme).
    struct Scheme {
        let bits: Int, symmetric: Bool, granularity: Granularity
        let packed: Bool
        /// int-quantized inputs: dynamic 8-bit asymmetric per token, or static per-tensor symmetric (scale from the file).
        let dynamicInputs: Bool?

        init?(config: [String: Any], path: String) throws(QuantaError) {
            guard let quantization = config["quantization_config"] as? [String: Any] else { return nil }
            func fail(_ reason: String) -> QuantaError { .file(path: path, reason: "quantization_config: \(reason)") }
            guard quantization["quant_method"] as? String == "compressed-tensors" else {
                throw fail("quant_method \(quantization["quant_method"] ?? "none") is not supported (compressed-tensors)")
            }
            guard let groups = quantization["config_groups"] as? [String: [String: Any]], groups.count == 1, let group = groups.values.first,
                  let format = group["format"] as? String ?? quantization["format"] as? String, ["pack-quantized", "int-quantized"].contains(format),
                  let weights = group["weights"] as? [String: Any], weights["type"] as? String == "int",
                  let bits = weights["num_bits"] as? Int, (2...8).contains(bits) else {
                throw fail("supported: one config group of integer weights (2 to 8 bits), pack-quantized or int-quantized")
            }
            symmetric = weights["symmetric"] as? Bool ?? true
            (self.bits, packed) = (bits, format == "pack-quantized")
            switch weights["strategy"] as? String {
            case "channel": granularity = .perChannel
            case "tensor": granularity = .perTensor
            case "group":
                guard let size = weights["group_size"] as? Int, size > 0 else { throw fail("a group strategy needs a positive group_size") }
                granularity = .perGroup(size: size)
            default: throw fail("weight strategy \(weights["strategy"] ?? "none") is not supported (tensor, channel, group)")
            }
            if let input = group["input_activations"] as? [String: Any] {
                guard !packed, input["type"] as? String == "int", input["num_bits"] as? Int == 8 else {
                    throw fail("quantized inputs are supported as 8-bit integers of int-quantized layers")
                }
                switch (input["dynamic"] as? Bool, input["strategy"] as? String, input["symmetric"] as? Bool) {
                case (true, "token", false): dynamicInputs = true
                case (false, "tensor", true): dynamicInputs = false
                default: throw fail("input activations \(input) are not supported (dynamic asymmetric per token, static symmetric per tensor)")
                }
            } else {
                dynamicInputs = nil
            }
        }

        /// Module `module`'s layer (named `name`) of `shape` [out, in], in the file's row order.
        func layer(module: String, name: String, shape: [Int], in folder: HuggingFaceFolder) throws(QuantaError) -> FakeQuantizedLinear {
            let (rows, columns) = (shape[0], shape[1])
            let groups = switch granularity { case let .perGroup(size): (columns + size - 1) / size; default: 1 }
            let codes: [Int32]
            if packed {
                let stored = try folder.floats(module + ".weight_shape", shape: [2])
                guard stored == [Float(rows), Float(columns)] else {
                    throw .file(path: folder.folder, reason: "\(module).weight_shape is \(stored), expected \(shape)")
                }
                codes = unpack(try folder.integers(module + ".weight_packed", shape: [rows, (columns * bits + 31) / 32]), bits: bits, rows: rows, columns: columns)
            } else {
                codes = try folder.floats(module + ".weight", shape: shape).map { Int32($0) }
            }
            let scales = try folder.floats(module + ".weight_scale", shape: granularity == .perTensor ? [1] : [rows, groups])
            var zeroPoints = [Int32](repeating: 0, count: scales.count)
            if !symmetric {
                guard packed else { throw .file(path: folder.folder, reason: "\(module): asymmetric int-quantized weights are not supported") }
                let words = try folder.integers(module + ".weight_zero_point", shape: [(rows * bits + 31) / 32, groups])
                zeroPoints = unpackDown(words, bits: bits, rows: rows, columns: groups)
            }
            // x~ = (c - zp) s = S (Q + Z) with Quanta's signed format of the same width: Q = c, Z = -zp.
            let format = IntegerFormat(bits: bits, signed: true)!
            let parameters = try QuantizationParameters(scales: scales, zeroPoints: zeroPoints.map { -$0 }, format: format,
                                                        scheme: symmetric ? .symmetric : .asymmetric, granularity: granularity)
            var weight = Matrix<Float>(rows: rows, columns: columns, repeating: 0)
            for r in 0..<rows {
                for c in 0..<columns {
                    let i = granularity.parameterIndex(row: r, column: c, columns: columns)
                    weight[r, c] = Float(codes[r * columns + c] - zeroPoints[i]) * scales[i]
                }
            }
            var input: TensorQuantizer?
            if let dynamicInputs {
                input = dynamicInputs ? .integer(.uint8, .asymmetric, .perToken)
                    : .staticInteger(try QuantizationParameters(scales: folder.floats(module + ".input_scale", shape: [1]), zeroPoints: [0],
                                                                format: .int8, scheme: .symmetric, granularity: .perTensor))
            }
            return FakeQuantizedLinear(quantized: try FloatLinear(name: name, weight: weight),
                                       weight: .integer(format, symmetric ? .symmetric : .asymmetric, granularity),
                                       activation: input, weightParameters: parameters)
        }
    }
}
