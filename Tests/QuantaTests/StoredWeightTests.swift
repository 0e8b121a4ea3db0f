import Foundation
import Testing
import Quanta

/// The stored form of quantized weights: what a quantized model folder holds decodes to exactly the
/// matrix fake quantization gives, for every kind of weight quantizer, and damage is refused by name.
@Suite struct StoredWeightTests {
    static let quantizers: [TensorQuantizer] = [
        .integer(.int8, .symmetric, .perChannel), .integer(.uint8, .asymmetric, .perChannel),
        .integer(.int8, .symmetric, .perTensor), .integer(.uint4, .asymmetric, .perGroup(size: 16)),
        .integer(.int4, .symmetric, .perGroup(size: 7)), .integer(IntegerFormat(bits: 3, signed: true)!, .symmetric, .perChannel),
        .integer(IntegerFormat(bits: 12, signed: false)!, .asymmetric, .perChannel),
        .float(.e4m3, perRow: true), .float(.e5m2, perRow: false), .float(.e2m1, perRow: true),
        .mx(.mxint8, blockSize: 32), .mx(.mxfp4e2m1, blockSize: 32), .mx(.mxfp6e2m3, blockSize: 16), .mx(.mxfp8e5m2, blockSize: 32),
    ]

    static func roundTrip(_ w: Matrix<Float>, _ q: TensorQuantizer, edit: (inout [SafeTensorsWriter.Entry]) -> Void = { _ in }) throws -> Matrix<Float> {
        var entries = try StoredWeight.entries(w, quantizer: q, name: "layer")
        edit(&entries)
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("stored-\(UUID().uuidString).safetensors").path
        defer { try? FileManager.default.removeItem(atPath: path) }
        try SafeTensorsWriter.write(entries, to: path)
        return try StoredWeight.decode(SafeTensorsFile(path: path), name: "layer", quantizer: q, rows: w.rows, columns: w.columns)
    }

    @Test(arguments: quantizers) func decodesToTheFakeQuantizedWeight(_ q: TensorQuantizer) throws {
        // 37 columns: partial groups and blocks, and packed rows that do not end on a byte.
        var w = TestData.gaussian(rows: 9, columns: 37, seed: 7, scale: 0.05)
        w[3, 5] = 1.5     // an outlier
        for c in 0..<37 { w[6, c] = 0 }   // an all-zero row
        let decoded = try Self.roundTrip(w, q)
        let expected = try q.fakeQuantize(w, tensor: "layer.weight")
        #expect(decoded.storage.map(\.bitPattern) == expected.storage.map(\.bitPattern), "\(q)")
    }

    @Test func damagedTensorsAreRefusedByName() throws {
        let w = TestData.gaussian(rows: 4, columns: 32, seed: 3)
        let int8 = TensorQuantizer.integer(.int8, .symmetric, .perChannel)
        func reason(_ q: TensorQuantizer, _ edit: @escaping (inout [SafeTensorsWriter.Entry]) -> Void) -> String {
            do { _ = try Self.roundTrip(w, q, edit: edit); return "accepted" } catch { return "\(error)" }
        }
        let negativeScale = reason(int8) { entries in
            entries[1] = .init(name: "layer.weight_scale", shape: [4], floats: [0.1, -1, 0.1, 0.1])
        }
        #expect(negativeScale.contains("layer.weight") && negativeScale.contains("finite and positive"), "\(negativeScale)")
        let wrongShape = reason(int8) { entries in
            entries[0] = .init(name: "layer.weight", type: .i8, shape: [4, 16], bytes: Data(count: 64))
        }
        #expect(wrongShape.contains("layer.weight") && wrongShape.contains("[4, 32]"), "\(wrongShape)")
        let missingScale = reason(.float(.e4m3, perRow: true)) { entries in entries.removeLast() }
        #expect(missingScale.contains("layer.weight_scale"), "\(missingScale)")
        let wrongType = reason(.mx(.mxfp4e2m1, blockSize: 32)) { entries in
            entries[1] = .init(name: "layer.weight_scale", shape: [4, 1], floats: [1, 1, 1, 1])
        }
        #expect(wrongType.contains("expected U8"), "\(wrongType)")
    }
}
