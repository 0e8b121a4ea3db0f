import Foundation

extension CompressedTensors {
    /// A compressed-tensors folder's `quantization_config`: each config group's scheme with its targets, and the
    /// modules it ignores.
    struct Configuration {
        let groups: [(scheme: Scheme, targets: [String])]
        let ignore: [String]
        let path: String

        /// nil without a quantization_config.
        init?(config: [String: Any], path: String) throws(QuantaError) {
            guard let quantization = config["quantization_config"] as? [String: Any] else { return nil }
            guard quantization["quant_method"] as? String == "compressed-tensors" else {
                throw .file(path: path, reason: "quantization_config: quant_method \(quantization["quant_method"] ?? "none") is not supported (compressed-tensors)")
            }
            guard let groups = quantization["config_groups"] as? [String: [String: Any]], !groups.isEmpty else {
                throw .file(path: path, reason: "quantization_config has no config_groups")
            }
            self.groups = try groups.sorted { $0.key < $1.key }.map { (name, group) throws(QuantaError) in
                (try Scheme(group: group, format: quantization["format"] as? String, path: path, name: name), group["targets"] as? [String] ?? [])
            }
            (ignore, self.path) = (quantization["ignore"] as? [String] ?? [], path)
        }

        /// The scheme of Linear module `module`: the first group with a target that matches it, nil when none
        /// does or an `ignore` entry does. A target matches a Linear by the class name "Linear", by the
        /// module's exact name, or as "re:" and a regular expression matched from the name's start (Python's
        /// re.match, as compressed-tensors matches).
        func scheme(for module: String) throws(QuantaError) -> Scheme? {
            func matches(_ target: String) throws(QuantaError) -> Bool {
                guard target.hasPrefix("re:") else { return target == module || target == "Linear" }
                guard let pattern = try? NSRegularExpression(pattern: String(target.dropFirst(3))) else {
                    throw .file(path: path, reason: "quantization_config: target '\(target)' is not a regular expression")
                }
                return pattern.firstMatch(in: module, options: .anchored, range: NSRange(module.startIndex..., in: module)) != nil
            }
            for target in ignore where try matches(target) && target != "Linear" { return nil }
            for group in groups {
                for target in group.targets where try matches(target) { return group.scheme }
            }
            return nil
        }
    }

    /// One config group's scheme: integer weights (pack-quantized, or int-quantized with 8-bit inputs) or FP8
    /// E4M3 weights (float-quantized, with FP8 inputs or none), and how each layer of it is read back.
    struct Scheme {
        enum Weights { case integer(bits: Int, symmetric: Bool, packed: Bool), fp8 }
        enum Inputs {
            /// Quantized at run time by this quantizer.
            case dynamic(TensorQuantizer)
            /// One scale per layer, the layer's `input_scale`.
            case staticPerTensor
        }

        let weights: Weights
        let granularity: Granularity
        let inputs: Inputs?

        /// Config group `name`; `format` is the top-level one, for groups that do not name their own.
        init(group: [String: Any], format topFormat: String?, path: String, name: String) throws(QuantaError) {
            func fail(_ reason: String) -> QuantaError { .file(path: path, reason: "quantization_config group \(name): \(reason)") }
            let supported = "integer weights of 2 to 8 bits (pack-quantized, int-quantized) or FP8 E4M3 weights (float-quantized)"
            guard let format = group["format"] as? String ?? topFormat, let arguments = group["weights"] as? [String: Any],
                  let bits = arguments["num_bits"] as? Int else {
                throw fail("supported: \(supported), with a format and weight arguments")
            }
            let symmetric = arguments["symmetric"] as? Bool ?? true
            switch (format, arguments["type"] as? String) {
            case ("pack-quantized", "int"), ("int-quantized", "int"):
                guard (2...8).contains(bits) else { throw fail("\(bits)-bit integer weights are not supported (2 to 8)") }
                weights = .integer(bits: bits, symmetric: symmetric, packed: format == "pack-quantized")
            case ("float-quantized", "float"):
                guard bits == 8, symmetric else { throw fail("float weights must be 8-bit (E4M3) and symmetric") }
                weights = .fp8
            default:
                throw fail("format \(format) with \(arguments["type"] ?? "untyped") weights is not supported (\(supported))")
            }
            switch arguments["strategy"] as? String {
            case "channel": granularity = .perChannel
            case "tensor": granularity = .perTensor
            case "group" where format != "float-quantized":
                guard let size = arguments["group_size"] as? Int, size > 0 else { throw fail("a group strategy needs a positive group_size") }
                granularity = .perGroup(size: size)
            default: throw fail("weight strategy \(arguments["strategy"] ?? "none") is not supported with \(format) (tensor, channel\(format == "float-quantized" ? "" : ", group"))")
            }
            guard let input = group["input_activations"] as? [String: Any] else { inputs = nil; return }
            switch (format, input["type"] as? String, input["num_bits"] as? Int, input["dynamic"] as? Bool, input["strategy"] as? String, input["symmetric"] as? Bool) {
            case ("int-quantized", "int", 8, true, "token", false): inputs = .dynamic(.integer(.uint8, .asymmetric, .perToken))
            case ("int-quantized", "int", 8, false, "tensor", true): inputs = .staticPerTensor
            case ("float-quantized", "float", 8, true, "token", true): inputs = .dynamic(.float(.e4m3, perRow: true))
            case ("float-quantized", "float", 8, true, "tensor", true): inputs = .dynamic(.float(.e4m3, perRow: false))
            case ("float-quantized", "float", 8, false, "tensor", true): inputs = .staticPerTensor
            default:
                throw fail("input activations \(input) are not supported with \(format) weights (int-quantized: 8-bit asymmetric per token dynamic, INT8 symmetric per tensor static; float-quantized: FP8 symmetric per token dynamic, per tensor dynamic or static)")
            }
        }

        /// Module `module`'s layer (named `name`, with `bias`) of `shape` [out, in], in the file's row order.
        func layer(module: String, name: String, shape: [Int], bias: [Float]? = nil, in folder: HuggingFaceFolder) throws(QuantaError) -> FakeQuantizedLinear {
            let (rows, columns) = (shape[0], shape[1])
            let weight: Matrix<Float>, weightQuantizer: TensorQuantizer, parameters: QuantizationParameters?
            switch weights {
            case .fp8:
                let perRow = granularity == .perChannel
                let values = try folder.floats(module + ".weight", shape: shape)
                let scales = try folder.floats(module + ".weight_scale", shape: perRow ? [rows, 1] : [1])
                weight = try Matrix(rows: rows, columns: columns, storage: values.indices.map { values[$0] * scales[perRow ? $0 / columns : 0] })
                (weightQuantizer, parameters) = (.float(.e4m3, perRow: perRow), nil)
            case let .integer(bits, symmetric, packed):
                (weight, parameters) = try integerWeight(module: module, shape: shape, bits: bits, symmetric: symmetric, packed: packed, in: folder)
                weightQuantizer = .integer(parameters!.format, parameters!.scheme, granularity)
            }
            var input: TensorQuantizer?
            switch inputs {
            case let .dynamic(quantizer)?: input = quantizer
            case .staticPerTensor?:
                let scale = try folder.floats(module + ".input_scale", shape: [1])
                if case .fp8 = weights { input = .staticFloat(.e4m3, scale: scale[0]) } else {
                    input = .staticInteger(try QuantizationParameters(scales: scale, zeroPoints: [0], format: .int8, scheme: .symmetric, granularity: .perTensor))
                }
            case nil: input = nil
            }
            return FakeQuantizedLinear(quantized: try FloatLinear(name: name, weight: weight, bias: bias),
                                       weight: weightQuantizer, activation: input, weightParameters: parameters)
        }

        /// An integer layer's dequantized weight, (c - zp) s, and its parameters in Quanta's signed format of the
        /// same width: x~ = S (Q + Z) with Q = c, Z = -zp.
        func integerWeight(module: String, shape: [Int], bits: Int, symmetric: Bool, packed: Bool,
                           in folder: HuggingFaceFolder) throws(QuantaError) -> (Matrix<Float>, QuantizationParameters) {
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
            let parameters = try QuantizationParameters(scales: scales, zeroPoints: zeroPoints.map { -$0 }, format: IntegerFormat(bits: bits, signed: true)!,
                                                        scheme: symmetric ? .symmetric : .asymmetric, granularity: granularity)
            var weight = Matrix<Float>(rows: rows, columns: columns, repeating: 0)
            for r in 0..<rows {
                for c in 0..<columns {
                    let i = granularity.parameterIndex(row: r, column: c, columns: columns)
                    weight[r, c] = Float(codes[r * columns + c] - zeroPoints[i]) * scales[i]
                }
            }
            return (weight, parameters)
        }
    }
}
