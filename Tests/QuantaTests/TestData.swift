import Foundation
import Quanta

/// Reproducible random matrices for tests.
enum TestData {
    static func gaussian(rows: Int, columns: Int, seed: UInt64, scale: Float = 1) -> Matrix<Float> {
        var generator = SplitMix64(seed: seed)
        let values = (0..<rows * columns).map { _ -> Float in
            // Box-Muller.
            let u = Float.random(in: Float.ulpOfOne..<1, using: &generator), v = Float.random(in: 0..<1, using: &generator)
            return scale * (-2 * log(u)).squareRoot() * cos(2 * .pi * v)
        }
        return try! Matrix(rows: rows, columns: columns, storage: values)
    }

    static func int8(rows: Int, columns: Int, seed: UInt64, range: ClosedRange<Int8> = -127...127) -> Matrix<Int8> {
        var generator = SplitMix64(seed: seed)
        return try! Matrix(rows: rows, columns: columns,
                           storage: (0..<rows * columns).map { _ in Int8.random(in: range, using: &generator) })
    }
}

