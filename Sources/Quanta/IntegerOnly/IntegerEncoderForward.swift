import Foundation
import QuantaKernels

/// The integer encoder's forward pass: int32, UINT8 and INT8 tensors from the token ids to the last
/// LayerNorm, through integer_kernels.c and the INT8 GEMM in i8i32 mode.
extension IntegerEncoder {
    /// Whether the integer kernels take their AVX2 variants (identical results): on every path but `portable`.
    var simd: Int32 { path == .portable ? 0 : 1 }

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
        for layer in layers {
            let input = quantizeRows(h, rows: tokens, columns: n)
            let context = try attention(product(input, layer.queryKeyValue, int8: true).int8, lengths: lengths, softmax: layer.softmax)
            let attentionSum = product(quantizeRows(context, rows: tokens, columns: n), layer.attentionOutput,
                                       residual: h, residualScale: layer.attentionResidual).int32
            h = normalize(attentionSum, rows: tokens, layer.attentionNorm)
            let inner = product(quantizeRows(h, rows: tokens, columns: n), layer.intermediate).int32
            let g = [Int32](unsafeUninitializedCapacity: inner.count) { out, count in
                inner.withUnsafeBufferPointer { x in
                    WorkerPool.runChunks(inner.count, work: inner.count) { r in
                        var gelu = layer.gelu
                        qi_gelu_rows(x.baseAddress! + r.lowerBound, Int64(r.count), &gelu, layer.geluNarrowing, layer.geluOutput,
                                     out.baseAddress! + r.lowerBound, simd)
                    }
                }
                count = inner.count
            }
            let outputSum = product(quantizeRows(g, rows: tokens, columns: layer.intermediate.weight.outFeatures), layer.output,
                                    residual: h, residualScale: layer.outputResidual).int32
            h = normalize(outputSum, rows: tokens, layer.outputNorm)
        }
        return h
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
        // Every element of t and of the output is written: no zero fill.
        var t = try! Matrix<Int32>(rows: m, columns: n, storage: [Int32](unsafeUninitializedCapacity: m * n) { $1 = m * n })
        Int8GEMM.i8i32(input.codes, linear.weight, into: &t, threads: threads, path: path)
        var out32 = [Int32](unsafeUninitializedCapacity: int8 ? 0 : m * n) { $1 = int8 ? 0 : m * n }
        var out8 = [Int8](unsafeUninitializedCapacity: int8 ? m * n : 0) { $1 = int8 ? m * n : 0 }
        let bound: Int32 = int8 ? 127 : (1 << 29) - 1
        t.storage.withUnsafeBufferPointer { tp in input.steps.withUnsafeBufferPointer { s in
        linear.columnMantissas.withUnsafeBufferPointer { cm in linear.columnShifts.withUnsafeBufferPointer { cs in
        linear.bias.withUnsafeBufferPointer { b in (residual ?? []).withUnsafeBufferPointer { rp in
        out32.withUnsafeMutableBufferPointer { o32 in out8.withUnsafeMutableBufferPointer { o8 in
            WorkerPool.runChunks(m, work: m * n * 4) { r in
                let offset = r.lowerBound * n
                qi_requantize(tp.baseAddress! + offset, Int32(r.count), Int32(n), Int32(n), s.baseAddress! + r.lowerBound, cm.baseAddress,
                              cs.baseAddress, b.baseAddress, residual == nil ? nil : rp.baseAddress! + offset, Int32(n), residualScale,
                              -bound, bound, int8 ? nil : o32.baseAddress! + offset, int8 ? o8.baseAddress! + offset : nil, Int32(n), simd)
            }
        }}}}}}}}
        return (out32, out8)
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
                for task in stride(from: worker, to: tasks, by: workers) {
                    let (s, head) = (task / heads, task % heads), start = starts[s], length = lengths[s]
                    var queries = PaddedActivations(rows: length, columns: d)
                    queries.zeroPoints = [Int32](repeating: -128, count: length)
                    var keyCodes = [Int8](repeating: 0, count: length * d), valueCodes = keyCodes
                    let offset = start * n + head * d, source = start * 3 * n + head * d
                    qkv.withUnsafeBufferPointer { p in
                        qi_gather_head(p.baseAddress! + source, p.baseAddress! + source + n, p.baseAddress! + source + 2 * n, Int32(3 * n),
                                       Int32(length), Int32(d), &queries.codes, Int32(queries.stride), &keyCodes, &valueCodes)
                    }
                    guard let keys = try? PackedInt8Weight(codes: Matrix(rows: length, columns: d, storage: keyCodes), scales: [Float](repeating: 1, count: length)),
                          let values = try? PackedInt8Weight(codes: Matrix(rows: d, columns: length, storage: valueCodes), scales: [Float](repeating: 1, count: d))
                    else { failures[task] = true; continue }
                    var scores = Matrix<Int32>(rows: length, columns: length, repeating: 0)
                    Int8GEMM.i8i32(queries, keys, into: &scores, path: path)
                    var probabilities = PaddedActivations(rows: length, columns: length)
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
