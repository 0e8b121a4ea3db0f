/// The recipes Quanta ships, by name. Dynamic recipes need no calibration: their activation scales are
/// computed per token (or per block) at run time.
extension Recipe {
    /// Names of the built-in recipes.
    public static let builtInNames = ["w8a8-naive", "w8a8", "w8a8-rotated", "w8a8-block32", "w7a8", "w7a8-block32", "w8a8-smoothquant", "w8a8-static", "w8a8-static-rotated", "llm-int8", "w8a16", "w8a16-g128", "w4a16-g128", "w4a16-g128-awq", "w4a16-g128-gptq", "w4a16-g128-awq-gptq", "w4a16-g128-rotated-gptq", "w8a16-gptq", "w8a8-block32-gptq", "w7a8-block32-gptq", "q4_0-gptq", "q4_1-gptq", "q8_0-gptq", "w2a16-g64-seq", "ternary-g64-seq", "binary-g64", "fp8-e4m3", "fp8-e5m2",
                                      "fp8-e4m3-dynamic", "fp8-e5m2-dynamic", "peg", "mofq", "mxint8", "mxint8-gptq", "mxint8-rotated-gptq", "mxfp8", "mxfp6", "mxfp4", "kv-int8", "kv-fp8", "int-only"]

    /// A built-in recipe by name, or a custom recipe from a JSON file (a name ending in `.json`); with
    /// `quantizingHead` its rules also apply to a decoder's output head, and its name gains `+head`.
    public static func named(_ name: String, alpha: SmoothQuant.Strength = .alpha(0.5), quantizingHead: Bool = false) throws(QuantaError) -> Recipe {
        var recipe = name.hasSuffix(".json") ? try RecipeFile.load(name) : try builtIn(name, alpha: alpha)
        if quantizingHead && !recipe.quantizesHead {
            recipe.quantizesHead = true
            recipe.name += "+head"
        }
        return recipe
    }

    /// The built-in recipe called `name`; `alpha` is SmoothQuant's migration strength where it applies.
    public static func builtIn(_ name: String, alpha: SmoothQuant.Strength = .alpha(0.5)) throws(QuantaError) -> Recipe {
        let perChannelInt8 = TensorQuantizer.integer(.int8, .symmetric, .perChannel)
        // Asymmetric per-token INT8 activations: UINT8 codes with a zero point, the u8 x s8 operand pair of
        // the CPU's integer dot-product instructions (the zero point folds into the GEMM epilogue).
        let perTokenUInt8 = ActivationScheme.dynamic(.integer(.uint8, .asymmetric, .perToken))
        // The same per block of 32 along the reduction axis (llama.cpp's Q8 activations, MX blocks).
        let perBlockUInt8 = ActivationScheme.dynamic(.integer(.uint8, .asymmetric, .perGroup(size: 32)))
        switch name {
        case "w8a8-naive":
            // Per-tensor weights and per-tensor static min/max activations: the scheme that collapses.
            return Recipe(name: name, everyLayer: .init(weight: .integer(.int8, .symmetric, .perTensor), activation: .staticInt8(.minMax(movingAverage: false))))
        case "w8a8":
            // Per-channel symmetric weights, per-token dynamic asymmetric activations (the seed's accurate INT8
            // scheme with the zero point of oneDNN's u8s8 products).
            return Recipe(name: name, everyLayer: .init(weight: perChannelInt8, activation: perTokenUInt8))
        case "w8a8-rotated":
            // Per-token w8a8 with the two causes of its loss on held-out text removed (README, issue 12): the
            // residual stream's outlier channels, spread over every channel by the randomised Hadamard rotation
            // folded into the weights (decoders only), and the SwiGLU product's massive activations, which set the
            // scale of a whole 1536-wide row of ffn_down's input: there one scale per block of 32 along k (the
            // w8a8-block32 kernels). Every other input keeps per-token scales and the fastest kernels.
            var recipe = Recipe(name: name, rules: [Rule(pattern: "*.ffn_down", spec: .init(weight: perChannelInt8, activation: perBlockUInt8)),
                                                    Rule(pattern: "*", spec: .init(weight: perChannelInt8, activation: perTokenUInt8))])
            recipe.rotationSeed = 1
            return recipe
        case "w8a8-block32":
            // The w8a8 weights with each token's activations quantized in blocks of 32 along the reduction axis
            // (one UINT8 scale and zero point per block, as llama.cpp's Q8 activations and MX blocks): an
            // outlier channel then coarsens only its own block. Held-out worst case +0.60% against w8a8's
            // +2.33% (README). Integer kernels: each block's int32 partial sum rescaled in float (mode 3).
            return Recipe(name: name, everyLayer: .init(weight: perChannelInt8, activation: perBlockUInt8))
        case "w7a8", "w7a8-block32":
            // The w8a8 (or w8a8-block32) activations with INT7 per-channel weights: every code in [-63, 63], so
            // AVX2 multiplies them on its direct vpmaddubsw tile (no sign instruction, 1.25-1.37x the products
            // per second on Zen 3) and the product stays exact. Opt-in: the seventh bit costs accuracy (README).
            var spec = try builtIn(name.replacingOccurrences(of: "w7a8", with: "w8a8"), alpha: alpha).rules[0].spec!
            spec.weight = .integer(.int7, .symmetric, .perChannel)
            return Recipe(name: name, everyLayer: spec)
        case "w8a8-smoothquant":
            // SmoothQuant folded into the model, then the w8a8 scheme.
            return Recipe(name: name, everyLayer: .init(weight: perChannelInt8, activation: perTokenUInt8),
                          smoothQuant: alpha)
        case "peg":
            // Per-channel weights; inputs per-embedding-group static INT8 (6 range-sorted groups, as the
            // BERT outlier paper of seed 001 found enough).
            return Recipe(name: name, everyLayer: .init(weight: perChannelInt8, activation: .staticPerEmbeddingGroup(groups: 6)))
        case "mofq":
            // Per layer, INT8 or FP8 E4M3 (weights per channel, inputs per token), whichever represents the
            // layer's weight with the smaller squared error (MoFQ, seed 001).
            let int8 = LayerSpec(weight: perChannelInt8, activation: .dynamic(.integer(.int8, .symmetric, .perToken)))
            let fp8 = LayerSpec(weight: .float(.e4m3, perRow: true), activation: .dynamic(.float(.e4m3, perRow: true)))
            return Recipe(name: name, everyLayer: .init(weight: nil, activation: nil, alternatives: [int8, fp8]))
        case "w8a8-static-rotated":
            // The static scheme after a randomised Hadamard rotation of the residual stream and SmoothQuant.
            var recipe = Recipe(name: name, everyLayer: .init(weight: perChannelInt8, activation: .staticInt8(.mse)), smoothQuant: alpha)
            recipe.rotationSeed = 1
            return recipe
        case "llm-int8":
            // Vector-wise INT8 with outlier columns (|x| > 6) in FP32.
            return Recipe(name: name, everyLayer: .init(weight: nil, activation: nil, outlierThreshold: 6))
        case "w8a8-static":
            // Per-channel weights, per-tensor static activations with the MSE-optimal clipping threshold.
            return Recipe(name: name, everyLayer: .init(weight: perChannelInt8, activation: .staticInt8(.mse)))
        case "fp8-e4m3", "fp8-e5m2":
            // Per-tensor scales: weights from their max, activations from calibration (max |x| / maxNormal).
            let format: FloatFormat = name == "fp8-e4m3" ? .e4m3 : .e5m2
            return Recipe(name: name, everyLayer: .init(weight: .float(format, perRow: false), activation: .staticFloat(format, .minMax(movingAverage: false))))
        case "w8a16":
            // Asymmetric per-channel weights: the shipped weights are 4-bit blocks (min + step x code), whose
            // skewed rows an asymmetric grid follows twice as finely as a symmetric one.
            return Recipe(name: name, everyLayer: .init(weight: .integer(.uint8, .asymmetric, .perChannel), activation: nil))
        case "w8a16-g128":
            return Recipe(name: name, everyLayer: .init(weight: .integer(.int8, .symmetric, .perGroup(size: 128)), activation: nil))
        case "w4a16-g128":
            return Recipe(name: name, everyLayer: .init(weight: .integer(.int4, .asymmetric, .perGroup(size: 128)), activation: nil))
        case "w4a16-g128-awq", "w4a16-g128-awq-gptq":
            // AWQ: the input channels scaled by activation-aware factors searched for this weight quantizer
            // (folded into the norms and up's rows; `ActivationAwareScaling`), then round to nearest, or GPTQ
            // (as w4a16-g128-gptq) calibrated on the scaled model.
            let weight = TensorQuantizer.integer(.int4, .asymmetric, .perGroup(size: 128))
            var spec = Recipe.LayerSpec(weight: weight, activation: nil)
            if name.hasSuffix("-gptq") { spec.gptq = GPTQ(searchesClipping: true) }
            return Recipe(name: name, everyLayer: spec, smoothQuant: .activationAware(weight))
        case "w4a16-g128-gptq", "w8a16-gptq", "w8a8-block32-gptq", "w7a8-block32-gptq", "mxint8-gptq":
            // The RTN recipe of the same name's weights rounded by GPTQ (act-order, blocks of 128, 1% dampening)
            // on the calibration text's Hessians (MX: each block's shared exponent from the unchanged weight); at
            // 4 bits each group's scale is first shrunk to its best clipping range (on Persuasion, calibration-side
            // text: perplexity +13.6% -> +6.8% vs FP32, RTN +25.1%).
            var spec = try builtIn(String(name.dropLast("-gptq".count)), alpha: alpha).rules[0].spec!
            spec.gptq = GPTQ(searchesClipping: name == "w4a16-g128-gptq")
            return Recipe(name: name, everyLayer: spec)
        case "w4a16-g128-rotated-gptq", "mxint8-rotated-gptq":
            // The GPTQ recipe after the randomised Hadamard rotation of the residual stream (decoders): the
            // rotation spreads what GPTQ cannot fit from the calibration text's Hessians over every channel.
            // Chosen on calibration-side text of five genres, by the worst case (README, issue 12).
            var recipe = try builtIn(name.replacingOccurrences(of: "-rotated", with: ""), alpha: alpha)
            recipe.name = name
            recipe.rotationSeed = 1
            return recipe
        case "q4_0-gptq", "q4_1-gptq", "q8_0-gptq":
            // The grids of ggml's block types (groups of 32; half-precision scales) rounded by GPTQ with the
            // clipping search, for `quanta export --format gguf --type q4_0|q4_1|q8_0`: Q4_0 holds INT4 symmetric
            // codes, Q4_1 4-bit asymmetric ones, Q8_0 INT8 symmetric ones, exactly.
            let weight: TensorQuantizer = switch name {
            case "q4_0-gptq": .integer(.int4, .symmetric, .perGroup(size: 32))
            case "q4_1-gptq": .integer(.int4, .asymmetric, .perGroup(size: 32))
            default: .integer(.int8, .symmetric, .perGroup(size: 32))
            }
            return Recipe(name: name, everyLayer: .init(weight: weight, activation: nil,
                                                        gptq: GPTQ(searchesClipping: true, halfPrecisionScales: true)))
        case "w2a16-g64-seq", "ternary-g64-seq", "binary-g64":
            // ParetoQ's quantizers (meant for quantization-aware training: as PTQ they collapse), ranges per group of 64.
            let lowBit: LowBitWeight = name.hasPrefix("w2") ? .twoBit : name.hasPrefix("ternary") ? .ternary : .binary
            return Recipe(name: name, everyLayer: .init(weight: .integer(lowBit.deploymentFormat, .symmetric, .perGroup(size: 64)), activation: nil,
                                                        lowBit: lowBit))
        case "fp8-e4m3-dynamic":
            return Recipe(name: name, everyLayer: .init(weight: .float(.e4m3, perRow: true), activation: .dynamic(.float(.e4m3, perRow: true))))
        case "fp8-e5m2-dynamic":
            return Recipe(name: name, everyLayer: .init(weight: .float(.e5m2, perRow: true), activation: .dynamic(.float(.e5m2, perRow: true))))
        case "int-only":
            // I-BERT: every operator of a BERT encoder in integer arithmetic (`IntegerEncoder`), INT8 per-channel
            // weights and per-token UINT8 GEMM inputs with dyadic steps; static INT8 Q, K, V from calibration.
            var recipe = Recipe(name: name, rules: [])
            recipe.integerOnly = true
            return recipe
        case "kv-int8", "kv-fp8":
            // Only the KV cache (per token and head): INT8 symmetric or FP8 E4M3 with a per-row scale.
            let cache: TensorQuantizer = name == "kv-int8" ? .integer(.int8, .symmetric, .perToken) : .float(.e4m3, perRow: true)
            return Recipe(name: name, rules: [], kvCache: cache)
        case "mxint8", "mxfp8", "mxfp6", "mxfp4":
            let format: MXFormat = ["mxint8": .mxint8, "mxfp8": .mxfp8e4m3, "mxfp6": .mxfp6e2m3, "mxfp4": .mxfp4e2m1][name]!
            return Recipe(name: name, everyLayer: .init(weight: .mx(format, blockSize: 32), activation: .dynamic(.mx(format, blockSize: 32))))
        default:
            throw .unknownName(kind: "recipe", name: name, valid: builtInNames)
        }
    }
}
