import QuantaKernels
/// `quanta bench gemm`: FP32 OpenBLAS (sgemm, or sgemv for one row) against the INT8 kernels on the same
/// shapes in the same run, Y [m, n] = X [m, k] W^T, weights packed before timing, outputs preallocated; with a
/// one-row shape, also the memory read rate that bounds a GEMV (the dram-read row).
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

        enum CodingKeys: String, CodingKey {
            case kernel, m, n, k, threads, path
            case medianMilliseconds = "median_ms", gops, weightGigabytesPerSecond = "weight_gb_per_s"
        }
    }

    /// Bytes of the dram-read row's buffer: larger than any L3 cache of the CPUs measured here.
    public static let readBytes = 512 << 20

    /// The STREAM-style read of `readBytes` by `threads` threads (qk_read_words), as a row: the memory rate that a
    /// GEMV whose weights exceed the caches can at best reach.
    func dramRead() -> Row {
        let words = [UInt64](unsafeUninitializedCapacity: Self.readBytes / 8) { buffer, count in
            for i in 0..<buffer.count { buffer[i] = UInt64(i) }   // touched, so that every page is mapped
            count = buffer.count
        }
        let seconds = words.withUnsafeBufferPointer { wp in
            stopwatch.medianSeconds { _ = qk_read_words(wp.baseAddress, wp.count, Int32(threads)) }
        }
        return Row(kernel: "dram-read", m: 0, n: 0, k: 0, threads: threads, medianMilliseconds: seconds * 1e3, gops: 0,
                   path: "\(Self.readBytes >> 20) MiB read", weightGigabytesPerSecond: Double(Self.readBytes) / seconds / 1e9)
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
        return a.storage.withUnsafeBufferPointer { ap in b.storage.withUnsafeBufferPointer { bp in c.withUnsafeMutableBufferPointer { cp in
            guard let matmul = qk_onednn_matmul_create(Int32(m), Int32(n), Int32(k), ap.baseAddress, bp.baseAddress, xq.scales[0] * wq.scales[0],
                                                       cp.baseAddress, Int32(threads)) else { return nil }
            return stopwatch.medianSeconds { _ = qk_onednn_matmul_run(matmul, Int32(threads)) }
        }}}
    }

    public func run(progress: (String) -> Void = { _ in }) throws(QuantaError) -> [Row] {
        BLAS.setThreads(threads)
        // Rows per shape; oneDNN's pass comes last: its OpenMP workers spin after each call and would slow
        // what follows.
        var rows = [[Row]](repeating: [], count: shapes.count)
        for peer in [false, true] where !peer || Self.oneDNNUnavailable == nil {
        for (index, shape) in shapes.enumerated() {
            let (m, n, k) = (shape.m, shape.n, shape.k)
            progress("gemm \(m)x\(n)x\(k)\(peer ? " (oneDNN)" : "")")
            func record(_ kernel: String, _ seconds: Double, path: String) {
                let weightBytes = Double(n * k * (["fp32", "f32-gemv"].contains(kernel) ? 4 : 1))
                rows[index].append(Row(kernel: kernel, m: m, n: n, k: k, threads: threads, medianMilliseconds: seconds * 1e3,
                                       gops: 2 * Double(m) * Double(n) * Double(k) / seconds / 1e9, path: path,
                                       weightGigabytesPerSecond: m == 1 ? weightBytes / seconds / 1e9 : nil))
            }
            var generator = SplitMix64(seed: UInt64(m * 31 + n * 7 + k))
            let x = try Matrix(rows: m, columns: k, storage: (0..<m * k).map { _ in Float.random(in: -1...1, using: &generator) })
            let w = try Matrix(rows: n, columns: k, storage: (0..<n * k).map { _ in Float.random(in: -1...1, using: &generator) })
            if peer {
                if let seconds = try oneDNN(m: m, n: n, k: k, x: x, w: w) { record("onednn", seconds, path: "oneDNN u8s8f32 matmul") }
                continue
            }
            // FP32 baseline on the same values, then the INT8 kernels: per-channel INT8 weights packed once, UINT8
            // activations per token (and per token in blocks of 32 where k allows), all timed in interleaved rounds.
            var y = Matrix<Float>(rows: m, columns: n, repeating: 0)
            let wq = try AffineQuantizer.chooseParameters(for: w, format: .int8, scheme: .symmetric, granularity: .perChannel)
            let blocked = k % Int8GEMM.activationBlock == 0
            let packed = try PackedInt8Weight(codes: AffineQuantizer.quantize(w, with: wq, as: Int8.self), scales: wq.scales, blockSums: blocked)
            // The same weights in 7 bits (codes in [-63, 63]): AVX2 runs them on its direct vpmaddubsw tile.
            let wq7 = try AffineQuantizer.chooseParameters(for: w, format: .int7, scheme: .symmetric, granularity: .perChannel)
            let packed7 = try PackedInt8Weight(codes: AffineQuantizer.quantize(w, with: wq7, as: Int8.self), scales: wq7.scales, blockSums: blocked)
            let xq = try AffineQuantizer.chooseParameters(for: x, format: .uint8, scheme: .asymmetric, granularity: .perToken)
            let activations = PaddedActivations(codes: try AffineQuantizer.quantize(x, with: xq, as: UInt8.self), scales: xq.scales, zeroPoints: xq.zeroPoints)
            let blockActivations = PaddedActivations(quantizing: x, columnScale: nil, blocked: blocked)
            var c = Matrix<Int32>(rows: m, columns: n, repeating: 0)
            let outputScale = try QuantizationParameters(scales: [Float(k) / 64], zeroPoints: [0], format: .int8, scheme: .symmetric, granularity: .perTensor)
            let perTensor = try QuantizationParameters(scales: [xq.scales[0]], zeroPoints: [0], format: .uint8, scheme: .asymmetric, granularity: .perTensor)
            let requantization = try Requantization(activation: perTensor, weight: wq, channels: n, bias: nil, output: outputScale)
            var q = Matrix<Int8>(rows: m, columns: n, repeating: 0)
            x.storage.withUnsafeBufferPointer { xp in w.storage.withUnsafeBufferPointer { wp in
                var kernels: [(name: String, path: String, body: () -> Void)] = [
                    ("fp32", m == 1 ? "openblas sgemv" : "openblas sgemm", {
                        y.storage.withUnsafeMutableBufferPointer { yp in BLAS.withOpenBLASThreads(threads) {
                            if m == 1 { BLAS.gemv(rows: n, columns: k, a: wp.baseAddress!, x: xp.baseAddress!, y: yp.baseAddress!) }
                            else { BLAS.openBLASProduct(m: m, n: n, k: k, a: xp.baseAddress!, b: wp.baseAddress!, c: yp.baseAddress!) }
                        }}
                    }),
                    ("i8i32", path.rawValue, { Int8GEMM.i8i32(activations, packed, into: &c, threads: threads, path: path) }),
                    ("i8f32", path.rawValue, { Int8GEMM.i8f32(activations, packed, into: &y, threads: threads, path: path) }),
                    ("i8i8", path.rawValue, { Int8GEMM.i8i8(activations, packed, requantization: requantization, into: &q, threads: threads, path: path) }),
                ]
                if m == 1 {   // Quanta's own FP32 GEMV, which the FP32 engine decodes with
                    kernels.insert(("f32-gemv", "quanta", {
                        y.storage.withUnsafeMutableBufferPointer { yp in qk_gemv_f32(wp.baseAddress, Int32(n), Int32(k), xp.baseAddress, yp.baseAddress, 0, Int32(threads)) }
                    }), at: 1)
                }
                kernels.insert(("i8f32-w7", path.rawValue, { Int8GEMM.i8f32(activations, packed7, into: &y, threads: threads, path: path) }), at: 3)
                if blocked {
                    kernels.insert(("i8f32-block32", path.rawValue, { Int8GEMM.i8f32(blockActivations, packed, into: &y, threads: threads, path: path) }), at: 4)
                    kernels.insert(("i8f32-block32-w7", path.rawValue, { Int8GEMM.i8f32(blockActivations, packed7, into: &y, threads: threads, path: path) }), at: 5)
                }
                for (kernel, seconds) in zip(kernels, stopwatch.interleavedMedianSeconds(kernels.map(\.body))) { record(kernel.name, seconds, path: kernel.path) }
            }}
        }
        }
        if shapes.contains(where: { $0.m == 1 }) {
            progress("dram read")
            rows.append([dramRead()])
        }
        return rows.flatMap { $0 }
    }
}
