import Foundation
import Testing
import Quanta

/// The INT8 kernels: every path this CPU runs equals the plain integer reference bit for bit, including
/// the codes at their extremes (where an unguarded vpmaddubsw would saturate), ragged shapes and threads.
@Suite struct Int8GEMMTests {
    static func reference(_ a: Matrix<UInt8>, zero: [Int32], _ w: Matrix<Int8>) -> [Int32] {
        var c = [Int32]()
        for i in 0..<a.rows {
            for j in 0..<w.rows {
                var acc: Int32 = 0
                for k in 0..<a.columns { acc += Int32(a[i, k]) * Int32(w[j, k]) }
                c.append(acc + zero[i] * w.row(j).reduce(0) { $0 + Int32($1) })
            }
        }
        return c
    }

    /// Random codes, or with `extreme` every activation code 0 or 255 (a whole row each) and every weight code
    /// at an end of `weights`: full-range weights (with -128) take the AVX2 nibble path, narrow-range ones
    /// (-127...127) the sign trick, whose pair sums peak at 2 * 128 * 127 where a = 0 meets w = -127.
    static func operands(m: Int, n: Int, k: Int, seed: UInt64, extreme: Bool,
                         weights: ClosedRange<Int8> = -128...127) throws -> (Matrix<UInt8>, Matrix<Int8>, [Int32]) {
        var g = SplitMix64(seed: seed)
        let a = try Matrix(rows: m, columns: k, storage: (0..<m * k).map { i in
            extreme ? (i / k % 2 == 0 ? UInt8(255) : 0) : UInt8.random(in: 0...255, using: &g)
        })
        let w = try Matrix(rows: n, columns: k, storage: (0..<n * k).map { i in
            extreme ? (i % 3 == 0 ? weights.upperBound : weights.lowerBound) : Int8.random(in: weights, using: &g)
        })
        let zero = (0..<m).map { _ in Int32.random(in: -255...0, using: &g) }
        return (a, w, zero)
    }

    @Test(arguments: KernelPath.allCases.filter(\.isSupported))
    func everyPathEqualsTheReference(_ path: KernelPath) throws {
        let shapes = [(1, 16, 4, false), (7, 37, 45, false), (13, 64, 130, true), (6, 33, 1027, true), (97, 48, 64, false), (1, 300, 999, false),
                      (230, 40, 70, true)]   // split by rows on 2 threads
        let full: ClosedRange<Int8> = -128...127, narrow: ClosedRange<Int8> = -127...127
        let cases = shapes.map { ($0, full) } + shapes.map { (($0.0 + 2, $0.1 + 15, $0.2, $0.3), narrow) }
        for ((m, n, k, extreme), weights) in cases {
            let (a, w, zero) = try Self.operands(m: m, n: n, k: k, seed: UInt64(m * n + k), extreme: extreme, weights: weights)
            let packed = try PackedInt8Weight(codes: w, scales: [Float](repeating: 1, count: n))
            let activations = PaddedActivations(codes: a, scales: [Float](repeating: 1, count: m), zeroPoints: zero)
            let expected = Self.reference(a, zero: zero, w)
            for threads in [1, 2] {
                var c = Matrix<Int32>(rows: m, columns: n, repeating: 0)
                Int8GEMM.i8i32(activations, packed, into: &c, threads: threads, path: path)
                #expect(c.storage == expected, "\(path) \(m)x\(n)x\(k) weights \(weights) threads \(threads)")
            }
        }
    }

    @Test(arguments: KernelPath.allCases.filter(\.isSupported))
    func dequantizingEpilogueMatchesItsFormula(_ path: KernelPath) throws {
        let (m, n, k) = (9, 41, 70)
        let (a, w, zero) = try Self.operands(m: m, n: n, k: k, seed: 5, extreme: false, weights: -127...127)
        var g = SplitMix64(seed: 9)
        let sa = (0..<m).map { _ in Float.random(in: 0.001...0.1, using: &g) }, sw = (0..<n).map { _ in Float.random(in: 0.001...0.1, using: &g) }
        let bias = (0..<n).map { _ in Float.random(in: -1...1, using: &g) }
        let acc = Self.reference(a, zero: zero, w)
        var y = Matrix<Float>(rows: m, columns: n, repeating: 0)
        Int8GEMM.i8f32(PaddedActivations(codes: a, scales: sa, zeroPoints: zero), try PackedInt8Weight(codes: w, scales: sw), bias: bias, into: &y, threads: 2, path: path)
        for i in 0..<m {
            for j in 0..<n {
                let expected = (sa[i] * sw[j]) * Float(acc[i * n + j]) + bias[j]
                #expect(y[i, j].bitPattern == expected.bitPattern, "\(path) [\(i), \(j)]")
            }
        }
    }

    @Test(arguments: KernelPath.allCases.filter(\.isSupported))
    func requantizingEpilogueEqualsTheReference(_ path: KernelPath) throws {
        let (m, n, k) = (11, 35, 77)
        let (a, w, _) = try Self.operands(m: m, n: n, k: k, seed: 21, extreme: false)
        var g = SplitMix64(seed: 22)
        let sw = (0..<n).map { _ in Float.random(in: 0.001...0.01, using: &g) }, bias = (0..<n).map { _ in Float.random(in: -2...2, using: &g) }
        let x = try QuantizationParameters(scales: [0.02], zeroPoints: [-37], format: .uint8, scheme: .asymmetric, granularity: .perTensor)
        let wp = try QuantizationParameters(scales: sw, zeroPoints: [Int32](repeating: 0, count: n), format: .int8, scheme: .symmetric, granularity: .perChannel)
        let output = try QuantizationParameters(scales: [0.05], zeroPoints: [3], format: .int8, scheme: .asymmetric, granularity: .perTensor)
        let rawAcc = Self.reference(a, zero: [Int32](repeating: 0, count: m), w)
        let expected = try Int8Matmul.requantized(Matrix(rows: m, columns: n, storage: rawAcc), x: x, w: wp,
                                                  weightRowSums: Int8Matmul.weightRowSums(w), bias: bias, output: output)
        var c = Matrix<Int8>(rows: m, columns: n, repeating: 0)
        let activations = PaddedActivations(codes: a, scales: [Float](repeating: 0.02, count: m), zeroPoints: [Int32](repeating: -37, count: m))
        Int8GEMM.i8i8(activations, try PackedInt8Weight(codes: w, scales: sw),
                      requantization: try Requantization(activation: x, weight: wp, channels: n, bias: bias, output: output), into: &c, threads: 2, path: path)
        #expect(c.storage == expected.storage, "\(path)")
        #expect(Set(c.storage).count > 20, "the outputs must spread over the code range")
    }

    /// Power-of-two multipliers put products exactly on rounding ties (and 3e-10 needs a shift beyond the
    /// vector path's range): the SIMD requantization equals the portable one code for code.
    @Test(arguments: KernelPath.allCases.filter { $0 != .portable && $0.isSupported })
    func requantizationRoundsTiesToEvenLikeThePortablePath(_ path: KernelPath) throws {
        let (m, n, k) = (64, 48, 64)
        let (a, w, zero) = try Self.operands(m: m, n: n, k: k, seed: 41, extreme: false, weights: -127...127)
        let packed = try PackedInt8Weight(codes: w, scales: [Float](repeating: 1, count: n))
        let activations = PaddedActivations(codes: a, scales: [Float](repeating: 1, count: m), zeroPoints: zero)
        var totals = Matrix<Int32>(rows: m, columns: n, repeating: 0)
        Int8GEMM.i8i32(activations, packed, into: &totals, threads: 1, path: .portable)
        // Bias codes center each column, so the codes spread over the range instead of saturating.
        let biasCodes = (0..<n).map { j in -(0..<m).map { totals[$0, j] }.sorted()[m / 2] }
        let values: [Double] = [1.0 / 128, 1.0 / 256, 1.0 / 512, 3.0 / 1024, 0.002, 1.0 / 64, 0.7 / 256, 3e-10]
        let multipliers = try (0..<n).map { j throws in try FixedPointMultiplier(values[j % values.count]) }
        let requantization = Requantization(multipliers: multipliers, biasCodes: biasCodes, outputZeroPoint: -5, outputRange: -128...127)
        var expected = Matrix<Int8>(rows: m, columns: n, repeating: 0), actual = expected
        Int8GEMM.i8i8(activations, packed, requantization: requantization, into: &expected, threads: 1, path: .portable)
        Int8GEMM.i8i8(activations, packed, requantization: requantization, into: &actual, threads: 2, path: path)
        #expect(actual.storage == expected.storage, "\(path)")
        #expect(Set(expected.storage).count > 150, "the outputs must spread over the code range")
        // The test means something only if some products sit exactly halfway between two codes.
        let ties = (0..<m * n).filter { at in
            let j = at % n, multiplier = multipliers[j], shift = multiplier.shift
            let product = Int64(totals.storage[at] + biasCodes[j]) * Int64(multiplier.mantissa)
            return shift >= 1 && shift < 63 && product & ((1 << shift) - 1) == 1 << (shift - 1)
        }.count
        #expect(ties >= 5, "\(ties) ties")
    }

    /// A product of many rows is cut into pieces of rows that the workers take one at a time: every epilogue
    /// (int32, float with activation and residual, float from blocks, requantized int8) gives the bits of one
    /// thread's run, on every path.
    @Test(arguments: KernelPath.allCases.filter(\.isSupported))
    func piecesOfRowsGiveTheBitsOfOneThread(_ path: KernelPath) throws {
        let (m, n, k) = (413, 40, 64)
        let (a, w, zero) = try Self.operands(m: m, n: n, k: k, seed: 51, extreme: false, weights: -127...127)
        var g = SplitMix64(seed: 52)
        let sa = (0..<m).map { _ in Float.random(in: 0.001...0.1, using: &g) }, sw = (0..<n).map { _ in Float.random(in: 0.001...0.1, using: &g) }
        let bias = (0..<n).map { Float($0) / 20 - 1 }, residual = TestData.gaussian(rows: m, columns: n, seed: 53)
        let packed = try PackedInt8Weight(codes: w, scales: sw, blockSums: true)
        let activations = PaddedActivations(codes: a, scales: sa, zeroPoints: zero)
        let x = TestData.gaussian(rows: m, columns: k, seed: 54)
        let blocks = PaddedActivations(quantizing: x, columnScale: nil, blocked: true)
        let requantization = try Requantization(multipliers: (0..<n).map { _ in try FixedPointMultiplier(0.0004) }, biasCodes: [Int32](repeating: 0, count: n),
                                                outputZeroPoint: 2, outputRange: -128...127)
        func run(threads: Int) -> ([Int32], [UInt32], [UInt32], [Int8]) {
            var c = Matrix<Int32>(rows: m, columns: n, repeating: 0), y = Matrix<Float>(rows: m, columns: n, repeating: 0), yb = y
            var q = Matrix<Int8>(rows: m, columns: n, repeating: 0)
            Int8GEMM.i8i32(activations, packed, into: &c, threads: threads, path: path)
            Int8GEMM.i8f32(activations, packed, bias: bias, activation: .gelu, residual: residual, into: &y, threads: threads, path: path)
            Int8GEMM.i8f32(blocks, packed, bias: bias, into: &yb, threads: threads, path: path)
            Int8GEMM.i8i8(activations, packed, requantization: requantization, into: &q, threads: threads, path: path)
            return (c.storage, y.storage.map(\.bitPattern), yb.storage.map(\.bitPattern), q.storage)
        }
        let one = run(threads: 1)
        #expect(one.0 == Self.reference(a, zero: zero, w), "\(path)")
        #expect(Set(one.3).count > 50, "the requantized outputs must spread over the code range")
        for threads in [2, 3] {
            let many = run(threads: threads)
            #expect(many.0 == one.0 && many.1 == one.1 && many.2 == one.2 && many.3 == one.3, "\(path), \(threads) threads")
        }
    }

    @Test(arguments: KernelPath.allCases.filter(\.isSupported))
    func activationAndResidualAreFusedIntoTheEpilogue(_ path: KernelPath) throws {
        let (m, n, k) = (5, 40, 33)
        let (a, w, zero) = try Self.operands(m: m, n: n, k: k, seed: 31, extreme: false)
        let sa = [Float](repeating: 0.01, count: m), sw = [Float](repeating: 0.002, count: n)
        let bias = (0..<n).map { Float($0) / 20 - 1 }, residual = TestData.gaussian(rows: m, columns: n, seed: 32)
        let acc = Self.reference(a, zero: zero, w)
        for activation in [Quanta.Activation.gelu, .silu] {
            var y = Matrix<Float>(rows: m, columns: n, repeating: 0)
            Int8GEMM.i8f32(PaddedActivations(codes: a, scales: sa, zeroPoints: zero), try PackedInt8Weight(codes: w, scales: sw), bias: bias,
                           activation: activation, residual: residual, into: &y, threads: 2, path: path)
            let expected = (0..<m * n).map { activation((sa[$0 / n] * sw[$0 % n]) * Float(acc[$0]) + bias[$0 % n]) + residual.storage[$0] }
            #expect(y.storage.map(\.bitPattern) == expected.map(\.bitPattern), "\(path) \(activation)")
        }
    }
}

/// The integer W8A8 Linear computes what its fake-quantized twin computes, up to float rounding, with INT8
/// weights and with INT7 ones (AVX2's direct tile).
@Suite struct Int8LinearTests {
    static let weightSchemes = [Int8Linear.weightScheme, Int8Linear.smallWeightScheme]

    @Test(arguments: weightSchemes) func matchesFakeQuantization(weightScheme: TensorQuantizer) throws {
        var x = TestData.gaussian(rows: 7, columns: 45, seed: 11)
        x[2, 3] = 25   // an outlier token
        for c in 0..<45 { x[5, c] = abs(x[5, c]) + 0.5 }   // an all-positive token
        let w = TestData.gaussian(rows: 21, columns: 45, seed: 12, scale: 0.1)
        let bias = (0..<21).map { Float($0) / 10 }
        for inputScale in [nil, (0..<45).map { 0.5 + Float($0) / 45 }] {
            let float = try FloatLinear(name: "layer", weight: w, bias: bias, inputScale: inputScale)
            let fake = try FakeQuantizedLinear(float, weight: weightScheme, activation: Int8Linear.activationScheme)
            let expected = fake.forward(x)
            for path in KernelPath.allCases.filter(\.isSupported) {
                let integer = try #require(Int8Linear(fake))
                let actual = Int8Linear(name: integer.name, weight: integer.weight, bias: integer.bias, inputScale: integer.inputScale, threads: 2, path: path).forward(x)
                let worst = zip(expected.storage, actual.storage).map { abs($0 - $1) }.max()!
                #expect(worst <= 1e-5 * expected.storage.map(\.magnitude).max()!, "\(path): max |difference| \(worst)")
            }
        }
    }
}

extension Int8LinearTests {
    /// Activations in blocks of 32 (`w8a8-block32`): on every path the integer layer gives its fake-quantized
    /// twin's output to float rounding, an outlier coarsening only its own block; an input width that blocks
    /// do not divide has no integer form (the layer stays fake-quantized).
    @Test(arguments: weightSchemes) func blockedInputsMatchFakeQuantization(weightScheme: TensorQuantizer) throws {
        var x = TestData.gaussian(rows: 9, columns: 96, seed: 15)
        x[2, 40] = 30   // an outlier in the second block
        for c in 0..<96 { x[6, c] = abs(x[6, c]) + 0.5 }   // an all-positive token
        let w = TestData.gaussian(rows: 37, columns: 96, seed: 16, scale: 0.1)
        for inputScale in [nil, (0..<96).map { 0.5 + Float($0) / 96 }] {
            let float = try FloatLinear(name: "layer", weight: w, bias: (0..<37).map { Float($0) / 9 }, inputScale: inputScale)
            let fake = try FakeQuantizedLinear(float, weight: weightScheme, activation: Int8Linear.blockedActivationScheme)
            let expected = fake.forward(x)
            let integer = try #require(Int8Linear(fake))
            #expect(integer.blockedInput)
            for path in KernelPath.allCases.filter(\.isSupported) {
                let actual = Int8Linear(name: integer.name, weight: integer.weight, bias: integer.bias, inputScale: integer.inputScale,
                                        blockedInput: true, threads: 2, path: path).forward(x)
                let worst = zip(expected.storage, actual.storage).map { abs($0 - $1) }.max()!
                #expect(worst <= 1e-5 * expected.storage.map(\.magnitude).max()!, "\(path): max |difference| \(worst)")
            }
        }
        let narrow = try FakeQuantizedLinear(FloatLinear(name: "odd", weight: TestData.gaussian(rows: 5, columns: 45, seed: 17), bias: nil),
                                             weight: Int8Linear.weightScheme, activation: Int8Linear.blockedActivationScheme)
        #expect(Int8Linear(narrow) == nil)
    }
}

extension Int8LinearTests {
    /// LLM.int8() on the integer kernels: the columns beyond the threshold in this input (one the calibration
    /// kept in FP32, one it did not) go to FP32, the rest to symmetric per-token INT8 codes; on every path the
    /// output is the fake-quantized decomposition's to float rounding, and equals it when no column is an outlier.
    @Test func outlierDecompositionMatchesFakeQuantization() throws {
        var x = TestData.gaussian(rows: 8, columns: 48, seed: 18)
        x[1, 5] = 9; x[6, 30] = -12   // column 5 was seen in calibration, column 30 was not
        let w = TestData.gaussian(rows: 23, columns: 48, seed: 19, scale: 0.1)
        var calibrated = [Float](repeating: 1, count: 48)
        calibrated[5] = 8
        let float = try FloatLinear(name: "layer", weight: w, bias: (0..<23).map { Float($0) / 11 })
        let decomposed = try OutlierDecomposedLinear(float, threshold: 6, calibratedMax: calibrated)
        #expect(decomposed.keptColumns == [5] && decomposed.outlierColumns(x) == [5, 30])
        for input in [x, TestData.gaussian(rows: 3, columns: 48, seed: 20)] {
            let expected = decomposed.forward(input)
            for path in KernelPath.allCases.filter(\.isSupported) {
                let integer = try #require(OutlierInt8Linear(decomposed, threads: 2, path: path))
                let actual = integer.forward(input)
                let worst = zip(expected.storage, actual.storage).map { abs($0 - $1) }.max()!
                #expect(worst <= 1e-5 * expected.storage.map(\.magnitude).max()!, "\(path): max |difference| \(worst)")
            }
        }
    }
}

/// Norm + quantize fused equals norm, then quantize, code for code (row order and COL32).
extension Int8LinearTests {
    /// Static recipes: calibrated per-tensor INT8 inputs (symmetric, and asymmetric with a zero point, with and
    /// without SmoothQuant's input scale, values beyond the clipping range included) run on the same kernels.
    @Test func staticInputsMatchFakeQuantization() throws {
        var x = TestData.gaussian(rows: 6, columns: 45, seed: 13)
        x[1, 4] = 40   // clipped
        let w = TestData.gaussian(rows: 19, columns: 45, seed: 14, scale: 0.1)
        let inputs = [try QuantizationParameters(minimum: [-3], maximum: [3], format: .int8, scheme: .symmetric, granularity: .perTensor),
                      try QuantizationParameters(minimum: [-1.5], maximum: [4], format: .int8, scheme: .asymmetric, granularity: .perTensor)]
        for input in inputs {
            for inputScale in [nil, (0..<45).map { 0.5 + Float($0) / 45 }] {
                let float = try FloatLinear(name: "layer", weight: w, bias: (0..<19).map { Float($0) / 7 }, inputScale: inputScale)
                let fake = try FakeQuantizedLinear(float, weight: Int8Linear.weightScheme, activation: .staticInteger(input))
                let integer = try #require(Int8Linear(fake))
                #expect(integer.staticInput != nil)
                let expected = fake.forward(x), actual = integer.forward(x)
                let worst = zip(expected.storage, actual.storage).map { abs($0 - $1) }.max()!
                #expect(worst <= 1e-5 * expected.storage.map(\.magnitude).max()!, "\(input.scheme): max |difference| \(worst)")
            }
        }
    }
}

@Suite struct NormQuantizeTests {
    static func unfused(_ y: Matrix<Float>) throws -> (codes: Matrix<UInt8>, p: QuantizationParameters) {
        let p = try AffineQuantizer.chooseParameters(for: y, format: .uint8, scheme: .asymmetric, granularity: .perToken)
        return (try AffineQuantizer.quantize(y, with: p, as: UInt8.self), p)
    }

    /// Per-token quantization (AVX2 rows, every tail length, many rows split over the cores, with and without
    /// SmoothQuant's column scale) gives the Swift quantizer's codes, scales and zero points exactly.
    @Test func rowQuantizationEqualsTheSwiftQuantizer() throws {
        for (rows, columns) in [(3, 1), (5, 7), (9, 8), (4, 45), (300, 333)] {
            var x = TestData.gaussian(rows: rows, columns: columns, seed: UInt64(rows * columns), scale: 2)
            for c in 0..<columns { x[rows - 1, c] = abs(x[rows - 1, c]) + 0.25 }   // an all-positive row
            let columnScale = (0..<columns).map { 0.5 + Float($0 % 17) / 10 }
            for scale in [nil, columnScale] {
                var scaled = x
                if let scale { for r in 0..<rows { for c in 0..<columns { scaled[r, c] = x[r, c] * scale[c] } } }
                let (codes, p) = try Self.unfused(scaled)
                let a = PaddedActivations(quantizing: x, columnScale: scale)
                for r in 0..<rows { #expect(Array(a.codes[r * a.stride..<r * a.stride + columns]) == Array(codes.row(r)), "\(rows)x\(columns) row \(r)") }
                #expect(a.scales == p.scales && a.zeroPoints == p.zeroPoints, "\(rows)x\(columns)")
            }
        }
    }

    /// Per token in blocks of 32 (`w8a8-block32`'s inputs): the codes, scales and zero points of the Swift
    /// quantizer's per-group parameters exactly, for blocks all positive, all negative, all zero and with an outlier.
    @Test func blockQuantizationEqualsTheSwiftQuantizer() throws {
        var x = TestData.gaussian(rows: 70, columns: 192, seed: 43, scale: 2)
        for c in 0..<32 { x[0, c] = abs(x[0, c]) + 0.1; x[0, 32 + c] = -abs(x[0, 32 + c]) - 0.1; x[0, 64 + c] = 0 }
        x[3, 100] = 250
        let columnScale = (0..<192).map { 0.5 + Float($0 % 17) / 10 }
        for scale in [nil, columnScale] {
            var scaled = x
            if let scale { for r in 0..<70 { for c in 0..<192 { scaled[r, c] = x[r, c] * scale[c] } } }
            let p = try AffineQuantizer.chooseParameters(for: scaled, format: .uint8, scheme: .asymmetric, granularity: .perGroup(size: 32))
            let codes = try AffineQuantizer.quantize(scaled, with: p, as: UInt8.self)
            let a = PaddedActivations(quantizing: x, columnScale: scale, blocked: true)
            for r in 0..<70 { #expect(Array(a.codes[r * a.stride..<r * a.stride + 192]) == Array(codes.row(r)), "row \(r)") }
            #expect(a.scales == p.scales && a.zeroPoints == p.zeroPoints)
        }
    }

    @Test func fusedCodesEqualNormThenQuantize() throws {
        let x = TestData.gaussian(rows: 9, columns: 70, seed: 41, scale: 3)
        let weight = (0..<70).map { 0.5 + Float($0) / 70 }, bias = (0..<70).map { Float($0) / 100 - 0.3 }
        let rms = RMSNorm(weight: weight, epsilon: 1e-5), layer = try LayerNorm(weight: weight, bias: bias, epsilon: 1e-12)
        for (fused, y) in [(NormQuantize.rmsNorm(x, rms), rms(x)), (NormQuantize.layerNorm(x, layer), layer(x))] {
            let (codes, p) = try Self.unfused(y)
            for r in 0..<9 { #expect(Array(fused.codes[r * fused.stride..<r * fused.stride + 70]) == Array(codes.row(r))) }
            #expect(fused.scales == p.scales && fused.zeroPoints == p.zeroPoints)
        }
        let col32 = NormQuantize.rmsNormCOL32(x, rms), (codes, _) = try Self.unfused(rms(x))
        for r in 0..<9 { for c in 0..<70 { #expect(col32.codes[(c / 32) * 32 * 9 + r * 32 + c % 32] == codes[r, c]) } }
    }
}

/// Weight-only UINT8 / UINT4 Linear layers compute their fake-quantized twins' outputs up to float rounding.
@Suite struct WeightOnlyLinearTests {
    @Test func matchesFakeQuantization() throws {
        let w = TestData.gaussian(rows: 37, columns: 256, seed: 51, scale: 0.05)
        let bias = (0..<37).map { Float($0) / 37 }
        for rows in [1, 3, 20] {
            let x = TestData.gaussian(rows: rows, columns: 256, seed: 52)
            for quantizer in [TensorQuantizer.integer(.uint8, .asymmetric, .perChannel), .integer(.uint4, .asymmetric, .perGroup(size: 64)),
                              .integer(.uint4, .asymmetric, .perGroup(size: 128))] {
                let fake = try FakeQuantizedLinear(FloatLinear(name: "layer", weight: w, bias: bias), weight: quantizer, activation: nil)
                let lowered = try #require(WeightOnlyLinear(fake, threads: 2), "\(quantizer)")
                let expected = fake.forward(x), actual = lowered.forward(x)
                let worst = zip(expected.storage, actual.storage).map { abs($0 - $1) }.max()!
                #expect(worst <= 1e-5 * expected.storage.map(\.magnitude).max()!, "\(quantizer) rows \(rows): \(worst)")
                #expect(lowered.weightBytes < w.count * (quantizer.bitsPerElement(columns: 256) > 6 ? 2 : 1))
            }
        }
        // A row length with a 16-code tail after the 32-code steps, and one with a scalar tail.
        for columns in [272, 264] {
            let w2 = TestData.gaussian(rows: 9, columns: columns, seed: 53, scale: 0.05), x = TestData.gaussian(rows: 1, columns: columns, seed: 54)
            let fake = try FakeQuantizedLinear(FloatLinear(name: "layer", weight: w2), weight: .integer(.uint8, .asymmetric, .perChannel), activation: nil)
            let expected = fake.forward(x), actual = try #require(WeightOnlyLinear(fake, threads: 2)).forward(x)
            let worst = zip(expected.storage, actual.storage).map { abs($0 - $1) }.max()!
            #expect(worst <= 1e-5 * expected.storage.map(\.magnitude).max()!, "\(columns) columns: \(worst)")
        }
        // Schemes without a kernel stay as they are.
        let symmetric = try FakeQuantizedLinear(FloatLinear(name: "layer", weight: w), weight: .integer(.int8, .symmetric, .perChannel), activation: nil)
        #expect(WeightOnlyLinear(symmetric) == nil)
    }
}

/// `WorkerPool` (`qk_parallel_for`): every index runs exactly once, from one caller, from nested calls and
/// from callers on several threads at once (which take turns or run their tasks in order themselves).
@Suite struct ThreadPoolTests {
    final class Counts: @unchecked Sendable {
        var counts: [Int32]
        init(_ n: Int) { counts = [Int32](repeating: 0, count: n) }
    }

    static func runCounting(tasks: Int, nested: Bool = false) -> [Int32] {
        let counts = Counts(tasks * (nested ? tasks : 1))
        counts.counts.withUnsafeMutableBufferPointer { buffer in
            let base = buffer.baseAddress!
            WorkerPool.run(tasks) { i in
                if nested {
                    WorkerPool.run(tasks) { j in base[i * tasks + j] += 1 }
                } else {
                    base[i] += 1
                }
            }
        }
        return counts.counts
    }

    @Test func everyTaskRunsOnce() {
        for tasks in [0, 1, 2, 3, 7, 64, 1000] {
            for _ in 0..<20 { #expect(Self.runCounting(tasks: tasks) == [Int32](repeating: 1, count: tasks), "\(tasks) tasks") }
        }
        #expect(Self.runCounting(tasks: 6, nested: true) == [Int32](repeating: 1, count: 36))
    }

    @Test func concurrentCallersEachGetTheirOwnJob() {
        let results = Counts(8)
        DispatchQueue.concurrentPerform(iterations: 8) { caller in
            var ok = true
            for round in 0..<200 {
                let tasks = 1 + (caller + round) % 9
                ok = ok && Self.runCounting(tasks: tasks) == [Int32](repeating: 1, count: tasks)
            }
            results.counts[caller] = ok ? 1 : 0
        }
        #expect(results.counts == [Int32](repeating: 1, count: 8))
    }
}

extension Int8LinearTests {
    /// The fused feed-forward block (`Int8Linear.feedForward`: slices of rows through up, its activation, down's
    /// quantization and down, on each core) gives the bits of the two layers' own forward passes, on every path,
    /// for per-token and blocked inner inputs, with a SmoothQuant column scale, over slices and ragged tails.
    @Test func fusedFeedForwardIsTheTwoLayers() throws {
        var x = TestData.gaussian(rows: 131, columns: 48, seed: 21)
        x[70, 5] = 20   // an outlier token in the second slice
        let up = try FloatLinear(name: "up", weight: TestData.gaussian(rows: 64, columns: 48, seed: 22, scale: 0.2), bias: (0..<64).map { Float($0) / 50 })
        let downWeight = TestData.gaussian(rows: 40, columns: 64, seed: 23, scale: 0.2)
        for (blocked, inputScale) in [(false, nil), (true, nil), (false, (0..<64).map { 0.5 + Float($0) / 64 })] {
            let down = try FloatLinear(name: "down", weight: downWeight, bias: (0..<40).map { Float($0) / 30 }, inputScale: inputScale)
            let scheme = blocked ? Int8Linear.blockedActivationScheme : Int8Linear.activationScheme
            let upInteger = try #require(Int8Linear(FakeQuantizedLinear(up, weight: Int8Linear.weightScheme, activation: Int8Linear.activationScheme)))
            let downInteger = try #require(Int8Linear(FakeQuantizedLinear(down, weight: Int8Linear.weightScheme, activation: scheme)))
            let residual = TestData.gaussian(rows: 131, columns: 40, seed: 24)
            for path in KernelPath.allCases.filter(\.isSupported) {
                let u = Int8Linear(name: "up", weight: upInteger.weight, bias: upInteger.bias, inputScale: nil, threads: 2, path: path)
                let d = Int8Linear(name: "down", weight: downInteger.weight, bias: downInteger.bias, inputScale: downInteger.inputScale,
                                   blockedInput: blocked, threads: 2, path: path)
                let expected = d.forward(u.forward(x, activation: .gelu, residual: nil), activation: nil, residual: residual)
                #expect(Int8Linear.feedForward(x, up: u, activation: .gelu, down: d, residual: residual) == expected, "\(path), blocked \(blocked)")
            }
        }
    }
}
