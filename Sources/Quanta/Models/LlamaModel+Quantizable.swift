/// LLaMA in the quantization pipeline: calibration windows of running text, SmoothQuant folded into the
/// RMSNorm weights and the V / up rows, rotation, a quantized KV cache.
extension LlamaModel: QuantizableModel {
    public static let architecture = "llama"
    /// 16 windows of 512 tokens.
    public static let calibrationSequences = 16
    public static let trainingBenchmarkBatch = (sequences: 1, tokens: 512)

    /// Each window from an empty cache, the last position's logits only.
    public func calibrationPass(_ sequences: [[Int32]], progress: (Int, Int) -> Void) throws(QuantaError) {
        for (i, window) in sequences.enumerated() {
            var cache = KVCache(for: config)
            _ = try forward(window, cache: &cache, lastOnly: true)
            progress(i + 1, sequences.count)
        }
    }

    /// Each window's hidden states carried from block to block: a block's layers are observed on the outputs of
    /// the blocks before it as replaced, then replaced, then the block runs again, as replaced, to give the next
    /// block its inputs (two passes of the model in all). The head sees each window's last position, as in
    /// `calibrationPass`.
    public func sequentiallyReplacingLinearLayers(_ sequences: [[Int32]], gram: Bool,
                                                  replace: (any LinearLayer, [String: ActivationStatistics]) throws(QuantaError) -> any LinearLayer) throws(QuantaError) -> LlamaModel? {
        var model = self
        let h = config.hiddenSize
        var states = try sequences.map { window throws(QuantaError) -> Matrix<Float> in
            if let bad = window.first(where: { $0 < 0 || Int($0) >= config.vocabularySize }) {
                throw .invalidArgument("token id \(bad) is outside the vocabulary of \(config.vocabularySize)")
            }
            return try Matrix(rows: window.count, columns: h, storage: window.flatMap { tokenEmbeddings.row(Int($0)) })
        }
        let layers: [WritableKeyPath<Block, any LinearLayer>] = [\.query, \.key, \.value, \.output, \.gate, \.up, \.down]
        for b in model.blocks.indices {
            let recorder = StatisticsRecorder(sampleRows: 256, gram: gram)
            var watched = model.blocks[b]
            for path in layers { watched[keyPath: path] = ObservingLinear(inner: watched[keyPath: path], recorder: recorder) }
            for w in states.indices {
                var x = states[w], cache = KVCache(for: config)
                let (cosines, sines) = ropeTables(positions: 0..<x.rows)
                try model.run(watched, layer: b, on: &x, cache: &cache, cosines: cosines, sines: sines)
            }
            try recorder.check()
            for path in layers { model.blocks[b][keyPath: path] = try replace(model.blocks[b][keyPath: path], recorder.statistics) }
            for w in states.indices {
                var cache = KVCache(for: config)
                let (cosines, sines) = ropeTables(positions: 0..<states[w].rows)
                try model.run(model.blocks[b], layer: b, on: &states[w], cache: &cache, cosines: cosines, sines: sines)
            }
        }
        let recorder = StatisticsRecorder(sampleRows: 256, gram: gram)
        let lastRows = try Matrix(rows: states.count, columns: h, storage: states.flatMap { Array($0.row($0.rows - 1)) })
        _ = ObservingLinear(inner: model.head, recorder: recorder).forward(model.outputNorm(lastRows))
        try recorder.check()
        model.head = try replace(model.head, recorder.statistics)
        return model
    }

    /// The factors of the attention input go into attn_norm (read by q, k, v), those of the MLP input into
    /// ffn_norm (gate, up); the attention output's into V's rows, per KV channel (g, e) and shared by the
    /// query heads of KV head g; the down projection's into up's rows (silu(gate) * up is linear in up).
    public func smoothQuantFolded(statistics: [String: ActivationStatistics], factors: SmoothQuant.FactorRule) throws(QuantaError) -> LlamaModel {
        var result = self
        let c = config, d = c.headDimension, group = c.heads / c.kvHeads
        let float = SmoothQuant.float, stats = { (name: String) throws(QuantaError) in try SmoothQuant.stats(statistics, name) }
        for i in result.blocks.indices {
            var block = result.blocks[i]
            let (q, k, v, o) = (try float(block.query), try float(block.key), try float(block.value), try float(block.output))
            let (gate, up, down) = (try float(block.gate), try float(block.up), try float(block.down))
            let sAttention = try factors(try stats(q.name), nil, [q.weight, k.weight, v.weight])
            block.attentionNorm.weight = zip(block.attentionNorm.weight, sAttention).map { $0 / $1 }
            block.query = try q.scalingColumns(by: sAttention)
            block.key = try k.scalingColumns(by: sAttention)
            let oMax = try stats(o.name).channelAbsMax
            let kvMax = (0..<c.kvHeads * d).map { kv in (0..<group).map { oMax[((kv / d) * group + $0) * d + kv % d] }.max()! }
            let oWeights = (0..<group).map { h in o.weight.selectingColumns((0..<c.kvHeads * d).map { (($0 / d) * group + h) * d + $0 % d }) }
            let sKV = try factors(try stats(o.name), kvMax, oWeights)
            let sO = (0..<c.heads * d).map { sKV[($0 / d / group) * d + $0 % d] }
            block.value = try v.scalingColumns(by: sAttention).scalingRows(by: sKV.map { 1 / $0 })
            block.output = try o.scalingColumns(by: sO)
            let sMLP = try factors(try stats(gate.name), nil, [gate.weight, up.weight])
            block.feedForwardNorm.weight = zip(block.feedForwardNorm.weight, sMLP).map { $0 / $1 }
            block.gate = try gate.scalingColumns(by: sMLP)
            let sDown = try factors(try stats(down.name), nil, [down.weight])
            block.up = try up.scalingColumns(by: sMLP).scalingRows(by: sDown.map { 1 / $0 })
            block.down = try down.scalingColumns(by: sDown)
            result.blocks[i] = block
        }
        return result
    }

    public static func refusal(of step: WholeModelStep) -> String? {
        step == .integerOnly ? "the integer-only encoder is built for BERT models, not decoders" : nil
    }

    public func rotated(seed: UInt64) throws(QuantaError) -> LlamaModel { try Rotation.fold(into: self, seed: seed) }

    public func integerOnly(calibration: [[Int32]]) throws(QuantaError) -> LlamaModel { try refusing(.integerOnly) }

    public func quantizingKVCache(_ quantizer: TensorQuantizer) throws(QuantaError) -> LlamaModel {
        var model = self
        model.kvCacheQuantizer = quantizer
        return model
    }

    /// Norm weights (SmoothQuant folds into them), and the embeddings where they differ from the base
    /// model's (rotation; the rotated output head is a Linear layer like the others).
    public func storedTensors(base: LlamaModel) throws(QuantaError) -> (tensors: [SafeTensorsWriter.Entry], replacesLinearLayers: Bool) {
        let tensors = try tensors([.norm, .embedding])
            .filter { $0.role == .norm || $0.values != base.tokenEmbeddings.storage }
            .map { SafeTensorsWriter.Entry(name: $0.name, shape: $0.shape, floats: $0.values) }
        return (tensors, false)
    }

    public func loadingStored(_ file: SafeTensorsFile, description: QuantizedModelFolder.Description,
                              linear: (any LinearLayer) throws(QuantaError) -> any LinearLayer) throws(QuantaError) -> LlamaModel {
        var m = try mapLinearLayers(linear)
        let h = config.hiddenSize
        func vector(_ name: String) throws(QuantaError) -> [Float] { try file.floats(name, expectedShape: [h]).values }
        for i in m.blocks.indices {
            m.blocks[i].attentionNorm.weight = try vector("blk.\(i).attn_norm.weight")
            m.blocks[i].feedForwardNorm.weight = try vector("blk.\(i).ffn_norm.weight")
        }
        m.outputNorm.weight = try vector("output_norm.weight")
        if file.tensors.contains(where: { $0.name == "token_embd.weight" }) {
            m.tokenEmbeddings = try Matrix(rows: config.vocabularySize, columns: h,
                                           storage: file.floats("token_embd.weight", expectedShape: [config.vocabularySize, h]).values)
        }
        m.kvCacheQuantizer = try description.kvCache.map { d throws(QuantaError) in try d.quantizer(file: file, layer: "kv_cache", columns: 0) }
        return m
    }
}
