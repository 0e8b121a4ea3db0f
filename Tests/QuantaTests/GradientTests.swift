import Foundation
import Quanta
import Testing

/// Every backward function against central differences of its own forward pass: for a loss
/// L = sum r * f(inputs) with a fixed random r, the analytic dL/dx (the backward of dL/dy = r) is compared with
/// (L(x + e v) - L(x - e v)) / 2e along random directions v.
@Suite struct GradientTests {
    /// sum r * y in Double.
    static func weightedSum(_ y: Matrix<Float>, _ r: Matrix<Float>) -> Double {
        zip(y.storage, r.storage).reduce(0) { $0 + Double($1.0) * Double($1.1) }
    }

    /// Expects <analytic, v> to match the central difference of `loss` at `x` along three random directions v.
    static func expectGradient(_ name: String, at x: Matrix<Float>, analytic: Matrix<Float>, seed: UInt64, epsilon: Float = 1e-2,
                               tolerance: Double = 2e-3, _ loss: (Matrix<Float>) -> Double) {
        #expect(analytic.rows == x.rows && analytic.columns == x.columns, "\(name): gradient shape \(analytic.shape) for \(x.shape)")
        for direction in 0..<3 {
            let v = TestData.gaussian(rows: x.rows, columns: x.columns, seed: seed &+ UInt64(direction))
            var plus = x, minus = x
            for i in 0..<x.count { plus.storage[i] += epsilon * v.storage[i]; minus.storage[i] -= epsilon * v.storage[i] }
            let numeric = (loss(plus) - loss(minus)) / (2 * Double(epsilon))
            let predicted = weightedSum(analytic, v)
            #expect(abs(numeric - predicted) <= tolerance * max(1, abs(predicted)), "\(name): analytic \(predicted), central difference \(numeric)")
        }
    }

    static func row(_ values: [Float]) -> Matrix<Float> { try! Matrix(rows: 1, columns: values.count, storage: values) }

    @Test func linearWithBiasAndInputScale() throws {
        let x = TestData.gaussian(rows: 5, columns: 7, seed: 1), w = TestData.gaussian(rows: 4, columns: 7, seed: 2)
        let bias = TestData.gaussian(rows: 1, columns: 4, seed: 3).storage, scale = TestData.gaussian(rows: 1, columns: 7, seed: 4).storage
        let r = TestData.gaussian(rows: 5, columns: 4, seed: 5)
        let layer = try FloatLinear(name: "l", weight: w, bias: bias, inputScale: scale)
        let g = layer.backward(input: x, outputGradient: r)
        Self.expectGradient("dX", at: x, analytic: g.input, seed: 10) { Self.weightedSum(layer.forward($0), r) }
        Self.expectGradient("dW", at: w, analytic: g.weight, seed: 20) {
            Self.weightedSum(try! FloatLinear(name: "l", weight: $0, bias: bias, inputScale: scale).forward(x), r)
        }
        Self.expectGradient("db", at: Self.row(bias), analytic: Self.row(try #require(g.bias)), seed: 30) {
            Self.weightedSum(try! FloatLinear(name: "l", weight: w, bias: $0.storage, inputScale: scale).forward(x), r)
        }
    }

    @Test func rmsNorm() {
        let x = TestData.gaussian(rows: 4, columns: 16, seed: 1), weight = TestData.gaussian(rows: 1, columns: 16, seed: 2).storage
        let r = TestData.gaussian(rows: 4, columns: 16, seed: 3)
        let norm = RMSNorm(weight: weight, epsilon: 1e-5)
        let g = norm.backward(input: x, outputGradient: r)
        Self.expectGradient("dx", at: x, analytic: g.input, seed: 10) { Self.weightedSum(norm($0), r) }
        Self.expectGradient("dw", at: Self.row(weight), analytic: Self.row(g.weight), seed: 20) {
            Self.weightedSum(RMSNorm(weight: $0.storage, epsilon: 1e-5)(x), r)
        }
    }

    @Test func layerNorm() throws {
        let x = TestData.gaussian(rows: 4, columns: 16, seed: 1, scale: 3)
        let weight = TestData.gaussian(rows: 1, columns: 16, seed: 2).storage, bias = TestData.gaussian(rows: 1, columns: 16, seed: 3).storage
        let r = TestData.gaussian(rows: 4, columns: 16, seed: 4)
        let norm = try LayerNorm(weight: weight, bias: bias, epsilon: 1e-12)
        let g = norm.backward(input: x, outputGradient: r)
        Self.expectGradient("dx", at: x, analytic: g.input, seed: 10) { Self.weightedSum(norm($0), r) }
        Self.expectGradient("dw", at: Self.row(weight), analytic: Self.row(g.weight), seed: 20) {
            Self.weightedSum(try! LayerNorm(weight: $0.storage, bias: bias, epsilon: 1e-12)(x), r)
        }
        Self.expectGradient("db", at: Self.row(bias), analytic: Self.row(g.bias), seed: 30) {
            Self.weightedSum(try! LayerNorm(weight: weight, bias: $0.storage, epsilon: 1e-12)(x), r)
        }
    }

    @Test(arguments: [Activation.gelu, .silu]) func activation(_ f: Activation) {
        let x = TestData.gaussian(rows: 3, columns: 20, seed: 1, scale: 2), r = TestData.gaussian(rows: 3, columns: 20, seed: 2)
        let applied = { (x: Matrix<Float>) -> Matrix<Float> in var y = x; y.apply(f); return y }
        Self.expectGradient("\(f)", at: x, analytic: x.activationGradient(f, outputGradient: r), seed: 10) { Self.weightedSum(applied($0), r) }
    }

    @Test func swiGLU() {
        let gate = TestData.gaussian(rows: 3, columns: 12, seed: 1, scale: 2), up = TestData.gaussian(rows: 3, columns: 12, seed: 2)
        let r = TestData.gaussian(rows: 3, columns: 12, seed: 3)
        let forward = { (g: Matrix<Float>, u: Matrix<Float>) -> Matrix<Float> in var h = g; h.siluMultiply(u); return h }
        let grads = gate.swiGLUGradients(up: up, outputGradient: r)
        Self.expectGradient("dgate", at: gate, analytic: grads.gate, seed: 10) { Self.weightedSum(forward($0, up), r) }
        Self.expectGradient("dup", at: up, analytic: grads.up, seed: 20) { Self.weightedSum(forward(gate, $0), r) }
    }

    @Test(arguments: [true, false]) func attention(causal: Bool) throws {
        // Four query heads sharing two key/value heads (grouped-query), head dimension 8, six tokens.
        let attention = try Attention(heads: 4, kvHeads: 2, headDimension: 8)
        let q = TestData.gaussian(rows: 6, columns: 32, seed: 1), k = TestData.gaussian(rows: 6, columns: 16, seed: 2)
        let v = TestData.gaussian(rows: 6, columns: 16, seed: 3), r = TestData.gaussian(rows: 6, columns: 32, seed: 4)
        func forward(_ q: Matrix<Float>, _ k: Matrix<Float>, _ v: Matrix<Float>) -> Matrix<Float> {
            var out = Matrix<Float>(rows: 6, columns: 32, repeating: 0)
            q.storage.withUnsafeBufferPointer { qp in k.storage.withUnsafeBufferPointer { kp in v.storage.withUnsafeBufferPointer { vp in
                out.storage.withUnsafeMutableBufferPointer { op in
                    attention(queries: qp.baseAddress!, queryCount: 6, keys: kp.baseAddress!, values: vp.baseAddress!, keyCount: 6,
                              causalOffset: causal ? 0 : nil, output: op.baseAddress!)
                }
            }}}
            return out
        }
        let g = attention.backward(queries: q, keys: k, values: v, causal: causal, outputGradient: r)
        Self.expectGradient("dQ", at: q, analytic: g.queries, seed: 10) { Self.weightedSum(forward($0, k, v), r) }
        Self.expectGradient("dK", at: k, analytic: g.keys, seed: 20) { Self.weightedSum(forward(q, $0, v), r) }
        Self.expectGradient("dV", at: v, analytic: g.values, seed: 30) { Self.weightedSum(forward(q, k, $0), r) }
    }

    @Test func losses() throws {
        let logits = TestData.gaussian(rows: 5, columns: 11, seed: 1, scale: 2), teacher = TestData.gaussian(rows: 5, columns: 11, seed: 2, scale: 2)
        let targets: [Int32] = [0, 3, 10, 7, 3]
        let crossEntropy = try LossFunction.crossEntropy(logits: logits, targets: targets)
        Self.expectGradient("cross-entropy", at: logits, analytic: crossEntropy.gradient, seed: 10) {
            try! LossFunction.crossEntropy(logits: $0, targets: targets).loss
        }
        // Uniform logits: every token costs log(classes).
        let uniform = Matrix<Float>(rows: 2, columns: 11, repeating: 0.5)
        #expect(abs(try LossFunction.crossEntropy(logits: uniform, targets: [1, 2]).loss - log(11)) < 1e-9)
        let kl = try LossFunction.klDivergence(student: logits, teacher: teacher)
        #expect(kl.loss > 0)
        #expect(abs(try LossFunction.klDivergence(student: teacher, teacher: teacher).loss) < 1e-7)
        Self.expectGradient("KL", at: logits, analytic: kl.gradient, seed: 20) { try! LossFunction.klDivergence(student: $0, teacher: teacher).loss }
        let mse = try LossFunction.meanSquaredError(logits, target: teacher)
        Self.expectGradient("MSE", at: logits, analytic: mse.gradient, seed: 30) { try! LossFunction.meanSquaredError($0, target: teacher).loss }
        #expect(throws: QuantaError.self) { try LossFunction.crossEntropy(logits: logits, targets: [0, 1, 2, 3, 11]) }
        #expect(throws: QuantaError.self) { try LossFunction.klDivergence(student: logits, teacher: uniform) }
    }

    @Test func adamWFirstStepsMatchTheFormula() {
        // Step 1: the bias-corrected moments are g and g^2, so the update is lr g / (|g| + eps) after the decay.
        var optimizer = AdamW(weightDecay: 0.1)
        var p: [Float] = [1, -2, 0.5], gradient: [Float] = [0.3, -4, 0]
        optimizer.beginStep()
        optimizer.update("p", &p, gradient: gradient, rate: 0.01)
        let expected: [Float] = [1 * 0.999 - 0.01 * 0.3 / (0.3 + 1e-8), -2 * 0.999 + 0.01 * 4 / (4 + 1e-8), 0.5 * 0.999]
        for (a, b) in zip(p, expected) { #expect(abs(a - b) < 1e-6) }
        // Step 2 with the same gradient: m = g, v = g^2 again after correction; the same step size.
        let before = p
        optimizer.beginStep()
        optimizer.update("p", &p, gradient: gradient, rate: 0.01)
        #expect(abs((before[0] * 0.999 - p[0]) - 0.01) < 1e-6)
        gradient = [1, 1, 1]
        var q: [Float] = [0, 0, 0]
        optimizer.update("q", &q, gradient: gradient, rate: 0.5)   // a new parameter starts with zero moments at step 2
        #expect(q.allSatisfy { abs($0 + 0.5 * (0.1 / 0.19) / ((0.001 / (1 - 0.999 * 0.999)).squareRoot() + 1e-8)) < 1e-5 })
    }

    @Test func cosineScheduleAndClipping() {
        let schedule = CosineSchedule(peak: 1, floor: 0.1, warmup: 4, total: 104)
        #expect(schedule.rate(at: 0) == 0.25 && schedule.rate(at: 3) == 1)
        #expect(abs(schedule.rate(at: 54) - 0.55) < 1e-6)
        #expect(abs(schedule.rate(at: 104) - 0.1) < 1e-6)
        var gradients = ParameterGradients()
        gradients.add("a", [3, 0])
        gradients.add("b", [0, 4])
        #expect(gradients.clip(toGlobalNorm: 1) == 5)
        #expect(abs(gradients["a"]![0] - 0.6) < 1e-6 && abs(gradients["b"]![1] - 0.8) < 1e-6)
        var small = ParameterGradients()
        small.add("a", [0.1])
        small.clip(toGlobalNorm: 1)
        #expect(small["a"] == [0.1])
    }
}
