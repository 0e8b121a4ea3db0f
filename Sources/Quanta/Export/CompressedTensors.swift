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
/// with x~ = (c - zp) s. Quanta's x~ = S (Q + Z) with Q in [qmin, qmax] maps to it by c = Q + qmin' - qmin
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

    /// config.json's `quantization_config`: one group of every Linear with `weights`, the modules in `ignore` left out.
    static func quantizationConfig(weights: [String: Any], ignore: [String]) -> [String: Any] {
        ["config_groups": ["group_0": ["targets": ["Linear"], "weights": weights, "input_activations": NSNull(),
                                       "output_activations": NSNull(), "format": "pack-quantized"]],
         "quant_method": "compressed-tensors", "format": "pack-quantized", "quantization_status": "compressed",
         "ignore": ignore, "kv_cache_scheme": NSNull(), "global_compression_ratio": NSNull()]
    }

    /// The offset from Quanta's codes to compressed-tensors' signed ones: qmin' - qmin.
    static func codeOffset(_ format: IntegerFormat) -> Int32 { -(1 << Int32(format.bits - 1)) - format.min }

    /// The tensors of weight-only layer `layer`, stored under the module name `module`.
    static func entries(_ layer: FakeQuantizedLinear, module: String) throws(QuantaError) -> [SafeTensorsWriter.Entry] {
        guard layer.activationQuantizer == nil, let p = layer.weightParameters, p.format.bits <= 8 else {
            throw .invalidArgument("\(layer.name): only weight-only integer layers export as pack-quantized compressed-tensors")
        }
        let (rows, columns) = (layer.outFeatures, layer.inFeatures), offset = codeOffset(p.format)
        if case let .perGroup(size) = p.granularity, columns % size != 0 {
            throw .invalidArgument("\(layer.name): groups of \(size) do not divide its \(columns) inputs, which compressed-tensors requires (choose a group size that divides every layer's inputs, e.g. 64 or 32 for SmolLM2)")
        }
        let groups = p.scales.count / rows
        guard groups * rows == p.scales.count, p.granularity != .perTensor || p.scales.count == 1 else {
            throw .invalidArgument("\(layer.name): \(p.scales.count) scales for \(rows) rows")
        }
        let signed = -(Int32(1) << Int32(p.format.bits - 1))...(Int32(1) << Int32(p.format.bits - 1)) - 1
        if let bad = p.zeroPoints.first(where: { !signed.contains(offset - $0) }) {
            throw .invalidArgument("\(layer.name): zero point \(bad) has no \(p.format.bits)-bit compressed-tensors zero point (\(signed))")
        }
        let w = layer.quantized.weight
        var codes = [Int32](repeating: 0, count: rows * columns), scales = [Float](repeating: 0, count: rows * groups)
        var zeroPoints = [Int32](repeating: 0, count: rows * groups)
        for r in 0..<rows {
            for c in 0..<columns {
                let i = p.granularity.parameterIndex(row: r, column: c, columns: columns)
                codes[r * columns + c] = Int32((w[r, c] / p.scales[i]).rounded(.toNearestOrEven)) - p.zeroPoints[i] + offset
            }
            for g in 0..<groups {
                let i = p.granularity == .perTensor ? 0 : r * groups + g
                (scales[r * groups + g], zeroPoints[r * groups + g]) = (p.scales[i], offset - p.zeroPoints[i])
            }
        }
        var out: [SafeTensorsWriter.Entry] = [
            .init(name: module + ".weight_packed", type: .i32, shape: [rows, (columns * p.format.bits + 31) / 32],
                  bytes: int32Data(pack(codes, bits: p.format.bits, rows: rows, columns: columns))),
            .init(name: module + ".weight_scale", shape: [rows, groups], floats: scales),
            .init(name: module + ".weight_shape", type: .i64, shape: [2],
                  bytes: [Int64(rows), Int64(columns)].withUnsafeBufferPointer { Data(buffer: $0) }),
        ]
        if p.scheme == .asymmetric {
            let transposed = (0..<groups * rows).map { zeroPoints[($0 % rows) * groups + $0 / rows] }   // [groups, rows]
            let packed = pack(transposed, bits: p.format.bits, rows: groups, columns: rows)           // [groups, rows b / 32]
            let packedRows = (rows * p.format.bits + 31) / 32
            let back = (0..<packedRows * groups).map { packed[($0 % groups) * packedRows + $0 / groups] } // [rows b / 32, groups]
            out.append(.init(name: module + ".weight_zero_point", type: .i32, shape: [packedRows, groups], bytes: int32Data(back)))
        }
        return out
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

    /// The weight scheme of a pack-quantized folder's config.json (nil without a quantization_config).
    struct WeightScheme {
        let bits: Int, symmetric: Bool, granularity: Granularity

        init?(config: [String: Any], path: String) throws(QuantaError) {
            guard let quantization = config["quantization_config"] as? [String: Any] else { return nil }
            func fail(_ reason: String) -> QuantaError { .file(path: path, reason: "quantization_config: \(reason)") }
            guard quantization["quant_method"] as? String == "compressed-tensors" else {
                throw fail("quant_method \(quantization["quant_method"] ?? "none") is not supported (compressed-tensors)")
            }
            guard let groups = quantization["config_groups"] as? [String: [String: Any]], groups.count == 1, let group = groups.values.first,
                  (group["format"] as? String ?? quantization["format"] as? String) == "pack-quantized",
                  group["input_activations"] == nil || group["input_activations"] is NSNull,
                  let weights = group["weights"] as? [String: Any], weights["type"] as? String == "int",
                  let bits = weights["num_bits"] as? Int, (2...8).contains(bits) else {
                throw fail("supported: one config group of pack-quantized integer weights (2 to 8 bits) without activation quantization")
            }
            symmetric = weights["symmetric"] as? Bool ?? true
            self.bits = bits
            switch weights["strategy"] as? String {
            case "channel": granularity = .perChannel
            case "tensor": granularity = .perTensor
            case "group":
                guard let size = weights["group_size"] as? Int, size > 0 else { throw fail("a group strategy needs a positive group_size") }
                granularity = .perGroup(size: size)
            default: throw fail("weight strategy \(weights["strategy"] ?? "none") is not supported (tensor, channel, group)")
            }
        }

        /// Module `module`'s weight-only layer (named `name`) of `shape` [out, in], in the file's row order.
        func layer(module: String, name: String, shape: [Int], in folder: HuggingFaceFolder) throws(QuantaError) -> FakeQuantizedLinear {
            let (rows, columns) = (shape[0], shape[1])
            let groups = switch granularity { case .perTensor: 1; case .perChannel: 1; case let .perGroup(size): (columns + size - 1) / size; default: 1 }
            let stored = try folder.floats(module + ".weight_shape", shape: [2])
            guard stored == [Float(rows), Float(columns)] else {
                throw .file(path: folder.folder, reason: "\(module).weight_shape is \(stored), expected \(shape)")
            }
            let codes = unpack(try folder.integers(module + ".weight_packed", shape: [rows, (columns * bits + 31) / 32]), bits: bits, rows: rows, columns: columns)
            let scales = try folder.floats(module + ".weight_scale", shape: granularity == .perTensor ? [1] : [rows, groups])
            var zeroPoints = [Int32](repeating: 0, count: scales.count)
            if !symmetric {
                let packedRows = (rows * bits + 31) / 32
                let words = try folder.integers(module + ".weight_zero_point", shape: [packedRows, groups])
                let transposed = (0..<groups * packedRows).map { words[($0 % packedRows) * groups + $0 / packedRows] }   // [groups, packedRows]
                let unpacked = unpack(transposed, bits: bits, rows: groups, columns: rows)                             // [groups, rows]
                zeroPoints = (0..<rows * groups).map { unpacked[($0 % groups) * rows + $0 / groups] }
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
            return FakeQuantizedLinear(quantized: try FloatLinear(name: name, weight: weight),
                                       weight: .integer(format, symmetric ? .symmetric : .asymmetric, granularity),
                                       activation: nil, weightParameters: parameters)
        }
    }
}
