import Foundation
import QuantaKernels

/// Which implementation of the INT8 kernels runs; all give identical results.
public enum KernelPath: String, Sendable, CaseIterable {
    case portable, avx2, avxvnni, vnni, vnni512, neon, i8mm

    var c: qk_path {
        switch self {
        case .portable: return QK_PATH_PORTABLE
        case .avx2: return QK_PATH_AVX2
        case .avxvnni: return QK_PATH_AVXVNNI
        case .vnni: return QK_PATH_VNNI
        case .vnni512: return QK_PATH_VNNI512
        case .neon: return QK_PATH_NEON
        case .i8mm: return QK_PATH_I8MM
        }
    }

    /// The fastest path this CPU runs (detected at run time).
    public static var best: KernelPath {
        let path = qk_best_path()
        return allCases.first { $0.c == path } ?? .portable
    }

    public var isSupported: Bool { qk_path_supported(c) != 0 }
}

/// An INT8 weight W [n, k] (symmetric codes, per-output-channel scales) packed once for the kernels
/// (`qk_pack_weights`: panels of 16 output columns, k in groups of 4), with sum_k W[j, k] for the
/// zero-point correction of asymmetric activations, and with `blockSums` the sums over each block of
/// `Int8GEMM.activationBlock` columns (`qk_block_sums`) for activations quantized in blocks.
public struct PackedInt8Weight: Sendable {
    public let outFeatures: Int, inFeatures: Int
    let packed: AlignedBytes
    public let rowSums: [Int32]
    public let scales: [Float]
    let blockSums: [Int16]?

    public init(codes: Matrix<Int8>, scales: [Float], blockSums: Bool = false) throws(QuantaError) {
        guard scales.count == codes.rows else { throw .shapeMismatch("\(scales.count) weight scales for \(codes.rows) output channels") }
        guard codes.columns < 1 << 16 else { throw .invalidArgument("k = \(codes.columns) could overflow the int32 accumulators") }
        guard !blockSums || codes.columns % Int8GEMM.activationBlock == 0 else {
            throw .shapeMismatch("k = \(codes.columns) is not a multiple of the activation block \(Int8GEMM.activationBlock)")
        }
        let bytes = codes.storage.withUnsafeBufferPointer { w in Self.pack(w.baseAddress!, rows: codes.rows, columns: codes.columns, stride: codes.columns) }
        (outFeatures, inFeatures, packed, self.scales) = (codes.rows, codes.columns, bytes, scales)
        rowSums = Self.rowSums(bytes, rows: codes.rows, columns: codes.columns)
        self.blockSums = blockSums ? [Int16](unsafeUninitializedCapacity: qk_block_sums_count(Int32(codes.rows), Int32(codes.columns))) { sums, count in
            qk_block_sums(bytes.pointer, Int32(codes.rows), Int32(codes.columns), sums.baseAddress)
            count = sums.count
        } : nil
    }

    /// `rows` x `columns` codes read in place (row stride `stride`, columns < 2^16) with unit scales: an operand of
    /// exact i8i32 products, such as an attention head's keys within the stacked Q, K, V codes.
    public init(unitScaled codes: UnsafePointer<Int8>, rows: Int, columns: Int, stride: Int) {
        precondition(columns < 1 << 16 && stride >= columns)
        let bytes = Self.pack(codes, rows: rows, columns: columns, stride: stride)
        (outFeatures, inFeatures, packed, blockSums) = (rows, columns, bytes, nil)
        rowSums = Self.rowSums(bytes, rows: rows, columns: columns)
        scales = [Float](repeating: 1, count: rows)
    }

    private static func pack(_ codes: UnsafePointer<Int8>, rows: Int, columns: Int, stride: Int) -> AlignedBytes {
        let bytes = AlignedBytes(count: qk_packed_size(Int32(rows), Int32(columns)))
        qk_pack_weights(codes, Int32(rows), Int32(columns), Int32(stride), bytes.pointer)
        return bytes
    }

    private static func rowSums(_ bytes: AlignedBytes, rows: Int, columns: Int) -> [Int32] {
        Array(UnsafeBufferPointer(start: qk_packed_row_sums(bytes.pointer, Int32(rows), Int32(columns)), count: rows))
    }
}

/// Bytes on a 64-byte boundary (a cache line), so that each 64-byte group of packed weights is one aligned
/// vector load; written once when made, read-only after.
final class AlignedBytes: @unchecked Sendable {
    let pointer: UnsafeMutablePointer<Int8>

    init(count: Int) {
        pointer = UnsafeMutableRawPointer.allocate(byteCount: max(count, 1), alignment: 64).bindMemory(to: Int8.self, capacity: max(count, 1))
        pointer.initialize(repeating: 0, count: max(count, 1))
    }

    deinit { pointer.deallocate() }
}

/// UINT8 activation codes A [m, k] in rows padded to a multiple of 4 bytes (what the kernels read), with a
/// scale and zero point per row, or with `blocked` per row and block of `Int8GEMM.activationBlock` columns
/// (row-major [m, k / block]): a~ = S (Q + Z).
public struct PaddedActivations: Sendable {
    public let rows: Int, columns: Int, stride: Int
    public let blocked: Bool
    public var codes: [UInt8]
    public var scales: [Float]
    public var zeroPoints: [Int32]

    /// Zero codes, or with `unfilled` codes that the caller writes, every column of every row, before the kernels
    /// read them (the padding stays zero either way).
    public init(rows: Int, columns: Int, blocked: Bool = false, unfilled: Bool = false) {
        precondition(!blocked || columns % Int8GEMM.activationBlock == 0)
        self.rows = rows
        self.columns = columns
        self.blocked = blocked
        let stride = (columns + 3) / 4 * 4
        self.stride = stride
        codes = unfilled && stride == columns ? Matrix<UInt8>(unfilledRows: rows, columns: stride).storage : [UInt8](repeating: 0, count: rows * stride)
        let parameters = blocked ? rows * columns / Int8GEMM.activationBlock : rows
        scales = [Float](repeating: 1, count: parameters)
        zeroPoints = [Int32](repeating: 0, count: parameters)
    }

    public init(codes: Matrix<UInt8>, scales: [Float], zeroPoints: [Int32]) {
        self.init(rows: codes.rows, columns: codes.columns)
        for r in 0..<rows { self.codes.replaceSubrange(r * stride..<r * stride + columns, with: codes.row(r)) }
        self.scales = scales
        self.zeroPoints = zeroPoints
    }
}

/// i8i8's epilogue: per output channel j, M[j] = S_x S_w[j] / S_y as a `FixedPointMultiplier`, the bias as
/// int32 codes b_q[j] = rne(b[j] / (S_x S_w[j])), and the output's zero point and code range.
public struct Requantization: Sendable {
    public let multipliers: [FixedPointMultiplier]
    public let biasCodes: [Int32]
    public let outputZeroPoint: Int32
    public let outputRange: ClosedRange<Int32>

    public init(multipliers: [FixedPointMultiplier], biasCodes: [Int32], outputZeroPoint: Int32, outputRange: ClosedRange<Int32>) {
        self.multipliers = multipliers
        self.biasCodes = biasCodes
        self.outputZeroPoint = outputZeroPoint
        self.outputRange = outputRange
    }

    /// The epilogue for per-tensor activation scale S_x, weight scales S_w (per tensor or channel), the
    /// output's per-tensor S_y and Z_y, over `channels` output channels.
    public init(activation x: QuantizationParameters, weight w: QuantizationParameters, channels: Int, bias: [Float]?,
                output: QuantizationParameters) throws(QuantaError) {
        guard x.scales.count == 1, output.scales.count == 1 else {
            throw .invalidArgument("i8i8 requantization needs per-tensor activation and output scales")
        }
        var multipliers = [FixedPointMultiplier](), biasCodes = [Int32]()
        for j in 0..<channels {
            let product = Double(x.scales[0]) * Double(w.scales[w.scales.count == 1 ? 0 : j])
            multipliers.append(try FixedPointMultiplier(product / Double(output.scales[0])))
            biasCodes.append(Int32((Double(bias?[j] ?? 0) / product).rounded(.toNearestOrEven)))
        }
        self.init(multipliers: multipliers, biasCodes: biasCodes, outputZeroPoint: output.zeroPoints[0], outputRange: output.codeRange)
    }
}

/// The INT8 GEMM of seed 000 on the CPU: Y = A W^T with A's UINT8 codes and W's INT8 codes, int32
/// accumulation, and the output mode applied in the kernel's epilogue. With t = acc + Z_a[i] sum_k W[j, k]:
///
///     i8i32:  C[i, j] = t
///     i8f32:  Y[i, j] = act((S_a[i] S_w[j]) float(t) + b[j]) + R[i, j]      (act: none, GELU, SiLU)
///     i8i8:   Q[i, j] = clamp(rne((t + b_q[j]) M[j]) - Z_y)
///
/// i8f32 with activations in blocks (`PaddedActivations.blocked`) rescales each block's exact partial sum:
///
///     Y[i, j] = act(S_w[j] sum_b S_a[i, b] float(sum_{k in b} A[i, k] W[j, k] + Z_a[i, b] sum_{k in b} W[j, k]) + b[j]) + R[i, j]
///
/// Columns are split over `threads` threads in panels of 16; nothing is allocated per call beyond the
/// output the caller passes.
public enum Int8GEMM {
    /// Columns per activation block (QK_BLOCK), as llama.cpp's Q8 blocks and the MX formats.
    public static let activationBlock = Int(QK_BLOCK)

    public static func i8i32(_ a: PaddedActivations, _ w: PackedInt8Weight, into c: inout Matrix<Int32>,
                             threads: Int = 1, path: KernelPath = .best) {
        precondition(a.columns == w.inFeatures && c.rows == a.rows && c.columns == w.outFeatures && !a.blocked)
        c.storage.withUnsafeMutableBufferPointer { out in
            run(a, w, threads: threads, path: path) { $0.mode = 0; $0.c_i32 = out.baseAddress }
        }
    }

    /// i8i32 into `c` with row stride `ldc` (>= n): a column block of a wider int32 matrix.
    public static func i8i32(_ a: PaddedActivations, _ w: PackedInt8Weight, into c: UnsafeMutablePointer<Int32>, ldc: Int,
                             threads: Int = 1, path: KernelPath = .best) {
        precondition(a.columns == w.inFeatures && ldc >= w.outFeatures && !a.blocked)
        run(a, w, threads: threads, path: path) { $0.mode = 0; $0.c_i32 = c; $0.ldc = Int32(ldc) }
    }

    /// i8i32 of rows `rows` of `a` into `c` (row stride `ldc` >= n, pointing at the first of these rows) on the
    /// calling thread: a slice of the product small enough to stay in cache for a caller that consumes it at once.
    public static func i8i32(_ a: PaddedActivations, rows: Range<Int>, _ w: PackedInt8Weight, into c: UnsafeMutablePointer<Int32>, ldc: Int,
                             path: KernelPath = .best) {
        precondition(a.columns == w.inFeatures && ldc >= w.outFeatures && !a.blocked && rows.clamped(to: 0..<a.rows) == rows)
        run(a, w, rows: rows, threads: 1, path: path) { $0.mode = 0; $0.c_i32 = c; $0.ldc = Int32(ldc) }
    }

    /// `residual` [m, n] must not be `y` itself.
    public static func i8f32(_ a: PaddedActivations, _ w: PackedInt8Weight, bias: [Float]? = nil, activation: Activation? = nil,
                             residual: Matrix<Float>? = nil, into y: inout Matrix<Float>, threads: Int = 1, path: KernelPath = .best) {
        precondition(a.columns == w.inFeatures && y.rows == a.rows && y.columns == w.outFeatures)
        precondition(bias == nil || bias!.count == w.outFeatures)
        precondition(residual == nil || (residual!.rows == y.rows && residual!.columns == y.columns))
        precondition(!a.blocked || w.blockSums != nil, "blocked activations need a weight packed with its block sums")
        (bias ?? []).withUnsafeBufferPointer { b in
            (residual?.storage ?? []).withUnsafeBufferPointer { r in
                y.storage.withUnsafeMutableBufferPointer { out in
                    run(a, w, threads: threads, path: path) {
                        $0.mode = a.blocked ? 3 : 1
                        $0.bias = bias == nil ? nil : b.baseAddress
                        $0.activation = activation?.code ?? 0
                        $0.residual = residual == nil ? nil : r.baseAddress
                        $0.c_f32 = out.baseAddress
                    }
                }
            }
        }
    }

    /// i8f32 of rows `rows` of `a` on the calling thread into `y` (row stride n, pointing at the first of these
    /// rows), with the same rows of a residual at `residual` (row stride n): a slice of the product that the
    /// caller consumes while it is in cache.
    public static func i8f32(_ a: PaddedActivations, rows: Range<Int>, _ w: PackedInt8Weight, bias: UnsafePointer<Float>?, activation: Activation?,
                             residual: UnsafePointer<Float>?, into y: UnsafeMutablePointer<Float>, path: KernelPath = .best) {
        precondition(a.columns == w.inFeatures && rows.clamped(to: 0..<a.rows) == rows)
        precondition(!a.blocked || w.blockSums != nil, "blocked activations need a weight packed with its block sums")
        run(a, w, rows: rows, threads: 1, path: path) {
            $0.mode = a.blocked ? 3 : 1
            $0.bias = bias
            $0.activation = activation?.code ?? 0
            $0.residual = residual
            $0.c_f32 = y
        }
    }

    public static func i8i8(_ a: PaddedActivations, _ w: PackedInt8Weight, requantization q: Requantization, into c: inout Matrix<Int8>,
                            threads: Int = 1, path: KernelPath = .best) {
        precondition(a.columns == w.inFeatures && c.rows == a.rows && c.columns == w.outFeatures)
        precondition(q.multipliers.count == w.outFeatures && q.biasCodes.count == w.outFeatures && !a.blocked)
        let mantissas = q.multipliers.map(\.mantissa), shifts = q.multipliers.map { Int32($0.shift) }
        mantissas.withUnsafeBufferPointer { m in shifts.withUnsafeBufferPointer { s in q.biasCodes.withUnsafeBufferPointer { b in
            c.storage.withUnsafeMutableBufferPointer { out in
                run(a, w, threads: threads, path: path) {
                    $0.mode = 2
                    $0.multiplier = m.baseAddress
                    $0.shift = s.baseAddress
                    $0.bias_code = b.baseAddress
                    $0.out_zero = q.outputZeroPoint
                    $0.out_min = q.outputRange.lowerBound
                    $0.out_max = q.outputRange.upperBound
                    $0.c_i8 = out.baseAddress
                }
            }
        }}}
    }

    /// i8f32 of one row of activations (decoding) by several weights, the layers that read that input: the
    /// products are split over `threads` together (task t takes its share of all the weights' panels), one
    /// fork-join for all instead of one per weight. Each column is computed as `i8f32` computes it.
    public static func i8f32(_ a: PaddedActivations, _ products: [(weight: PackedInt8Weight, bias: [Float]?)], threads: Int,
                             path: KernelPath = .best) -> [Matrix<Float>] {
        precondition(a.rows == 1 && products.allSatisfy { $0.weight.inFeatures == a.columns && ($0.bias == nil || $0.bias!.count == $0.weight.outFeatures) })
        precondition(!a.blocked || products.allSatisfy { $0.weight.blockSums != nil }, "blocked activations need weights packed with their block sums")
        let widths = products.map(\.weight.outFeatures), panels = widths.map { ($0 + Int(QK_PANEL) - 1) / Int(QK_PANEL) }
        let work = products.reduce(0) { $0 + $1.weight.outFeatures * $1.weight.inFeatures }
        let workers = work < WorkerPool.minimumWork ? 1 : max(1, min(threads, panels.reduce(0, +)))
        var joined = Matrix<Float>(unfilledRows: 1, columns: widths.reduce(0, +))
        /// Nests the pointer scopes of products[index...] (their epilogues collected in `epilogues`, their outputs
        /// side by side from `output`), then runs them all.
        func nest(_ index: Int, _ epilogues: [(packed: UnsafePointer<Int8>, epilogue: qk_epilogue)], codes: UnsafePointer<UInt8>,
                  output: UnsafeMutablePointer<Float>) {
            guard index < products.count else {
                WorkerPool.run(workers) { t in
                    for (p, range) in WorkerPool.share(of: panels, task: t, of: workers) {
                        let n = widths[p]
                        withUnsafePointer(to: epilogues[p].epilogue) { e in
                            qk_gemm_u8s8(path.c, codes, 1, Int32(a.columns), Int32(a.stride), epilogues[p].packed, Int32(n),
                                         Int32(range.lowerBound * Int(QK_PANEL)), Int32(min(range.upperBound * Int(QK_PANEL), n)), e)
                        }
                    }
                }
                return
            }
            let bias = products[index].bias
            (bias ?? []).withUnsafeBufferPointer { b in
                withEpilogue(a, products[index].weight, rows: 0..<1) {
                    $0.mode = a.blocked ? 3 : 1
                    $0.bias = bias == nil ? nil : b.baseAddress
                    $0.c_f32 = output
                } body: { _, packed, epilogue in nest(index + 1, epilogues + [(packed, epilogue)], codes: codes, output: output + widths[index]) }
            }
        }
        a.codes.withUnsafeBufferPointer { codes in joined.storage.withUnsafeMutableBufferPointer { out in
            nest(0, [], codes: codes.baseAddress!, output: out.baseAddress!)
        }}
        return joined.splitColumns(widths)
    }

    /// Runs the kernel on rows `rows` of `a` (all by default) with the operand pointers of `a` and `w` and the
    /// output fields `configure` sets (relative to the first of these rows). A product of two `QK_ROW_BLOCK`s of
    /// rows or more is cut into pieces of rows (`WorkerPool.pieces`, starting at multiples of 12 rows so that the
    /// register tiles, 2, 4 or 6 rows, are the whole product's) that the workers take one at a time, so that a
    /// core slowed by another process takes fewer (each piece's products and epilogue are those of the whole: the
    /// same bits); a shorter one splits its columns in one share per worker.
    static func run(_ a: PaddedActivations, _ w: PackedInt8Weight, rows: Range<Int>? = nil, threads: Int, path: KernelPath,
                    configure: (inout qk_epilogue) -> Void) {
        let rows = rows ?? 0..<a.rows
        let panels = (w.outFeatures + Int(QK_PANEL) - 1) / Int(QK_PANEL)
        let work = rows.count * w.outFeatures * w.inFeatures
        let workers = work < WorkerPool.minimumWork ? 1 : max(1, min(threads, panels))
        let (k, n, stride) = (Int32(a.columns), Int32(w.outFeatures), a.stride)
        withEpilogue(a, w, rows: rows, configure: configure) { codes, packed, epilogue in
            if workers > 1 && rows.count >= 2 * Int(QK_ROW_BLOCK) {
                let pieces = WorkerPool.pieces(rows.count, workers: workers, minimum: Int(QK_ROW_BLOCK), alignment: 12)
                let parametersPerRow = a.blocked ? a.columns / activationBlock : 1
                WorkerPool.run(pieces.count, threads: workers) { p in
                    var part = epilogue.fromRow(pieces[p].lowerBound, parametersPerRow: parametersPerRow)
                    qk_gemm_u8s8(path.c, codes + pieces[p].lowerBound * stride, Int32(pieces[p].count), k, Int32(stride), packed, n, 0, n, &part)
                }
                return
            }
            withUnsafePointer(to: epilogue) { e in
                WorkerPool.run(workers) { t in
                    let n0 = t * panels / workers * Int(QK_PANEL), n1 = min((t + 1) * panels / workers * Int(QK_PANEL), w.outFeatures)
                    qk_gemm_u8s8(path.c, codes, Int32(rows.count), k, Int32(stride), packed, n, Int32(n0), Int32(n1), e)
                }
            }
        }
    }

    /// Calls `body` with the first code of row `rows.lowerBound` of `a`, the packed weight and the epilogue of `w`
    /// for these rows, its output fields set by `configure`; the pointers are valid only inside `body`.
    static func withEpilogue(_ a: PaddedActivations, _ w: PackedInt8Weight, rows: Range<Int>, configure: (inout qk_epilogue) -> Void,
                             body: (UnsafePointer<UInt8>, UnsafePointer<Int8>, qk_epilogue) -> Void) {
        let perRow = a.blocked ? a.columns / activationBlock : 1
        a.codes.withUnsafeBufferPointer { codes in
        a.scales.withUnsafeBufferPointer { aScale in
        a.zeroPoints.withUnsafeBufferPointer { aZero in
        withExtendedLifetime(w.packed) { bytes in
        w.rowSums.withUnsafeBufferPointer { sums in
        w.scales.withUnsafeBufferPointer { wScale in
        (w.blockSums ?? []).withUnsafeBufferPointer { blockSums in
            var epilogue = qk_epilogue()
            epilogue.block_sums = blockSums.baseAddress
            epilogue.a_zero = aZero.baseAddress.map { $0 + rows.lowerBound * perRow }
            epilogue.w_sum = sums.baseAddress
            epilogue.a_scale = aScale.baseAddress.map { $0 + rows.lowerBound * perRow }
            epilogue.w_scale = wScale.baseAddress
            epilogue.ldc = Int32(w.outFeatures)
            configure(&epilogue)
            body(codes.baseAddress! + rows.lowerBound * a.stride, bytes.pointer, epilogue)
        }}}}}}}
    }
}

extension qk_epilogue {
    /// This epilogue for the rows from `first` on: the per-row activation parameters (`parametersPerRow` each)
    /// and the output and residual rows advanced by `first` rows.
    func fromRow(_ first: Int, parametersPerRow: Int) -> qk_epilogue {
        var e = self
        let parameters = first * parametersPerRow, elements = first * Int(ldc)
        e.a_zero = a_zero.map { $0 + parameters }
        e.a_scale = a_scale.map { $0 + parameters }
        e.residual = residual.map { $0 + elements }
        e.c_f32 = c_f32.map { $0 + elements }
        e.c_i32 = c_i32.map { $0 + elements }
        e.c_i8 = c_i8.map { $0 + elements }
        return e
    }
}

/// Parallel loops on the calling thread and the kernels' spinning worker pool (`qk_parallel_for`).
public enum WorkerPool {
    /// Multiply-adds below which a product runs on the calling thread (measured: splitting smaller products
    /// over two cores costs more in synchronisation than it saves).
    public static let minimumWork = 1 << 16

    /// Ranges per worker of `runChunks`: the workers take them one at a time, so that a core slowed by another
    /// process takes fewer.
    static let chunksPerWorker = 4

    /// Runs body over [0, count) split into `chunksPerWorker` ranges per core (at most `threads` cores) when
    /// `work` (multiply-adds or elements) is at least `minimumWork`, else as one range on the calling thread.
    public static func runChunks(_ count: Int, work: Int, threads: Int = .max, _ body: (Range<Int>) -> Void) {
        let workers = work < minimumWork ? 1 : max(1, min(count, ProcessInfo.processInfo.activeProcessorCount, threads))
        let chunks = workers == 1 ? 1 : min(count, workers * chunksPerWorker)
        run(chunks, threads: workers) { c in body(c * count / chunks..<(c + 1) * count / chunks) }
    }

    /// Pieces per worker of `pieces`: enough that the pieces a slowed core does not take go to the others (MiniLM's
    /// W8A8 batch on Zen 3 beside a busy process: 1.1-1.3x the sequences/s of one share per worker).
    static let piecesPerWorker = 8

    /// [0, count) cut into near-equal pieces for `workers` workers to take one at a time: min(count / minimum,
    /// piecesPerWorker * workers) of them rounded down to a multiple of `workers` (so that equal cores do equal
    /// work; at least `workers`), each starting at a multiple of `alignment`.
    public static func pieces(_ count: Int, workers: Int, minimum: Int, alignment: Int) -> [Range<Int>] {
        let pieces = max(1, min(count / minimum, piecesPerWorker * workers) / workers) * workers
        let starts = (0..<pieces).map { $0 * count / pieces / alignment * alignment } + [count]
        return (0..<pieces).map { starts[$0]..<starts[$0 + 1] }.filter { !$0.isEmpty }
    }

    /// Task `task`'s share when `tasks` tasks split the concatenation of ranges of `counts` items evenly: the
    /// pieces (index into `counts`, items of that range) of items [task * total / tasks, (task + 1) * total / tasks).
    public static func share(of counts: [Int], task: Int, of tasks: Int) -> [(Int, Range<Int>)] {
        let total = counts.reduce(0, +), from = task * total / tasks, to = (task + 1) * total / tasks
        var pieces = [(Int, Range<Int>)](), start = 0
        for (index, count) in counts.enumerated() {
            let lower = max(from - start, 0), upper = min(to - start, count)
            if lower < upper { pieces.append((index, lower..<upper)) }
            start += count
        }
        return pieces
    }

    /// Runs body(i) for i in [0, tasks) on up to `threads` threads (by default `tasks`), each taking the next task
    /// when it finishes one, and returns when all have finished. The callers' bodies write disjoint outputs and
    /// only read shared inputs.
    public static func run(_ tasks: Int, threads: Int? = nil, _ body: (Int) -> Void) {
        if tasks <= 1 || threads == 1 { (0..<max(tasks, 0)).forEach(body); return }
        withoutActuallyEscaping(body) { body in
            var task = body
            withUnsafeMutablePointer(to: &task) { context in
                qk_parallel_for(Int32(tasks), Int32(threads ?? tasks), { context, index in
                    context!.assumingMemoryBound(to: ((Int) -> Void).self).pointee(Int(index))
                }, context)
            }
        }
    }
}
