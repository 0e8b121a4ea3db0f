/// What to do with each Linear layer of a model: rules matched in order against the layer's name
/// (TensorRT Model Optimizer style patterns, `*` matching any run of characters); the first match wins,
/// and a layer no rule matches, or one matched by a rule with no spec, stays in FP32. A decoder's output
/// head (the Linear `LlamaModel.headName`) stays in FP32 unless `quantizesHead`, as Model Optimizer
/// leaves `lm_head` alone by default; with it the head follows the rules like any other layer, as llama.cpp
/// quantizes `output.weight`.
public struct Recipe: Sendable, CustomStringConvertible {
    /// How one layer is quantized.
    public struct LayerSpec: Sendable {
        public var weight: TensorQuantizer?
        public var activation: ActivationScheme?
        /// LLM.int8()'s outlier threshold: input columns beyond it run in FP32; the rest takes `weight` and a
        /// dynamic `activation` (default: vector-wise symmetric INT8, per channel and per token).
        public var outlierThreshold: Float?
        /// Per-layer format choice (MoFQ): when not empty, the layer takes whichever of these specs
        /// quantizes its weight with the smallest mean squared error, and this spec's own fields are ignored.
        public var alternatives: [LayerSpec]
        /// GPTQ's error-compensating rounding of `weight` (an integer quantizer) on the calibration Hessian.
        public var gptq: GPTQ?
        /// ParetoQ's quantizer of two bits and below; `weight` is then its symmetric deployment grid
        /// (`LowBitWeight.deploymentFormat`) at the granularity of its ranges.
        public var lowBit: LowBitWeight?

        public init(weight: TensorQuantizer?, activation: ActivationScheme?, outlierThreshold: Float? = nil,
                    alternatives: [LayerSpec] = [], gptq: GPTQ? = nil, lowBit: LowBitWeight? = nil) {
            self.weight = weight
            self.activation = activation
            self.outlierThreshold = outlierThreshold
            self.alternatives = alternatives
            self.gptq = gptq
            self.lowBit = lowBit
        }

        /// The alternative with the smallest weight quantization error for `layer` (self without alternatives).
        public func resolved(for layer: FloatLinear) throws(QuantaError) -> LayerSpec {
            guard !alternatives.isEmpty else { return self }
            var best = alternatives[0], bestError = Float.infinity
            for candidate in alternatives {
                guard let q = candidate.weight else { continue }
                let approx = try q.fakeQuantize(layer.weight, tensor: layer.name + ".weight")
                let error = zip(approx.storage, layer.weight.storage).reduce(Float(0)) { $0 + ($1.0 - $1.1) * ($1.0 - $1.1) }
                if error < bestError { bestError = error; best = candidate }
            }
            return best
        }
    }

    public struct Rule: Sendable {
        public var pattern: String
        public var spec: LayerSpec?

        public init(pattern: String, spec: LayerSpec?) {
            self.pattern = pattern
            self.spec = spec
        }
    }

    public var name: String
    public var rules: [Rule]
    /// SmoothQuant's migration strength, when the recipe folds SmoothQuant into the model first.
    public var smoothQuant: SmoothQuant.Strength?
    /// How a decoder's KV cache stores keys and values (per token and head), or nil for FP32.
    public var kvCache: TensorQuantizer?
    /// Seed of the randomised Hadamard rotation folded into a decoder's residual stream first, if any.
    public var rotationSeed: UInt64?
    /// Whether the rules apply to a decoder's output head too.
    public var quantizesHead = false
    /// Whether the whole encoder runs in integer arithmetic (`IntegerEncoder`, the `int-only` recipe) instead
    /// of per-layer rules.
    public var integerOnly = false

    public init(name: String, rules: [Rule], smoothQuant: SmoothQuant.Strength? = nil, kvCache: TensorQuantizer? = nil) {
        self.name = name
        self.rules = rules
        self.smoothQuant = smoothQuant
        self.kvCache = kvCache
    }

    /// Every layer gets `spec`.
    public init(name: String, everyLayer spec: LayerSpec, smoothQuant: SmoothQuant.Strength? = nil, kvCache: TensorQuantizer? = nil) {
        self.init(name: name, rules: [Rule(pattern: "*", spec: spec)], smoothQuant: smoothQuant, kvCache: kvCache)
    }

    public var description: String { name }

    /// The spec for the layer called `layer`, or nil to keep it in FP32.
    public func spec(for layer: String) -> LayerSpec? {
        if layer == LlamaModel.headName && !quantizesHead { return nil }
        return rules.first { Self.matches(layer, pattern: $0.pattern) }?.spec
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

    /// Every spec the rules hold, alternatives included.
    var allSpecs: [LayerSpec] { rules.flatMap { rule in [rule.spec].compactMap { $0 } + (rule.spec?.alternatives ?? []) } }

    /// True when some layer's activation scale (or LLM.int8()'s set of FP32 outlier columns, or GPTQ's
    /// Hessian) comes from calibration.
    public var needsCalibration: Bool {
        allSpecs.contains { $0.activation?.needsCalibration == true || $0.outlierThreshold != nil || $0.gptq != nil }
    }

    /// True when some layer's weight is rounded by GPTQ (calibration then collects Gram matrices).
    public var usesGPTQ: Bool { allSpecs.contains { $0.gptq != nil } }

    /// True when some layer's GPTQ takes its Hessian from the model quantized block by block (`GPTQ.sequential`).
    public var calibratesSequentially: Bool { allSpecs.contains { $0.gptq?.sequential == true } }

    /// Replaces every FP32 Linear the recipe names with its fake-quantized version; `statistics` (from a
    /// `CalibrationRun`) provide the static activation scales.
    public func quantize(_ layer: any LinearLayer, statistics: [String: ActivationStatistics] = [:]) throws(QuantaError) -> any LinearLayer {
        guard let chosen = spec(for: layer.name), let float = layer as? FloatLinear else { return layer }
        let spec = try chosen.resolved(for: float)
        let activation = try spec.activation?.quantizer(statistics: statistics[layer.name], layer: layer.name)
        if let threshold = spec.outlierThreshold {
            guard spec.activation?.needsCalibration != true else { throw .invalidArgument("\(layer.name): LLM.int8() takes a dynamic activation quantizer") }
            return try OutlierDecomposedLinear(float, threshold: threshold, calibratedMax: statistics[layer.name]?.channelAbsMax,
                                               weight: spec.weight ?? .integer(.int8, .symmetric, .perChannel),
                                               activation: activation ?? .integer(.int8, .symmetric, .perToken))
        }
        if let lowBit = spec.lowBit, case let .integer(_, _, granularity)? = spec.weight {
            let parameters = try lowBit.initialParameters(for: float.weight, granularity: granularity)
            let weight = try FloatLinear(name: float.name, weight: lowBit.fakeQuantize(float.weight, parameters).value, bias: float.bias,
                                         inputScale: float.inputScale)
            return FakeQuantizedLinear(quantized: weight, weight: spec.weight, activation: activation, weightParameters: parameters)
        }
        if let gptq = spec.gptq, let weight = spec.weight {
            guard let hessian = statistics[layer.name]?.gram else {
                throw .invalidArgument("\(layer.name): GPTQ needs the layer's calibration Hessian; calibrate with Gram matrices")
            }
            return try gptq.quantize(float, weight: weight, activation: activation, hessian: hessian)
        }
        return try FakeQuantizedLinear(float, weight: spec.weight, activation: activation)
    }
}
