import Foundation
import Testing
import Quanta

@Suite struct SafeTensorsTests {
    static func temporaryPath(_ name: String) -> String {
        FileManager.default.temporaryDirectory.appendingPathComponent("quanta-\(UUID().uuidString)-\(name)").path
    }

    static func sampleFile() throws -> (path: String, data: Data) {
        let path = temporaryPath("sample.safetensors")
        let weights = (0..<12).map { Float($0) * 0.5 - 2 }
        try SafeTensorsWriter.write([
            .init(name: "layer.weight", shape: [3, 4], floats: weights),
            .init(name: "layer.bias", shape: [3], floats: [1, -1, 0.25]),
            .init(name: "codes", type: .i8, shape: [2, 2], bytes: Data([0xFF, 0x01, 0x80, 0x7F])),
            .init(name: "half", type: .f16, shape: [2], bytes: Data([0x00, 0x3C, 0x00, 0xC0])),
            .init(name: "brain", type: .bf16, shape: [1], bytes: Data([0x80, 0x3F])),
        ], metadata: ["format": "pt"], to: path)
        return (path, try Data(contentsOf: URL(fileURLWithPath: path)))
    }

    @Test func writeThenReadRoundTrips() throws {
        let (path, _) = try Self.sampleFile()
        defer { try? FileManager.default.removeItem(atPath: path) }
        let file = try SafeTensorsFile(path: path)
        #expect(file.metadata == ["format": "pt"])
        #expect(file.tensors.map(\.name) == ["layer.weight", "layer.bias", "codes", "half", "brain"])
        let w = try file.floats("layer.weight", expectedShape: [3, 4])
        #expect(w.values == (0..<12).map { Float($0) * 0.5 - 2 })
        #expect(try file.floats("layer.bias").values == [1, -1, 0.25])
        #expect(try file.floats("codes").values == [-1, 1, -128, 127])
        #expect(try file.floats("half").values == [1, -2])
        #expect(try file.floats("brain").values == [1])
        #expect(throws: QuantaError.self) { try file.floats("layer.weight", expectedShape: [4, 3]) }
        #expect(throws: QuantaError.self) { try file.floats("missing") }
    }

    /// Rewrites the header of `data` with `transform`, keeping the data section.
    static func withHeader(_ data: Data, _ transform: (inout [String: Any]) -> Void) throws -> Data {
        let length = Int(data.withUnsafeBytes { $0.loadUnaligned(as: UInt64.self) })
        var header = try JSONSerialization.jsonObject(with: data.subdata(in: 8..<8 + length)) as! [String: Any]
        transform(&header)
        let json = try JSONSerialization.data(withJSONObject: header)
        var out = Data()
        withUnsafeBytes(of: UInt64(json.count).littleEndian) { out.append(contentsOf: $0) }
        return out + json + data.subdata(in: 8 + length..<data.count)
    }

    @Test func corruptHeadersGiveNamedErrors() throws {
        let (path, data) = try Self.sampleFile()
        defer { try? FileManager.default.removeItem(atPath: path) }
        func reason(_ bytes: Data) -> String? {
            do { _ = try SafeTensorsFile(data: bytes, path: "x.safetensors"); return nil } catch { return "\(error)" }
        }
        func set(_ key: String, _ field: String, _ value: Any) throws -> Data {
            try Self.withHeader(data) { header in
                var entry = header[key] as! [String: Any]
                entry[field] = value
                header[key] = entry
            }
        }
        #expect(reason(Data([1, 2, 3]))?.contains("truncated") == true)
        var huge = data
        huge.replaceSubrange(0..<8, with: [0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0x7F])
        #expect(reason(huge)?.contains("header length") == true)
        var notJSON = data
        notJSON[10] = 0x00
        #expect(reason(notJSON)?.contains("JSON") == true)
        #expect(reason(try set("layer.bias", "dtype", "F8_E5M2"))?.contains("'layer.bias': unsupported dtype") == true)
        #expect(reason(try set("layer.bias", "shape", [4]))?.contains("'layer.bias': shape [4]") == true)
        #expect(reason(try set("layer.bias", "shape", [-3]))?.contains("'layer.bias'") == true)
        #expect(reason(try set("layer.bias", "data_offsets", [0, 1_000_000]))?.contains("outside") == true)
        #expect(reason(try set("layer.bias", "data_offsets", [8, 20]))?.contains("overlap") == true)
        #expect(reason(try set("layer.bias", "shape", [Int(1) << 61, 8]))?.contains("overflows") == true)
        #expect(reason(data.prefix(data.count - 3))?.contains("outside") == true)
    }

    @Test func randomBitFlipsNeverTrap() throws {
        let (path, data) = try Self.sampleFile()
        defer { try? FileManager.default.removeItem(atPath: path) }
        var generator = SplitMix64(seed: 99)
        for _ in 0..<3000 {
            var corrupt = data
            for _ in 0..<Int.random(in: 1...4, using: &generator) {
                let i = Int.random(in: 0..<corrupt.count, using: &generator)
                corrupt[i] ^= UInt8(1) << UInt8.random(in: 0...7, using: &generator)
            }
            if Bool.random(using: &generator) { corrupt = corrupt.prefix(Int.random(in: 0...corrupt.count, using: &generator)) }
            // Either a clean error or a file whose every tensor reads within bounds.
            if let file = try? SafeTensorsFile(data: corrupt, path: "flipped") {
                for tensor in file.tensors { _ = try file.floats(tensor.name) }
            }
        }
    }

    @Test func writesAreAtomicAndRefuseBadShapes() throws {
        let path = Self.temporaryPath("bad.safetensors")
        #expect(throws: QuantaError.self) {
            try SafeTensorsWriter.write([.init(name: "w", shape: [2, 3], floats: [1, 2, 3])], to: path)
        }
        #expect(!FileManager.default.fileExists(atPath: path))
        let folder = FileManager.default.temporaryDirectory.path
        #expect(try FileManager.default.contentsOfDirectory(atPath: folder).filter { $0.contains("bad.safetensors") }.isEmpty)
    }
}
