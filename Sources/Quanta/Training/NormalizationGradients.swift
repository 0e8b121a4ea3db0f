import Foundation

extension RMSNorm {
    /// The backward pass of y = x r w, r = 1 / sqrt(mean(x^2) + eps), per row, given dL/dY `dy`; with g = dy w:
    ///
    ///     dx = r g - r^3 x mean(g x),   dw = sum over rows of dy x r
    public func backward(input x: Matrix<Float>, outputGradient dy: Matrix<Float>) -> (input: Matrix<Float>, weight: [Float]) {
        precondition(x.rows == dy.rows && x.columns == weight.count && dy.columns == weight.count)
        let n = x.columns
        var dx = Matrix<Float>(rows: x.rows, columns: n, repeating: 0)
        var dw = [Double](repeating: 0, count: n)
        for t in 0..<x.rows {
            var squares: Float = 0
            for c in 0..<n { squares += x[t, c] * x[t, c] }
            let r = 1 / (squares / Float(n) + epsilon).squareRoot()
            var gx: Float = 0
            for c in 0..<n { gx += dy[t, c] * weight[c] * x[t, c] }
            let correction = r * r * r * gx / Float(n)
            for c in 0..<n {
                dx[t, c] = r * dy[t, c] * weight[c] - correction * x[t, c]
                dw[c] += Double(dy[t, c] * x[t, c] * r)
            }
        }
        return (dx, dw.map { Float($0) })
    }
}

extension LayerNorm {
    /// The backward pass of y = xhat w + b, xhat = (x - mean) r, r = 1 / sqrt(var + eps), per row; with g = dy w:
    ///
    ///     dx = r (g - mean(g) - xhat mean(g xhat)),   dw = sum over rows of dy xhat,   db = sum over rows of dy
    public func backward(input x: Matrix<Float>, outputGradient dy: Matrix<Float>) -> (input: Matrix<Float>, weight: [Float], bias: [Float]) {
        precondition(x.rows == dy.rows && x.columns == weight.count && dy.columns == weight.count)
        let n = x.columns
        var dx = Matrix<Float>(rows: x.rows, columns: n, repeating: 0)
        var dw = [Double](repeating: 0, count: n), db = [Double](repeating: 0, count: n)
        var normalized = [Float](repeating: 0, count: n)
        for t in 0..<x.rows {
            var mean: Float = 0
            for c in 0..<n { mean += x[t, c] }
            mean /= Float(n)
            var variance: Float = 0
            for c in 0..<n { variance += (x[t, c] - mean) * (x[t, c] - mean) }
            let r = 1 / (variance / Float(n) + epsilon).squareRoot()
            var gMean: Float = 0, gxMean: Float = 0
            for c in 0..<n {
                normalized[c] = (x[t, c] - mean) * r
                let g = dy[t, c] * weight[c]
                gMean += g
                gxMean += g * normalized[c]
                dw[c] += Double(dy[t, c] * normalized[c])
                db[c] += Double(dy[t, c])
            }
            gMean /= Float(n)
            gxMean /= Float(n)
            for c in 0..<n { dx[t, c] = r * (dy[t, c] * weight[c] - gMean - normalized[c] * gxMean) }
        }
        return (dx, dw.map { Float($0) }, db.map { Float($0) })
    }
}

extension Activation {
    /// f'(x): GELU's Phi(x) + x phi(x) (phi the standard normal density, Phi(x) = gelu(x) / x), SiLU's
    /// sigma(x) (1 + x (1 - sigma(x))).
    public func derivative(_ x: Float) -> Float {
        switch self {
        case .gelu:
            let cdf = 0.5 * (1 + erf(x / Float(2).squareRoot()))
            return cdf + x * exp(-0.5 * x * x) / Float(2 * Float.pi).squareRoot()
        case .silu:
            let sigma = 1 / (1 + exp(-x))
            return sigma * (1 + x * (1 - sigma))
        }
    }
}

extension Matrix where Element == Float {
    /// dL/dx of y = f(x) element-wise, given the forward input `self` and dL/dy: dy f'(x).
    public func activationGradient(_ f: Activation, outputGradient dy: Matrix<Float>) -> Matrix<Float> {
        precondition(rows == dy.rows && columns == dy.columns)
        var dx = dy
        for i in 0..<count { dx.storage[i] *= f.derivative(storage[i]) }
        return dx
    }

    /// The backward pass of SwiGLU's h = silu(g) u (`self` = g), given dL/dh:
    /// dg = dh u silu'(g), du = dh silu(g).
    public func swiGLUGradients(up u: Matrix<Float>, outputGradient dh: Matrix<Float>) -> (gate: Matrix<Float>, up: Matrix<Float>) {
        precondition(rows == u.rows && columns == u.columns && rows == dh.rows && columns == dh.columns)
        var (dg, du) = (dh, dh)
        for i in 0..<count {
            let g = storage[i]
            dg.storage[i] *= u.storage[i] * Activation.silu.derivative(g)
            du.storage[i] *= g / (1 + exp(-g))
        }
        return (dg, du)
    }
}
