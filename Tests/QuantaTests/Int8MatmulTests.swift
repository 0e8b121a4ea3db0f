import Testing
import Quanta

@Suite struct Int8MatmulTests {
    @Test func i8i32AccumulatesExactlyIncludingTheExtremes() throws {
        let x = TestData.int8(rows: 5, columns: 300, seed: 1, range: -128...127)
        let w = TestData.int8(rows: 7, columns: 300, seed: 2, range: -128...127)
        let y = try Int8Matmul.i8i32(x, w)
        for i in 0..<5 {
            for j in 0..<7 {
                let expected = (0..<300).reduce(0) { $0 + Int(x[i, $1]) * Int(w[j, $1]) }
                #expect(Int(y[i, j]) == expected)
            }
        }
        let worst = try Int8Matmul.i8i32(Matrix(rows: 1, columns: 4096, repeating: -128), Matrix(rows: 1, columns: 4096, repeating: -128))
        #expect(worst[0, 0] == 4096 * 128 * 128)
    }

    @Test func dequantizedEpilogueEqualsTheFloatProductOfTheDequantizedOperands() throws {
        let xf = TestData.gaussian(rows: 6, columns: 96, seed: 3)
        var xs = xf
        for c in 0..<96 { xs[0, c] += 1.5 }   // skew one token so asymmetric zero points matter
        let wf = TestData.gaussian(rows: 10, columns: 96, seed: 4, scale: 0.05)
        let bias = (0..<10).map { Float($0) * 0.1 - 0.4 }
        for scheme in QuantizationScheme.allCases {
            let px = try AffineQuantizer.chooseParameters(for: xs, format: scheme == .symmetric ? .int8 : .uint8,
                                                          scheme: scheme, granularity: .perToken)
            let pw = try AffineQuantizer.chooseParameters(for: wf, granularity: .perChannel)
            let qw = try AffineQuantizer.quantize(wf, with: pw, as: Int8.self)
            // The integer path needs int8 activations: shift unsigned codes by 128 and fold it into Z.
            let qxRaw = try AffineQuantizer.quantize(xs, with: px, as: Int32.self)
            let shift: Int32 = scheme == .symmetric ? 0 : 128
            let qx = try Matrix(rows: qxRaw.rows, columns: qxRaw.columns, storage: qxRaw.storage.map { Int8($0 - shift) })
            let pxShifted = try QuantizationParameters(scales: px.scales, zeroPoints: px.zeroPoints.map { $0 + shift },
                                                       format: .int8, scheme: .asymmetric, granularity: .perToken)
            let acc = try Int8Matmul.i8i32(qx, qw)
            let y = try Int8Matmul.dequantized(acc, x: pxShifted, w: pw, weightRowSums: Int8Matmul.weightRowSums(qw), bias: bias)
            let xd = try AffineQuantizer.dequantize(qxRaw, with: px), wd = try AffineQuantizer.dequantize(qw, with: pw)
            for i in 0..<6 {
                for j in 0..<10 {
                    let reference = (0..<96).reduce(Double(bias[j])) { $0 + Double(xd[i, $1]) * Double(wd[j, $1]) }
                    #expect(abs(Double(y[i, j]) - reference) <= 1e-5 * max(1, abs(reference)), "\(scheme) (\(i), \(j))")
                }
            }
        }
    }

    @Test func requantizedEpilogueMatchesDoublePrecisionRounding() throws {
        let xf = TestData.gaussian(rows: 8, columns: 128, seed: 5)
        let wf = TestData.gaussian(rows: 12, columns: 128, seed: 6, scale: 0.1)
        let px = try AffineQuantizer.chooseParameters(for: xf)
        let pw = try AffineQuantizer.chooseParameters(for: wf, granularity: .perChannel)
        let qx = try AffineQuantizer.quantize(xf, with: px, as: Int8.self), qw = try AffineQuantizer.quantize(wf, with: pw, as: Int8.self)
        let acc = try Int8Matmul.i8i32(qx, qw)
        let bias = (0..<12).map { Float($0 % 3) * 0.2 }
        let yf = try Int8Matmul.dequantized(acc, x: px, w: pw, weightRowSums: Int8Matmul.weightRowSums(qw), bias: bias)
        let py = try AffineQuantizer.chooseParameters(for: yf)
        let y = try Int8Matmul.requantized(acc, x: px, w: pw, weightRowSums: Int8Matmul.weightRowSums(qw), bias: bias, output: py)
        var exact = 0
        for i in 0..<8 {
            for j in 0..<12 {
                let product = Double(px.scales[0]) * Double(pw.scales[j])
                let biasCode = (Double(bias[j]) / product).rounded(.toNearestOrEven)
                let reference = ((Double(acc[i, j]) + biasCode) * product / Double(py.scales[0])).rounded(.toNearestOrEven)
                let clamped = min(max(reference, -127), 127)
                #expect(abs(Double(y[i, j]) - clamped) <= 1)
                if Double(y[i, j]) == clamped { exact += 1 }
            }
        }
        #expect(exact >= 8 * 12 - 1)   // differs only where a product lies within 2^-30 of a tie
    }

    @Test func mismatchedShapesAreErrors() throws {
        let x = TestData.int8(rows: 2, columns: 8, seed: 1), w = TestData.int8(rows: 3, columns: 9, seed: 2)
        #expect(throws: QuantaError.self) { try Int8Matmul.i8i32(x, w) }
    }
}
