import Foundation
import Quanta
import Testing

/// GGUF export against llama.cpp's own Python library (gguf-py 0.19.0): its NumPy port of ggml's reference
/// quantizers and its file writer. scripts/fixtures/make_gguf_fixtures.py wrote Tests/Fixtures/gguf/.
@Suite struct GGUFExportTests {
    static let fixtures = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("Fixtures").path
    static let tinyLlama = fixtures + "/training/tiny-llama.gguf.bin"

    static func json(_ name: String) throws -> [String: Any] {
        try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: fixtures + "/gguf/" + name))) as! [String: Any]
    }

    static func floats(_ hex: [String]) -> [Float] { hex.map { Float(bitPattern: UInt32($0, radix: 16)!) } }

    static func hex(_ data: Data) -> String { data.map { String(format: "%02x", $0) }.joined() }

    static let typesByName: [String: GGMLType] = ["F32": .f32, "F16": .f16, "BF16": .bf16, "Q8_0": .q8_0, "Q4_0": .q4_0, "Q4_1": .q4_1, "MXFP4": .mxfp4]

    @Test func everyBlockTypeMatchesTheReferenceQuantizerByteForByte() throws {
        let fixture = try Self.json("blocks.json")
        #expect(Set(fixture.keys) == ["F16", "BF16", "Q8_0", "Q4_0", "Q4_1", "MXFP4"])
        for (typeName, cases) in fixture {
            let type = try #require(Self.typesByName[typeName])
            for entry in cases as! [[String: Any]] {
                let name = entry["name"] as! String
                let values = Self.floats(entry["values"] as! [String])
                let bytes = try type.quantize(values, tensor: name)
                #expect(Self.hex(bytes) == entry["bytes"] as! String, "\(typeName) \(name)")
                let back = bytes.withUnsafeBytes { type.dequantize($0, count: values.count) }
                let expected = Self.floats(entry["dequantized"] as! [String])
                #expect(back.map(\.bitPattern) == expected.map(\.bitPattern), "\(typeName) \(name): dequantized")
            }
        }
    }

    @Test func writerReproducesTheGGUFPackageFileByteForByte() throws {
        let original = try Data(contentsOf: URL(fileURLWithPath: Self.tinyLlama))
        let file = try GGUFFile(path: Self.tinyLlama)
        let tensors = try file.tensors.map { info in
            GGUFWriter.Tensor(name: info.name, dimensions: info.dimensions, type: info.type, bytes: try file.bytes(info.name))
        }
        let written = try GGUFWriter.encode(metadata: file.metadataEntries, tensors: tensors, path: "tiny")
        #expect(written == original)
    }

    @Test func exportedTensorsMatchTheReferenceQuantizerOnEveryTypeAndReadBack() throws {
        let source = try GGUFFile(path: Self.tinyLlama)
        let model = try LlamaModel(gguf: source)
        let fixture = try Self.json("tiny-llama-export.json")
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("quanta-gguf-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: folder) }
        var cache = LlamaModel.KVCache(for: model.config)
        let tokens: [Int32] = [3, 14, 15, 92, 65, 35]
        let reference = try model.forward(tokens, cache: &cache)
        for (typeName, expected) in fixture {
            let type = try #require(Self.typesByName[typeName])
            let path = folder + "/tiny-\(typeName).gguf"
            try GGUFExport(type: type, embeddingType: type).write(model, source: source, to: path)
            let exported = try GGUFFile(path: path)
            for (name, hash) in expected as! [String: [String: Any]] {
                let bytes = try exported.bytes(name)
                #expect(try exported.info(name).type == type)
                #expect(bytes.count == hash["bytes"] as! Int && bytes.fnv1a64 == hash["fnv1a64"] as! String, "\(typeName) \(name)")
            }
            #expect(exported.tensors.filter { $0.dimensions.count == 1 }.allSatisfy { $0.type == .f32 })
            #expect(exported.tensors.map(\.name).sorted() == source.tensors.map(\.name).sorted())
            // Metadata: the source's, in order and with its types, plus the file type.
            let copied = exported.metadataEntries.filter { !$0.key.hasPrefix("general.quantiz") && $0.key != "general.file_type" }
            #expect(copied == source.metadataEntries.filter { $0.key != "general.file_type" })
            #expect(exported.metadata["general.file_type"]?.integer != nil)
            // The exported file runs in Quanta: F32 gives the source's logits exactly.
            let reloaded = try LlamaModel(gguf: exported)
            var again = LlamaModel.KVCache(for: reloaded.config)
            let logits = try reloaded.forward(tokens, cache: &again)
            if type == .f32 { #expect(logits.storage == reference.storage) }
            let error = zip(logits.storage, reference.storage).reduce(0) { $0 + ($1.0 - $1.1) * ($1.0 - $1.1) }.squareRoot()
                / reference.storage.reduce(0) { $0 + $1 * $1 }.squareRoot()
            #expect(error < (type.bytesPerBlock * 8 / type.blockSize >= 16 ? 0.01 : type == .q8_0 ? 0.03 : 0.4), "\(typeName): relative logit error \(error)")
        }
    }

    @Test func rotatedExportKeepsTheFunctionAndUntiesTheHead() throws {
        let source = try GGUFFile(path: Self.tinyLlama)
        let model = try LlamaModel(gguf: source)
        let rotated = try Rotation.fold(into: model, seed: 7)
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("quanta-rotated-\(UUID().uuidString).gguf").path
        defer { try? FileManager.default.removeItem(atPath: path) }
        try GGUFExport(type: .f32).write(rotated, source: source, to: path)
        let exported = try GGUFFile(path: path)
        #expect(try exported.info("output.weight").dimensions == exported.info("token_embd.weight").dimensions)
        #expect(try exported.floats("blk.0.attn_norm.weight").allSatisfy { $0 == 1 })
        let reloaded = try LlamaModel(gguf: exported)
        let tokens: [Int32] = [5, 1, 77, 20]
        var a = LlamaModel.KVCache(for: model.config), b = LlamaModel.KVCache(for: model.config)
        let expected = try model.forward(tokens, cache: &a), logits = try reloaded.forward(tokens, cache: &b)
        #expect(zip(logits.storage, expected.storage).allSatisfy { abs($0 - $1) < 1e-3 })
    }

    @Test func clippingSearchNeverIncreasesABlocksError() throws {
        let values = TestData.gaussian(rows: 64, columns: 256, seed: 9, scale: 0.05).storage
        func errors(_ type: GGMLType, _ bytes: Data) -> [Double] {
            let back = bytes.withUnsafeBytes { type.dequantize($0, count: values.count) }
            return stride(from: 0, to: values.count, by: 32).map { b in
                (b..<b + 32).reduce(0.0) { $0 + Double(values[$1] - back[$1]) * Double(values[$1] - back[$1]) }
            }
        }
        for type: GGMLType in [.q8_0, .q4_0, .q4_1, .mxfp4] {
            let reference = errors(type, try type.quantize(values, tensor: "w"))
            let searched = errors(type, try type.quantize(values, tensor: "w", searchingClipping: true))
            #expect(zip(searched, reference).allSatisfy { $0 <= $1 }, "\(type.name)")
            let (total, referenceTotal) = (searched.reduce(0, +), reference.reduce(0, +))
            // Gaussian weights: the 4-bit blocks gain 7-9%; Q8_0 almost nothing (its rounding error is tiny already).
            #expect(total <= (type == .q8_0 ? 1 : 0.95) * referenceTotal, "\(type.name): \(total) vs \(referenceTotal)")
        }
    }

    /// GPTQ with half-precision scales on random Hessians, then the layers' own codes written as blocks: Q4_0
    /// and Q8_0 hold the model exactly (the reloaded weights are the fake-quantized ones, bit for bit), Q4_1
    /// up to its half-precision minimum.
    @Test func weightOnlyQuantizedLayersAreWrittenWithTheirOwnCodes() throws {
        let source = try GGUFFile(path: Self.tinyLlama)
        let model = try LlamaModel(gguf: source)
        let cases: [(GGMLType, TensorQuantizer)] = [(.q4_0, .integer(.int4, .symmetric, .perGroup(size: 32))),
                                                    (.q8_0, .integer(.int8, .symmetric, .perGroup(size: 32))),
                                                    (.q4_1, .integer(.int4, .asymmetric, .perGroup(size: 32)))]
        for (ggml, quantizer) in cases {
            let gptq = GPTQ(searchesClipping: true, halfPrecisionScales: true)
            let quantized = try model.mapLinearLayers { layer throws(QuantaError) in
                guard let float = layer as? FloatLinear, layer.name != LlamaModel.headName else { return layer }
                let n = float.inFeatures, x = TestData.gaussian(rows: 4 * n, columns: n, seed: 3)
                var hessian = [Float](repeating: 0, count: n * n)   // X^T X
                for t in 0..<x.rows { for i in 0..<n { for j in 0..<n { hessian[i * n + j] += x[t, i] * x[t, j] } } }
                return try gptq.quantize(float, weight: quantizer, activation: nil, hessian: hessian)
            }
            let path = FileManager.default.temporaryDirectory.appendingPathComponent("quanta-gptq-\(UUID().uuidString).gguf").path
            defer { try? FileManager.default.removeItem(atPath: path) }
            try GGUFExport(type: ggml).write(quantized, source: source, to: path)
            let file = try GGUFFile(path: path)
            for layer in quantized.allLinearLayers {
                guard let fake = layer as? FakeQuantizedLinear else { continue }
                let stored = try file.floats(layer.name + ".weight")
                let expected = fake.quantized.weight.storage
                if ggml == .q4_1 {
                    let step = fake.weightParameters!.scales.max()!
                    #expect(zip(stored, expected).allSatisfy { abs($0 - $1) <= 0.01 * step }, "\(ggml.name) \(layer.name)")
                } else {
                    #expect(stored == expected, "\(ggml.name) \(layer.name): the file holds other weights than GPTQ's")
                }
            }
        }
        // A layer whose input is quantized, or whose groups are not 32 wide, is refused by name.
        let w8a8 = try FakeQuantizedLinear(model.blocks[0].query as! FloatLinear, weight: .integer(.int8, .symmetric, .perGroup(size: 32)),
                                           activation: .integer(.int8, .symmetric, .perToken))
        #expect(throws: QuantaError.self) { try GGUFExport.blocks(of: w8a8, as: .q8_0) }
        let g64 = try FakeQuantizedLinear(model.blocks[0].query as! FloatLinear, weight: .integer(.int4, .symmetric, .perGroup(size: 64)), activation: nil)
        #expect(throws: QuantaError.self) { try GGUFExport.blocks(of: g64, as: .q4_0) }
    }

    @Test func badInputIsAClearError() throws {
        var values = [Float](repeating: 0.5, count: 64)
        values[37] = .nan
        #expect(throws: QuantaError.self) { try GGMLType.q4_0.quantize(values, tensor: "blk.1.ffn_up.weight") }
        #expect(throws: QuantaError.self) { try GGMLType.q8_0.quantize([1, 2, 3], tensor: "x") }
        let bad = GGUFFile.MetadataEntry(key: "llama.block_count", type: .uint8, value: .uint(300))
        #expect(throws: QuantaError.self) { try GGUFWriter.encode(metadata: [bad], tensors: [], path: "x.gguf") }
    }
}
