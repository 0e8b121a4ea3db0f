/// What to do with each Linear layer of a model: rules matched in order against the layer's name
/// (TensorRT Model Optimizer style patterns, `*` matching any run of characters); the first match wins,
/// and a layer no rule matches, or one matched by a rule with no spec, stays in FP32.
public struct Recipe: Sendable, CustomStringConvertible {
    /// How one layer is quantized.
    public struct LayerSpec: Sendable {
        public var weight: TensorQuantizer?
        public var activation: TensorQuantizer?

        public init(weight: TensorQuantizer?, activation: TensorQuantizer?) {
            self.weight = weight
            self.activation = activation
        }
    }

    public struct Rule: Sendable {
        public var pattern: String
        public var spec: LayerSpec?
    }

    public let name: String
    public var rules: [Rule]

    public init(name: String, rules: [Rule]) {
        self.name = name
        self.rules = rules
    }

    /// Every layer gets `spec`.
    public init(name: String, everyLayer spec: LayerSpec) {
        self.init(name: name, rules: [Rule(pattern: "*", spec: spec)])
    }

    public var description: String { name }

    /// The spec for the layer called `layer`, or nil to keep it in FP32.
    public func spec(for layer: String) -> LayerSpec? {
        rules.first { Self.matches(layer, pattern: $0.pattern) }?.spec
    }

    /// Glob match with `*` (any run, possibly empty) and `?` (one character).
    public static func matches(_ name: String, pattern: String) -> Bool {
        let n = Array(name), p = Array(pattern)
        var i = 0, j = 0, star = -1, mark = 0
        while i < n.count {
            if j < p.count && (p[j] == "?" || p[j] == n[i]) { i += 1; j += 1 }
            else if j < p.count && p[j] == "*" { star = j; mark = i; j += 1 }
            else if star >= 0 { j = star + 1; mark += 1; i = mark }
            else { return false }
        }
        while j < p.count && p[j] == "*" { j += 1 }
        return j == p.count
    }

    /// Replaces every FP32 Linear the recipe names with its fake-quantized version.
    public func quantize(_ layer: any LinearLayer) throws(QuantaError) -> any LinearLayer {
        guard let spec = spec(for: layer.name), let float = layer as? FloatLinear else { return layer }
        return try FakeQuantizedLinear(float, weight: spec.weight, activation: spec.activation)
    }
}
