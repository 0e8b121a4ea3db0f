import Foundation

/// A quantized weight as a quantized model file stores it, under the layer's name `L`:
///
///     integer  L.weight        codes: I8/U8 [rows, columns] at 8 bits, I32 above, packed U8 [bytes] below
///                              (code - qmin, little-endian bit order of `PackedCodes`)
///              L.weight_scale  F32 [groups], L.weight_zero_point I32 [groups]:   x~ = S (Q + Z)
///     float    L.weight        codes U8 [rows, columns] (FP8) or packed U8 [bytes]
///              L.weight_scale  F32 [rows] or [1]:                                x~ = S fp(code)
///     mx       L.weight        packed element codes U8 [rows, bytes per row]
///              L.weight_scale  E8M0 U8 [rows, blocks per row]:                   x~ = 2^(E-127) element(code)
///
/// `decode` returns exactly the matrix `TensorQuantizer.fakeQuantize` returns for the same weight.
public enum StoredWeight {
    /// With `parameters` (an integer quantizer's chosen scales and zero points, e.g. GPTQ's), `w` is coded with
    /// them instead of parameters chosen from its range.
    public static func entries(_ w: Matrix<Float>, quantizer: TensorQuantizer, parameters: QuantizationParameters? = nil,
                               name: String) throws(QuantaError) -> [SafeTensorsWriter.Entry] {
        let tensor = name + ".weight"
        switch quantizer {
        case let .integer(format, scheme, granularity):
            let p: QuantizationParameters
            if let parameters { p = parameters } else {
                p = try AffineQuantizer.chooseParameters(for: w, format: format, scheme: scheme, granularity: granularity, tensor: tensor)
            }
            let codes = try AffineQuantizer.quantize(w, with: p, as: Int32.self).storage
            return [integerCodes(codes, format: format, rows: w.rows, columns: w.columns, name: tensor),
                    .init(name: name + ".weight_scale", shape: [p.scales.count], floats: p.scales),
                    .init(name: name + ".weight_zero_point", type: .i32, shape: [p.zeroPoints.count], bytes: Self.data(p.zeroPoints))]
        case let .float(format, perRow):
            try TensorQuantizer.checkFinite(w, tensor: tensor)
            let scales = TensorQuantizer.floatScales(w, format: format, perRow: perRow), width = w.count / max(scales.count, 1)
            let inverses = scales.map { 1 / $0 }
            let scaled = w.storage.indices.map { w.storage[$0] * inverses[$0 / max(width, 1)] }
            let codes = ElementCodec(format, saturating: true).encode(scaled)
            let stored: SafeTensorsWriter.Entry = format.bitWidth == 8
                ? .init(name: tensor, type: .u8, shape: [w.rows, w.columns], bytes: Data(codes))
                : packed(PackedCodes(bitWidth: format.bitWidth, codes: codes), name: tensor)
            return [stored, .init(name: name + ".weight_scale", shape: [scales.count], floats: scales)]
        case let .mx(format, blockSize):
            try TensorQuantizer.checkFinite(w, tensor: tensor)
            let quantizer = try mxQuantizer(format, blockSize)
            let blocks = quantizer.quantizeRows(w)
            let rowBytes = PackedCodes.byteCount(count: w.columns, bitWidth: format.elementBits)
            let blocksPerRow = (w.columns + blockSize - 1) / blockSize
            return [.init(name: tensor, type: .u8, shape: [w.rows, rowBytes], bytes: Data(blocks.flatMap(\.elements.bytes))),
                    .init(name: name + ".weight_scale", type: .u8, shape: [w.rows, blocksPerRow], bytes: Data(blocks.flatMap(\.scales)))]
        case .staticInteger, .staticFloat:
            throw .invalidArgument("\(tensor): a calibrated activation quantizer (\(quantizer)) cannot store a weight")
        }
    }

    public static func decode(_ file: SafeTensorsFile, name: String, quantizer: TensorQuantizer, rows: Int, columns: Int) throws(QuantaError) -> Matrix<Float> {
        try decodeWithParameters(file, name: name, quantizer: quantizer, rows: rows, columns: columns).weight
    }

    /// `decode`, with the integer scales and zero points when the quantizer is an integer one.
    static func decodeWithParameters(_ file: SafeTensorsFile, name: String, quantizer: TensorQuantizer, rows: Int, columns: Int)
        throws(QuantaError) -> (weight: Matrix<Float>, parameters: QuantizationParameters?) {
        let tensor = name + ".weight"
        switch quantizer {
        case let .integer(format, scheme, granularity):
            let count = granularity.parameterCount(rows: rows, columns: columns)
            let codes = try integerCodes(file, name: tensor, format: format, rows: rows, columns: columns)
            let p = try wrapping(file, tensor) { () throws(QuantaError) in
                try QuantizationParameters(scales: file.floats(name + ".weight_scale", expectedShape: [count]).values,
                                           zeroPoints: file.integers(name + ".weight_zero_point", expectedShape: [count]),
                                           format: format, scheme: scheme, granularity: granularity)
            }
            return (try AffineQuantizer.dequantize(Matrix(rows: rows, columns: columns, storage: codes), with: p), p)
        case let .float(format, perRow):
            let scales = try file.floats(name + ".weight_scale", expectedShape: [perRow ? rows : 1]).values
            if let bad = scales.firstIndex(where: { !($0.isFinite && $0 > 0) }) {
                throw .file(path: file.path, reason: "\(name).weight_scale[\(bad)] is \(scales[bad]); scales must be finite and positive")
            }
            let codes = format.bitWidth == 8
                ? [UInt16](try file.bytes(tensor, type: .u8, shape: [rows, columns]).map(UInt16.init))
                : try unpacked(file, name: tensor, bitWidth: format.bitWidth, count: rows * columns).codes
            let table = ElementCodec(format, saturating: true).decodeTable, width = rows * columns / scales.count
            return (try Matrix(rows: rows, columns: columns, storage: codes.indices.map { table[Int(codes[$0])] * scales[$0 / width] }), nil)
        case let .mx(format, blockSize):
            let quantizer = try mxQuantizer(format, blockSize)
            let rowBytes = PackedCodes.byteCount(count: columns, bitWidth: format.elementBits)
            let blocksPerRow = (columns + blockSize - 1) / blockSize
            let elements = [UInt8](try file.bytes(tensor, type: .u8, shape: [rows, rowBytes]))
            let scales = [UInt8](try file.bytes(name + ".weight_scale", type: .u8, shape: [rows, blocksPerRow]))
            var values = [Float]()
            values.reserveCapacity(rows * columns)
            for r in 0..<rows {
                let row = try wrapping(file, tensor) { () throws(QuantaError) in
                    do throws(FormatError) {
                        return try MXTensor(format: format, blockSize: blockSize, count: columns,
                                            scales: Array(scales[r * blocksPerRow..<(r + 1) * blocksPerRow]),
                                            elements: PackedCodes(bitWidth: format.elementBits, count: columns,
                                                                  bytes: Array(elements[r * rowBytes..<(r + 1) * rowBytes])))
                    } catch { throw .format(error) }
                }
                values += quantizer.dequantize(row)
            }
            return (try Matrix(rows: rows, columns: columns, storage: values), nil)
        case .staticInteger, .staticFloat:
            throw .file(path: file.path, reason: "\(tensor): a calibrated activation quantizer (\(quantizer)) cannot store a weight")
        }
    }

    // MARK: codes

    static func integerCodes(_ codes: [Int32], format: IntegerFormat, rows: Int, columns: Int, name: String) -> SafeTensorsWriter.Entry {
        switch format.bits {
        case 8: return .init(name: name, type: format.isSigned ? .i8 : .u8, shape: [rows, columns],
                             bytes: Data(codes.map { UInt8(truncatingIfNeeded: $0) }))
        case 9...: return .init(name: name, type: .i32, shape: [rows, columns], bytes: data(codes))
        default: return packed(PackedCodes(bitWidth: format.bits, codes: codes.map { $0 - format.min }), name: name)
        }
    }

    static func integerCodes(_ file: SafeTensorsFile, name: String, format: IntegerFormat, rows: Int, columns: Int) throws(QuantaError) -> [Int32] {
        switch format.bits {
        case 8:
            let bytes = try file.bytes(name, type: format.isSigned ? .i8 : .u8, shape: [rows, columns])
            return bytes.map { format.isSigned ? Int32(Int8(bitPattern: $0)) : Int32($0) }
        case 9...:
            let codes = try file.integers(name, expectedShape: [rows, columns])
            if let bad = codes.firstIndex(where: { !(format.min...format.max).contains($0) }) {
                throw .file(path: file.path, reason: "\(name)[\(bad)] = \(codes[bad]) is outside \(format)")
            }
            return codes
        default:
            return try unpacked(file, name: name, bitWidth: format.bits, count: rows * columns).codes.map { Int32($0) + format.min }
        }
    }

    static func packed(_ codes: PackedCodes, name: String) -> SafeTensorsWriter.Entry {
        .init(name: name, type: .u8, shape: [codes.bytes.count], bytes: Data(codes.bytes))
    }

    static func unpacked(_ file: SafeTensorsFile, name: String, bitWidth: Int, count: Int) throws(QuantaError) -> PackedCodes {
        let bytes = try file.bytes(name, type: .u8, shape: [PackedCodes.byteCount(count: count, bitWidth: bitWidth)])
        do { return try PackedCodes(bitWidth: bitWidth, count: count, bytes: [UInt8](bytes)) } catch {
            throw .file(path: file.path, reason: "\(name): \(error)")
        }
    }

    static func mxQuantizer(_ format: MXFormat, _ blockSize: Int) throws(QuantaError) -> MXBlockQuantizer {
        do { return try MXBlockQuantizer(format: format, blockSize: blockSize) } catch { throw .format(error) }
    }

    static func data(_ values: [Int32]) -> Data { values.map(\.littleEndian).withUnsafeBufferPointer { Data(buffer: $0) } }

    /// Runs `body`, turning an error without a file into one that names `file` and `tensor`.
    static func wrapping<T>(_ file: SafeTensorsFile, _ tensor: String, _ body: () throws(QuantaError) -> T) throws(QuantaError) -> T {
        do { return try body() } catch {
            if case .file = error { throw error }
            throw .file(path: file.path, reason: "\(tensor): \(error)")
        }
    }
}

extension MXBlockQuantizer {
    /// Each row of `w` as one MX tensor (blocks along the row).
    func quantizeRows(_ w: Matrix<Float>) -> [MXTensor] {
        (0..<w.rows).map { quantize(Array(w.row($0))) }
    }
}

extension SafeTensorsFile {
    /// The raw bytes of `name`, which must have element type `type` and shape `shape`.
    func bytes(_ name: String, type: StoredElementType, shape: [Int]) throws(QuantaError) -> Data {
        let info = try info(name)
        guard info.type == type, info.shape == shape else {
            throw .file(path: path, reason: "tensor '\(name)' is \(info.type.rawValue) \(info.shape), expected \(type.rawValue) \(shape)")
        }
        return try bytes(name)
    }

    /// An I32 tensor of shape `expectedShape`.
    func integers(_ name: String, expectedShape: [Int]) throws(QuantaError) -> [Int32] {
        let raw = try bytes(name, type: .i32, shape: expectedShape)
        return raw.withUnsafeBytes { b in (0..<raw.count / 4).map { Int32(littleEndian: b.loadUnaligned(fromByteOffset: 4 * $0, as: Int32.self)) } }
    }
}
