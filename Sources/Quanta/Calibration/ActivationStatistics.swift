/// What calibration learns about one Linear layer's input: per-channel and global extremes, and a
/// histogram of |x| for the histogram-based calibrators. Memory is bounded by the layer width and the
/// bin count, never by the amount of calibration data.
public struct ActivationStatistics: Sendable {
    /// max |x_j| over every token seen, per input channel j (SmoothQuant's and LLM.int8()'s statistic).
    public private(set) var channelAbsMax: [Float]
    public private(set) var minimum: Float = .infinity
    public private(set) var maximum: Float = -.infinity
    /// Min/max tracked as an exponential moving average over batches (TensorRT / PyTorch style), if asked.
    public private(set) var movingMinimum: Float?
    public private(set) var movingMaximum: Float?
    public let movingAverageFactor: Float?
    public private(set) var histogram: AbsoluteHistogram
    public private(set) var tokens = 0
    /// The first `sampleRows` activation rows seen (for searches that need real inputs, like SmoothQuant's
    /// automatic alpha); empty unless asked for.
    public private(set) var sample: [Float] = []
    public let sampleRows: Int
    /// sum_t x_t x_t^T [channels, channels] row-major over every token seen (GPTQ's Hessian), when asked for.
    public private(set) var gram: [Float]?

    public init(channels: Int, bins: Int = 2048, movingAverageFactor: Float? = nil, sampleRows: Int = 0, gram: Bool = false) {
        channelAbsMax = [Float](repeating: 0, count: channels)
        histogram = AbsoluteHistogram(bins: bins)
        self.movingAverageFactor = movingAverageFactor
        self.sampleRows = sampleRows
        self.gram = gram ? [Float](repeating: 0, count: channels * channels) : nil
    }

    /// The kept sample as a [rows, channels] matrix.
    public var sampleMatrix: Matrix<Float> {
        try! Matrix(rows: sample.count / channelAbsMax.count, columns: channelAbsMax.count, storage: sample)
    }

    /// Adds a batch of activations [tokens, channels]. Throws, naming `layer`, on NaN or infinity.
    public mutating func observe(_ x: Matrix<Float>, layer: String) throws(QuantaError) {
        guard x.columns == channelAbsMax.count else {
            throw .shapeMismatch("\(layer): activations have \(x.columns) channels, statistics \(channelAbsMax.count)")
        }
        var batchMin = Float.infinity, batchMax = -Float.infinity
        for r in 0..<x.rows {
            for c in 0..<x.columns {
                let v = x.storage[r * x.columns + c]
                guard v.isFinite else { throw .nonFinite(tensor: layer + ".input", index: r * x.columns + c, value: v) }
                channelAbsMax[c] = max(channelAbsMax[c], v.magnitude)
                batchMin = min(batchMin, v)
                batchMax = max(batchMax, v)
            }
        }
        guard x.rows > 0 else { return }
        minimum = min(minimum, batchMin)
        maximum = max(maximum, batchMax)
        if let factor = movingAverageFactor {
            movingMinimum = movingMinimum.map { $0 + factor * (batchMin - $0) } ?? batchMin
            movingMaximum = movingMaximum.map { $0 + factor * (batchMax - $0) } ?? batchMax
        }
        histogram.add(x.storage)
        if gram != nil {
            x.storage.withUnsafeBufferPointer { xp in gram!.withUnsafeMutableBufferPointer { gp in
                BLAS.gram(rows: x.rows, columns: x.columns, x: xp.baseAddress!, into: gp.baseAddress!)
            }}
        }
        let keep = min(sampleRows - sample.count / x.columns, x.rows)
        if keep > 0 { sample += x.storage[0..<keep * x.columns] }
        tokens += x.rows
    }

    /// max |x| over everything seen.
    public var absMax: Float { max(maximum.magnitude, minimum.magnitude) }
}
