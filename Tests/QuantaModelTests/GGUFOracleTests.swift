import Foundation
import Testing
import Quanta

/// GGUF dequantization against the `gguf` package's dequantizers on the real SmolLM2 file.
@Suite struct GGUFOracleTests {
    @Test func dequantizedTensorsMatchTheGGUFPackage() throws {
        let fixture = try ModelFixtures.json("smollm2-gguf-dequant.json")
        let file = try GGUFFile(path: try ModelFixtures.assets().smolLM2File)
        for tensor in fixture["tensors"] as! [[String: Any]] {
            let name = tensor["name"] as! String
            let values = try file.floats(name, expectedDimensions: (tensor["ne"] as! [Int]))
            #expect(values.count == tensor["n_elements"] as! Int)
            #expect(Array(values.prefix(256)) == ModelFixtures.floatList(tensor["first"]), "\(name): first 256 values")
            let indices = tensor["sample_indices"] as! [Int]
            #expect(indices.map { values[$0] } == ModelFixtures.floatList(tensor["sample_values"]), "\(name): sampled values")
            let sum = values.reduce(0.0) { $0 + Double($1) }, squares = values.reduce(0.0) { $0 + Double($1) * Double($1) }
            let expectedSum = (tensor["sum"] as! NSNumber).doubleValue, expectedSquares = (tensor["sum_squares"] as! NSNumber).doubleValue
            #expect(abs(sum - expectedSum) <= 1e-6 * max(1, abs(expectedSquares)), "\(name): sum \(sum) vs \(expectedSum)")
            #expect(abs(squares - expectedSquares) <= 1e-9 * expectedSquares, "\(name): sum of squares")
        }
    }
}
