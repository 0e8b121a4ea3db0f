import Foundation
import QuantaKernels

/// The W8A8 Linear in real integer arithmetic: each call quantizes its input (after the SmoothQuant input
/// scale) to UINT8 codes with a zero point, either per token from the row's range (`qk_quantize_rows_u8`, the
/// `w8a8` recipes), per token and block of 32 columns (`qk_quantize_rows_u8_blocks`, `w8a8-block32`), or
/// with the calibrated per-tensor INT8 scale (`qk_quantize_rows_static_u8`, the static recipes; a signed code
/// Q is stored as Q + 128 with zero point Z - 128), multiplies the codes by the pre-packed INT8 weight in int32
/// (`Int8GEMM`), and dequantizes in the kernel's epilogue with the bias:
///
///     y[t, j] = (S_x[t] S_w[j]) float(sum_k Q_x[t, k] Q_w[j, k] + Z_x[t] sum_k Q_w[j, k]) + b[j]
///
/// (with blocks, each block's exact partial sum is scaled by its own S_x[t, b] before the sum over blocks).
/// It computes what `FakeQuantizedLinear` with the same scheme computes (the same codes and scales), up to
/// the order of the float sums.
public struct Int8Linear: LinearLayer {
    public let name: String
    public let weight: PackedInt8Weight
    public let bias: [Float]?
    public let inputScale: [Float]?
    public let threads: Int
    public let path: KernelPath
    /// The calibrated per-tensor INT8 input parameters of a static recipe; nil: dynamic UINT8.
    public let staticInput: QuantizationParameters?
    /// Dynamic inputs quantized per token and block of `Int8GEMM.activationBlock` columns, not per token.
    public let blockedInput: Bool

    /// The scheme this layer runs: INT8 symmetric per-channel weights (or INT7, whose codes take AVX2's direct
    /// vpmaddubsw tile), UINT8 asymmetric per-token inputs, or per token in blocks.
    public static let weightScheme = TensorQuantizer.integer(.int8, .symmetric, .perChannel)
    public static let smallWeightScheme = TensorQuantizer.integer(.int7, .symmetric, .perChannel)
    public static let activationScheme = TensorQuantizer.integer(.uint8, .asymmetric, .perToken)
    public static let blockedActivationScheme = TensorQuantizer.integer(.uint8, .asymmetric, .perGroup(size: Int8GEMM.activationBlock))

    /// A layer on an already packed weight (packed with its block sums when `blockedInput`).
    public init(name: String, weight: PackedInt8Weight, bias: [Float]?, inputScale: [Float]?, staticInput: QuantizationParameters? = nil,
                blockedInput: Bool = false, threads: Int, path: KernelPath) {
        precondition(!blockedInput || (staticInput == nil && weight.blockSums != nil))
        self.name = name
        self.staticInput = staticInput
        self.blockedInput = blockedInput
        self.weight = weight
        self.bias = bias
        self.inputScale = inputScale
        self.threads = threads
        self.path = path
    }

    /// The integer form of `layer` when it is fake-quantized with this weight scheme and one of these
    /// activation schemes (blocks only where they divide the input width) or a static per-tensor INT8 one,
    /// else nil.
    public init?(_ layer: any LinearLayer, threads: Int = ProcessInfo.processInfo.activeProcessorCount) {
        guard let q = layer as? FakeQuantizedLinear, let w = q.weightQuantizer, let a = q.activationQuantizer,
              ["\(Self.weightScheme)", "\(Self.smallWeightScheme)"].contains("\(w)"),
              let p = q.weightParameters, let codes = try? AffineQuantizer.quantize(q.quantized.weight, with: p, as: Int8.self) else { return nil }
        var staticInput: QuantizationParameters?, blocked = false
        switch a {
        case let .staticInteger(input) where input.format == .int8 && input.granularity == .perTensor: staticInput = input
        case _ where "\(a)" == "\(Self.activationScheme)": break
        case _ where "\(a)" == "\(Self.blockedActivationScheme)" && codes.columns % Int8GEMM.activationBlock == 0: blocked = true
        default: return nil
        }
        guard let packed = try? PackedInt8Weight(codes: codes, scales: p.scales, blockSums: blocked) else { return nil }
        self.init(name: q.name, weight: packed, bias: q.quantized.bias, inputScale: q.quantized.inputScale, staticInput: staticInput,
                  blockedInput: blocked, threads: threads, path: .best)
    }

    public var inFeatures: Int { weight.inFeatures }
    public var outFeatures: Int { weight.outFeatures }
    public var weightBytes: Int { weight.outFeatures * weight.inFeatures + 4 * weight.outFeatures }

    public func forward(_ x: Matrix<Float>) -> Matrix<Float> { forward(x, activation: nil, residual: nil) }

    /// The activation and the residual run in the GEMM's epilogue, on the tile still in registers.
    public func forward(_ x: Matrix<Float>, activation: Activation?, residual: Matrix<Float>?) -> Matrix<Float> {
        let a = PaddedActivations(quantizing: x, columnScale: inputScale, staticInput: staticInput, blocked: blockedInput)
        var y = Matrix<Float>(unfilledRows: x.rows, columns: outFeatures)
        Int8GEMM.i8f32(a, weight, bias: bias, activation: activation, residual: residual, into: &y, threads: threads, path: path)
        return y
    }
}

extension Int8Linear {
    /// Rows per slice of `feedForward`: 48 x 1536 floats (288 KB) and their codes stay in L2 beside the weights' stream.
    static let feedForwardRows = 48

    /// down(act(up(x)), residual) with the inner activations kept in cache: each core (at most up's `threads`)
    /// runs `feedForwardRows` rows at a time through up's GEMM (the activation in its epilogue), quantizes them as
    /// down's input and runs down's GEMM on them. Per element the same operations as
    /// `down.forward(up.forward(x, activation:), residual:)`, so the same bits, without the [tokens, inner] float
    /// tensor's trip to memory and back.
    public static func feedForward(_ x: Matrix<Float>, up: Int8Linear, activation: Activation, down: Int8Linear, residual: Matrix<Float>?) -> Matrix<Float> {
        precondition(x.columns == up.inFeatures && up.outFeatures == down.inFeatures)
        precondition(residual == nil || (residual!.rows == x.rows && residual!.columns == down.outFeatures))
        let a = PaddedActivations(quantizing: x, columnScale: up.inputScale, staticInput: up.staticInput, blocked: up.blockedInput)
        let (m, f, n, slice) = (x.rows, up.outFeatures, down.outFeatures, feedForwardRows)
        var y = Matrix<Float>(unfilledRows: m, columns: n)
        (up.bias ?? []).withUnsafeBufferPointer { upBias in (down.bias ?? []).withUnsafeBufferPointer { downBias in
        (residual?.storage ?? []).withUnsafeBufferPointer { r in y.storage.withUnsafeMutableBufferPointer { out in
            WorkerPool.runChunks(m, work: m * f * (x.columns + n), threads: up.threads) { chunk in
                let inner = UnsafeMutablePointer<Float>.allocate(capacity: slice * f)
                defer { inner.deallocate() }
                var codes = PaddedActivations(rows: slice, columns: f, blocked: down.blockedInput, unfilled: true)
                for start in stride(from: chunk.lowerBound, to: chunk.upperBound, by: slice) {
                    let rows = start..<min(start + slice, chunk.upperBound)
                    Int8GEMM.i8f32(a, rows: rows, up.weight, bias: up.bias == nil ? nil : upBias.baseAddress, activation: activation,
                                   residual: nil, into: inner, path: up.path)
                    codes.withRowQuantizer(columnScale: down.inputScale) { write in write(0..<rows.count, inner, down.staticInput) }
                    Int8GEMM.i8f32(codes, rows: 0..<rows.count, down.weight, bias: down.bias == nil ? nil : downBias.baseAddress, activation: nil,
                                   residual: residual == nil ? nil : r.baseAddress! + start * n, into: out.baseAddress! + start * n, path: down.path)
                }
            }
        }}}}
        return y
    }
}

/// Replaces every Linear that has an integer kernel (`Int8Linear`'s W8A8 schemes, dynamic, in blocks or
/// static, `OutlierInt8Linear`'s LLM.int8() and `WeightOnlyLinear`'s UINT8/UINT4 weight-only schemes) by it;
/// the rest stay as they are.
public enum IntegerRuntime {
    public static func lower(_ layer: any LinearLayer, threads: Int = ProcessInfo.processInfo.activeProcessorCount) -> any LinearLayer {
        Int8Linear(layer, threads: threads) ?? OutlierInt8Linear(layer, threads: threads) ?? WeightOnlyLinear(layer, threads: threads) ?? layer
    }

    /// Whether `layer` runs on an integer kernel.
    public static func isInteger(_ layer: any LinearLayer) -> Bool { layer is Int8Linear || layer is OutlierInt8Linear || layer is WeightOnlyLinear }

    public static func lower(_ model: LoadedModel, threads: Int) throws(QuantaError) -> LoadedModel {
        let lower = { (layer: any LinearLayer) -> any LinearLayer in Self.lower(layer, threads: threads) }
        return try model.replacing(model.model.mapLinearLayers(lower))
    }
}

extension PaddedActivations {
    /// x (times `columnScale` per column, if given) quantized to UINT8 codes with a zero point: per row from
    /// its range (`qk_quantize_rows_u8`), or with the static per-tensor INT8 parameters `staticInput`
    /// (`qk_quantize_rows_static_u8`), or with `blocked` per row and block (`qk_quantize_rows_u8_blocks`); the
    /// rows split over the cores when there are many.
    public init(quantizing x: Matrix<Float>, columnScale: [Float]?, staticInput: QuantizationParameters? = nil, blocked: Bool = false) {
        precondition(staticInput == nil || !blocked)
        self.init(rows: x.rows, columns: x.columns, blocked: blocked, unfilled: true)
        let (rows, columns) = (x.rows, x.columns)
        x.storage.withUnsafeBufferPointer { xp in
            withRowQuantizer(columnScale: columnScale) { write in
                WorkerPool.runChunks(rows, work: rows * columns) { chunk in
                    write(chunk, xp.baseAddress! + chunk.lowerBound * columns, staticInput)
                }
            }
        }
    }

    /// Calls `body` with a row quantizer `write(rows, x, staticInput)`, which sets the rows `rows` of these activations from
    /// the float rows at `x` (row stride `columns`) as `init(quantizing:)` does; calls of `write` on disjoint rows
    /// may run at once.
    mutating func withRowQuantizer(columnScale: [Float]?,
                                   _ body: ((Range<Int>, UnsafePointer<Float>, QuantizationParameters?) -> Void) -> Void) {
        let (columns, stride, blocked, parametersPerRow) = (columns, stride, blocked, blocked ? columns / Int8GEMM.activationBlock : 1)
        (columnScale ?? []).withUnsafeBufferPointer { sp in
        codes.withUnsafeMutableBufferPointer { cp in scales.withUnsafeMutableBufferPointer { scp in zeroPoints.withUnsafeMutableBufferPointer { zp in
            let scale = columnScale == nil ? nil : sp.baseAddress
            body { rows, x, staticInput in
                let (r0, count) = (rows.lowerBound, Int32(rows.count))
                if blocked {
                    qk_quantize_rows_u8_blocks(x, count, Int32(columns), Int32(columns), scale, cp.baseAddress! + r0 * stride, Int32(stride),
                                               scp.baseAddress! + r0 * parametersPerRow, zp.baseAddress! + r0 * parametersPerRow)
                } else if let p = staticInput {
                    let range = p.codeRange, z = p.zeroPoints[0]
                    for r in rows { (scp[r], zp[r]) = (p.scales[0], z - 128) }
                    qk_quantize_rows_static_u8(x, count, Int32(columns), Int32(columns), scale, 1 / p.scales[0],
                                               range.lowerBound + z, range.upperBound + z, 128 - z, cp.baseAddress! + r0 * stride, Int32(stride))
                } else {
                    qk_quantize_rows_u8(x, count, Int32(columns), Int32(columns), scale, cp.baseAddress! + r0 * stride, Int32(stride),
                                        scp.baseAddress! + r0, zp.baseAddress! + r0)
                }
            }
        }}}}
    }
}
