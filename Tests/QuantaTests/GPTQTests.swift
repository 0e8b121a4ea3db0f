import Foundation
import Testing
import Quanta

/// GPTQ against the NumPy port of the reference implementation (scripts/fixtures/make_gptq_fixture.py,
/// Tests/Fixtures/algorithms/gptq.json), and its defining properties.
@Suite struct GPTQTests {
    struct Fixture {
        let w: Matrix<Float>, h: [Float]
        let cases: [[String: Any]]

        init() throws {
            let url = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
                .appendingPathComponent("Fixtures/algorithms/gptq.json")
            let json = try JSONSerialization.jsonObject(with: Data(contentsOf: url)) as! [String: Any]
            let (rows, columns) = (json["rows"] as! Int, json["columns"] as! Int)
            w = try Matrix(rows: rows, columns: columns, storage: (json["w"] as! [Double]).map(Float.init))
            h = (json["h"] as! [Double]).map(Float.init)
            cases = json["cases"] as! [[String: Any]]
        }
    }

    /// The layer's reconstruction loss tr((W - Q) H (W - Q)^T), what GPTQ minimises.
    static func loss(_ w: Matrix<Float>, _ q: Matrix<Float>, _ h: [Float]) -> Double {
        var total = 0.0
        for r in 0..<w.rows {
            let d = (0..<w.columns).map { Double(w[r, $0] - q[r, $0]) }
            for i in 0..<w.columns { for j in 0..<w.columns { total += d[i] * Double(h[i * w.columns + j]) * d[j] } }
        }
        return total
    }

    static func quantizer(_ c: [String: Any]) -> TensorQuantizer {
        let group = c["group"] as! Int
        return c["symmetric"] as! Bool ? .integer(c["bits"] as! Int == 8 ? .int8 : .int4, .symmetric, group == 0 ? .perChannel : .perGroup(size: group))
            : .integer(c["bits"] as! Int == 8 ? .uint8 : .int4, .asymmetric, group == 0 ? .perChannel : .perGroup(size: group))
    }

    /// Each case's weights equal the reference's (the float32 updates may round differently in a few
    /// elements, which then sit one step apart) and its loss matches the reference's to 1%; both beat
    /// round-to-nearest.
    @Test func matchesTheReferenceImplementation() throws {
        let fixture = try Fixture()
        let layer = try FloatLinear(name: "layer", weight: fixture.w, bias: nil)
        for c in fixture.cases {
            let name = c["name"] as! String
            let expected = try Matrix(rows: fixture.w.rows, columns: fixture.w.columns, storage: (c["q"] as! [Double]).map(Float.init))
            let gptq = GPTQ(actOrder: c["act_order"] as! Bool, blockSize: c["block"] as! Int, dampening: 0.01)
            let q = try gptq.quantize(layer, weight: Self.quantizer(c), activation: nil, hessian: fixture.h).quantized.weight
            let equal = zip(q.storage, expected.storage).filter { $0 == $1 }.count
            #expect(Double(equal) >= 0.97 * Double(q.count), "\(name): \(equal) of \(q.count) weights equal the reference")
            let (mine, reference) = (Self.loss(fixture.w, q, fixture.h), Self.loss(fixture.w, expected, fixture.h))
            #expect(abs(mine - reference) <= 0.01 * reference, "\(name): loss \(mine), reference \(reference)")
            let rtn = try FakeQuantizedLinear(layer, weight: Self.quantizer(c), activation: nil).quantized.weight
            #expect(mine < Self.loss(fixture.w, rtn, fixture.h), "\(name): GPTQ does not beat round-to-nearest")
        }
    }

    /// MX and float weights: GPTQ with each block's shared exponent (each tensor's or row's scale) from the unchanged
    /// weight beats round-to-nearest on the fixture's Hessian, and what it returns is on the grid (quantizing it
    /// again by the rule, exponents or scales re-derived from the result, gives back every value), so a stored
    /// model is the one GPTQ optimised.
    @Test(arguments: [TensorQuantizer.mx(.mxint8, blockSize: 32), .mx(.mxfp8e4m3, blockSize: 32), .mx(.mxfp4e2m1, blockSize: 32),
                      .float(.e4m3, perRow: false), .float(.e4m3, perRow: true), .float(.e5m2, perRow: true)])
    func gridWeights(_ quantizer: TensorQuantizer) throws {
        let fixture = try Fixture()
        let layer = try FloatLinear(name: "layer", weight: fixture.w, bias: nil)
        let gptq = try GPTQ(actOrder: true, blockSize: 32).quantize(layer, weight: quantizer, activation: nil, hessian: fixture.h)
        let q = gptq.quantized.weight
        #expect(try quantizer.fakeQuantize(q, tensor: "q") == q)
        // The folder stores the codes of GPTQ's weight, not those of the source's nearest values.
        let coded = try QuantizedModelFolder.Writer.codedWeight(source: layer, quantized: gptq)
        #expect(try StoredWeightTests.roundTrip(coded.values, quantizer) == q)
        let nearest = try FakeQuantizedLinear(layer, weight: quantizer, activation: nil)
        let nearestCoded = try QuantizedModelFolder.Writer.codedWeight(source: layer, quantized: nearest)
        #expect(try StoredWeightTests.roundTrip(nearestCoded.values, quantizer) == nearest.quantized.weight)
        let rtn = try quantizer.fakeQuantize(fixture.w, tensor: "w")
        #expect(Self.loss(fixture.w, q, fixture.h) < 0.9 * Self.loss(fixture.w, rtn, fixture.h))
    }

    /// With a diagonal Hessian the columns are independent: GPTQ rounds exactly as round-to-nearest.
    @Test func diagonalHessianIsRoundToNearest() throws {
        let w = TestData.gaussian(rows: 5, columns: 40, seed: 71, scale: 0.3)
        let layer = try FloatLinear(name: "layer", weight: w, bias: nil)
        var h = [Float](repeating: 0, count: 40 * 40)
        for i in 0..<40 { h[i * 40 + i] = 1 + Float(i % 7) }
        for quantizer in [TensorQuantizer.integer(.int4, .asymmetric, .perGroup(size: 8)), .integer(.int8, .symmetric, .perChannel),
                          .mx(.mxint8, blockSize: 32), .mx(.mxfp4e2m1, blockSize: 32)] {
            let q = try GPTQ(actOrder: true, blockSize: 16).quantize(layer, weight: quantizer, activation: nil, hessian: h)
            let rtn = try FakeQuantizedLinear(layer, weight: quantizer, activation: nil)
            #expect(q.quantized.weight.storage == rtn.quantized.weight.storage, "\(quantizer)")
            #expect(q.weightParameters?.scales == rtn.weightParameters?.scales)
        }
    }

    /// The clipping search never loses to min/max (a = 1 is a candidate) and shrinks a group whose range one
    /// outlier stretches; with a diagonal Hessian GPTQ then rounds each column to nearest on the shrunk scales.
    @Test func clippingSearch() throws {
        var w = TestData.gaussian(rows: 4, columns: 32, seed: 73, scale: 0.1)
        w[0, 3] = 2   // row 0's first group of 16: one outlier twenty times the others
        let importance = (0..<32).map { Float(1 + $0 % 3) }
        let minMax = try AffineQuantizer.chooseParameters(for: w, format: .int4, scheme: .asymmetric, granularity: .perGroup(size: 16), tensor: "w")
        let clipped = try GPTQ.clippedParameters(minMax, for: w, importance: importance)
        func error(_ p: QuantizationParameters, group: Int) throws -> Float {
            let q = try AffineQuantizer.fakeQuantize(w, with: p)
            var sum: Float = 0
            for r in 0..<4 { for c in 0..<32 where p.granularity.parameterIndex(row: r, column: c, columns: 32) == group {
                sum += importance[c] * (w[r, c] - q[r, c]) * (w[r, c] - q[r, c])
            } }
            return sum
        }
        for group in 0..<8 { #expect(try error(clipped, group: group) <= error(minMax, group: group)) }
        #expect(clipped.scales[0] < minMax.scales[0] && clipped.zeroPoints == minMax.zeroPoints)
        var h = [Float](repeating: 0, count: 32 * 32)
        for i in 0..<32 { h[i * 32 + i] = importance[i] }
        let layer = try FloatLinear(name: "layer", weight: w, bias: nil)
        let q = try GPTQ(searchesClipping: true).quantize(layer, weight: .integer(.int4, .asymmetric, .perGroup(size: 16)), activation: nil, hessian: h)
        #expect(q.weightParameters == clipped)
        #expect(q.quantized.weight == (try AffineQuantizer.fakeQuantize(w, with: clipped)))
    }

    /// U^T U (H + lambda I) = I for the factor the column updates use.
    @Test func inverseCholeskyFactor() throws {
        let x = TestData.gaussian(rows: 30, columns: 12, seed: 72)
        var h = [Double](repeating: 0, count: 144)
        for t in 0..<30 { for i in 0..<12 { for j in 0..<12 { h[i * 12 + j] += Double(x[t, i] * x[t, j]) } } }
        let u = try GPTQ.inverseCholeskyFactor(h, n: 12, dampening: 0.01, layer: "test")
        let trace: Double = (0..<12).reduce(0) { $0 + h[$1 * 12 + $1] }
        let lambda = 0.01 * trace / 12
        for i in 0..<12 {
            for j in 0..<12 {
                #expect(i <= j || u[i * 12 + j] == 0)
                var product = 0.0   // (U^T U (H + lambda I))[i, j]
                for k in 0..<12 {
                    var utu = 0.0
                    for l in 0..<12 { utu += u[l * 12 + i] * u[l * 12 + k] }
                    let damped: Double = h[k * 12 + j] + (k == j ? lambda : 0)
                    product += utu * damped
                }
                let identity: Double = i == j ? 1 : 0
                #expect(abs(product - identity) < 1e-9, "[\(i), \(j)] = \(product)")
            }
        }
        var singular = [Double](repeating: 0, count: 4)
        singular[0] = -1
        #expect(throws: QuantaError.self) { try GPTQ.inverseCholeskyFactor(singular, n: 2, dampening: 0.01, layer: "bad") }
    }
}
