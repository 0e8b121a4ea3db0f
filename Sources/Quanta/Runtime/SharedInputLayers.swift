import QuantaKernels

/// Linear layers that read one input: a decoder block's query, key and value, its gate and up projections.
extension Array where Element == any LinearLayer {
    /// Each layer's `forward(x)`. Decoding (one input row), when every layer is a `FloatLinear` without an input
    /// scale, or every one an `Int8Linear` of one input scheme, the products are split over the threads
    /// together, one fork-join for all instead of one per layer, and the Int8Linears quantize the input once.
    /// Each output is computed by the same kernel on the same operands either way: the bits of
    /// `map { $0.forward(x) }`. (Measured on Zen 4, 2 threads, the int8 GEMVs of a SmolLM2 token as 4 products
    /// per block instead of 7: 10-25% more tokens/s; the cores no longer wait for each other after every layer.)
    public func forward(_ x: Matrix<Float>) -> [Matrix<Float>] {
        guard x.rows == 1, count > 1 else { return map { $0.forward(x) } }
        if let layers = self as? [FloatLinear], layers.allSatisfy({ $0.inputScale == nil && $0.inFeatures == x.columns }) {
            return FloatLinear.gemv(layers, x)
        }
        if let layers = self as? [Int8Linear], let first = layers.first,
           layers.allSatisfy({ $0.inputScale == first.inputScale && $0.staticInput == first.staticInput && $0.blockedInput == first.blockedInput
                                && $0.path == first.path && $0.inFeatures == x.columns }) {
            let a = PaddedActivations(quantizing: x, columnScale: first.inputScale, staticInput: first.staticInput, blocked: first.blockedInput)
            return Int8GEMM.i8f32(a, layers.map { ($0.weight, $0.bias) }, threads: first.threads, path: first.path)
        }
        return map { $0.forward(x) }
    }
}

extension FloatLinear {
    /// x W^T + b of one row x by each layer's weight (`qk_gemv_f32`), the rows of all the weights split over
    /// `BLAS.threads` together.
    static func gemv(_ layers: [FloatLinear], _ x: Matrix<Float>) -> [Matrix<Float>] {
        let widths = layers.map(\.outFeatures), k = x.columns
        var joined = [Float]()
        joined.reserveCapacity(widths.reduce(0, +))
        for layer in layers { joined += layer.bias ?? [Float](repeating: 0, count: layer.outFeatures) }
        let work = widths.reduce(0, +) * k, tasks = work < WorkerPool.minimumWork ? 1 : BLAS.threads
        func nest(_ index: Int, _ weights: [UnsafePointer<Float>], x: UnsafePointer<Float>, y: UnsafeMutablePointer<Float>) {
            guard index < layers.count else {
                WorkerPool.run(tasks) { t in
                    for (l, rows) in WorkerPool.share(of: widths, task: t, of: tasks) {
                        let offset = widths[..<l].reduce(0, +) + rows.lowerBound
                        qk_gemv_f32(weights[l] + rows.lowerBound * k, Int32(rows.count), Int32(k), x, y + offset, layers[l].bias == nil ? 0 : 1, 1)
                    }
                }
                return
            }
            layers[index].weight.storage.withUnsafeBufferPointer { w in nest(index + 1, weights + [w.baseAddress!], x: x, y: y) }
        }
        x.storage.withUnsafeBufferPointer { xp in joined.withUnsafeMutableBufferPointer { yp in nest(0, [], x: xp.baseAddress!, y: yp.baseAddress!) } }
        return try! Matrix(rows: 1, columns: joined.count, storage: joined).splitColumns(widths)
    }
}
