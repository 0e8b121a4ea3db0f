import QuantaKernels

/// The driver of the training fake-quantization kernels (`qk_lsq_rows`, `qk_low_bit_rows`): every granularity
/// indexes element (r, c) of an [R, C] tensor as parameter p = first[r] + offset[c], so a kernel walks rows with
/// two small index tables. The rows go through the kernel in a fixed number of chunks over the cores, each
/// summing its own scale-gradient terms; the chunks are added in order, so the sums do not depend on the machine.
enum FakeQuantizeRows {
    /// Row chunks of one call.
    static let chunks = 8

    /// One chunk's arguments, offset to its first row: x, rows, columns, first, offset, value, dy, dx, sums.
    typealias Kernel = (UnsafePointer<Float>, Int32, Int32, UnsafePointer<Int32>, UnsafePointer<Int32>,
                        UnsafeMutablePointer<Float>, UnsafePointer<Float>?, UnsafeMutablePointer<Float>?, UnsafeMutablePointer<Double>?) -> Void

    /// x~ of `x`, and with `outputGradient` dL/dx and, per parameter, the summed scale-gradient terms and
    /// N, the number of elements that share it.
    static func run(_ x: Matrix<Float>, granularity: Granularity, parameterCount count: Int, outputGradient: Matrix<Float>?,
                    kernel: Kernel) -> (value: Matrix<Float>, input: Matrix<Float>?, sums: [Double], shares: [Int]) {
        let (rows, columns) = (x.rows, x.columns)
        guard x.count > 0 else {
            return (x, outputGradient, [Double](repeating: 0, count: count), [Int](repeating: 0, count: count))
        }
        let offsets = (0..<columns).map { Int32(granularity.parameterIndex(row: 0, column: $0, columns: columns)) }
        let first = (0..<rows).map { Int32(granularity.parameterIndex(row: $0, column: 0, columns: columns)) - offsets[0] }
        let chunks = max(1, min(Self.chunks, rows))
        var value = [Float](repeating: 0, count: x.count)
        var input = [Float](repeating: 0, count: outputGradient == nil ? 0 : x.count)
        var partial = [Double](repeating: 0, count: outputGradient == nil ? 0 : chunks * count)
        x.storage.withUnsafeBufferPointer { xs in value.withUnsafeMutableBufferPointer { values in
        input.withUnsafeMutableBufferPointer { inputs in partial.withUnsafeMutableBufferPointer { partial in
        (outputGradient?.storage ?? []).withUnsafeBufferPointer { dy in
        first.withUnsafeBufferPointer { first in offsets.withUnsafeBufferPointer { offsets in
            // Without a gradient the kernel gets no dy (an empty array's base address need not be nil).
            let training = outputGradient != nil
            let (xs, values) = (xs.baseAddress!, values.baseAddress!)
            let (inputs, partial, dy) = training ? (inputs.baseAddress, partial.baseAddress, dy.baseAddress) : (nil, nil, nil)
            let run = { (chunk: Int) in
                let start = chunk * rows / chunks, end = (chunk + 1) * rows / chunks, at = start * columns
                kernel(xs + at, Int32(end - start), Int32(columns), first.baseAddress! + start, offsets.baseAddress!,
                       values + at, dy.map { $0 + at }, inputs.map { $0 + at }, partial.map { $0 + chunk * count })
            }
            if x.count >= WorkerPool.minimumWork { WorkerPool.run(chunks, run) } else { (0..<chunks).forEach(run) }
        }}}}}}}
        let valueMatrix = try! Matrix(rows: rows, columns: columns, storage: value)
        guard let outputGradient else { return (valueMatrix, nil, [], []) }
        let sums = (0..<count).map { p in (0..<chunks).reduce(0.0) { $0 + partial[$1 * count + p] } }
        // N per parameter: each row adds its columns' offsets, counted once.
        var columnsAtOffset = [Int](repeating: 0, count: count)
        for c in offsets { columnsAtOffset[Int(c)] += 1 }
        let used = columnsAtOffset.indices.filter { columnsAtOffset[$0] > 0 }
        var shares = [Int](repeating: 0, count: count)
        for r in first { for o in used { shares[Int(r) + o] += columnsAtOffset[o] } }
        return (valueMatrix, try! Matrix(rows: outputGradient.rows, columns: outputGradient.columns, storage: input), sums, shares)
    }
}
