import QuantaKernels

/// LSQ (Esser et al., 2020), learned step size quantization of a tensor with Quanta's integer parameters:
///
///     u = v * (1 / s),   x~ = s * clamp(rne(u), lower, upper)      (lower, upper: the code range shifted by Z)
///     dx~/dv = 1 if lower <= u <= upper, else 0                     (the straight-through estimator)
///     dx~/ds = rne(u) - u inside, else the bound it is clamped to
///
/// and the step size's gradient is multiplied by g = 1 / sqrt(N * Qp) (N elements share the step, Qp the
/// largest code), so that step sizes and weights learn at comparable rates. The forward pass is exactly
/// `AffineQuantizer.fakeQuantize` with the same parameters, so what trains is what deploys. The elements go
/// through `qk_lsq_rows` in a fixed number of row chunks over the cores, so the sums do not depend on the
/// machine.
public enum LearnedStepSize {
    /// Row chunks of one call (each sums its own scale gradients; the chunks are added in order).
    static let chunks = 8

    /// x~ of `x`, and (when `outputGradient` dL/dx~ is given) dL/dx and dL/ds for every scale of `parameters`.
    public static func fakeQuantize(_ x: Matrix<Float>, _ parameters: QuantizationParameters, outputGradient: Matrix<Float>? = nil)
        -> (value: Matrix<Float>, input: Matrix<Float>?, scales: [Float]?) {
        let range = parameters.codeRange, granularity = parameters.granularity, (rows, columns) = (x.rows, x.columns)
        let count = parameters.scales.count
        guard x.count > 0 else { return (x, outputGradient, outputGradient.map { _ in [Float](repeating: 0, count: count) }) }
        // Every granularity indexes (r, c) as row 0's index of column c plus an offset that depends on r alone.
        let offsets = (0..<columns).map { Int32(granularity.parameterIndex(row: 0, column: $0, columns: columns)) }
        let first = (0..<rows).map { Int32(granularity.parameterIndex(row: $0, column: 0, columns: columns)) - offsets[0] }
        let inverseScales = parameters.scales.map { 1 / $0 }
        let chunks = max(1, min(Self.chunks, rows))
        var value = [Float](repeating: 0, count: x.count)
        var input = [Float](repeating: 0, count: outputGradient == nil ? 0 : x.count)
        var sums = [Double](repeating: 0, count: outputGradient == nil ? 0 : chunks * count)
        x.storage.withUnsafeBufferPointer { xs in value.withUnsafeMutableBufferPointer { values in
        input.withUnsafeMutableBufferPointer { inputs in sums.withUnsafeMutableBufferPointer { sums in
        (outputGradient?.storage ?? []).withUnsafeBufferPointer { dy in
        first.withUnsafeBufferPointer { first in offsets.withUnsafeBufferPointer { offsets in
        parameters.scales.withUnsafeBufferPointer { scales in inverseScales.withUnsafeBufferPointer { inverse in
        parameters.zeroPoints.withUnsafeBufferPointer { zeroPoints in
            // Without a gradient the kernel gets no dy (an empty array's base address need not be nil).
            let training = outputGradient != nil
            let (xs, values) = (xs.baseAddress!, values.baseAddress!)
            let (inputs, sums, dy) = training ? (inputs.baseAddress, sums.baseAddress, dy.baseAddress) : (nil, nil, nil)
            let run = { (chunk: Int) in
                let start = chunk * rows / chunks, end = (chunk + 1) * rows / chunks, at = start * columns
                qk_lsq_rows(xs + at, Int32(end - start), Int32(columns), first.baseAddress! + start, offsets.baseAddress,
                            scales.baseAddress, inverse.baseAddress, zeroPoints.baseAddress, range.lowerBound, range.upperBound,
                            values + at, dy.map { $0 + at }, inputs.map { $0 + at }, sums.map { $0 + chunk * count })
            }
            if x.count >= WorkerPool.minimumWork { WorkerPool.run(chunks, run) } else { (0..<chunks).forEach(run) }
        }}}}}}}}}}
        let valueMatrix = try! Matrix(rows: rows, columns: columns, storage: value)
        guard let outputGradient else { return (valueMatrix, nil, nil) }
        // N per parameter, the elements that share it: each row adds its columns' offsets counted once.
        var columnsAtOffset = [Int](repeating: 0, count: count)
        for c in offsets { columnsAtOffset[Int(c)] += 1 }
        let used = columnsAtOffset.indices.filter { columnsAtOffset[$0] > 0 }
        var shares = [Int](repeating: 0, count: count)
        for r in first { for o in used { shares[Int(r) + o] += columnsAtOffset[o] } }
        let largest = Float(max(range.upperBound, 1))
        let scales = (0..<count).map { p in
            Float((0..<chunks).reduce(0.0) { $0 + sums[$1 * count + p] }) / (Float(max(shares[p], 1)) * largest).squareRoot()
        }
        return (valueMatrix, try! Matrix(rows: outputGradient.rows, columns: outputGradient.columns, storage: input), scales)
    }
}
