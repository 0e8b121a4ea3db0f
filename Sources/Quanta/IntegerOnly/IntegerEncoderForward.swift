import Foundation
import QuantaKernels

/// The integer encoder's forward pass: int32, UINT8 and INT8 tensors from the token ids to the last
/// LayerNorm, through integer_kernels.c and the INT8 GEMM in i8i32 mode.
extension IntegerEncoder {
    /// The widest variant of the integer kernels to take (identical results): AVX-512 on `vnni512`, AVX2 on the other
    /// x86 paths (capped by the CPU: `qi_simd_available`), the baseline on `portable`.
    var simd: Int32 { path == .portable ? 0 : path == .vnni512 ? 2 : 1 }

    /// Sentence embeddings of token-id sequences (checked as `BertModel.validate` checks them): the integer encoder's
    /// last LayerNorm codes summed over each sequence (int64), then L2-normalised, the one float step (the mean
    /// and the stream's scale cancel in the normalisation).
    public func embed(_ batch: [[Int32]]) throws(QuantaError) -> [[Float]] {
        let h = try hiddenStates(batch), n = hiddenSize
        var embeddings = [[Float]](), start = 0
        for ids in batch {
            var sums = [Int64](repeating: 0, count: n)
            for r in start..<start + ids.count { for c in 0..<n { sums[c] += Int64(h[r * n + c]) } }
            let norm = max(sums.reduce(0.0) { $0 + Double($1) * Double($1) }.squareRoot(), 1e-300)
            embeddings.append(sums.map { Float(Double($0) / norm) })
            start += ids.count
        }
        return embeddings
    }

    /// The last LayerNorm's int32 codes [tokens, hidden] (row-major) of the stacked sequences; throws unless
    /// every sequence has 1 to `positions` ids, each in the vocabulary.
    public func hiddenStates(_ batch: [[Int32]]) throws(QuantaError) -> [Int32] {
        let n = hiddenSize, lengths = batch.map(\.count), tokens = lengths.reduce(0, +)
        try BertModel.validate(batch, vocabularySize: word.count / n, maxPositions: position.count / n)
        var x = [Int32](repeating: 0, count: tokens * n)
        var row = 0
        for ids in batch {
            for (t, id) in ids.enumerated() {
                for c in 0..<n { x[row * n + c] = word[Int(id) * n + c] &+ position[t * n + c] &+ type[c] }
                row += 1
            }
        }
        var h = normalize(x, rows: tokens, embeddingNorm)
        var input = quantizeRows(h, rows: tokens, columns: n)
        for layer in layers {
            let context = try attention(product(input, layer.queryKeyValue, int8: true).int8, lengths: lengths, softmax: layer.softmax)
            (h, input) = normalizedSum(quantizeRows(context, rows: tokens, columns: n), layer.attentionOutput,
                                       residual: h, residualScale: layer.attentionResidual, norm: layer.attentionNorm)
            input = geluCodes(input, layer)
            (h, input) = normalizedSum(input, layer.output, residual: h, residualScale: layer.outputResidual, norm: layer.outputNorm)
        }
        return h
    }

    /// Rows of the int32 codes per block of the fused steps below: a block of 1536 int32 columns is 96 KB, within L2.
    static let fusedBlock = 16

    /// LayerNorm(requantized product + requantized residual) as the next residual stream h, and h quantized per row
    /// for the next Linear, a block of rows at a time while the block is in cache (the same codes as
    /// `product`, `normalize` and `quantizeRows` one after the other).
    func normalizedSum(_ input: (codes: PaddedActivations, steps: [qi_multiplier]), _ linear: Linear, residual: [Int32],
                       residualScale: qi_multiplier, norm: Norm) -> (h: [Int32], input: (codes: PaddedActivations, steps: [qi_multiplier])) {
        let m = input.codes.rows, n = linear.weight.outFeatures
        var next = (codes: PaddedActivations(rows: m, columns: n, unfilled: true), steps: [qi_multiplier](repeating: qi_multiplier(), count: m))
        let stride = next.codes.stride
        let h = [Int32](unsafeUninitializedCapacity: m * n) { out, count in
            next.codes.codes.withUnsafeMutableBufferPointer { c in next.codes.zeroPoints.withUnsafeMutableBufferPointer { z in
            next.steps.withUnsafeMutableBufferPointer { s in norm.mantissas.withUnsafeBufferPointer { nm in norm.shifts.withUnsafeBufferPointer { ns in
            norm.bias.withUnsafeBufferPointer { nb in
                requantizedBlocks(input, linear, residual: residual, residualScale: residualScale) { rows, sum, _ in
                    let row = out.baseAddress! + rows.lowerBound * n
                    qi_layernorm_rows(sum, Int32(rows.count), Int32(n), nm.baseAddress, ns.baseAddress, nb.baseAddress, row, simd)
                    qi_quantize_rows_u8(row, Int32(rows.count), Int32(n), Int32(n), c.baseAddress! + rows.lowerBound * stride, Int32(stride),
                                        z.baseAddress! + rows.lowerBound, s.baseAddress! + rows.lowerBound, simd)
                }
            }}}}}}
            count = m * n
        }
        return (h, next)
    }

    /// The intermediate Linear's product requantized, through i-GELU and quantized per row for the output Linear,
    /// a block of rows at a time: the [tokens, intermediate] int32 tensors never reach memory.
    func geluCodes(_ input: (codes: PaddedActivations, steps: [qi_multiplier]), _ layer: Layer) -> (codes: PaddedActivations, steps: [qi_multiplier]) {
        let m = input.codes.rows, n = layer.intermediate.weight.outFeatures
        var next = (codes: PaddedActivations(rows: m, columns: n, unfilled: true), steps: [qi_multiplier](repeating: qi_multiplier(), count: m))
        let stride = next.codes.stride
        next.codes.codes.withUnsafeMutableBufferPointer { c in next.codes.zeroPoints.withUnsafeMutableBufferPointer { z in
        next.steps.withUnsafeMutableBufferPointer { s in
            requantizedBlocks(input, layer.intermediate) { rows, sum, gelu in
                var constants = layer.gelu
                qi_gelu_rows(sum, Int64(rows.count * n), &constants, layer.geluNarrowing, layer.geluOutput, gelu, simd)
                qi_quantize_rows_u8(gelu, Int32(rows.count), Int32(n), Int32(n), c.baseAddress! + rows.lowerBound * stride, Int32(stride),
                                    z.baseAddress! + rows.lowerBound, s.baseAddress! + rows.lowerBound, simd)
            }
        }}}
        return next
    }

    /// Integer LayerNorm of each row, requantized per channel (`qi_layernorm_rows`), rows over the cores.
    func normalize(_ x: [Int32], rows: Int, _ norm: Norm) -> [Int32] {
        let n = hiddenSize
        return [Int32](unsafeUninitializedCapacity: x.count) { out, count in
            x.withUnsafeBufferPointer { xp in norm.mantissas.withUnsafeBufferPointer { m in norm.shifts.withUnsafeBufferPointer { s in
            norm.bias.withUnsafeBufferPointer { b in
                WorkerPool.runChunks(rows, work: x.count * 16) { r in
                    qi_layernorm_rows(xp.baseAddress! + r.lowerBound * n, Int32(r.count), Int32(n), m.baseAddress, s.baseAddress, b.baseAddress,
                                      out.baseAddress! + r.lowerBound * n, simd)
                }
            }}}}
            count = x.count
        }
    }

    /// UINT8 codes with a zero point and a dyadic step per row (`qi_quantize_rows_u8`).
    func quantizeRows(_ x: [Int32], rows: Int, columns: Int) -> (codes: PaddedActivations, steps: [qi_multiplier]) {
        var a = PaddedActivations(rows: rows, columns: columns)
        var steps = [qi_multiplier](repeating: qi_multiplier(), count: rows)
        let stride = a.stride
        x.withUnsafeBufferPointer { xp in a.codes.withUnsafeMutableBufferPointer { c in a.zeroPoints.withUnsafeMutableBufferPointer { z in
            steps.withUnsafeMutableBufferPointer { s in
                WorkerPool.runChunks(rows, work: x.count * 4) { r in
                    qi_quantize_rows_u8(xp.baseAddress! + r.lowerBound * columns, Int32(r.count), Int32(columns), Int32(columns),
                                        c.baseAddress! + r.lowerBound * stride, Int32(stride), z.baseAddress! + r.lowerBound,
                                        s.baseAddress! + r.lowerBound, simd)
                }
            }
        }}}
        return (a, steps)
    }

    /// The Linear's int32 product of row-quantized inputs, requantized (`qi_requantize`) to INT8 codes in
    /// [-127, 127] (`int8`) or to int32 stream codes within +-(2^29 - 1), plus the requantized `residual`.
    func product(_ input: (codes: PaddedActivations, steps: [qi_multiplier]), _ linear: Linear, int8: Bool = false,
                 residual: [Int32]? = nil, residualScale: qi_multiplier = qi_multiplier()) -> (int32: [Int32], int8: [Int8]) {
        let m = input.codes.rows, n = linear.weight.outFeatures
        var out32 = [Int32](unsafeUninitializedCapacity: int8 ? 0 : m * n) { $1 = int8 ? 0 : m * n }
        var out8 = [Int8](unsafeUninitializedCapacity: int8 ? m * n : 0) { $1 = int8 ? m * n : 0 }
        out32.withUnsafeMutableBufferPointer { o32 in out8.withUnsafeMutableBufferPointer { o8 in
            productSlices(input, linear) { rows, t, _ in
                requantize(t, rows: rows, input.steps, linear, int8: int8, residual: residual, residualScale: residualScale,
                           out32: int8 ? nil : o32.baseAddress! + rows.lowerBound * n, out8: int8 ? o8.baseAddress! + rows.lowerBound * n : nil)
            }
        }}
        return (out32, out8)
    }

    /// Rows of the i8i32 product per GEMM call in `productSlices`: the kernel's row block (MB), 96 x 1536 int32 =
    /// 576 KB, which the requantization reads back from L2 instead of memory.
    static let productRows = 96

    /// The i8i32 product t = codes W^T, `productRows` rows at a time on each core (at most `threads`), each slice handed to
    /// `consume(rows, t, scratch)` while it is in cache (t: the slice's rows, row stride n; scratch: `scratch`
    /// int32 of the worker's own).
    func productSlices(_ input: (codes: PaddedActivations, steps: [qi_multiplier]), _ linear: Linear, scratch: Int = 0,
                       consume: (Range<Int>, UnsafePointer<Int32>, UnsafeMutablePointer<Int32>) -> Void) {
        let m = input.codes.rows, n = linear.weight.outFeatures
        WorkerPool.runChunks(m, work: m * n * linear.weight.inFeatures, threads: threads) { r in
            let t = UnsafeMutablePointer<Int32>.allocate(capacity: Self.productRows * n + scratch)
            defer { t.deallocate() }
            for start in stride(from: r.lowerBound, to: r.upperBound, by: Self.productRows) {
                let rows = start..<min(start + Self.productRows, r.upperBound)
                Int8GEMM.i8i32(input.codes, rows: rows, linear.weight, into: t, ldc: n, path: path)
                consume(rows, t, t + Self.productRows * n)
            }
        }
    }

    /// `qi_requantize` of the product rows `rows` (t pointing at the first of them, row stride n) into out32 or
    /// out8 (the same).
    func requantize(_ t: UnsafePointer<Int32>, rows: Range<Int>, _ steps: [qi_multiplier], _ linear: Linear, int8: Bool, residual: [Int32]?,
                    residualScale: qi_multiplier, out32: UnsafeMutablePointer<Int32>?, out8: UnsafeMutablePointer<Int8>?) {
        let n = linear.weight.outFeatures, bound: Int32 = int8 ? 127 : (1 << 29) - 1
        steps.withUnsafeBufferPointer { s in
        linear.columnMantissas.withUnsafeBufferPointer { cm in linear.columnShifts.withUnsafeBufferPointer { cs in
        linear.bias.withUnsafeBufferPointer { b in (residual ?? []).withUnsafeBufferPointer { rp in
            qi_requantize(t, Int32(rows.count), Int32(n), Int32(n), s.baseAddress! + rows.lowerBound, cm.baseAddress,
                          cs.baseAddress, b.baseAddress, residual == nil ? nil : rp.baseAddress! + rows.lowerBound * n, Int32(n), residualScale,
                          -bound, bound, out32, out8, Int32(n), simd)
        }}}}}
    }

    /// The Linear's product requantized to int32 stream codes (as `product`), `fusedBlock` rows at a time into a
    /// per-worker scratch that `finish(rows, codes, spare)` consumes while it is in cache; `spare` is a second
    /// scratch of the same size (the integer kernels vectorise only when input and output do not overlap).
    func requantizedBlocks(_ input: (codes: PaddedActivations, steps: [qi_multiplier]), _ linear: Linear, residual: [Int32]? = nil,
                           residualScale: qi_multiplier = qi_multiplier(),
                           finish: (Range<Int>, UnsafeMutablePointer<Int32>, UnsafeMutablePointer<Int32>) -> Void) {
        let n = linear.weight.outFeatures, size = Self.fusedBlock * n
        productSlices(input, linear, scratch: 2 * size) { slice, t, scratch in
            for start in stride(from: slice.lowerBound, to: slice.upperBound, by: Self.fusedBlock) {
                let rows = start..<min(start + Self.fusedBlock, slice.upperBound)
                requantize(t + (start - slice.lowerBound) * n, rows: rows, input.steps, linear, int8: false, residual: residual,
                           residualScale: residualScale, out32: scratch, out8: nil)
                finish(rows, scratch, scratch + size)
            }
        }
    }

    /// Each sequence's heads of the stacked Q, K, V codes [tokens, 3 hidden]: scores = Q K^T (INT8 x INT8 ->
    /// int32 on the GEMM kernel, Q stored as Q + 128 with zero point -128), P = integer softmax (UINT8),
    /// context = P V (UINT8 x INT8 -> int32), exact.
    func attention(_ qkv: [Int8], lengths: [Int], softmax: qi_softmax) throws(QuantaError) -> [Int32] {
        let n = hiddenSize, d = n / heads
        let starts = lengths.indices.map { lengths[..<$0].reduce(0, +) }
        let tasks = lengths.count * heads
        var context = [Int32](repeating: 0, count: lengths.reduce(0, +) * n)
        var failed = [Bool](repeating: false, count: tasks)
        let workers = min(tasks, threads)
        context.withUnsafeMutableBufferPointer { out in failed.withUnsafeMutableBufferPointer { failures in
            let out = out.baseAddress!, failures = failures.baseAddress!
            WorkerPool.run(workers) { worker in
                // Each worker's buffers, made again only when a sequence's length changes.
                var length = -1, queries = PaddedActivations(rows: 0, columns: d), probabilities = queries
                var scores = Matrix<Int32>(rows: 0, columns: 0, repeating: 0), valueCodes = [Int8]()
                for task in stride(from: worker, to: tasks, by: workers) {
                    let (s, head) = (task / heads, task % heads), start = starts[s]
                    if lengths[s] != length {
                        length = lengths[s]
                        queries = PaddedActivations(rows: length, columns: d, unfilled: true)
                        queries.zeroPoints = [Int32](repeating: -128, count: length)
                        probabilities = PaddedActivations(rows: length, columns: length, unfilled: true)
                        scores = Matrix(rows: length, columns: length, repeating: 0)
                        valueCodes = [Int8](repeating: 0, count: length * d)
                    }
                    let offset = start * n + head * d, source = start * 3 * n + head * d
                    // The keys are packed in place from the stacked codes; the queries (as q + 128) and V^T are gathered.
                    let keys = qkv.withUnsafeBufferPointer { p in
                        qi_gather_head(p.baseAddress! + source, nil, p.baseAddress! + source + 2 * n, Int32(3 * n), Int32(length), Int32(d),
                                       &queries.codes, Int32(queries.stride), nil, &valueCodes)
                        return PackedInt8Weight(unitScaled: p.baseAddress! + source + n, rows: length, columns: d, stride: 3 * n)
                    }
                    let values = valueCodes.withUnsafeBufferPointer { PackedInt8Weight(unitScaled: $0.baseAddress!, rows: d, columns: length, stride: length) }
                    Int8GEMM.i8i32(queries, keys, into: &scores, path: path)
                    let stride = probabilities.stride
                    var constants = softmax
                    let status = scores.storage.withUnsafeBufferPointer { sp in probabilities.codes.withUnsafeMutableBufferPointer { pp in
                        qi_softmax_rows(sp.baseAddress, Int32(length), Int32(length), Int32(length), &constants, pp.baseAddress, Int32(stride), simd)
                    }}
                    if status != 0 { failures[task] = true; continue }
                    Int8GEMM.i8i32(probabilities, values, into: out + offset, ldc: n, path: path)
                }
            }
        }}
        if let task = failed.firstIndex(of: true) {
            throw .invalidArgument("int-only: the integer softmax of sequence \(task / heads), head \(task % heads) overflowed its normaliser")
        }
        return context
    }
}
