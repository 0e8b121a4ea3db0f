import Foundation

/// Custom recipes from JSON, the same vocabulary as the built-in ones:
///
///     {"name": "mixed", "smoothquant_alpha": 0.5,
///      "rules": [{"pattern": "*.ffn_down", "fp32": true},
///                {"pattern": "*", "weight": {"format": "int8", "scheme": "symmetric", "granularity": "per-channel"},
///                 "activation": {"mode": "dynamic", "format": "int8", "granularity": "per-token"}}]}
///
/// weight formats: int2 ... int16 (scheme symmetric|asymmetric, granularity per-tensor|per-channel|per-group
/// with "group": N), fp8-e4m3 | fp8-e5m2 (granularity per-tensor|per-row), mxint8 | mxfp8 | mxfp6 | mxfp4
/// ("block": N, default 32). activation modes: dynamic (a weight-style quantizer; int granularity per-token),
/// static (format int8 with "calibrator": minmax | minmax-ema | percentile-99.99 | entropy | mse, or fp8-e4m3 |
/// fp8-e5m2), peg ("groups": N). A rule with "outlier_threshold": 6 is LLM.int8() (its weight and dynamic activation default to symmetric INT8). Rules are
/// matched in order; the first match wins; "fp32": true (or no weight and activation) keeps a layer in FP32.
/// A rule's "gptq": true (or {"act_order": bool, "block": N, "dampening": x, "clip_search": bool, "half_scales": bool,
/// "sequential": bool}) rounds its integer, MX or FP8 weight with GPTQ on the calibration Hessians (defaults: act-order,
/// blocks of 128, dampening 0.01, no clipping search, float32 scales, Hessians of the FP32 model; "sequential": those
/// of the model quantized block by block, `QuantizableModel.sequentiallyReplacingLinearLayers`).
/// "kv_cache": a quantizer for a decoder's KV cache (per token and head), e.g. {"format": "int8"}.
/// "quantize_head": true applies the rules to a decoder's output head (the layer "output") too.
/// "rotation_seed": N folds the randomised Hadamard rotation of that seed into a decoder's residual stream
/// first (`Rotation`), as `w8a8-static-rotated` does.
public enum RecipeFile {
    public static func load(_ path: String) throws(QuantaError) -> Recipe {
        let data = try MappedFile.read(path)
        guard let json = (try? JSONSerialization.jsonObject(with: data)) as? [String: Any] else {
            throw .file(path: path, reason: "not a JSON object")
        }
        func fail(_ reason: String) -> QuantaError { .file(path: path, reason: reason) }
        guard let rules = json["rules"] as? [[String: Any]], !rules.isEmpty || json["kv_cache"] != nil else {
            throw fail("'rules' must be a non-empty list of objects")
        }
        var parsed = [Recipe.Rule]()
        for (i, rule) in rules.enumerated() {
            guard let pattern = rule["pattern"] as? String else { throw fail("rule \(i): 'pattern' (a string) is missing") }
            if rule["fp32"] as? Bool == true { parsed.append(.init(pattern: pattern, spec: nil)); continue }
            let weight = try (rule["weight"] as? [String: Any]).map { w throws(QuantaError) in try quantizer(w, context: "rule \(i) weight", path: path) }
            let activation = try (rule["activation"] as? [String: Any]).map { a throws(QuantaError) in try activationScheme(a, context: "rule \(i) activation", path: path) }
            if let threshold = rule["outlier_threshold"] as? Double {
                parsed.append(.init(pattern: pattern, spec: .init(weight: weight, activation: activation, outlierThreshold: Float(threshold))))
                continue
            }
            let gptq = try gptqOptions(rule["gptq"], context: "rule \(i)", path: path)
            switch (gptq, weight) {
            case (nil, _), (_, .integer?), (_, .mx?), (_, .float?): break
            default: throw fail("rule \(i): 'gptq' needs an integer, float or MX 'weight' quantizer")
            }
            parsed.append(.init(pattern: pattern, spec: weight == nil && activation == nil ? nil : .init(weight: weight, activation: activation, gptq: gptq)))
        }
        let name = json["name"] as? String ?? URL(fileURLWithPath: path).deletingPathExtension().lastPathComponent
        let kvCache = try (json["kv_cache"] as? [String: Any]).map { c throws(QuantaError) in
            try quantizer(c, context: "kv_cache", path: path, tokenGranularity: true)
        }
        var recipe = Recipe(name: name, rules: parsed, smoothQuant: try smoothQuantStrength(json["smoothquant_alpha"], path: path), kvCache: kvCache)
        if let head = json["quantize_head"] {
            guard let head = head as? Bool else { throw fail("'quantize_head' must be true or false") }
            recipe.quantizesHead = head
        }
        if let seed = json["rotation_seed"] {
            guard let seed = seed as? Int, seed > 0 else { throw fail("'rotation_seed' must be a positive integer") }
            recipe.rotationSeed = UInt64(seed)
        }
        return recipe
    }

    /// A rule's `"gptq"`: absent or false (none), true (the defaults), or an object overriding them.
    static func gptqOptions(_ value: Any?, context: String, path: String) throws(QuantaError) -> GPTQ? {
        func fail(_ reason: String) -> QuantaError { .file(path: path, reason: "\(context): \(reason)") }
        switch value {
        case nil: return nil
        case let flag as Bool: return flag ? GPTQ() : nil
        case let options as [String: Any]:
            var gptq = GPTQ()
            if let order = options["act_order"] {
                guard let order = order as? Bool else { throw fail("gptq 'act_order' must be true or false") }
                gptq.actOrder = order
            }
            if let block = options["block"] {
                guard let block = block as? Int, block > 0 else { throw fail("gptq 'block' must be a positive integer") }
                gptq.blockSize = block
            }
            if let dampening = options["dampening"] {
                guard let dampening = dampening as? Double, dampening > 0, dampening.isFinite else { throw fail("gptq 'dampening' must be a positive number") }
                gptq.dampening = dampening
            }
            for (key, path) in [("clip_search", \GPTQ.searchesClipping), ("half_scales", \GPTQ.halfPrecisionScales), ("sequential", \GPTQ.sequential)] {
                guard let flag = options[key] else { continue }
                guard let flag = flag as? Bool else { throw fail("gptq '\(key)' must be true or false") }
                gptq[keyPath: path] = flag
            }
            return gptq
        default: throw fail("'gptq' must be true, false or an object")
        }
    }

    /// `"smoothquant_alpha"`: a number in [0, 1], or "auto".
    static func smoothQuantStrength(_ value: Any?, path: String) throws(QuantaError) -> SmoothQuant.Strength? {
        switch value {
        case nil: return nil
        case let text as String where text == "auto": return .automatic
        case let number as Double where (0...1).contains(number): return .alpha(Float(number))
        default: throw .file(path: path, reason: "smoothquant_alpha must be a number in [0, 1] or \"auto\"")
        }
    }

    static func quantizer(_ spec: [String: Any], context: String, path: String, tokenGranularity: Bool = false) throws(QuantaError) -> TensorQuantizer {
        func fail(_ reason: String) -> QuantaError { .file(path: path, reason: "\(context): \(reason)") }
        guard let format = spec["format"] as? String else { throw fail("'format' is missing") }
        let granularity = spec["granularity"] as? String ?? (tokenGranularity ? "per-token" : "per-channel")
        if format.hasPrefix("int"), let bits = Int(format.dropFirst(3)), let integer = IntegerFormat(bits: bits, signed: true) {
            guard let scheme = QuantizationScheme(rawValue: spec["scheme"] as? String ?? "symmetric") else { throw fail("scheme must be symmetric or asymmetric") }
            let g: Granularity
            switch granularity {
            case "per-tensor": g = .perTensor
            case "per-channel": g = .perChannel
            case "per-token": g = .perToken
            case "per-group":
                guard let size = spec["group"] as? Int, size > 0 else { throw fail("per-group needs a positive 'group'") }
                g = .perGroup(size: size)
            default: throw fail("unknown granularity '\(granularity)' (per-tensor, per-channel, per-token, per-group)")
            }
            return .integer(scheme == .asymmetric ? IntegerFormat(bits: bits, signed: false)! : integer, scheme, g)
        }
        if let float = FloatFormat.named(format), format.hasPrefix("fp8") {
            return .float(float, perRow: granularity != "per-tensor")
        }
        if let mx = MXFormat.named(format) ?? ["mxfp8": MXFormat.mxfp8e4m3, "mxfp6": .mxfp6e2m3, "mxfp4": .mxfp4e2m1][format] {
            return .mx(mx, blockSize: spec["block"] as? Int ?? 32)
        }
        throw fail("unknown format '\(format)' (int2..int16, fp8-e4m3, fp8-e5m2, mxint8, mxfp8, mxfp6, mxfp4)")
    }

    static func activationScheme(_ spec: [String: Any], context: String, path: String) throws(QuantaError) -> ActivationScheme {
        func fail(_ reason: String) -> QuantaError { .file(path: path, reason: "\(context): \(reason)") }
        switch spec["mode"] as? String ?? "dynamic" {
        case "dynamic":
            return .dynamic(try quantizer(spec, context: context, path: path, tokenGranularity: true))
        case "static":
            let calibratorName = spec["calibrator"] as? String ?? "minmax"
            let calibrator: Calibrator
            switch calibratorName {
            case "minmax": calibrator = .minMax(movingAverage: false)
            case "minmax-ema": calibrator = .minMax(movingAverage: true)
            case "entropy": calibrator = .entropy
            case "mse": calibrator = .mse
            case let p where p.hasPrefix("percentile-"):
                guard let value = Double(p.dropFirst("percentile-".count)), value > 0, value <= 100 else { throw fail("bad percentile '\(p)'") }
                calibrator = .percentile(value)
            default: throw fail("unknown calibrator '\(calibratorName)' (minmax, minmax-ema, percentile-N, entropy, mse)")
            }
            switch spec["format"] as? String ?? "int8" {
            case "int8": return .staticInt8(calibrator)
            case "fp8-e4m3": return .staticFloat(.e4m3, calibrator)
            case "fp8-e5m2": return .staticFloat(.e5m2, calibrator)
            case let other: throw fail("static activations are int8, fp8-e4m3 or fp8-e5m2, not '\(other)'")
            }
        case "peg":
            guard let groups = spec["groups"] as? Int, groups > 0 else { throw fail("peg needs a positive 'groups'") }
            return .staticPerEmbeddingGroup(groups: groups)
        case let other:
            throw fail("unknown activation mode '\(other)' (dynamic, static, peg)")
        }
    }
}
