import Foundation
import QuantaKernels

/// The integer encoder's parameters as safetensors tensors, all integer: what a `quanta quantize --recipe
/// int-only` folder holds and what an integer-only device needs (no float scale is stored; every scale ratio
/// is a mantissa and a shift).
///
///     embeddings.{word,position,type}                 I32 [rows, hidden]    table codes
///     embeddings.norm.{mantissa,shift,bias}           I32 [hidden]          LayerNorm requantization
///     layer.L.{query_key_value,attention_output,intermediate,output}.{weight (I8 [out, in]), mantissa, shift, bias (I32 [out])}
///     layer.L.{attention_norm,output_norm}.{mantissa,shift,bias}            I32 [hidden]
///     layer.L.softmax                                 I64 [4]  q_ln2, q_b, q_c, output bits
///     layer.L.gelu                                    I64 [4]  q_b, q_c, q_1, shift
///     layer.L.{attention_residual,output_residual,gelu_output}             I32 [2]  mantissa, shift
///     layer.L.gelu_narrowing                          I32 [1]
extension IntegerEncoder {
    public func tensors() -> [SafeTensorsWriter.Entry] {
        func int32(_ name: String, _ values: [Int32], _ shape: [Int]? = nil) -> SafeTensorsWriter.Entry {
            .init(name: name, type: .i32, shape: shape ?? [values.count], bytes: values.map(\.littleEndian).withUnsafeBufferPointer { Data(buffer: $0) })
        }
        func int64(_ name: String, _ values: [Int64]) -> SafeTensorsWriter.Entry {
            .init(name: name, type: .i64, shape: [values.count], bytes: values.map(\.littleEndian).withUnsafeBufferPointer { Data(buffer: $0) })
        }
        func norm(_ prefix: String, _ n: Norm) -> [SafeTensorsWriter.Entry] {
            [int32(prefix + ".mantissa", n.mantissas), int32(prefix + ".shift", n.shifts), int32(prefix + ".bias", n.bias)]
        }
        func multiplier(_ name: String, _ m: qi_multiplier) -> SafeTensorsWriter.Entry { int32(name, [m.mantissa, m.shift]) }
        let h = hiddenSize
        var entries = [int32("embeddings.word", word, [word.count / h, h]), int32("embeddings.position", position, [position.count / h, h]),
                       int32("embeddings.type", type, [type.count / h, h])] + norm("embeddings.norm", embeddingNorm)
        for (index, layer) in layers.enumerated() {
            let p = "layer.\(index)."
            for (name, path) in Self.linears {
                let linear = layer[keyPath: path]
                let codes = linear.codes
                entries.append(.init(name: p + name + ".weight", type: .i8, shape: [codes.rows, codes.columns],
                                     bytes: codes.storage.withUnsafeBufferPointer { Data(buffer: $0) }))
                entries += [int32(p + name + ".mantissa", linear.columnMantissas), int32(p + name + ".shift", linear.columnShifts),
                            int32(p + name + ".bias", linear.bias)]
            }
            entries += norm(p + "attention_norm", layer.attentionNorm) + norm(p + "output_norm", layer.outputNorm)
            let softmax = layer.softmax, gelu = layer.gelu
            entries += [int64(p + "softmax", [softmax.qln2, softmax.qb, softmax.qc, Int64(softmax.out_bits)]),
                        int64(p + "gelu", [gelu.qb, gelu.qc, gelu.q1, Int64(gelu.shift)]),
                        multiplier(p + "attention_residual", layer.attentionResidual), multiplier(p + "output_residual", layer.outputResidual),
                        multiplier(p + "gelu_output", layer.geluOutput), int32(p + "gelu_narrowing", [layer.geluNarrowing])]
        }
        return entries
    }

    /// The encoder stored in `file` for a model of `config`; every tensor's type and shape is checked.
    public init(file: SafeTensorsFile, config: BertModel.Config, threads: Int = ProcessInfo.processInfo.activeProcessorCount,
                path: KernelPath = .best) throws(QuantaError) {
        let h = config.hiddenSize, f = config.intermediateSize
        func int32(_ name: String, _ shape: [Int]) throws(QuantaError) -> [Int32] { try file.integers(name, expectedShape: shape) }
        func int64(_ name: String, _ count: Int) throws(QuantaError) -> [Int64] {
            let raw = try file.bytes(name, type: .i64, shape: [count])
            return raw.withUnsafeBytes { b in (0..<count).map { Int64(littleEndian: b.loadUnaligned(fromByteOffset: 8 * $0, as: Int64.self)) } }
        }
        func norm(_ prefix: String) throws(QuantaError) -> Norm {
            Norm(mantissas: try int32(prefix + ".mantissa", [h]), shifts: try int32(prefix + ".shift", [h]), bias: try int32(prefix + ".bias", [h]))
        }
        func multiplier(_ name: String) throws(QuantaError) -> qi_multiplier {
            let v = try int32(name, [2])
            return qi_multiplier(mantissa: v[0], shift: v[1])
        }
        func linear(_ name: String, out: Int, in inFeatures: Int) throws(QuantaError) -> Linear {
            let raw = try file.bytes(name + ".weight", type: .i8, shape: [out, inFeatures])
            let codes = try Matrix(rows: out, columns: inFeatures, storage: raw.withUnsafeBytes { Array($0.bindMemory(to: Int8.self)) })
            return try Linear(codes: codes, columnMantissas: int32(name + ".mantissa", [out]), columnShifts: int32(name + ".shift", [out]),
                              bias: int32(name + ".bias", [out]))
        }
        word = try int32("embeddings.word", [config.vocabularySize, h])
        position = try int32("embeddings.position", [config.maxPositions, h])
        type = try int32("embeddings.type", [config.typeVocabularySize, h])
        embeddingNorm = try norm("embeddings.norm")
        var layers = [Layer]()
        for index in 0..<config.layers {
            let p = "layer.\(index)."
            let softmax = try int64(p + "softmax", 4), gelu = try int64(p + "gelu", 4), narrowing = try int32(p + "gelu_narrowing", [1])
            layers.append(Layer(queryKeyValue: try linear(p + "query_key_value", out: 3 * h, in: h),
                                attentionOutput: try linear(p + "attention_output", out: h, in: h),
                                intermediate: try linear(p + "intermediate", out: f, in: h), output: try linear(p + "output", out: h, in: f),
                                softmax: qi_softmax(qln2: softmax[0], qb: softmax[1], qc: softmax[2], out_bits: Int32(clamping: softmax[3])),
                                attentionResidual: try multiplier(p + "attention_residual"), outputResidual: try multiplier(p + "output_residual"),
                                attentionNorm: try norm(p + "attention_norm"), outputNorm: try norm(p + "output_norm"),
                                gelu: qi_gelu(qb: gelu[0], qc: gelu[1], q1: gelu[2], shift: Int32(clamping: gelu[3])),
                                geluOutput: try multiplier(p + "gelu_output"), geluNarrowing: narrowing[0]))
            guard (1...8).contains(softmax[3]), (0...62).contains(gelu[3]), (0...62).contains(narrowing[0]) else {
                throw .file(path: file.path, reason: "layer \(index): softmax bits \(softmax[3]), GELU shift \(gelu[3]) or narrowing \(narrowing[0]) out of range")
            }
        }
        self.layers = layers
        (hiddenSize, heads, self.threads, self.path) = (h, config.heads, threads, path)
    }

    /// The Linear layers of a layer by their stored names.
    static var linears: [(name: String, path: KeyPath<Layer, Linear>)] {
        [("query_key_value", \.queryKeyValue), ("attention_output", \.attentionOutput), ("intermediate", \.intermediate), ("output", \.output)]
    }
}
