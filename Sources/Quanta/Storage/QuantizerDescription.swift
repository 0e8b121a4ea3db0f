/// A `TensorQuantizer` in the JSON of a quantized model folder. The numbers calibrated offline (static
/// activation scales, zero points, PEG groups) are tensors of the safetensors file, not JSON:
///
///     {"kind": "integer", "format": "int8", "scheme": "symmetric", "granularity": "per-channel"}
///     {"kind": "integer", "format": "uint4", "scheme": "asymmetric", "granularity": "per-group", "size": 128}
///     {"kind": "float", "format": "fp8-e4m3", "granularity": "per-row"}
///     {"kind": "mx", "format": "mxfp4-e2m1", "size": 32}
///     {"kind": "static-integer", "format": "int8", "scheme": "symmetric", "granularity": "per-tensor"}
///         L.input_scale F32 [groups], L.input_zero_point I32 [groups]
///         (per-embedding-group: also L.input_group I32 [in features], each column's group)
///     {"kind": "static-float", "format": "fp8-e4m3"}     L.input_scale F32 [1]
public struct QuantizerDescription: Codable, Sendable, Equatable {
    public var kind: String
    public var format: String
    public var scheme: String?
    public var granularity: String?
    /// Group size (per-group), group count (per-embedding-group) or MX block size.
    public var size: Int?

    public init(_ quantizer: TensorQuantizer) {
        switch quantizer {
        case let .integer(f, s, g):
            self.init(kind: "integer", format: f.description, scheme: s.rawValue, granularity: g)
        case let .staticInteger(p):
            self.init(kind: "static-integer", format: p.format.description, scheme: p.scheme.rawValue, granularity: p.granularity)
        case let .float(f, perRow):
            self.init(kind: "float", format: f.name, granularity: perRow ? "per-row" : "per-tensor")
        case let .staticFloat(f, _):
            self.init(kind: "static-float", format: f.name)
        case let .mx(f, block):
            self.init(kind: "mx", format: f.name, size: block)
        }
    }

    init(kind: String, format: String, scheme: String? = nil, granularity: Granularity) {
        let size: Int?
        switch granularity {
        case let .perGroup(n): size = n
        case let .perEmbeddingGroup(groups): size = groups.groupCount
        default: size = nil
        }
        self.init(kind: kind, format: format, scheme: scheme, granularity: "\(granularity)".split(separator: "(").first.map(String.init), size: size)
    }

    init(kind: String, format: String, scheme: String? = nil, granularity: String? = nil, size: Int? = nil) {
        self.kind = kind
        self.format = format
        self.scheme = scheme
        self.granularity = granularity
        self.size = size
    }

    /// The quantizer this describes; static kinds read their parameters for layer `layer` (with
    /// `columns` input features) from `file`.
    func quantizer(file: SafeTensorsFile, layer: String, columns: Int) throws(QuantaError) -> TensorQuantizer {
        func fail(_ reason: String) -> QuantaError { .invalidArgument("\(layer): \(reason) in \(self)") }
        switch kind {
        case "integer", "static-integer":
            guard format.hasPrefix("int") || format.hasPrefix("uint"), let bits = Int(format.drop { $0.isLetter }),
                  let integer = IntegerFormat(bits: bits, signed: format.hasPrefix("int")) else { throw fail("unknown integer format '\(format)'") }
            guard let scheme = scheme.flatMap(QuantizationScheme.init(rawValue:)) else { throw fail("scheme must be symmetric or asymmetric") }
            if kind == "integer" { return .integer(integer, scheme, try granularity(layer: layer)) }
            let name = layer + ".input"
            let g: Granularity
            if granularity == "per-embedding-group", let size, size > 0 {
                let columnGroups = try file.integers(name + "_group", expectedShape: [columns]).map(Int.init)
                g = .perEmbeddingGroup(try StoredWeight.wrapping(file, name + "_group") { () throws(QuantaError) in
                    try EmbeddingGroups(groupOfColumn: columnGroups, groupCount: size)
                })
            } else {
                g = try granularity(layer: layer)
            }
            let count = g.parameterCount(rows: 1, columns: columns)
            return .staticInteger(try StoredWeight.wrapping(file, name + "_scale") { () throws(QuantaError) in
                try QuantizationParameters(scales: file.floats(name + "_scale", expectedShape: [count]).values,
                                           zeroPoints: file.integers(name + "_zero_point", expectedShape: [count]),
                                           format: integer, scheme: scheme, granularity: g)
            })
        case "float", "static-float":
            guard let float = FloatFormat.named(format) else { throw fail("unknown float format '\(format)'") }
            if kind == "float" { return .float(float, perRow: granularity == "per-row") }
            let scale = try file.floats(layer + ".input_scale", expectedShape: [1]).values[0]
            guard scale.isFinite, scale > 0 else { throw .file(path: file.path, reason: "\(layer).input_scale is \(scale); it must be finite and positive") }
            return .staticFloat(float, scale: scale)
        case "mx":
            guard let mx = MXFormat.named(format) else { throw fail("unknown MX format '\(format)'") }
            guard let size, size > 0 else { throw fail("an MX block size must be positive") }
            return .mx(mx, blockSize: size)
        default:
            throw fail("unknown quantizer kind '\(kind)'")
        }
    }

    func granularity(layer: String) throws(QuantaError) -> Granularity {
        switch (granularity, size) {
        case ("per-tensor", _): return .perTensor
        case ("per-channel", _): return .perChannel
        case ("per-token", _): return .perToken
        case let ("per-group", size?) where size > 0: return .perGroup(size: size)
        default: throw .invalidArgument("\(layer): granularity \(granularity ?? "none") (size \(size.map(String.init) ?? "none")) is not valid")
        }
    }

    /// The tensors a static quantizer adds to the file for layer `layer`.
    static func entries(_ quantizer: TensorQuantizer, layer: String) -> [SafeTensorsWriter.Entry] {
        switch quantizer {
        case let .staticInteger(p):
            var entries: [SafeTensorsWriter.Entry] = [.init(name: layer + ".input_scale", shape: [p.scales.count], floats: p.scales),
                                                      .init(name: layer + ".input_zero_point", type: .i32, shape: [p.zeroPoints.count], bytes: StoredWeight.data(p.zeroPoints))]
            if case let .perEmbeddingGroup(groups) = p.granularity {
                entries.append(.init(name: layer + ".input_group", type: .i32, shape: [groups.groupOfColumn.count],
                                     bytes: StoredWeight.data(groups.groupOfColumn.map { Int32($0) })))
            }
            return entries
        case let .staticFloat(_, scale):
            return [.init(name: layer + ".input_scale", shape: [1], floats: [scale])]
        default:
            return []
        }
    }
}
