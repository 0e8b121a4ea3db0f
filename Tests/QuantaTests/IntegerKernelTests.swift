import Foundation
import Quanta
import QuantaKernels
import Testing

/// The integer encoder's C kernels (integer_kernels.c) against the NumPy fixtures of
/// scripts/fixtures/make_ibert_fixtures.py bit for bit, and the kernels' source against floating point.
@Suite struct IntegerKernelTests {
    static let fixture = IntegerOperatorTests.fixture
    static let integers = IntegerOperatorTests.integers

    /// integer_kernels.c and its header use integer types only: no float, double, long double or half type
    /// appears in either, so nothing between the encoder's integer inputs and outputs can be float.
    @Test func kernelSourceHasNoFloatingPointType() throws {
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        for file in ["Sources/QuantaKernels/integer_kernels.c", "Sources/QuantaKernels/include/integer_kernels.h"] {
            let text = try String(contentsOf: root.appendingPathComponent(file), encoding: .utf8)
            #expect(text.contains("qi_"), "\(file) is not the integer kernels' source")
            // Drop comments, then look for the floating-point type names and literals.
            let code = text.replacingOccurrences(of: #"//[^\n]*|/\*[\s\S]*?\*/"#, with: "", options: .regularExpression)
            for pattern in [#"\b(float|double|_Float16|__fp16|__bf16|_Float32|_Float64|math\.h)\b"#, #"\b\d+\.\d*([eE][-+]?\d+)?f?\b"#] {
                #expect(code.range(of: pattern, options: .regularExpression) == nil, "\(file) matches \(pattern)")
            }
        }
    }

    @Test func squareRootGELUAndLayerNormMatchTheReference() throws {
        for entry in Self.fixture("isqrt") as! [[String: String]] {
            #expect(qi_sqrt(UInt64(entry["n"]!)!) == UInt64(entry["root"]!)!)
        }
        for entry in Self.fixture("gelu") as! [[String: Any]] {
            let gelu = try IntegerGELU(inputScale: Double(entry["input_scale"] as! String)!)
            var constants = gelu.kernelConstants
            #expect(Self.integers(entry["q"]).map { qi_gelu_code($0, &constants) } == Self.integers(entry["out"]))
        }
        for entry in Self.fixture("layer_norm") as! [[String: Any]] {
            let weight = (entry["weight"] as! [NSNumber]).map(\.floatValue), bias = (entry["bias"] as! [NSNumber]).map(\.floatValue)
            let norm = try IntegerLayerNorm(weight: weight, bias: bias), q = Self.integers(entry["q"])
            // The reference in Swift agrees (widest case included, where starting the shift search at zero overflows).
            #expect(norm(q) == Self.integers(entry["out"]))
            guard q.allSatisfy({ Int64(Int32.min)...Int64(Int32.max) ~= $0 }) else { continue }
            var out = [Int64](repeating: 0, count: q.count)
            qi_layernorm_codes(q.map { Int32($0) }, Int32(q.count), norm.biasCodes, &out)
            #expect(out == Self.integers(entry["out"]))
        }
    }

    /// qi_layernorm_rows (gamma and beta folded into the requantization) against float LayerNorm on the fixture
    /// rows, both variants identical.
    @Test func layerNormRowsMatchFloatLayerNorm() throws {
        for entry in Self.fixture("layer_norm") as! [[String: Any]] {
            let weight = (entry["weight"] as! [NSNumber]).map(\.doubleValue), bias = (entry["bias"] as! [NSNumber]).map(\.doubleValue)
            let q = Self.integers(entry["q"]).map { Int32(clamping: $0) }, n = Double(q.count), scale = 1e-6
            let multipliers = try weight.map { w throws(QuantaError) in try IntegerEncoder.dyadic(w * n.squareRoot() / 0x1p22 / scale, bits: 31) }
            let (mantissas, shifts) = (multipliers.map(\.mantissa), multipliers.map(\.shift))
            let biasCodes = bias.map { Int32(($0 / scale).rounded()) }
            var outputs = [[Int32]]()
            for simd: Int32 in [2, 1, 0] {
                var out = [Int32](repeating: 0, count: q.count)
                qi_layernorm_rows(q, 1, Int32(q.count), mantissas, shifts, biasCodes, &out, simd)
                outputs.append(out)
            }
            #expect(outputs[0] == outputs[1] && outputs[1] == outputs[2])
            let x = q.map(Double.init), mean = x.reduce(0, +) / n
            let deviation = (x.map { ($0 - mean) * ($0 - mean) }.reduce(0, +) / n).squareRoot()
            let worst = x.indices.map { c in abs(Double(outputs[0][c]) * scale - ((x[c] - mean) / deviation * weight[c] + bias[c])) }.max()!
            // The integer mean moves every y by up to 1/2 (0.5 / sigma normalised, times gamma <= 2); the variance
            // kept below 2^31 leaves std 15.5 significant bits (relative 2^-15.5 on values up to 3.5, times gamma).
            #expect(worst <= 2 * (0.5 / deviation) + 2 * 3.5 * pow(2, -15.5) + 1e-5, "max |integer LayerNorm - LayerNorm| \(worst) (sigma \(deviation))")
        }
    }

    @Test func softmaxRowsMatchTheReference() throws {
        for entry in Self.fixture("softmax") as! [[String: Any]] {
            let softmax = try IntegerSoftmax(inputScale: Double(entry["input_scale"] as! String)!)
            var constants = softmax.kernelConstants
            let q = Self.integers(entry["q"]).map { Int32($0) }
            var p = [UInt8](repeating: 0, count: q.count)
            for simd: Int32 in [2, 1, 0] {
                #expect(qi_softmax_rows(q, 1, Int32(q.count), Int32(q.count), &constants, &p, Int32(q.count), simd) == 0)
                #expect(p.map(Int64.init) == Self.integers(entry["out"]), "scale \(softmax.inputScale)")
            }
        }
        // A row whose exponentials sum past 2^38 is refused, not wrapped.
        var fine = try IntegerSoftmax(inputScale: 1e-5).kernelConstants
        var p = [UInt8](repeating: 0, count: 64)
        #expect(qi_softmax_rows([Int32](repeating: 0, count: 64), 1, 64, 64, &fine, &p, 64, 1) == -1)
    }

    @Test func rowQuantizationMatchesTheReference() {
        let cases = Self.fixture("quantize_rows") as! [[String: Any]]
        #expect(cases.count == 12)
        for entry in cases {
            let x = Self.integers(entry["x"]).map { Int32($0) }
            var codes = [UInt8](repeating: 0, count: x.count), zero: Int32 = 0, step = qi_multiplier()
            for simd: Int32 in [2, 1, 0] {
                qi_quantize_rows_u8(x, 1, Int32(x.count), Int32(x.count), &codes, Int32(x.count), &zero, &step, simd)
            #expect(codes.map(Int64.init) == Self.integers(entry["codes"]), "row of \(x.max()!)")
            #expect(Int64(zero) == (entry["zero"] as! NSNumber).int64Value)
            #expect(Int64(step.mantissa) == (entry["mantissa"] as! NSNumber).int64Value && Int64(step.shift) == (entry["shift"] as! NSNumber).int64Value)
            // x ~ step (Q + Z) to within half a step (plus the step's own rounding up).
            let size = Double(step.mantissa) * pow(2, -Double(step.shift))
            let worst = x.indices.map { abs(Double(x[$0]) - size * Double(Int32(codes[$0]) + zero)) }.max()!
            #expect(worst <= 0.5 * size + 1e-9 * Double(x.map(\.magnitude).max()!), "error \(worst), step \(size)")
            }
        }
    }

    @Test func requantizationMatchesTheReference() {
        let cases = Self.fixture("requantize") as! [[String: Any]]
        #expect(cases.count == 400)
        for entry in cases {
            func pair(_ key: String) -> [Int32] { (entry[key] as! [NSNumber]).map(\.int32Value) }
            let (row, column, scale, range) = (pair("row"), pair("column"), pair("residual_scale"), pair("range"))
            var out32: Int32 = 0, out8: Int8 = 0
            let t = (entry["t"] as! NSNumber).int32Value, bias = (entry["bias"] as! NSNumber).int32Value
            let residual = (entry["residual"] as! NSNumber).int32Value, expected = (entry["out"] as! NSNumber).int64Value
            var rowStep = qi_multiplier(mantissa: row[0], shift: row[1]), (mu, sigma) = (column[0], column[1])
            var b = bias, r = residual, product = t
            for simd: Int32 in [2, 1, 0] {
                qi_requantize(&product, 1, 1, 1, &rowStep, &mu, &sigma, &b, &r, 1, qi_multiplier(mantissa: scale[0], shift: scale[1]),
                              range[0], range[1], &out32, nil, 1, simd)
                #expect(Int64(out32) == expected)
                if range[1] == 127 {
                    qi_requantize(&product, 1, 1, 1, &rowStep, &mu, &sigma, &b, &r, 1, qi_multiplier(mantissa: scale[0], shift: scale[1]),
                                  range[0], range[1], nil, &out8, 1, simd)
                    #expect(Int64(out8) == expected)
                }
            }
        }
    }
}
