/// An orthogonal rotation of a LLaMA model's residual stream folded into its weights (QuaRot / SpinQuant
/// style), so the FP32 function is unchanged while the activations every Linear reads lose their outlier
/// channels (each rotated channel mixes all the original ones).
///
/// With R orthogonal (R R^T = I) and the RMSNorm weights first folded into the Linears that read them
/// (RMSNorm without weight commutes with R: ||h R|| = ||h||):
///
///     embeddings          E    <- E R                 (the stream becomes h R)
///     readers  q k v gate up, output head   W <- W R   ((h R)(W R)^T = h W^T)
///     writers  attn_output, down            W <- R^T W (the output lands in the rotated stream)
///
/// R = D (H_64 / 8  kron  Q_m): a normalised Sylvester-Hadamard matrix of order 64 (or the largest power of
/// two dividing the width) Kronecker a random orthogonal Q (from Gram-Schmidt of a seeded Gaussian), with
/// random signs D: a randomised Hadamard transform for widths (576 = 64 x 9) that are not a power of two.
/// The tied output embedding becomes a separate output head.
public enum Rotation {
    /// The rotation matrix of order `n` for `seed`.
    public static func matrix(order n: Int, seed: UInt64) -> Matrix<Float> {
        var h = 1
        while n % (2 * h) == 0 && 2 * h <= 64 { h *= 2 }
        let m = n / h
        var generator = SplitMix64(seed: seed)
        // Hadamard of order h (Sylvester), normalised.
        var hadamard = [[Double]](repeating: [1], count: 1)
        while hadamard.count < h {
            hadamard = hadamard.map { $0 + $0 } + hadamard.map { row in row + row.map { -$0 } }
        }
        // Random orthogonal Q of order m: Gram-Schmidt on Gaussian rows.
        var q = [[Double]]()
        while q.count < m {
            var v = (0..<m).map { _ in Double.random(in: -1...1, using: &generator) }
            for u in q { let d = zip(u, v).reduce(0) { $0 + $1.0 * $1.1 }; v = zip(v, u).map { $0 - d * $1 } }
            let norm = v.reduce(0) { $0 + $1 * $1 }.squareRoot()
            if norm > 1e-6 { q.append(v.map { $0 / norm }) }
        }
        let signs = (0..<n).map { _ in Bool.random(using: &generator) ? 1.0 : -1.0 }
        var r = Matrix<Float>(rows: n, columns: n, repeating: 0)
        let scale = 1 / Double(h).squareRoot()
        for i in 0..<h { for a in 0..<m { for j in 0..<h { for b in 0..<m {
            r[i * m + a, j * m + b] = Float(signs[i * m + a] * hadamard[i][j] * scale * q[a][b])
        } } } }
        return r
    }

    /// `model` with its RMSNorm weights folded and its residual stream rotated by `matrix(order:seed:)`.
    public static func fold(into model: LlamaModel, seed: UInt64 = 1) throws(QuantaError) -> LlamaModel {
        let n = model.config.hiddenSize
        let r = matrix(order: n, seed: seed), rT = r.transposed()
        var result = model
        let ones = [Float](repeating: 1, count: n)
        func reader(_ layer: any LinearLayer, norm: [Float]) throws(QuantaError) -> FloatLinear {
            let w = try SmoothQuant.float(layer).scalingColumns(by: norm)
            return try FloatLinear(name: w.name, weight: BLAS.matmulTransposed(w.weight, rT), bias: w.bias, inputScale: w.inputScale)
        }
        func writer(_ layer: any LinearLayer) throws(QuantaError) -> FloatLinear {
            let w = try SmoothQuant.float(layer)
            guard w.bias == nil else { throw .invalidArgument("rotation: \(w.name) has a bias, which the rotation would have to carry") }
            // R^T W = (W^T R)^T: rows of the result are columns of W^T R.
            return try FloatLinear(name: w.name, weight: BLAS.matmulTransposed(rT, w.weight.transposed()), inputScale: w.inputScale)
        }
        for i in result.blocks.indices {
            var block = result.blocks[i]
            let attention = block.attentionNorm.weight, mlp = block.feedForwardNorm.weight
            block.query = try reader(block.query, norm: attention)
            block.key = try reader(block.key, norm: attention)
            block.value = try reader(block.value, norm: attention)
            block.gate = try reader(block.gate, norm: mlp)
            block.up = try reader(block.up, norm: mlp)
            block.output = try writer(block.output)
            block.down = try writer(block.down)
            block.attentionNorm.weight = ones
            block.feedForwardNorm.weight = ones
            result.blocks[i] = block
        }
        result.head = try reader(model.head, norm: model.outputNorm.weight)
        result.outputNorm.weight = ones
        result.tokenEmbeddings = BLAS.matmulTransposed(model.tokenEmbeddings, rT)
        return result
    }
}
