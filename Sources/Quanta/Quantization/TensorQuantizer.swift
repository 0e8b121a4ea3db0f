/// How one tensor (a weight, or a Linear's input activation) is quantized, as "fake quantization":
/// quantize then dequantize, so the result is the Float matrix the quantized tensor stands for. Matrices
/// are [rows, columns] with the reduction axis last; scales are computed from the tensor itself (dynamic),
/// or fixed by calibration (`staticInteger`).
public enum TensorQuantizer: Sendable, CustomStringConvertible {
    /// Uniform integer quantization with min/max ranges per group (`AffineQuantizer`).
    case integer(IntegerFormat, QuantizationScheme, Granularity)
    /// Integer quantization with calibrated parameters (static activation scales).
    case staticInteger(QuantizationParameters)
    /// A small float format with one scale per tensor or per row: s = amax / maxNormal, x~ = s * fp(x / s).
    case float(FloatFormat, perRow: Bool)
    /// A float format with a calibrated per-tensor scale (static FP8 activations).
    case staticFloat(FloatFormat, scale: Float)
    /// An MX block format along each row (blocks of `blockSize` on the reduction axis).
    case mx(MXFormat, blockSize: Int)

    public var description: String {
        switch self {
        case let .integer(f, s, g): return "\(f) \(s) \(g)"
        case let .staticInteger(p): return "\(p.format) \(p.scheme) \(p.granularity) static"
        case let .float(f, perRow): return "\(f.name) \(perRow ? "per-row" : "per-tensor")"
        case let .staticFloat(f, scale): return "\(f.name) per-tensor static (scale \(scale))"
        case let .mx(f, block): return "\(f.name) block \(block)"
        }
    }

    /// Bits of storage per element, scales included (for model-size reports).
    public func bitsPerElement(columns: Int) -> Double {
        switch self {
        case let .integer(f, _, g): return Double(f.bits) + Self.scaleBits(g, columns: columns)
        case let .staticInteger(p): return Double(p.format.bits) + Self.scaleBits(p.granularity, columns: columns)
        case let .float(f, perRow): return Double(f.bitWidth) + (perRow ? 32 / Double(columns) : 0)
        case let .staticFloat(f, _): return Double(f.bitWidth)
        case let .mx(f, block): return f.bitsPerElement(blockSize: block)
        }
    }

    /// Bytes of a rows x columns tensor stored in this format, scales included.
    public func storageBytes(rows: Int, columns: Int) -> Int {
        Int((bitsPerElement(columns: columns) * Double(rows * columns) / 8).rounded(.up))
    }

    static func scaleBits(_ g: Granularity, columns: Int) -> Double {
        switch g {
        case let .perGroup(size): return 32 / Double(size)
        case .perChannel, .perToken: return 32 / Double(columns)
        default: return 0
        }
    }

    /// dequantize(quantize(x)). Throws on NaN/infinity, naming `tensor`.
    public func fakeQuantize(_ x: Matrix<Float>, tensor: String) throws(QuantaError) -> Matrix<Float> {
        switch self {
        case let .integer(format, scheme, granularity):
            let p = try AffineQuantizer.chooseParameters(for: x, format: format, scheme: scheme, granularity: granularity, tensor: tensor)
            return try AffineQuantizer.fakeQuantize(x, with: p)
        case let .staticInteger(p):
            try Self.checkFinite(x, tensor: tensor)
            return try AffineQuantizer.fakeQuantize(x, with: p)
        case let .float(format, perRow):
            try Self.checkFinite(x, tensor: tensor)
            let codec = ElementCodec(format, saturating: true)
            var y = x
            let scales = Self.floatScales(x, format: format, perRow: perRow), width = x.count / max(scales.count, 1)
            for (r, scale) in scales.enumerated() {
                Self.roundTrip(&y.storage, range: r * width..<(r + 1) * width, codec: codec, scale: scale)
            }
            return y
        case let .staticFloat(format, scale):
            try Self.checkFinite(x, tensor: tensor)
            var y = x
            Self.roundTrip(&y.storage, range: 0..<y.count, codec: ElementCodec(format, saturating: true), scale: scale)
            return y
        case let .mx(format, blockSize):
            try Self.checkFinite(x, tensor: tensor)
            let quantizer: MXBlockQuantizer
            do { quantizer = try MXBlockQuantizer(format: format, blockSize: blockSize) } catch { throw .format(error) }
            var y = x
            for r in 0..<x.rows {
                y.storage.replaceSubrange(r * x.columns..<(r + 1) * x.columns,
                                          with: quantizer.roundTrip(Array(x.row(r))))
            }
            return y
        }
    }

    /// The scales of `.float(format, perRow)` for `x`: s = amax / maxNormal per row (or over the whole
    /// tensor), 1 where amax = 0.
    static func floatScales(_ x: Matrix<Float>, format: FloatFormat, perRow: Bool) -> [Float] {
        let rows = perRow ? x.rows : 1, width = perRow ? x.columns : x.count
        return (0..<rows).map { r in
            let amax = x.storage[r * width..<(r + 1) * width].reduce(Float(0)) { max($0, $1.magnitude) }
            return amax > 0 ? amax / format.maxNormal : 1
        }
    }

    /// values[i] = s * decode(encode(values[i] / s)) over `range`.
    /// Uses the codec's bulk encode and decode tables (built once), not per-element conversions.
    static func roundTrip(_ values: inout [Float], range: Range<Int>, codec: ElementCodec, scale: Float) {
        let inverse = 1 / scale
        let scaled = values[range].map { $0 * inverse }
        var codes = [UInt16](repeating: 0, count: scaled.count)
        scaled.withUnsafeBufferPointer { src in codes.withUnsafeMutableBufferPointer { codec.encode(src, into: $0) } }
        for (offset, code) in codes.enumerated() { values[range.lowerBound + offset] = codec.decodeTable[Int(code)] * scale }
    }

    static func checkFinite(_ x: Matrix<Float>, tensor: String) throws(QuantaError) {
        if let i = x.storage.firstIndex(where: { !$0.isFinite }) {
            throw .nonFinite(tensor: tensor, index: i, value: x.storage[i])
        }
    }
}
