/// Quantizes vectors to an MX block format as OCP Microscaling v1.0 specifies.
///
/// For each block of `blockSize` consecutive values (the reduction axis when used in a GEMM):
///
///     e  = clamp(floor(log2(max_i |v_i|)) - emax_elem, -127, 127)     (an all-zero block gets -127)
///     X  = 2^e                                                      stored as the E8M0 code e + 127
///     P_i = quantize_elem(v_i / X)   round to nearest-even, saturating to +-max of the element format
///           (MXINT8: q_i = clamp(rne(v_i / X * 2^6), -127, 127), read as q_i * 2^-6)
///     v~_i = X * P_i
///
/// A block holding NaN or infinity gets the NaN scale 0xFF, and all its values dequantize to NaN.
public struct MXBlockQuantizer: Sendable {
    public let format: MXFormat
    public let blockSize: Int
    let codec: ElementCodec?

    public init(format: MXFormat, blockSize: Int = 32) throws(FormatError) {
        guard blockSize > 0 else { throw .invalidBlockSize(blockSize) }
        self.format = format
        self.blockSize = blockSize
        if case let .float(element) = format.element {
            codec = ElementCodec(element, saturating: true)
        } else {
            codec = nil
        }
    }

    /// The shared exponent e of a block whose largest magnitude is `amax`; nil when amax is NaN or infinite.
    public func sharedExponent(amax: Float) -> Int? {
        guard amax.isFinite else { return nil }
        guard amax > 0 else { return -127 }
        return min(max(amax.exponent - format.elementMaxExponent, -127), 127)
    }

    public func quantize(_ values: [Float]) -> MXTensor {
        var scales = [UInt8]()
        scales.reserveCapacity((values.count + blockSize - 1) / blockSize)
        var codes = [UInt16](repeating: 0, count: values.count)
        for start in stride(from: 0, to: values.count, by: blockSize) {
            let block = start..<min(start + blockSize, values.count)
            let amax = values[block].reduce(Float(0)) { max($0, $1.magnitude) }   // max() would drop NaN
            let hasNaN = values[block].contains { $0.isNaN }
            guard !hasNaN, let e = sharedExponent(amax: amax) else {
                scales.append(0xFF)
                continue
            }
            scales.append(UInt8(e + 127))
            let inverseScale = Float(sign: .plus, exponent: -e, significand: 1)   // exact power of two
            for i in block {
                codes[i] = elementCode(values[i] * inverseScale)
            }
        }
        // Sizes agree by construction.
        return try! MXTensor(format: format, blockSize: blockSize, count: values.count, scales: scales,
                             elements: PackedCodes(bitWidth: format.elementBits, codes: codes))
    }

    public func dequantize(_ tensor: MXTensor) -> [Float] {
        var values = [Float](repeating: 0, count: tensor.count)
        for b in 0..<tensor.blockCount {
            let block = b * tensor.blockSize..<min((b + 1) * tensor.blockSize, tensor.count)
            guard tensor.scales[b] != 0xFF else {
                for i in block { values[i] = .nan }
                continue
            }
            let scale = Float(sign: .plus, exponent: Int(tensor.scales[b]) - 127, significand: 1)
            for i in block {
                values[i] = elementValue(tensor.elements[i]) * scale
            }
        }
        return values
    }

    /// quantize then dequantize ("fake quantization"), without packing: the same values as
    /// `dequantize(quantize(values))`, element by element.
    public func roundTrip(_ values: [Float]) -> [Float] {
        var out = values
        for start in stride(from: 0, to: values.count, by: blockSize) {
            let block = start..<min(start + blockSize, values.count)
            let amax = values[block].reduce(Float(0)) { max($0, $1.magnitude) }
            guard !values[block].contains(where: { $0.isNaN }), let e = sharedExponent(amax: amax) else {
                for i in block { out[i] = .nan }
                continue
            }
            for i in block { out[i] = roundTrip(values[i], exponent: e) }
        }
        return out
    }

    /// X * P(v / X) for X = 2^e: one value rounded into a block whose shared exponent e is already chosen
    /// (what `roundTrip` computes for each value of a block with that exponent).
    public func roundTrip(_ value: Float, exponent e: Int) -> Float {
        elementValue(elementCode(value * Float(sign: .plus, exponent: -e, significand: 1))) * Float(sign: .plus, exponent: e, significand: 1)
    }

    /// The element code of v / X.
    func elementCode(_ scaled: Float) -> UInt16 {
        if let codec {
            return codec.constants.encode(scaled)
        }
        let q = IntegerFormat.roundClamped(scaled * 64, lower: -127, upper: 127)
        return UInt16(UInt8(bitPattern: Int8(q)))
    }

    /// The value of an element code (before scaling by X).
    public func elementValue(_ code: UInt16) -> Float {
        if let codec {
            return codec.decodeTable[Int(code)]
        }
        return Float(Int8(bitPattern: UInt8(truncatingIfNeeded: code))) / 64
    }
}
