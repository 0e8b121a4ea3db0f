/// Bulk conversion rates of every narrow element format, one thread: FP32 -> codes and codes -> FP32.
public struct FormatBenchmark: Sendable {
    public struct Row: Sendable, Codable {
        public let format: String
        public let direction: String          // "encode" (fp32 -> code) or "decode" (code -> fp32)
        public let elements: Int
        public let medianMilliseconds: Double
        public let millionElementsPerSecond: Double
    }

    public let elements: Int
    public let stopwatch: Stopwatch

    public init(elements: Int = 1 << 24, stopwatch: Stopwatch = Stopwatch()) {
        self.elements = elements
        self.stopwatch = stopwatch
    }

    /// Encodes and decodes `elements` values spread over each format's range (normal, subnormal and
    /// out-of-range values alike), timing each direction.
    public func run(formats: [FloatFormat] = FloatFormat.narrow) -> [Row] {
        var generator = SplitMix64(seed: 42)
        return formats.flatMap { format -> [Row] in
            let codec = ElementCodec(format, saturating: true)
            let exponents = Int(format.minSubnormal.exponent) - 1...format.maxExponent + 1
            let source = (0..<elements).map { _ in
                let magnitude = Float(sign: .plus, exponent: .random(in: exponents, using: &generator),
                                      significand: .random(in: 1..<2, using: &generator))
                return Bool.random(using: &generator) ? magnitude : -magnitude
            }
            var codes = [UInt8](repeating: 0, count: elements)
            var decoded = [Float](repeating: 0, count: elements)
            let encodeSeconds = stopwatch.medianSeconds {
                source.withUnsafeBufferPointer { src in codes.withUnsafeMutableBufferPointer { codec.encode(src, into: $0) } }
            }
            let decodeSeconds = stopwatch.medianSeconds {
                codes.withUnsafeBufferPointer { src in decoded.withUnsafeMutableBufferPointer { codec.decode(src, into: $0) } }
            }
            return [row(format, "encode", encodeSeconds), row(format, "decode", decodeSeconds)]
        }
    }

    func row(_ format: FloatFormat, _ direction: String, _ seconds: Double) -> Row {
        Row(format: format.name, direction: direction, elements: elements, medianMilliseconds: seconds * 1e3,
            millionElementsPerSecond: Double(elements) / seconds / 1e6)
    }
}

