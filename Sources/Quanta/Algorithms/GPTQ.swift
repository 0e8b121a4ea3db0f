/// GPTQ (Frantar et al., 2022): weights quantized one input column at a time, each column's rounding error
/// spread over the columns not yet quantized through the inverse Hessian of the layer's reconstruction loss
/// ||X W^T - X Q^T||^2, H = X^T X summed over calibration tokens:
///
///     q_i = Q(w_i),   e = (w_i - q_i) / U[i, i],   w_j -= e U[i, j]   for every later column j
///
/// with U the upper Cholesky factor of (H + lambda I)^-1 = U^T U (lambda = `dampening` times the mean of
/// diag H). Columns run in blocks of `blockSize` whose updates to the later columns are applied at the end
/// of each block as one product (the paper's lazy batch updates). Without `actOrder`, columns run in order and
/// each group's scales and zero points are chosen from the weights as updated when the group's first column
/// is reached (the reference's dynamic groups). With `actOrder`, columns run in order of decreasing H[i, i]
/// (the inputs with the most energy first) and the parameters are those of the unchanged weight's groups
/// ("static groups"), so that per-group parameters keep the contiguous layout every kernel and file expects.
///
/// The Hessian needs many more calibration tokens than the layer has inputs: on SmolLM2's 1536-wide ffn_down,
/// 2048 tokens (16 windows of the default static calibration give 8192) fit Mansfield Park's inputs and raise
/// the error on Emma's above round-to-nearest, while 64 windows (32768 tokens) cut Emma's output error by
/// 30-70% (`calibrationWindows`).
public struct GPTQ: Sendable, Equatable {
    /// Windows of 512 tokens a decoder calibrates on when a recipe uses GPTQ (65536 tokens, 43 per input of
    /// the widest layer), instead of the 16 of static activation scales.
    public static let calibrationWindows = 128
    /// Of those, how many come from texts of other genres than the novel (`EvaluationData.calibrationGenres`):
    /// calibrated on Austen alone, 4-bit GPTQ closed 79-83% of round to nearest's gap on novels but 3-52% on
    /// news, code, documentation and numbers (README, issue 12).
    public static let genreWindows = 64

    public var actOrder: Bool
    public var blockSize: Int
    public var dampening: Double
    /// Shrink each scale to the clipping range that minimises its weights' H-weighted rounding error
    /// (`clippedParameters`) before the columns are rounded.
    public var searchesClipping: Bool
    /// Round each scale to IEEE half precision before the columns are rounded, so that a file storing
    /// half-precision scales (ggml's blocks) holds exactly the model GPTQ optimised.
    public var halfPrecisionScales: Bool
    /// Take each layer's Hessian from the model as quantized up to that layer's block (the reference
    /// implementation's layer-by-layer calibration), not from the FP32 model.
    public var sequential: Bool

    public init(actOrder: Bool = true, blockSize: Int = 128, dampening: Double = 0.01, searchesClipping: Bool = false,
                halfPrecisionScales: Bool = false, sequential: Bool = false) {
        self.actOrder = actOrder
        self.blockSize = blockSize
        self.dampening = dampening
        self.searchesClipping = searchesClipping
        self.halfPrecisionScales = halfPrecisionScales
        self.sequential = sequential
    }

    /// `layer` with its weight quantized by `weight` (an integer, MX or float quantizer) with GPTQ's error compensation,
    /// `hessian` = sum_t x_t x_t^T [inFeatures, inFeatures] row-major over the calibration inputs (after the
    /// layer's SmoothQuant input scale), and `activation` as a fake-quantized input.
    public func quantize(_ layer: FloatLinear, weight: TensorQuantizer, activation: TensorQuantizer?, hessian: [Float]) throws(QuantaError) -> FakeQuantizedLinear {
        let (rows, n) = (layer.outFeatures, layer.inFeatures)
        guard hessian.count == n * n else { throw .shapeMismatch("\(layer.name): Hessian of \(hessian.count) values for \(n) inputs") }
        guard blockSize > 0, dampening > 0 else { throw .invalidArgument("GPTQ needs a positive block size and dampening") }
        var h = hessian.map(Double.init)
        var w = layer.weight
        // Inputs that calibration never saw carry no information: their weights are zeroed, as in the paper.
        for i in 0..<n where h[i * n + i] == 0 {
            h[i * n + i] = 1
            for r in 0..<rows { w[r, i] = 0 }
        }
        let importance = (0..<n).map { Float(h[$0 * n + $0]) }
        var grid = try Grid(weight, for: w, gptq: self, importance: importance, tensor: layer.name + ".weight")
        let groupSize: Int? = switch weight { case let .integer(_, _, .perGroup(size)): size; default: nil }
        let order = actOrder ? (0..<n).sorted { (h[$0 * n + $0], $1) > (h[$1 * n + $1], $0) } : Array(0..<n)
        let u = try Self.inverseCholeskyFactor(Self.permuted(h, n: n, order: order), n: n, dampening: dampening, layer: layer.name)

        // Column-major working copy in the chosen order: column i of the permuted weight is row i of `columns`.
        var columns = [Float](repeating: 0, count: n * rows)
        for (i, c) in order.enumerated() { for r in 0..<rows { columns[i * rows + r] = w[r, c] } }
        var errors = [Float](repeating: 0, count: blockSize * rows)
        for start in stride(from: 0, to: n, by: blockSize) {
            let end = min(start + blockSize, n)
            for i in start..<end {
                if !actOrder, let size = groupSize, i % size == 0, case let .integer(parameters, _) = grid {
                    grid = Grid(try choosingGroup(i / size, size: size, of: columns, rows: rows, in: parameters, importance: importance,
                                                  tensor: layer.name + ".weight"))
                }
                let d = Float(u[i * n + i])
                for r in 0..<rows {
                    let value = columns[i * rows + r], q = grid.rounded(value, row: r, column: order[i], columns: n)
                    errors[(i - start) * rows + r] = (value - q) / d
                    columns[i * rows + r] = q
                }
                for j in (i + 1)..<end {
                    let factor = Float(u[i * n + j])
                    for r in 0..<rows { columns[j * rows + r] -= errors[(i - start) * rows + r] * factor }
                }
            }
            guard end < n else { break }
            // Later columns j >= end: columns[j] -= sum_{i in block} U[i, j] errors[i], one product [n - end, rows].
            let count = end - start
            var coupling = [Float](repeating: 0, count: (n - end) * count)
            for j in end..<n { for i in start..<end { coupling[(j - end) * count + (i - start)] = Float(u[i * n + j]) } }
            coupling.withUnsafeBufferPointer { cp in errors.withUnsafeBufferPointer { ep in columns.withUnsafeMutableBufferPointer { wp in
                BLAS.gemm(m: n - end, n: rows, k: count, alpha: -1, a: cp.baseAddress!, lda: count, b: ep.baseAddress!, ldb: rows,
                          beta: 1, c: wp.baseAddress! + end * rows, ldc: rows)
            }}}
        }
        var q = Matrix<Float>(rows: rows, columns: n, repeating: 0)
        for (i, c) in order.enumerated() { for r in 0..<rows { q[r, c] = columns[i * rows + r] } }
        if case .float = grid, try weight.fakeQuantize(q, tensor: layer.name + ".weight") != q {
            throw .invalidArgument("\(layer.name).weight: GPTQ's float weight is not on the grid its scales re-derive (a file could not store it)")
        }
        return FakeQuantizedLinear(quantized: try FloatLinear(name: layer.name, weight: q, bias: layer.bias, inputScale: layer.inputScale),
                                   weight: weight, activation: activation, weightParameters: grid.parameters)
    }

    /// How each weight is rounded, fixed before the columns are (integer groups without act-order excepted):
    /// integer parameters (`rne(w / S)` clamped, times S), MX blocks along each row with their shared
    /// exponents from the unchanged weight (X P(w / X), X = 2^e), or a float format with one scale per tensor or
    /// row from the unchanged weight (s P(w / s), saturating). A value GPTQ moves past its block's range
    /// saturates, so every result is on its block's grid, and quantizing it again by the MX rule (exponents
    /// re-derived from the result) gives back the same values (`GPTQTests.gridWeights`). A float scale is
    /// re-derived from the largest value, so each scale's peak weight keeps its nearest value +-maxNormal s
    /// whatever the columns before it did (its error is then spread like any other), and s is `stableScale`.
    enum Grid {
        case integer(QuantizationParameters, inverseScales: [Float])
        case mx(MXBlockQuantizer, exponents: [Int], blocksPerRow: Int)
        /// One scale per tensor or row, and the element index (row-major) and value of each scale's peak weight.
        case float(FloatFormat, scales: [Float], peaks: [(index: Int, value: Float)])

        init(_ parameters: QuantizationParameters) { self = .integer(parameters, inverseScales: parameters.scales.map { 1 / $0 }) }

        init(_ weight: TensorQuantizer, for w: Matrix<Float>, gptq: GPTQ, importance: [Float], tensor: String) throws(QuantaError) {
            switch weight {
            case let .integer(format, scheme, granularity):
                self.init(try gptq.chooseParameters(for: w, format: format, scheme: scheme, granularity: granularity, importance: importance, tensor: tensor))
            case let .mx(format, blockSize):
                try TensorQuantizer.checkFinite(w, tensor: tensor)
                let quantizer: MXBlockQuantizer
                do { quantizer = try MXBlockQuantizer(format: format, blockSize: blockSize) } catch { throw .format(error) }
                let blocks = (w.columns + blockSize - 1) / blockSize
                let exponents = (0..<w.rows * blocks).map { i in
                    let (r, b) = (i / blocks, i % blocks)
                    let amax = (b * blockSize..<min((b + 1) * blockSize, w.columns)).reduce(Float(0)) { max($0, w[r, $1].magnitude) }
                    return quantizer.sharedExponent(amax: amax)!   // finite: checked above
                }
                self = .mx(quantizer, exponents: exponents, blocksPerRow: blocks)
            case let .float(format, perRow):
                try TensorQuantizer.checkFinite(w, tensor: tensor)
                let width = perRow ? w.columns : w.count
                var scales = [Float](), peaks = [(index: Int, value: Float)]()
                for start in stride(from: 0, to: w.count, by: max(width, 1)) {
                    let peak = (start..<start + width).max { w.storage[$0].magnitude < w.storage[$1].magnitude }!
                    let scale = Self.stableScale(w.storage[peak].magnitude, format: format)
                    scales.append(scale)
                    peaks.append((peak, Self.nearest(w.storage[peak], format: format, scale: scale)))
                }
                self = .float(format, scales: scales, peaks: peaks)
            default:
                throw .invalidArgument("\(tensor): GPTQ takes an integer, float or MX weight quantizer, not \(weight)")
            }
        }

        /// The integer parameters, for the layer's stored codes (nil for MX and float grids).
        var parameters: QuantizationParameters? {
            if case let .integer(p, _) = self { return p }
            return nil
        }

        /// Q(value) of weight (row, column) of a matrix with `columns` columns.
        func rounded(_ value: Float, row: Int, column: Int, columns: Int) -> Float {
            switch self {
            case let .integer(p, inverse):
                let i = p.granularity.parameterIndex(row: row, column: column, columns: columns), z = p.zeroPoints[i], range = p.codeRange
                return p.scales[i] * Float(IntegerFormat.roundClamped(value * inverse[i], lower: range.lowerBound + z, upper: range.upperBound + z))
            case let .mx(quantizer, exponents, blocks):
                return quantizer.roundTrip(value, exponent: exponents[row * blocks + column / quantizer.blockSize])
            case let .float(format, scales, peaks):
                let s = scales.count == 1 ? 0 : row
                return peaks[s].index == row * columns + column ? peaks[s].value : Self.nearest(value, format: format, scale: scales[s])
            }
        }

        /// s P(x / s): the nearest value of `format` (saturating) at scale s, as `TensorQuantizer.roundTrip` rounds.
        static func nearest(_ value: Float, format: FloatFormat, scale: Float) -> Float {
            format.decode(format.encode(value * (1 / scale), saturating: true)) * scale
        }

        /// The scale of a float weight whose largest magnitude is `amax`: s = amax / maxNormal, moved to a fixed
        /// point of s -> (maxNormal s) / maxNormal in float arithmetic (at most a few ulps away), so that a
        /// weight whose largest value is maxNormal s gives back s when a file re-derives its scale.
        static func stableScale(_ amax: Float, format: FloatFormat) -> Float {
            guard amax > 0 else { return 1 }
            var scale = amax / format.maxNormal
            for _ in 0..<8 {
                let next = (format.maxNormal * scale) / format.maxNormal
                if next == scale { break }
                scale = next
            }
            return scale
        }
    }

    /// The min/max parameters of `w`, or with `searchesClipping` their `clippedParameters`; with
    /// `halfPrecisionScales` each scale rounded to the nearest half (at least the smallest positive one).
    func chooseParameters(for w: Matrix<Float>, format: IntegerFormat, scheme: QuantizationScheme, granularity: Granularity,
                          importance: [Float], tensor: String) throws(QuantaError) -> QuantizationParameters {
        var parameters = try AffineQuantizer.chooseParameters(for: w, format: format, scheme: scheme, granularity: granularity, tensor: tensor)
        if searchesClipping { parameters = try Self.clippedParameters(parameters, for: w, importance: importance) }
        guard halfPrecisionScales else { return parameters }
        let half = FloatFormat.float16
        return try QuantizationParameters(scales: parameters.scales.map { max(half.decode(half.encode($0)), half.decode(1)) },
                                          zeroPoints: parameters.zeroPoints, format: format, scheme: scheme, granularity: granularity)
    }

    /// `parameters` with each scale S shrunk to a S, a in {1, 0.99, ..., 0.5} (zero points kept, so the range
    /// [S (qmin + Z), S (qmax + Z)] shrinks toward 0), a chosen per scale to minimise its weights' error
    /// sum_c h_c (w_rc - Q(w_rc))^2, h_c = H[c, c] the input's energy (the diagonal of the layer loss).
    public static func clippedParameters(_ parameters: QuantizationParameters, for w: Matrix<Float>,
                                         importance: [Float]) throws(QuantaError) -> QuantizationParameters {
        let range = parameters.codeRange, count = parameters.scales.count
        var best = [Float](repeating: .infinity, count: count), scales = parameters.scales
        for step in 0...50 {
            let shrink = 1 - Float(step) / 100
            var error = [Float](repeating: 0, count: count)
            for r in 0..<w.rows {
                for c in 0..<w.columns {
                    let p = parameters.granularity.parameterIndex(row: r, column: c, columns: w.columns)
                    let s = parameters.scales[p] * shrink, z = parameters.zeroPoints[p], value = w[r, c]
                    let q = s * Float(IntegerFormat.roundClamped(value * (1 / s), lower: range.lowerBound + z, upper: range.upperBound + z))
                    error[p] += importance[c] * (value - q) * (value - q)
                }
            }
            for p in 0..<count where error[p] < best[p] { (best[p], scales[p]) = (error[p], parameters.scales[p] * shrink) }
        }
        return try QuantizationParameters(scales: scales, zeroPoints: parameters.zeroPoints, format: parameters.format,
                                          scheme: parameters.scheme, granularity: parameters.granularity)
    }

    /// `parameters` with group `group`'s scale and zero point, in every row, chosen from the current values of
    /// its columns (`columns` holds column c's `rows` values at c * rows, in natural order).
    func choosingGroup(_ group: Int, size: Int, of columns: [Float], rows: Int, in parameters: QuantizationParameters,
                       importance: [Float], tensor: String) throws(QuantaError) -> QuantizationParameters {
        let n = columns.count / rows, first = group * size, width = min(size, n - first)
        var slice = Matrix<Float>(rows: rows, columns: width, repeating: 0)
        for c in 0..<width { for r in 0..<rows { slice[r, c] = columns[(first + c) * rows + r] } }
        let chosen = try chooseParameters(for: slice, format: parameters.format, scheme: parameters.scheme, granularity: .perChannel,
                                          importance: Array(importance[first..<(first + width)]), tensor: tensor)
        var (scales, zeroPoints) = (parameters.scales, parameters.zeroPoints)
        let groups = (n + size - 1) / size
        for r in 0..<rows {
            scales[r * groups + group] = chosen.scales[r]
            zeroPoints[r * groups + group] = chosen.zeroPoints[r]
        }
        return try QuantizationParameters(scales: scales, zeroPoints: zeroPoints, format: parameters.format, scheme: parameters.scheme,
                                          granularity: parameters.granularity)
    }

    /// P H P^T for the permutation `order` (row i of the result is row order[i] of h).
    static func permuted(_ h: [Double], n: Int, order: [Int]) -> [Double] {
        var p = [Double](repeating: 0, count: n * n)
        for i in 0..<n { for j in 0..<n { p[i * n + j] = h[order[i] * n + order[j]] } }
        return p
    }

    /// The upper triangular U with (H + lambda I)^-1 = U^T U, lambda = dampening * mean(diag H), row-major.
    /// With H + lambda I = R R^T for an upper triangular R (Cholesky run from the last row up), U = R^-1.
    /// Throws, naming the layer, when the matrix is not positive definite.
    public static func inverseCholeskyFactor(_ h: [Double], n: Int, dampening: Double, layer: String) throws(QuantaError) -> [Double] {
        let lambda = dampening * (0..<n).reduce(0) { $0 + h[$1 * n + $1] } / Double(max(n, 1))
        var r = h
        for i in 0..<n { r[i * n + i] += lambda }
        // R R^T = A, R upper: for j = n-1 down to 0, R[j, j] = sqrt(A[j, j] - sum_{k > j} R[j, k]^2) and
        // R[i, j] = (A[i, j] - sum_{k > j} R[i, k] R[j, k]) / R[j, j] for i < j; entries below the diagonal end 0.
        try r.withUnsafeMutableBufferPointer { (a: inout UnsafeMutableBufferPointer<Double>) throws(QuantaError) in
            for j in stride(from: n - 1, through: 0, by: -1) {
                var diagonal = a[j * n + j]
                for k in (j + 1)..<max(n, j + 1) { diagonal -= a[j * n + k] * a[j * n + k] }
                guard diagonal > 0, diagonal.isFinite else {
                    throw .invalidArgument("\(layer): the calibration Hessian is not positive definite at input \(j) (GPTQ)")
                }
                let pivot = diagonal.squareRoot()
                a[j * n + j] = pivot
                for i in 0..<j {
                    var sum = a[i * n + j]
                    for k in (j + 1)..<max(n, j + 1) { sum -= a[i * n + k] * a[j * n + k] }
                    a[i * n + j] = sum / pivot
                }
                for i in (j + 1)..<max(n, j + 1) { a[i * n + j] = 0 }
            }
        }
        // U = R^-1, upper: U[j, j] = 1 / R[j, j], U[i, j] = -(sum_{i < k <= j} R[i, k] U[k, j]) / R[i, i]. Built as
        // U^T (row j of `ut` is column j of U) so that both operands of the inner sum are contiguous.
        var ut = [Double](repeating: 0, count: n * n)
        r.withUnsafeBufferPointer { a in ut.withUnsafeMutableBufferPointer { t in
            for j in 0..<n {
                t[j * n + j] = 1 / a[j * n + j]
                for i in stride(from: j - 1, through: 0, by: -1) {
                    var sum = 0.0
                    for k in (i + 1)...j { sum += a[i * n + k] * t[j * n + k] }
                    t[j * n + i] = -sum / a[i * n + i]
                }
            }
        }}
        var u = [Double](repeating: 0, count: n * n)
        for i in 0..<n { for j in i..<n { u[i * n + j] = ut[j * n + i] } }
        return u
    }
}
