/// LLM.int8() (Dettmers et al.): vector-wise INT8 with mixed-precision decomposition. For each input,
/// the columns (input features) whose magnitude exceeds `threshold` in any token are outliers:
///
///     y = Q_token(x_regular) Q_channel(W)^T  +  x_outliers W_outliers^T  +  b
///
/// the first product in INT8 (per-token activation scales, per-output-channel weight scales by default, as
/// the paper's vector-wise quantization; computed here on the dequantized values), the second in FP32 over
/// the few outlier columns only. The paper finds the outlier feature dimensions systematic, so the FP32
/// weight columns kept are those of the dimensions calibration saw beyond the threshold (`keptColumns`, a
/// few per layer); a column that turns outlier only at run time uses its dequantized INT8 weight, as
/// bitsandbytes' INT8-weight inference does for every column.
public struct OutlierDecomposedLinear: LinearLayer {
    /// Dequantized weight, bias and SmoothQuant input scale.
    public let quantized: FloatLinear
    public let weightQuantizer: TensorQuantizer
    public let activationQuantizer: TensorQuantizer
    public let threshold: Float
    /// Input columns whose FP32 weight is kept for the outlier product, ascending.
    public let keptColumns: [Int]
    /// W's columns `keptColumns` [outFeatures, keptColumns.count].
    public let keptWeight: Matrix<Float>

    /// `calibratedMax`: each input column's calibrated max |x| (nil: keep every FP32 column).
    public init(_ layer: FloatLinear, threshold: Float = 6, calibratedMax: [Float]? = nil,
                weight: TensorQuantizer = .integer(.int8, .symmetric, .perChannel),
                activation: TensorQuantizer = .integer(.int8, .symmetric, .perToken)) throws(QuantaError) {
        let w = try weight.fakeQuantize(layer.weight, tensor: layer.name + ".weight")
        let kept = calibratedMax.map { m in m.indices.filter { m[$0] > threshold } } ?? Array(0..<layer.inFeatures)
        try self.init(quantized: FloatLinear(name: layer.name, weight: w, bias: layer.bias, inputScale: layer.inputScale),
                      threshold: threshold, weight: weight, activation: activation,
                      keptColumns: kept, keptWeight: layer.weight.selectingColumns(kept))
    }

    /// A layer whose weight is already dequantized (`quantized.weight` = Q_w(W)), e.g. loaded from a file.
    public init(quantized: FloatLinear, threshold: Float, weight: TensorQuantizer, activation: TensorQuantizer,
                keptColumns: [Int], keptWeight: Matrix<Float>) throws(QuantaError) {
        guard keptWeight.rows == quantized.outFeatures, keptWeight.columns == keptColumns.count,
              zip(keptColumns, keptColumns.dropFirst()).allSatisfy({ $0 < $1 }),
              keptColumns.allSatisfy({ (0..<quantized.inFeatures).contains($0) }) else {
            throw .shapeMismatch("\(quantized.name): kept outlier columns \(keptColumns.count) with weight [\(keptWeight.rows), \(keptWeight.columns)] do not fit [\(quantized.outFeatures), \(quantized.inFeatures)]")
        }
        self.quantized = quantized
        self.threshold = threshold
        weightQuantizer = weight
        activationQuantizer = activation
        self.keptColumns = keptColumns
        self.keptWeight = keptWeight
    }

    public var name: String { quantized.name }
    public var inFeatures: Int { quantized.inFeatures }
    public var outFeatures: Int { quantized.outFeatures }
    public var weightBytes: Int { weightQuantizer.storageBytes(rows: outFeatures, columns: inFeatures) + 4 * keptWeight.count }

    /// Input columns with |x| > threshold somewhere.
    public func outlierColumns(_ x: Matrix<Float>) -> [Int] {
        var beyond = [Bool](repeating: false, count: x.columns)
        x.storage.withUnsafeBufferPointer { p in
            for r in 0..<x.rows { for c in 0..<x.columns where p[r * x.columns + c].magnitude > threshold { beyond[c] = true } }
        }
        return beyond.indices.filter { beyond[$0] }
    }

    /// The input after the SmoothQuant scale split in two: `regular` with the outlier columns zeroed, and
    /// those columns (`outliers`, ascending) as their own matrix.
    public func split(_ input: Matrix<Float>) -> (regular: Matrix<Float>, outliers: [Int], outlierInput: Matrix<Float>) {
        var regular = quantized.scaledInput(input)
        let outliers = outlierColumns(regular)
        var outlierInput = Matrix<Float>(rows: regular.rows, columns: outliers.count, repeating: 0)
        for r in 0..<regular.rows {
            for (k, c) in outliers.enumerated() {
                outlierInput[r, k] = regular[r, c]
                regular[r, c] = 0
            }
        }
        return (regular, outliers, outlierInput)
    }

    /// x_outliers W_outliers^T: the kept FP32 weight columns, the dequantized INT8 ones for the rest.
    public func outlierProduct(_ outlierInput: Matrix<Float>, columns outliers: [Int]) -> Matrix<Float> {
        var weight = quantized.weight.selectingColumns(outliers)
        for (k, c) in outliers.enumerated() {
            guard let j = binarySearch(keptColumns, c) else { continue }
            for r in 0..<weight.rows { weight[r, k] = keptWeight[r, j] }
        }
        return BLAS.matmulTransposed(outlierInput, weight)
    }

    public func forward(_ input: Matrix<Float>) -> Matrix<Float> {
        let (regular, outliers, outlierInput) = split(input)
        let q = (try? activationQuantizer.fakeQuantize(regular, tensor: name + ".input")) ?? regular
        var y = quantized.multiply(q)
        if !outliers.isEmpty { y.add(outlierProduct(outlierInput, columns: outliers)) }
        return y
    }
}

/// The index of `value` in the ascending array `sorted`, or nil.
func binarySearch(_ sorted: [Int], _ value: Int) -> Int? {
    var low = 0, high = sorted.count
    while low < high {
        let mid = (low + high) / 2
        if sorted[mid] < value { low = mid + 1 } else { high = mid }
    }
    return low < sorted.count && sorted[low] == value ? low : nil
}
