/// BERT in the quantization pipeline: calibration documents in the embedder's batches, SmoothQuant as
/// per-channel input scales (post-norm: a LayerNorm's output is also the residual), the integer-only encoder.
extension BertModel: QuantizableModel {
    public static let architecture = "bert"
    /// Every calibration document.
    public static let calibrationSequences = Int.max
    public static let trainingBenchmarkBatch = (sequences: 8, tokens: 128)
    /// Sequences per `embed` call, as `SentenceEmbedder` batches them.
    public static let calibrationBatch = 32

    public func calibrationPass(_ sequences: [[Int32]], progress: (Int, Int) -> Void) throws(QuantaError) {
        for start in stride(from: 0, to: sequences.count, by: Self.calibrationBatch) {
            let end = min(start + Self.calibrationBatch, sequences.count)
            _ = try embed(Array(sequences[start..<end]))
            progress(end, sequences.count)
        }
    }

    /// The attention output's factors go into V's rows; every other Linear gets the input scale 1/s
    /// (`FloatLinear.inputScale`, fused into activation quantization).
    public func smoothQuantFolded(statistics: [String: ActivationStatistics], factors: SmoothQuant.FactorRule) throws(QuantaError) -> BertModel {
        var result = self
        let float = SmoothQuant.float, stats = { (name: String) throws(QuantaError) in try SmoothQuant.stats(statistics, name) }
        for i in result.layers.indices {
            var layer = result.layers[i]
            let (q, k, v, o) = (try float(layer.query), try float(layer.key), try float(layer.value), try float(layer.attentionOutput))
            let (up, down) = (try float(layer.intermediate), try float(layer.output))
            let sAttention = try factors(try stats(q.name), nil, [q.weight, k.weight, v.weight])
            let sO = try factors(try stats(o.name), nil, [o.weight])
            layer.query = try q.smoothing(by: sAttention)
            layer.key = try k.smoothing(by: sAttention)
            layer.value = try v.smoothing(by: sAttention).scalingRows(by: sO.map { 1 / $0 })
            layer.attentionOutput = try o.scalingColumns(by: sO)
            layer.intermediate = try up.smoothing(by: try factors(try stats(up.name), nil, [up.weight]))
            layer.output = try down.smoothing(by: try factors(try stats(down.name), nil, [down.weight]))
            result.layers[i] = layer
        }
        return result
    }

    public static func refusal(of step: WholeModelStep) -> String? {
        switch step {
        case .rotation: "rotation folds into pre-norm decoders only; BERT's LayerNorm subtracts the mean and does not commute with a rotation"
        case .kvCache: "BERT keeps no KV cache: a KV-cache recipe is for decoders"
        case .integerOnly: nil
        }
    }

    public func rotated(seed: UInt64) throws(QuantaError) -> BertModel { try refusing(.rotation) }

    public func integerOnly(calibration: [[Int32]]) throws(QuantaError) -> BertModel {
        var integer = self
        integer.integerEncoder = try IntegerEncoder(self, calibration: calibration)
        return integer
    }

    public func quantizingKVCache(_ quantizer: TensorQuantizer) throws(QuantaError) -> BertModel { try refusing(.kvCache) }

    /// Nothing beside the Linear layers; the integer-only encoder's every tensor instead of them.
    public func storedTensors(base: BertModel) throws(QuantaError) -> (tensors: [SafeTensorsWriter.Entry], replacesLinearLayers: Bool) {
        integerEncoder.map { ($0.tensors(), true) } ?? ([], false)
    }

    public func loadingStored(_ file: SafeTensorsFile, description: QuantizedModelFolder.Description,
                              linear: (any LinearLayer) throws(QuantaError) -> any LinearLayer) throws(QuantaError) -> BertModel {
        guard description.integerEncoder == true else { return try mapLinearLayers(linear) }
        var integer = self
        integer.integerEncoder = try IntegerEncoder(file: file, config: config)
        return integer
    }
}
