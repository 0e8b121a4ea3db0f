import ArgumentParser
import Foundation
import Quanta

struct BenchCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "bench",
        abstract: "Benchmarks: medians of timed runs after warm-up, printed as tables (or JSON).",
        subcommands: [FormatsBench.self, GEMMBench.self, ModelBench.self, TrainBench.self]
    )
}

struct FormatsBench: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "formats",
        abstract: "Bulk FP32 <-> element-format conversion rate, one thread, in M elements/s.",
        discussion: "Converts a buffer of values spread over each format's range (subnormals and overflow included) from FP32 to codes (encode, round to nearest-even, saturating) and back (decode), and prints the median of --runs timed runs after two warm-up runs."
    )

    @Option(help: "Elements per buffer.") var elements = 1 << 24
    @Option(help: "Timed runs (the median is reported).") var runs = 7
    @Flag(help: "Print a JSON array of {format, direction, elements, medianMilliseconds, millionElementsPerSecond}.")
    var json = false

    func validate() throws {
        guard elements > 0, runs > 0 else { throw ValidationError("--elements and --runs must be positive") }
    }

    func run() throws {
        let rows = FormatBenchmark(elements: elements, stopwatch: Stopwatch(warmup: 2, runs: runs)).run()
        if json {
            try printJSON(rows)
            return
        }
        printLines(["cpu: \(CPUInfo.current().summary)",
                    "threads: 1, elements: \(elements), median of \(runs) runs after 2 warm-up runs", ""]
                   + TextTable.render(
            header: ["format", "direction", "median ms", "M elements/s"],
            rows: rows.map { [$0.format, $0.direction, String(format: "%.2f", $0.medianMilliseconds),
                              String(format: "%.0f", $0.millionElementsPerSecond)] }))
    }
}

extension KernelPath: ExpressibleByArgument {}

struct GEMMBench: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "gemm",
        abstract: "INT8 GEMM/GEMV kernels against FP32 OpenBLAS on the same shapes, in one run.",
        discussion: "Y [m, n] = X [m, k] W^T. fp32: OpenBLAS sgemm on its own threads (when m = 1: its sgemv, single-threaded on each of Quanta's threads' rows). f32-gemv (m = 1): Quanta's FP32 GEMV, which the FP32 engine decodes with. i8i32: UINT8 per-token activations x INT8 per-channel weights (pre-packed), int32 out with the zero-point correction. i8f32: the same with the dequantizing epilogue (per-token x per-channel scales) writing floats. i8f32-w7: i8f32 with 7-bit weight codes (INT7 per channel, |w| <= 63), which AVX2 multiplies on its direct vpmaddubsw tile (no sign instruction). i8f32-block32: activations quantized per token in blocks of 32 along k (one scale and zero point per block, w8a8-block32), each block's int32 partial sum rescaled in float; i8f32-block32-w7 the same with 7-bit weights. i8i8: the requantizing epilogue (per-channel fixed-point multipliers) writing int8 codes. With a one-row shape (GEMV): the weights' bytes read per second, each kernel's runs taking up to 64 copies of its weights (256 MiB in all) in turn so that no run finds them in a cache, as decoding meets them; a dram-read row, a STREAM-style read of 512 MiB by the same threads in the same rounds as Quanta's kernels, the memory rate a GEMV can at best reach; and each Quanta kernel's rate as a share of it (of read). Quanta, OpenBLAS's sgemm and oneDNN are each timed in a pass of their own (each engine's threads spin a while after its products). Median of --runs timed rounds after one warm-up, each round running every kernel of a shape once; ratio = FP32 median / kernel median."
    )

    @Option(help: "Threads for every kernel, OpenBLAS included.") var threads = 2
    @Option(help: "Timed runs (the median is reported).") var runs = 5
    @Option(help: "Shapes MxNxK, comma-separated (default: the seed's 2048x1920x1920, MiniLM's at 128 tokens, GEMVs of 4096 and 8192).") var shapes: String?
    @Option(help: "Kernel path: portable, avx2, avxvnni (VEX vpdpbusd, no AVX-512), vnni (256-bit), vnni512, neon (ARM64 sdot) or i8mm (ARM64 usdot) (default: the best this CPU supports).") var path: KernelPath = .best
    @OptionGroup var isa: ISAOption
    @Flag(help: "Print a JSON array of {kernel, m, n, k, threads, median_ms, gops, path, weight_gb_per_s}.") var json = false

    func validate() throws {
        guard threads > 0, runs > 0 else { throw ValidationError("--threads and --runs must be positive") }
        guard path.isSupported else { throw ValidationError("this CPU cannot run the \(path.rawValue) path") }
        _ = try parsedShapes()
    }

    /// --shapes as GEMMBenchmark shapes (the defaults without it).
    func parsedShapes() throws -> [GEMMBenchmark.Shape] {
        guard let shapes else { return GEMMBenchmark.defaultShapes }
        return try shapes.split(separator: ",").map { text in
            let sizes = text.split(separator: "x").compactMap { Int($0) }
            guard sizes.count == 3, sizes.allSatisfy({ $0 > 0 }) else { throw ValidationError("shape '\(text)' is not MxNxK with positive sizes") }
            return GEMMBenchmark.Shape(m: sizes[0], n: sizes[1], k: sizes[2])
        }
    }

    func run() throws {
        isa.apply()
        let shapes = try parsedShapes()
        let rows = try reportingErrors { () throws(QuantaError) in
            try GEMMBenchmark(shapes: shapes, threads: threads, path: path, stopwatch: Stopwatch(warmup: 1, runs: runs)).run(progress: progress)
        }
        if json {
            try printJSON(rows)
            return
        }
        var peer = GEMMBenchmark.oneDNNUnavailable.map { "oneDNN peer row: none (\($0))" } ?? "oneDNN peer row: its u8s8f32 matmul (per-tensor scales)"
        if let (result, exact) = GEMMBenchmark.oneDNNWorstCase() {
            peer += result == exact ? "; exact on the worst-case codes"
                : String(format: "; NOT exact on this CPU: a = 255, w = 127, k = 64 gives %.0f, exact %.0f (int16 pair sums saturate)", result, exact)
        }
        printLines(["cpu: \(CPUInfo.current().summary)", "threads: \(threads), kernel path: \(path.rawValue), \(BLAS.kernelDescription), median of \(runs) interleaved rounds after 1 warm-up", peer, ""]
                   + TextTable.render(header: ["kernel", "shape (m x n x k)", "median ms", "GOP/s", "weights GB/s", "of read", "vs fp32"], rows: rows.map { row in
            let bandwidth = row.weightGigabytesPerSecond.map { String(format: "%.1f", $0) } ?? ""
            guard row.kernel != "dram-read", let fp32 = rows.first(where: { $0.kernel == "fp32" && $0.m == row.m && $0.n == row.n && $0.k == row.k }) else {
                return [row.kernel, row.path, String(format: "%.3f", row.medianMilliseconds), "", bandwidth, "", ""]
            }
            return [row.kernel, "\(row.m)x\(row.n)x\(row.k)", String(format: "%.3f", row.medianMilliseconds), String(format: "%.1f", row.gops),
                    bandwidth, row.shareOfRead.map { String(format: "%.0f%%", 100 * $0) } ?? "",
                    String(format: "%.2fx", fp32.medianMilliseconds / row.medianMilliseconds)]
        }))
    }
}

struct ModelBench: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "model",
        abstract: "The FP32 engine against a quantized one, in one run: MiniLM sequences/s, SmolLM2 prefill and decode tokens/s.",
        discussion: "MiniLM: a batch of 32 sequences of 128 tokens. SmolLM2: a prefill of 512 tokens, then 128 tokens decoded one at a time, each from an empty cache. The quantized model runs its W8A8 layers (INT8 per-channel weights, UINT8 per-token or static per-tensor INT8 inputs) and weight-only layers on the integer kernels; other layers keep their fake-quantized form. --model may be a quantized model folder. Median of --runs timed rounds after one warm-up, each round running every workload of every variant once."
    )

    @OptionGroup var model: ModelOption
    @OptionGroup var head: HeadOption
    @Option(name: .long, help: "Recipes (built-in names or JSON files, comma-separated: all run side by side); not needed with a quantized model folder.") var recipe: String?
    @Option(help: "Threads for every kernel; FP32 products are split over them (OpenBLAS single-threaded).") var threads = 2
    @Option(help: "Timed runs (the median is reported).") var runs = 3
    @OptionGroup var isa: ISAOption
    @Flag(help: "Print a JSON array of {model, recipe, threads, metric, value}.") var json = false

    func validate() throws {
        guard threads > 0, runs > 0 else { throw ValidationError("--threads and --runs must be positive") }
    }

    func run() throws {
        isa.apply()
        let rows = try reportingErrors { () throws(QuantaError) -> [ModelBenchmark.Row] in
            let reference = try ModelReference(model.model)
            var name = model.model
            var variants = [(String, LoadedModel)]()
            if case let .quantized(folder) = reference {
                let description = try QuantizedModelFolder.description(of: folder)
                name = description.baseModel
                variants.append((description.recipe, try LoadedModel(reference)))
            }
            let base = try LoadedModel(ModelReference(name))
            let data = EvaluationData(assets: try AssetStore.locate())
            for name in recipe?.split(separator: ",").map(String.init) ?? [] {
                let r = try Recipe.named(name, quantizingHead: head.quantizeHead)
                variants.append((r.name, try QuantizationPipeline().quantize(base, recipe: r, data: data, progress: progress)))
            }
            guard !variants.isEmpty else { throw .invalidArgument("give --recipe, or a quantized model folder as --model") }
            let lowered = try variants.map { v throws(QuantaError) in (v.0, try IntegerRuntime.lower(v.1, threads: threads)) }
            for (recipe, model) in lowered {
                if case let .bert(bert, _) = model, bert.integerEncoder != nil {
                    progress("\(recipe): the integer encoder (every operator in integer arithmetic)")
                    continue
                }
                let layers = model.allLinearLayers
                progress("\(recipe): \(layers.filter(IntegerRuntime.isInteger).count) of \(layers.count) Linear layers on integer kernels")
            }
            let text = try data.novel("emma")
            return try ModelBenchmark(threads: threads, stopwatch: Stopwatch(warmup: 1, runs: runs))
                .run(modelName: name, variants: [("fp32", base)] + lowered, text: text, progress: progress)
        }
        if json {
            try printJSON(rows)
            return
        }
        printLines(["cpu: \(CPUInfo.current().summary)", "threads: \(threads), kernel path: \(KernelPath.best.rawValue), \(BLAS.kernelDescription), median of \(runs) interleaved rounds after 1 warm-up", ""]
                   + TextTable.render(header: ["model", "recipe", "metric", "value", "vs fp32"], rows: rows.map { row in
            let fp32 = rows.first { $0.recipe == "fp32" && $0.metric == row.metric }!
            return [row.model, row.recipe, row.metric, String(format: "%.1f", row.value), String(format: "%.2fx", row.value / fp32.value)]
        }))
    }
}

struct TrainBench: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "train",
        abstract: "Training tokens/s of the FP32 model and of QAT models, in one run.",
        discussion: "One optimizer step: the forward pass keeping activations, the backward pass, clipping and the AdamW update. SmolLM2: one sequence of 512 tokens of Mansfield Park, next-token cross-entropy. MiniLM: 8 lee_background.cor documents, 1 - cosine to the FP32 embeddings. QAT models fake-quantize their recipe's layers with learned step sizes (quanta qat). Median of --runs interleaved rounds after one warm-up."
    )

    @OptionGroup var model: ModelOption
    @Option(name: .long, help: "Recipes to train quantization-aware (comma-separated), beside FP32.") var recipe: String?
    @Option(help: "Threads of every product (OpenBLAS single-threaded, its products split over them).") var threads = 2
    @Option(help: "Timed runs (the median is reported).") var runs = 3
    @Flag(help: "Print a JSON array of {model, recipe, threads, metric, value}.") var json = false

    func validate() throws {
        guard threads > 0, runs > 0 else { throw ValidationError("--threads and --runs must be positive") }
    }

    func run() throws {
        let rows = try reportingErrors { () throws(QuantaError) -> [ModelBenchmark.Row] in
            let base = try LoadedModel(ModelReference(model.model))
            let data = EvaluationData(assets: try AssetStore.locate())
            let recipes = try (recipe?.split(separator: ",").map(String.init) ?? []).map { name throws(QuantaError) in try Recipe.named(name) }
            let benchmark = TrainingBenchmark(threads: threads, stopwatch: Stopwatch(warmup: 1, runs: runs))
            let calibration = try base.calibrationSequences(data)
            let shape = type(of: base.model).trainingBenchmarkBatch
            let batch = try base.trainingSequences(data, window: shape.tokens).prefix(shape.sequences).map { Array($0.prefix(shape.tokens)) }
            func timed<Model: QuantizableModel>(_ fp32: Model) throws(QuantaError) -> [ModelBenchmark.Row] {
                var variants = [("fp32", fp32)]
                for r in recipes {
                    variants.append((r.name + "+qat", try QuantizationAwareTraining.prepared(r) { record throws(QuantaError) in
                        try QuantizationPipeline().quantize(fp32, recipe: r, calibration: calibration, progress: progress, record: record)
                    }))
                }
                return try benchmark.run(modelName: model.model, variants: variants, batch: batch)
            }
            return try timed(base.model)
        }
        if json {
            try printJSON(rows)
            return
        }
        printLines(["cpu: \(CPUInfo.current().summary)", "threads: \(threads), \(BLAS.kernelDescription), median of \(runs) interleaved rounds after 1 warm-up", ""]
                   + TextTable.render(header: ["model", "variant", "metric", "value", "vs fp32"], rows: rows.map { row in
            [row.model, row.recipe, row.metric, String(format: "%.1f", row.value), String(format: "%.2fx", row.value / rows[0].value)]
        }))
    }
}
