import QuantaKernels
/// `quanta bench gemm`: FP32 OpenBLAS (sgemm, or sgemv for one row) against the INT8 kernels on the same
/// shapes in the same run, Y [m, n] = X [m, k] W^T, weights packed before timing, outputs preallocated; with a
/// one-row shape, also the memory read rate that bounds a GEMV (the dram-read row). One-row products are timed
/// from memory, as decoding meets them: each kernel's runs take `coldCopies` copies of its weights in turn.
public struct GEMMBenchmark: Sendable {
    public struct Shape: Sendable {
        public let m: Int, n: Int, k: Int
        public init(m: Int, n: Int, k: Int) { (self.m, self.n, self.k) = (m, n, k) }
    }

    public struct Row: Sendable, Codable {
        public let kernel: String
        public let m: Int, n: Int, k: Int, threads: Int
        public let medianMilliseconds: Double
        /// 2 m n k operations per second, in units of 10^9.
        public let gops: Double
        public let path: String
        /// For one-row products (GEMV) and the dram-read row: bytes of weights read per second, in units of 10^9.
        public let weightGigabytesPerSecond: Double?
        /// For one-row products: `weightGigabytesPerSecond` over the dram-read rate timed in the same rounds.
        public let shareOfRead: Double?

        enum CodingKeys: String, CodingKey {
            case kernel, m, n, k, threads, path
            case medianMilliseconds = "median_ms", gops, weightGigabytesPerSecond = "weight_gb_per_s", shareOfRead = "share_of_read"
        }
    }

    /// Bytes of the dram-read row's buffer: larger than any L3 cache of the CPUs measured here.
    public static let readBytes = 512 << 20

    /// The STREAM-style read of `readBytes` by `threads` threads (qk_read_words): the memory rate that a GEMV whose
    /// weights exceed the caches can at best reach. Timed in the same rounds as each one-row shape's kernels, so
    /// that a kernel's share of it is not a swing of the machine's memory between two measurements.
    final class MemoryRead: @unchecked Sendable {
        let words = [UInt64](unsafeUninitializedCapacity: GEMMBenchmark.readBytes / 8) { buffer, count in
            for i in 0..<buffer.count { buffer[i] = UInt64(i) }   // touched, so that every page is mapped
            count = buffer.count
        }
        func callAsFunction(threads: Int) { words.withUnsafeBufferPointer { _ = qk_read_words($0.baseAddress, $0.count, Int32(threads)) } }
    }

    /// Bytes of weight copies the one-row kernels take in turn: larger than any L3 cache of the CPUs measured here,
    /// so that a run finds none of its weights in a cache (decoding reads each weight once per token), with no
    /// eviction read between runs to disturb the engines' threads.
    public static let coldBytes = 256 << 20
    /// At most this many copies: a weight smaller than `coldBytes` / `maximumCopies` is partly timed from L3.
    public static let maximumCopies = 64

    /// Copies of a weight of `bytes` bytes for a one-row product (a GEMV): `coldBytes` / `bytes` rounded up, at most
    /// `maximumCopies`; 1 for other products.
    static func coldCopies(m: Int, bytes: Int) -> Int { m == 1 ? min(maximumCopies, (coldBytes + bytes - 1) / bytes) : 1 }

    /// The engines, each timed in a pass of its own over the shapes (Quanta's first): each engine's threads spin
    /// for a while after its products, and would share the cores with the next engine's. (A GEMV's OpenBLAS row
    /// runs in Quanta's pass, single-threaded OpenBLAS on Quanta's threads.)
    enum Pass: CaseIterable { case quanta, openBLAS, oneDNN }

    /// Copies of one weight handed out in turn to every kernel that reads it, so that a copy is read again only
    /// after all the others have been.
    final class InTurn<Item>: @unchecked Sendable {
        let items: [Item]
        private var turn = 0
        init(_ items: [Item]) { self.items = items }
        func next() -> Item {
            defer { turn = (turn + 1) % items.count }
            return items[turn]
        }
    }

    /// The seed's shape, MiniLM's at sequence 128, and decode shapes whose weights exceed the L3 cache.
    public static let defaultShapes = [Shape(m: 2048, n: 1920, k: 1920), Shape(m: 128, n: 384, k: 384), Shape(m: 128, n: 1536, k: 384),
                                       Shape(m: 128, n: 384, k: 1536), Shape(m: 1, n: 4096, k: 4096), Shape(m: 1, n: 8192, k: 8192)]

    public let shapes: [Shape]
    public let threads: Int
    public let path: KernelPath
    public let stopwatch: Stopwatch

    public init(shapes: [Shape] = defaultShapes, threads: Int, path: KernelPath = .best, stopwatch: Stopwatch) {
        self.shapes = shapes
        self.threads = threads
        self.path = path
        self.stopwatch = stopwatch
    }

    /// Why oneDNN's matmul cannot be the peer row (it is loaded at run time when installed), or nil.
    public static var oneDNNUnavailable: String? { qk_onednn_unavailable().map { String(cString: $0) } }

    /// oneDNN's product of the worst-case codes (every a = 255, every w = 127, k = 64, so each pair of
    /// products sums to 64770): (its result, the exact 255 * 127 * 64). Without VNNI, oneDNN 2.x sums pairs
    /// with vpmaddubsw, which saturates them at 32767, and returns 32767 * 32 instead. Nil without oneDNN.
    public static func oneDNNWorstCase() -> (result: Float, exact: Float)? {
        guard oneDNNUnavailable == nil else { return nil }
        let (m, n, k) = (1, 16, 64)
        let a = [UInt8](repeating: 255, count: m * k), w = [Int8](repeating: 127, count: n * k)
        var c = [Float](repeating: 0, count: m * n)
        let done = a.withUnsafeBufferPointer { ap in w.withUnsafeBufferPointer { wp in c.withUnsafeMutableBufferPointer { cp in
            guard let matmul = qk_onednn_matmul_create(Int32(m), Int32(n), Int32(k), ap.baseAddress, wp.baseAddress, 1, cp.baseAddress, 1) else { return false }
            defer { qk_onednn_matmul_destroy(matmul) }
            return qk_onednn_matmul_run(matmul, 1) == 0
        }}}
        return done ? (c[0], Float(255 * 127 * k)) : nil
    }

    /// oneDNN's u8 x s8 -> f32 matmul (per-tensor scales, weights reordered before timing) on the same
    /// values: the best INT8 peer on x86 CPUs. Nil when oneDNN refuses the shape.
    func oneDNN(m: Int, n: Int, k: Int, x: Matrix<Float>, w: Matrix<Float>) throws(QuantaError) -> Double? {
        let xq = try AffineQuantizer.chooseParameters(for: x, format: .uint8, scheme: .asymmetric, granularity: .perTensor)
        let wq = try AffineQuantizer.chooseParameters(for: w, format: .int8, scheme: .symmetric, granularity: .perTensor)
        let a = try AffineQuantizer.quantize(x, with: xq, as: UInt8.self), b = try AffineQuantizer.quantize(w, with: wq, as: Int8.self)
        var c = [Float](repeating: 0, count: m * n)
        let copies = Self.coldCopies(m: m, bytes: n * k)
        return a.storage.withUnsafeBufferPointer { ap in b.storage.withUnsafeBufferPointer { bp in c.withUnsafeMutableBufferPointer { cp in
            // Each matmul reorders W into its own buffer: the copies of a one-row product.
            let matmuls = (0..<copies).compactMap { _ in
                qk_onednn_matmul_create(Int32(m), Int32(n), Int32(k), ap.baseAddress, bp.baseAddress, xq.scales[0] * wq.scales[0], cp.baseAddress, Int32(threads))
            }
            defer { matmuls.forEach(qk_onednn_matmul_destroy) }
            guard matmuls.count == copies else { return nil }
            let turns = InTurn(matmuls)
            return stopwatch.medianSeconds { _ = qk_onednn_matmul_run(turns.next(), Int32(threads)) }
        }}}
    }

    public func run(progress: (String) -> Void = { _ in }) throws(QuantaError) -> [Row] {
        BLAS.setThreads(threads)
        let read = shapes.contains { $0.m == 1 } ? MemoryRead() : nil
        var rows = [[Row]](repeating: [], count: shapes.count)
        for pass in Pass.allCases where pass != .oneDNN || Self.oneDNNUnavailable == nil {
        for (index, shape) in shapes.enumerated() {
            let (m, n, k) = (shape.m, shape.n, shape.k)
            if pass == .openBLAS && m == 1 { continue }   // a GEMV's FP32 baseline runs in Quanta's rounds
            progress("gemm \(m)x\(n)x\(k)\(pass == .quanta ? "" : pass == .openBLAS ? " (OpenBLAS)" : " (oneDNN)")")
            // A one-row shape times the memory read in the same rounds as Quanta's kernels, on the same threads: each
            // kernel's rate is then also a share of it. (Timed after another engine's products, the read shares the
            // cores with that engine's spinning threads; after a pause long enough for them to sleep, oneDNN's GEMV
            // sometimes ran at a third of its speed.)
            let alongside: [() -> Void] = m == 1 && pass == .quanta ? read.map { read in [{ read(threads: threads) }] } ?? [] : []
            func record(_ kernels: [(name: String, path: String)], _ seconds: [Double]) {
                let readSeconds = alongside.isEmpty ? nil : seconds.last
                var measured = [Row]()
                for (kernel, seconds) in zip(kernels, seconds) {
                    let weightBytes = Double(n * k * (["fp32", "f32-gemv"].contains(kernel.name) ? 4 : 1))
                    measured.append(Row(kernel: kernel.name, m: m, n: n, k: k, threads: threads, medianMilliseconds: seconds * 1e3,
                                        gops: 2 * Double(m) * Double(n) * Double(k) / seconds / 1e9, path: kernel.path,
                                        weightGigabytesPerSecond: m == 1 ? weightBytes / seconds / 1e9 : nil,
                                        shareOfRead: readSeconds.map { weightBytes / Double(Self.readBytes) * $0 / seconds }))
                }
                if let readSeconds {
                    measured.append(Row(kernel: "dram-read", m: m, n: n, k: k, threads: threads, medianMilliseconds: readSeconds * 1e3, gops: 0,
                                        path: "\(Self.readBytes >> 20) MiB read in these rounds",
                                        weightGigabytesPerSecond: Double(Self.readBytes) / readSeconds / 1e9, shareOfRead: 1))
                }
                rows[index].insert(contentsOf: measured, at: pass == .openBLAS ? 0 : rows[index].count)   // the baseline first
            }
            var generator = SplitMix64(seed: UInt64(m * 31 + n * 7 + k))
            let x = try Matrix(rows: m, columns: k, storage: (0..<m * k).map { _ in Float.random(in: -1...1, using: &generator) })
            let w = try Matrix(rows: n, columns: k, storage: (0..<n * k).map { _ in Float.random(in: -1...1, using: &generator) })
            if pass == .oneDNN {
                if let seconds = try oneDNN(m: m, n: n, k: k, x: x, w: w) { record([("onednn", "oneDNN u8s8f32 matmul")], [seconds]) }
                continue
            }
            var y = Matrix<Float>(rows: m, columns: n, repeating: 0)
            // One-row products take copies of their weights in turn (`coldCopies`).
            let floatWeights = InTurn((0..<Self.coldCopies(m: m, bytes: 4 * n * k)).map { _ in w.storage.withUnsafeBufferPointer { Array($0) } })
            func float(_ body: @escaping (UnsafePointer<Float>, UnsafeMutablePointer<Float>) -> Void) -> () -> Void {
                { floatWeights.next().withUnsafeBufferPointer { wp in y.storage.withUnsafeMutableBufferPointer { yp in body(wp.baseAddress!, yp.baseAddress!) } } }
            }
            if pass == .openBLAS {   // the FP32 baseline on the same values
                x.storage.withUnsafeBufferPointer { xp in
                    record([("fp32", "openblas sgemm")], stopwatch.interleavedMedianSeconds([float { wp, yp in
                        BLAS.withOpenBLASThreads(threads) { BLAS.openBLASProduct(m: m, n: n, k: k, a: xp.baseAddress!, b: wp, c: yp) }
                    }]))
                }
                continue
            }
            // The INT8 kernels: per-channel INT8 weights packed once, UINT8 activations per token (and per token in
            // blocks of 32 where k allows), all timed in interleaved rounds.
            let wq = try AffineQuantizer.chooseParameters(for: w, format: .int8, scheme: .symmetric, granularity: .perChannel)
            let blocked = k % Int8GEMM.activationBlock == 0
            let codes = try AffineQuantizer.quantize(w, with: wq, as: Int8.self)
            let copies = Self.coldCopies(m: m, bytes: n * k)
            let packs = InTurn(try (0..<copies).map { _ throws(QuantaError) in try PackedInt8Weight(codes: codes, scales: wq.scales, blockSums: blocked) })
            // The same weights in 7 bits (codes in [-63, 63]): AVX2 runs them on its direct vpmaddubsw tile.
            let wq7 = try AffineQuantizer.chooseParameters(for: w, format: .int7, scheme: .symmetric, granularity: .perChannel)
            let codes7 = try AffineQuantizer.quantize(w, with: wq7, as: Int8.self)
            let packs7 = InTurn(try (0..<copies).map { _ throws(QuantaError) in try PackedInt8Weight(codes: codes7, scales: wq7.scales, blockSums: blocked) })
            let xq = try AffineQuantizer.chooseParameters(for: x, format: .uint8, scheme: .asymmetric, granularity: .perToken)
            let activations = PaddedActivations(codes: try AffineQuantizer.quantize(x, with: xq, as: UInt8.self), scales: xq.scales, zeroPoints: xq.zeroPoints)
            let blockActivations = PaddedActivations(quantizing: x, columnScale: nil, blocked: blocked)
            var c = Matrix<Int32>(rows: m, columns: n, repeating: 0)
            let outputScale = try QuantizationParameters(scales: [Float(k) / 64], zeroPoints: [0], format: .int8, scheme: .symmetric, granularity: .perTensor)
            let perTensor = try QuantizationParameters(scales: [xq.scales[0]], zeroPoints: [0], format: .uint8, scheme: .asymmetric, granularity: .perTensor)
            let requantization = try Requantization(activation: perTensor, weight: wq, channels: n, bias: nil, output: outputScale)
            var q = Matrix<Int8>(rows: m, columns: n, repeating: 0)
            x.storage.withUnsafeBufferPointer { xp in
                // A GEMV's FP32 baseline runs in these rounds, as a share of the read like the rest: OpenBLAS's sgemv
                // single-threaded on each thread's rows (as the FP32 engine runs OpenBLAS), so that no OpenBLAS thread
                // spins beside the other kernels; then Quanta's own FP32 GEMV, which the FP32 engine decodes with.
                var kernels: [(name: String, path: String, body: () -> Void)] = m == 1 ? [
                    ("fp32", "openblas sgemv, rows over the threads", float { wp, yp in BLAS.withOpenBLASThreads(1) {
                        WorkerPool.runChunks(n, work: n * k, threads: threads) { r in
                            BLAS.gemv(rows: r.count, columns: k, a: wp + r.lowerBound * k, x: xp.baseAddress!, y: yp + r.lowerBound)
                        }
                    }}),
                    ("f32-gemv", "quanta", float { wp, yp in qk_gemv_f32(wp, Int32(n), Int32(k), xp.baseAddress, yp, 0, Int32(threads)) }),
                ] : []
                kernels += [
                    ("i8i32", path.rawValue, { Int8GEMM.i8i32(activations, packs.next(), into: &c, threads: threads, path: path) }),
                    ("i8f32", path.rawValue, { Int8GEMM.i8f32(activations, packs.next(), into: &y, threads: threads, path: path) }),
                    ("i8f32-w7", path.rawValue, { Int8GEMM.i8f32(activations, packs7.next(), into: &y, threads: threads, path: path) }),
                ]
                if blocked {
                    kernels += [("i8f32-block32", path.rawValue, { Int8GEMM.i8f32(blockActivations, packs.next(), into: &y, threads: threads, path: path) }),
                                ("i8f32-block32-w7", path.rawValue, { Int8GEMM.i8f32(blockActivations, packs7.next(), into: &y, threads: threads, path: path) })]
                }
                kernels.append(("i8i8", path.rawValue, { Int8GEMM.i8i8(activations, packs.next(), requantization: requantization, into: &q, threads: threads, path: path) }))
                record(kernels.map { ($0.name, $0.path) }, stopwatch.interleavedMedianSeconds(kernels.map(\.body) + alongside))
            }
        }
        }
        return rows.flatMap { $0 }
    }
}
