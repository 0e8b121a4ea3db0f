import Foundation
import QuantaKernels

/// A BERT encoder (MiniLM) whose every operator from the token ids to the last LayerNorm is integer arithmetic
/// (I-BERT), on the kernels of integer_kernels.c and the INT8 GEMM:
///
///     x = word_q[id] + position_q[t] + type_q[0]                       int32 tables, quantized once (scale S_e)
///     h = IntegerLayerNorm(x), requantized per channel to S_h          int32
///     per layer:
///       Q, K, V = requant(GEMM(u8(h), W)) to INT8 (static scales from calibration)
///       context = P V with P = IntegerSoftmax(Q K^T) (UINT8)            int32, scale S_v / 256
///       h = LN(requant(GEMM(u8(context), W_o)) + requant(h))           the residual add on integers
///       g = requant(i-GELU(requant(GEMM(u8(h), W_i))))
///       h = LN(requant(GEMM(u8(g), W_d)) + requant(h))
///     embedding = normalize(sum over the sequence's tokens of h)       the only float: pooling at the very end
///
/// u8(.) quantizes each token's row of int32 codes to UINT8 with a zero point and a dyadic step
/// (`qi_quantize_rows_u8`: the dynamic per-token scheme of the w8a8 recipe, in integers), so a GEMM's int32
/// product t is requantized per row and column with integer multipliers only (`qi_requantize`). Weights are INT8
/// symmetric per channel. The int32 streams between operators (embeddings, LayerNorm outputs, residual sums,
/// GELU's input and output) keep about 2^22 codes for the largest value the FP32 model reaches on the
/// calibration texts (2^26 for the LayerNorm outputs' bound |gamma| sqrt(n) + |beta|), with 16x headroom and
/// saturation past it. Every scale ratio is fixed when the encoder is built (the only float arithmetic, as in
/// the operators' constants); the forward pass touches integer tensors only.
public struct IntegerEncoder: Sendable {
    /// An INT8 Linear on row-quantized inputs whose product is requantized to the output codes:
    /// y = rne(t step_i M_c) + rne(b_c / S_out), M_c = S_in S_w[c] / S_out (`qi_requantize`).
    struct Linear: Sendable {
        let codes: Matrix<Int8>
        let weight: PackedInt8Weight
        let columnMantissas: [Int32], columnShifts: [Int32]
        let bias: [Int32]

        /// A layer from its stored integer parameters (the weight's float scales live in the multipliers).
        init(codes: Matrix<Int8>, columnMantissas: [Int32], columnShifts: [Int32], bias: [Int32]) throws(QuantaError) {
            (self.codes, self.columnMantissas, self.columnShifts, self.bias) = (codes, columnMantissas, columnShifts, bias)
            weight = try PackedInt8Weight(codes: codes, scales: [Float](repeating: 1, count: codes.rows))
        }

        /// Layers on the same input as one (their output channels side by side): Q, K and V in one product.
        init(stacking parts: [Linear]) throws(QuantaError) {
            try self.init(codes: Matrix(rows: parts.reduce(0) { $0 + $1.codes.rows }, columns: parts[0].codes.columns,
                                        storage: parts.flatMap(\.codes.storage)),
                          columnMantissas: parts.flatMap(\.columnMantissas), columnShifts: parts.flatMap(\.columnShifts),
                          bias: parts.flatMap(\.bias))
        }

        init(_ layer: any LinearLayer, inputScale: Double, outputScale: Double) throws(QuantaError) {
            guard let float = layer as? FloatLinear, float.inputScale == nil else {
                throw .invalidArgument("int-only: layer \(layer.name) is not an FP32 Linear (the recipe quantizes the FP32 model)")
            }
            let parameters = try AffineQuantizer.chooseParameters(for: float.weight, format: .int8, scheme: .symmetric,
                                                                  granularity: .perChannel, tensor: float.name + ".weight")
            codes = try AffineQuantizer.quantize(float.weight, with: parameters, as: Int8.self)
            weight = try PackedInt8Weight(codes: codes, scales: parameters.scales)
            var columns = [qi_multiplier]()
            for scale in parameters.scales {
                columns.append(try IntegerEncoder.multiplier(inputScale * Double(scale) / outputScale, bits: 15, float.name))
            }
            (columnMantissas, columnShifts) = (columns.map(\.mantissa), columns.map(\.shift))
            bias = (float.bias ?? [Float](repeating: 0, count: float.weight.rows)).map {
                Int32(clamping: Int64((Double($0) / outputScale).rounded(.toNearestOrEven)))
            }
        }
    }

    /// Integer LayerNorm (I-BERT's integer mean, variance, i-sqrt and normaliser; `qi_layernorm_rows`) with
    /// gamma and beta folded into the requantization to one output scale: g_c = gamma_c sqrt(n) / 2^22 / S_out,
    /// bias rne(beta_c / S_out). A channel whose g_c is below 2^-40 (MiniLM's last LayerNorm has a gamma of
    /// 1e-29) moves its output by under 2^-18 of a code: its multiplier is zero.
    struct Norm: Sendable {
        let mantissas: [Int32], shifts: [Int32]
        let bias: [Int32]

        init(mantissas: [Int32], shifts: [Int32], bias: [Int32]) { (self.mantissas, self.shifts, self.bias) = (mantissas, shifts, bias) }

        init(_ norm: LayerNorm, outputScale: Double, name: String) throws(QuantaError) {
            let n = Double(norm.weight.count)
            var mantissas = [Int32](), shifts = [Int32]()
            for gamma in norm.weight {
                let g = Double(gamma) * n.squareRoot() / Double(1 << 22) / outputScale
                let m = g.magnitude < 0x1p-40 ? qi_multiplier(mantissa: 0, shift: 1) : try IntegerEncoder.multiplier(g, bits: 31, name)
                mantissas.append(m.mantissa)
                shifts.append(m.shift)
            }
            (self.mantissas, self.shifts) = (mantissas, shifts)
            bias = norm.bias.map { Int32(clamping: Int64((Double($0) / outputScale).rounded(.toNearestOrEven))) }
        }

        /// The bound of the normalised output, max_c |gamma_c| sqrt(n) + |beta_c|.
        static func bound(_ norm: LayerNorm) -> Double {
            zip(norm.weight, norm.bias).map { Double($0.magnitude) * Double(norm.weight.count).squareRoot() + Double($1.magnitude) }.max() ?? 1
        }
    }

    struct Layer: Sendable {
        /// Q, K and V stacked: [3 hidden, hidden], INT8 outputs of their three static scales.
        let queryKeyValue: Linear, attentionOutput: Linear, intermediate: Linear, output: Linear
        let softmax: qi_softmax
        let attentionResidual: qi_multiplier, outputResidual: qi_multiplier
        let attentionNorm: Norm, outputNorm: Norm
        let gelu: qi_gelu, geluOutput: qi_multiplier, geluNarrowing: Int32
    }

    /// Where the FP32 model's values are observed for the static scales.
    enum Point: Int, CaseIterable { case query, key, value, attentionSum, gelu, outputSum }

    public let hiddenSize: Int, heads: Int
    /// Embedding tables as int32 codes of one scale, [vocabulary | positions | types, hidden] row-major.
    let word: [Int32], position: [Int32], type: [Int32]
    let embeddingNorm: Norm
    let layers: [Layer]
    public let threads: Int
    public internal(set) var path: KernelPath

    /// Bits of the int32 streams' codes for the calibrated maximum times the headroom.
    static let streamBits = 26.0, headroom = 16.0

    /// The integer encoder of FP32 `model`, its static scales from the FP32 model's values on `calibration`
    /// (token-id sequences, run in batches of 32).
    public init(_ model: BertModel, calibration: [[Int32]], threads: Int = ProcessInfo.processInfo.activeProcessorCount,
                path: KernelPath = .best) throws(QuantaError) {
        guard !calibration.isEmpty else { throw .invalidArgument("int-only: no calibration text") }
        let config = model.config, n = config.hiddenSize, d = n / config.heads
        // The int32 streams take their calibrated maxima (with headroom); Q, K and V, stored as INT8, take the
        // MSE-optimal clipping threshold of their histograms (`Calibrator.mse`, as w8a8-static's inputs): on the
        // calibration documents themselves, mean cosine to FP32 0.99365 against 0.99299 with the maxima.
        var maxima = [[Double]](repeating: [Double](repeating: 0, count: Point.allCases.count), count: config.layers)
        let attentionInputs: [Point] = [.query, .key, .value]
        var statistics = [[ActivationStatistics]](repeating: attentionInputs.map { _ in ActivationStatistics(channels: n) }, count: config.layers)
        var failure: QuantaError?
        for start in stride(from: 0, to: calibration.count, by: 32) {
            let batch = Array(calibration[start..<min(start + 32, calibration.count)])
            try model.validate(batch)
            _ = model.hiddenStates(batch) { layer, point, values in
                let largest = Double(values.storage.reduce(Float(0)) { max($0, $1.magnitude) })
                maxima[layer][point.rawValue] = max(maxima[layer][point.rawValue], largest)
                guard let index = attentionInputs.firstIndex(of: point) else { return }
                do throws(QuantaError) { try statistics[layer][index].observe(values, layer: "layer \(layer) \(point)") } catch { failure = failure ?? error }
            }
            if let failure { throw failure }
        }
        for layer in 0..<config.layers {
            for (index, point) in attentionInputs.enumerated() {
                maxima[layer][point.rawValue] = Double(Calibrator.mse.threshold(statistics[layer][index]))
            }
        }
        func streamScale(_ maximum: Double) -> Double { max(maximum * Self.headroom / Double(1 << Int(Self.streamBits)), 1e-6) }
        func int8Scale(_ maximum: Double) -> Double { max(maximum, 1e-6) / 127 }

        // Embedding tables as int32 codes of one scale with the sum of the three tables' largest magnitudes at 2^26.
        func largest(_ m: Matrix<Float>) -> Double { Double(m.storage.reduce(Float(0)) { max($0, $1.magnitude) }) }
        let embeddingScale = (largest(model.wordEmbeddings) + largest(model.positionEmbeddings) + largest(model.typeEmbeddings))
            / Double(1 << Int(Self.streamBits))
        func codes(_ m: Matrix<Float>) -> [Int32] { m.storage.map { Int32((Double($0) / embeddingScale).rounded(.toNearestOrEven)) } }
        word = codes(model.wordEmbeddings)
        position = codes(model.positionEmbeddings)
        type = codes(model.typeEmbeddings)

        var hiddenScale = Norm.bound(model.embeddingNorm) / Double(1 << Int(Self.streamBits))
        embeddingNorm = try Norm(model.embeddingNorm, outputScale: hiddenScale, name: "embeddings.LayerNorm")
        var layers = [Layer]()
        for (index, layer) in model.layers.enumerated() {
            let m = maxima[index]
            let (queryScale, keyScale, valueScale) = (int8Scale(m[Point.query.rawValue]), int8Scale(m[Point.key.rawValue]), int8Scale(m[Point.value.rawValue]))
            let contextScale = valueScale / 256
            let attentionSumScale = streamScale(m[Point.attentionSum.rawValue])
            let attentionNormScale = Norm.bound(layer.attentionNorm) / Double(1 << Int(Self.streamBits))
            let geluScale = streamScale(m[Point.gelu.rawValue])
            let outputSumScale = streamScale(m[Point.outputSum.rawValue])
            let outputNormScale = Norm.bound(layer.outputNorm) / Double(1 << Int(Self.streamBits))
            let softmax = try IntegerSoftmax(inputScale: queryScale * keyScale / Double(d).squareRoot())
            // A row of 512 keys (the most positions) must keep its exponentials' sum below the normaliser's 2^38.
            guard (softmax.qb * softmax.qb + softmax.qc) < Int64(1) << 29 else {
                throw .invalidArgument("int-only: layer \(index)'s attention score scale \(softmax.inputScale) is too fine for the integer softmax")
            }
            let gelu = try IntegerGELU(inputScale: geluScale)
            // i-GELU's codes reach 2^29 (the stream's bound) times |erf + q_1|: narrowed by `narrowing` bits to 32
            // bits before the 31-bit multiplier.
            let geluBound = Double(1 << 29) * (Double(gelu.q1.magnitude) + Double(1 << 23))
            let narrowing = max(0, Int(geluBound.exponent) + 1 - 32)
            let p = "layer \(index)"
            layers.append(Layer(
                queryKeyValue: try Linear(stacking: [Linear(layer.query, inputScale: hiddenScale, outputScale: queryScale),
                                                     Linear(layer.key, inputScale: hiddenScale, outputScale: keyScale),
                                                     Linear(layer.value, inputScale: hiddenScale, outputScale: valueScale)]),
                attentionOutput: try Linear(layer.attentionOutput, inputScale: contextScale, outputScale: attentionSumScale),
                intermediate: try Linear(layer.intermediate, inputScale: attentionNormScale, outputScale: geluScale),
                output: try Linear(layer.output, inputScale: geluScale, outputScale: outputSumScale),
                softmax: softmax.kernelConstants,
                attentionResidual: try Self.multiplier(hiddenScale / attentionSumScale, bits: 31, p + " attention residual"),
                outputResidual: try Self.multiplier(attentionNormScale / outputSumScale, bits: 31, p + " output residual"),
                attentionNorm: try Norm(layer.attentionNorm, outputScale: attentionNormScale, name: p + " attention LayerNorm"),
                outputNorm: try Norm(layer.outputNorm, outputScale: outputNormScale, name: p + " output LayerNorm"),
                gelu: gelu.kernelConstants,
                geluOutput: try Self.multiplier(gelu.outputScale / geluScale * Double(sign: .plus, exponent: narrowing, significand: 1),
                                                bits: 31, p + " GELU"),
                geluNarrowing: Int32(narrowing)))
            hiddenScale = outputNormScale
        }
        self.layers = layers
        (hiddenSize, heads, self.threads, self.path) = (n, config.heads, threads, path)
    }

    /// The same encoder on another kernel path (the integer kernels' AVX2 variants on every path but
    /// `portable`); the results are identical.
    public func running(on path: KernelPath) -> IntegerEncoder {
        var copy = self
        copy.path = path
        return copy
    }

    /// `real` as the dyadic number m 2^-s the integer kernels take, with a `bits`-bit mantissa |m| in
    /// [2^(bits - 1), 2^bits) (sign kept); throws unless 2^-60 <= |real| < 2^30.
    public static func dyadic(_ real: Double, bits: Int) throws(QuantaError) -> qi_multiplier {
        try multiplier(real, bits: bits, "dyadic multiplier")
    }

    /// real as m 2^-s with a `bits`-bit mantissa |m| in [2^(bits - 1), 2^bits) (sign kept).
    static func multiplier(_ real: Double, bits: Int, _ what: String) throws(QuantaError) -> qi_multiplier {
        guard real.isFinite, real != 0, real.magnitude >= 0x1p-60, real.magnitude < 0x1p30 else {
            throw .invalidArgument("int-only: \(what): scale ratio \(real) cannot be a dyadic multiplier")
        }
        var e = real.magnitude.exponent
        var m = (real.magnitude.significand * Double(1 << (bits - 1))).rounded(.toNearestOrEven)
        if m == Double(1 << bits) { m /= 2; e += 1 }
        return qi_multiplier(mantissa: Int32(real < 0 ? -m : m), shift: Int32(bits - 1 - Int(e)))
    }

    /// Bytes of the INT8 weights with their scales and the int32 biases.
    public var linearWeightBytes: Int {
        layers.reduce(0) { total, l in
            total + [l.queryKeyValue, l.attentionOutput, l.intermediate, l.output].reduce(0) {
                $0 + $1.weight.outFeatures * ($1.weight.inFeatures + 8)
            }
        }
    }
}
