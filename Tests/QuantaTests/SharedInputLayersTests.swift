import Foundation
import Testing
import Quanta

/// Layers that read one input run together when decoding (`[any LinearLayer].forward`): the same bits as each
/// layer's own forward, on both GEMV kernels of the FP32 path (one row at a time, 4 rows at a time past
/// k = 2048) and on the int8 path with per-token and blocked inputs, split over two threads.
@Suite struct SharedInputLayersTests {
    static func floatLayers(k: Int, seed: UInt64) throws -> [any LinearLayer] {
        // Widths that split off the 16 grid; one layer with a bias.
        try [(37, true), (24, false), (61, false)].enumerated().map { index, shape in
            let weight = TestData.gaussian(rows: shape.0, columns: k, seed: seed + UInt64(index), scale: 0.1)
            return try FloatLinear(name: "l\(index)", weight: weight,
                                   bias: shape.1 ? TestData.gaussian(rows: 1, columns: shape.0, seed: seed + 9).storage : nil)
        }
    }

    static func int8Layers(k: Int, blocked: Bool, seed: UInt64) throws -> [any LinearLayer] {
        try [(40, true), (16, false), (95, false)].enumerated().map { index, shape in
            let codes = TestData.int8(rows: shape.0, columns: k, seed: seed + UInt64(index))
            let weight = try PackedInt8Weight(codes: codes, scales: (0..<shape.0).map { Float($0 + 1) * 1e-3 }, blockSums: blocked)
            return Int8Linear(name: "q\(index)", weight: weight, bias: shape.1 ? TestData.gaussian(rows: 1, columns: shape.0, seed: seed + 7).storage : nil,
                              inputScale: nil, blockedInput: blocked, threads: 2, path: .best)
        }
    }

    static func expectSameBits(_ layers: [any LinearLayer], _ x: Matrix<Float>, _ what: String) {
        let together = layers.forward(x), alone = layers.map { $0.forward(x) }
        #expect(together.count == alone.count, "\(what)")
        for (index, (a, b)) in zip(together, alone).enumerated() {
            #expect(a.rows == b.rows && a.columns == b.columns, "\(what): layer \(index) shape")
            #expect(a.storage.map(\.bitPattern) == b.storage.map(\.bitPattern), "\(what): layer \(index) differs")
        }
    }

    @Test(arguments: [64, 700, 2100])
    func floatLayersTogetherGiveEachLayersBits(_ k: Int) throws {
        BLAS.setThreads(2)
        let layers = try Self.floatLayers(k: k, seed: 11)
        Self.expectSameBits(layers, TestData.gaussian(rows: 1, columns: k, seed: 3), "FP32, k = \(k)")
        // More than one row: each layer's own product (sgemm), still the same outputs.
        Self.expectSameBits(layers, TestData.gaussian(rows: 3, columns: k, seed: 4), "FP32, 3 rows, k = \(k)")
    }

    @Test(arguments: [false, true])
    func int8LayersTogetherGiveEachLayersBits(_ blocked: Bool) throws {
        let layers = try Self.int8Layers(k: 576, blocked: blocked, seed: 21)
        Self.expectSameBits(layers, TestData.gaussian(rows: 1, columns: 576, seed: 5), blocked ? "int8, blocks" : "int8, per token")
    }

    @Test func mixedLayersFallBackToEachLayersForward() throws {
        let layers = try Self.floatLayers(k: 576, seed: 31) + Self.int8Layers(k: 576, blocked: false, seed: 41)
        Self.expectSameBits(layers, TestData.gaussian(rows: 1, columns: 576, seed: 6), "FP32 and int8")
    }

    /// Every item of the concatenated ranges belongs to exactly one task's share, in order.
    @Test(arguments: [([37, 24, 61], 2), ([5], 3), ([1, 0, 2], 4), ([100, 3, 12, 40], 7)])
    func sharesCoverEveryItemOnce(_ case: ([Int], Int)) {
        let (counts, tasks) = `case`
        var seen = [[Int]](repeating: [], count: counts.count)
        for t in 0..<tasks {
            for (index, range) in WorkerPool.share(of: counts, task: t, of: tasks) { seen[index] += Array(range) }
        }
        #expect(seen == counts.map { Array(0..<$0) })
    }
}
