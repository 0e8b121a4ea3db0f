import Foundation
import Testing
import Quanta

/// Builds small GGUF files byte by byte (the test's own writer, independent of the reader).
struct GGUFBuilder {
    var metadata = Data(), metadataCount = 0
    var infos = Data(), tensorCount = 0
    var body = Data()

    static func string(_ s: String) -> Data { le(UInt64(s.utf8.count)) + Data(s.utf8) }
    static func le<T: FixedWidthInteger>(_ v: T) -> Data { withUnsafeBytes(of: v.littleEndian) { Data($0) } }

    mutating func add(_ key: String, type: UInt32, _ payload: Data) {
        metadata += Self.string(key) + Self.le(type) + payload
        metadataCount += 1
    }

    mutating func addTensor(_ name: String, dims: [Int], type: UInt32, bytes: Data) {
        while body.count % 32 != 0 { body.append(0) }
        infos += Self.string(name) + Self.le(UInt32(dims.count))
        for d in dims { infos += Self.le(UInt64(d)) }
        infos += Self.le(type) + Self.le(UInt64(body.count))
        body += bytes
        tensorCount += 1
    }

    func build() -> Data {
        var out = Data("GGUF".utf8) + Self.le(UInt32(3)) + Self.le(UInt64(tensorCount)) + Self.le(UInt64(metadataCount))
        out += metadata + infos
        while out.count % 32 != 0 { out.append(0) }
        return out + body
    }
}

@Suite struct GGUFTests {
    static func sample() -> Data {
        var b = GGUFBuilder()
        b.add("u8", type: 0, Data([200]))
        b.add("i8", type: 1, Data([0xFE]))
        b.add("u16", type: 2, GGUFBuilder.le(UInt16(60000)))
        b.add("i16", type: 3, GGUFBuilder.le(Int16(-300)))
        b.add("u32", type: 4, GGUFBuilder.le(UInt32(4_000_000_000)))
        b.add("i32", type: 5, GGUFBuilder.le(Int32(-7)))
        b.add("f32", type: 6, GGUFBuilder.le(Float(1e5).bitPattern))
        b.add("bool", type: 7, Data([1]))
        b.add("str", type: 8, GGUFBuilder.string("héllo"))
        b.add("arr", type: 9, GGUFBuilder.le(UInt32(8)) + GGUFBuilder.le(UInt64(2)) + GGUFBuilder.string("a") + GGUFBuilder.string("bc"))
        b.add("u64", type: 10, GGUFBuilder.le(UInt64.max))
        b.add("i64", type: 11, GGUFBuilder.le(Int64.min))
        b.add("f64", type: 12, GGUFBuilder.le((0.1).bitPattern))
        b.addTensor("f32", dims: [3, 2], type: 0, bytes: [1, 2, 3, 4, 5, -6].map { GGUFBuilder.le(Float($0).bitPattern) }.reduce(Data(), +))
        b.addTensor("f16", dims: [2], type: 1, bytes: GGUFBuilder.le(UInt16(0x3C00)) + GGUFBuilder.le(UInt16(0xC000)))
        // Q8_0: d = 0.5, q = -16..15
        b.addTensor("q8", dims: [32], type: 8, bytes: GGUFBuilder.le(UInt16(0x3800)) + Data((0..<32).map { UInt8(bitPattern: Int8($0 - 16)) }))
        // Q4_0: d = 2, nibbles j -> (j % 16)
        b.addTensor("q40", dims: [32], type: 2, bytes: GGUFBuilder.le(UInt16(0x4000)) + Data((0..<16).map { UInt8($0) | UInt8(15 - $0) << 4 }))
        // Q4_1: d = 0.25, m = -1
        b.addTensor("q41", dims: [32], type: 3, bytes: GGUFBuilder.le(UInt16(0x3400)) + GGUFBuilder.le(UInt16(0xBC00)) + Data((0..<16).map { UInt8($0) | UInt8($0) << 4 }))
        return b.build()
    }

    @Test func readsEveryMetadataTypeAndDequantizes() throws {
        let file = try GGUFFile(data: Self.sample(), path: "sample.gguf")
        #expect(file.version == 3)
        #expect(file.metadata["u8"] == .uint(200) && file.metadata["i8"] == .int(-2))
        #expect(file.metadata["u16"] == .uint(60000) && file.metadata["i16"] == .int(-300))
        #expect(file.metadata["u32"] == .uint(4_000_000_000) && file.metadata["i32"] == .int(-7))
        #expect(file.metadata["f32"] == .float(1e5) && file.metadata["bool"] == .bool(true))
        #expect(file.metadata["str"] == .string("héllo") && file.metadata["arr"] == .array([.string("a"), .string("bc")]))
        #expect(file.metadata["u64"] == .uint(.max) && file.metadata["i64"] == .int(.min) && file.metadata["f64"] == .float(0.1))
        #expect(try file.floats("f32", expectedDimensions: [3, 2]) == [1, 2, 3, 4, 5, -6])
        #expect(try file.floats("f16") == [1, -2])
        #expect(try file.floats("q8") == (0..<32).map { Float($0 - 16) * 0.5 })
        #expect(try file.floats("q40") == (0..<16).map { Float($0 - 8) * 2 } + (0..<16).map { Float(15 - $0 - 8) * 2 })
        #expect(try file.floats("q41") == ((0..<16).map { Float($0) * 0.25 - 1 }) + (0..<16).map { Float($0) * 0.25 - 1 })
        #expect(throws: QuantaError.self) { try file.floats("f32", expectedDimensions: [2, 3]) }
        #expect(throws: QuantaError.self) { try file.value("missing.key") }
    }

    @Test func corruptFilesGiveNamedErrorsNeverTraps() throws {
        let data = Self.sample()
        func reason(_ bytes: Data) -> String? {
            do { _ = try GGUFFile(data: bytes, path: "bad.gguf"); return nil } catch { return "\(error)" }
        }
        #expect(reason(Data("GGML".utf8) + data.dropFirst(4))?.contains("magic") == true)
        var version = data; version[4] = 9
        #expect(reason(version)?.contains("version 9") == true)
        var hugeCount = data; hugeCount.replaceSubrange(8..<16, with: GGUFBuilder.le(UInt64(1) << 60))
        #expect(reason(hugeCount)?.contains("cannot fit") == true)
        for cut in stride(from: 0, to: data.count - 1, by: 7) {
            #expect(reason(data.prefix(cut)) != nil, "truncated at \(cut)")
        }
        var generator = SplitMix64(seed: 5)
        for _ in 0..<3000 {
            var corrupt = data
            for _ in 0..<Int.random(in: 1...3, using: &generator) {
                let i = Int.random(in: 0..<corrupt.count, using: &generator)
                corrupt[i] ^= UInt8(1) << UInt8.random(in: 0...7, using: &generator)
            }
            if let file = try? GGUFFile(data: corrupt, path: "flipped") {
                for tensor in file.tensors { _ = try file.floats(tensor.name) }
            }
        }
    }
}
