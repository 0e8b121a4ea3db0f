import Foundation

/// A BERT encoder with mean pooling and L2 normalisation: all-MiniLM-L6-v2 as sentence-transformers runs it.
///
///     h = LayerNorm(word[ids] + position[0..<T] + type[0])
///     per layer: h = LN(h + O(attention(Q h, K h, V h)));  h = LN(h + Down(gelu(Up h)))
///     embedding = normalize(mean over tokens of h)
public struct BertModel: Sendable, LinearLayerModel {
    public struct Config: Sendable, Codable {
        public var hiddenSize: Int, layers: Int, heads: Int, intermediateSize: Int
        public var vocabularySize: Int, maxPositions: Int, typeVocabularySize: Int, layerNormEpsilon: Float
    }

    public struct Layer: Sendable {
        public var query: any LinearLayer, key: any LinearLayer, value: any LinearLayer, attentionOutput: any LinearLayer
        public var attentionNorm: LayerNorm
        public var intermediate: any LinearLayer, output: any LinearLayer
        public var outputNorm: LayerNorm
    }

    public let config: Config
    public let wordEmbeddings: Matrix<Float>, positionEmbeddings: Matrix<Float>, typeEmbeddings: Matrix<Float>
    public let embeddingNorm: LayerNorm
    public var layers: [Layer]
    let attention: Attention
    /// The integer-only encoder (I-BERT) that computes `embed` when set: the `int-only` recipe.
    public var integerEncoder: IntegerEncoder?

    /// Loads `config.json` and the weights (model.safetensors, or shards listed by its index) of a
    /// sentence-transformers / Hugging Face BERT folder; Linear layers of a compressed-tensors
    /// `quantization_config` are read quantized (`CompressedTensors.Configuration`).
    public init(folder: String) throws(QuantaError) {
        let configPath = folder + "/config.json"
        let file = try HuggingFaceFolder(folder), json = file.config
        func integer(_ key: String) throws(QuantaError) -> Int {
            guard let value = json[key] as? Int, value > 0 else { throw .file(path: configPath, reason: "'\(key)' is missing or not a positive integer") }
            return value
        }
        let config = Config(hiddenSize: try integer("hidden_size"), layers: try integer("num_hidden_layers"),
                            heads: try integer("num_attention_heads"), intermediateSize: try integer("intermediate_size"),
                            vocabularySize: try integer("vocab_size"), maxPositions: try integer("max_position_embeddings"),
                            typeVocabularySize: try integer("type_vocab_size"),
                            layerNormEpsilon: Float(json["layer_norm_eps"] as? Double ?? 1e-12))
        guard config.hiddenSize % config.heads == 0 else { throw .file(path: configPath, reason: "hidden_size is not a multiple of num_attention_heads") }
        let compressed = try CompressedTensors.Configuration(config: json, path: configPath)
        let prefix = file.tensorNames.contains { $0.hasPrefix("bert.") } ? "bert." : ""
        func matrix(_ name: String, _ rows: Int, _ columns: Int) throws(QuantaError) -> Matrix<Float> {
            try Matrix(rows: rows, columns: columns, storage: file.floats(prefix + name, shape: [rows, columns]))
        }
        func vector(_ name: String, _ count: Int) throws(QuantaError) -> [Float] {
            try file.floats(prefix + name, shape: [count])
        }
        func linear(_ name: String, out: Int, in inFeatures: Int) throws(QuantaError) -> any LinearLayer {
            let bias = try vector(name + ".bias", out)
            if file.contains(prefix + name + ".weight_scale"), let scheme = try compressed?.scheme(for: prefix + name) {
                return try scheme.layer(module: prefix + name, name: name, shape: [out, inFeatures], bias: bias, in: file)
            }
            return try FloatLinear(name: name, weight: matrix(name + ".weight", out, inFeatures), bias: bias)
        }
        func norm(_ name: String) throws(QuantaError) -> LayerNorm {
            try LayerNorm(weight: vector(name + ".weight", config.hiddenSize), bias: vector(name + ".bias", config.hiddenSize),
                          epsilon: config.layerNormEpsilon)
        }
        let h = config.hiddenSize, f = config.intermediateSize
        self.config = config
        wordEmbeddings = try matrix("embeddings.word_embeddings.weight", config.vocabularySize, h)
        positionEmbeddings = try matrix("embeddings.position_embeddings.weight", config.maxPositions, h)
        typeEmbeddings = try matrix("embeddings.token_type_embeddings.weight", config.typeVocabularySize, h)
        embeddingNorm = try norm("embeddings.LayerNorm")
        layers = []
        for i in 0..<config.layers {
            let p = "encoder.layer.\(i)."
            layers.append(Layer(query: try linear(p + "attention.self.query", out: h, in: h),
                                key: try linear(p + "attention.self.key", out: h, in: h),
                                value: try linear(p + "attention.self.value", out: h, in: h),
                                attentionOutput: try linear(p + "attention.output.dense", out: h, in: h),
                                attentionNorm: try norm(p + "attention.output.LayerNorm"),
                                intermediate: try linear(p + "intermediate.dense", out: f, in: h),
                                output: try linear(p + "output.dense", out: h, in: f),
                                outputNorm: try norm(p + "output.LayerNorm")))
        }
        attention = try Attention(heads: config.heads, kvHeads: config.heads, headDimension: h / config.heads)
    }

    /// Sentence embeddings (mean-pooled, L2-normalised) of a batch of token-id sequences. The sequences are
    /// stacked row-wise so every Linear runs once over the whole batch; attention runs per sequence. With
    /// `integerEncoder` set (the `int-only` recipe) the integer encoder computes them instead.
    public func embed(_ batch: [[Int32]]) throws(QuantaError) -> [[Float]] {
        try validate(batch)
        if let integerEncoder { return try integerEncoder.embed(batch) }
        let h = config.hiddenSize, x = hiddenStates(batch)
        var embeddings = [[Float]]()
        var start = 0
        for length in batch.map(\.count) {
            var mean = [Float](repeating: 0, count: h)
            for r in start..<start + length { for c in 0..<h { mean[c] += x[r, c] } }
            for c in 0..<h { mean[c] /= Float(length) }
            let norm = max(mean.reduce(0) { $0 + $1 * $1 }.squareRoot(), 1e-12)
            embeddings.append(mean.map { $0 / norm })
            start += length
        }
        return embeddings
    }

    /// Throws unless every sequence has 1 to maxPositions tokens, each in the vocabulary.
    public func validate(_ batch: [[Int32]]) throws(QuantaError) {
        try Self.validate(batch, vocabularySize: config.vocabularySize, maxPositions: config.maxPositions)
    }

    static func validate(_ batch: [[Int32]], vocabularySize: Int, maxPositions: Int) throws(QuantaError) {
        for (s, ids) in batch.enumerated() {
            guard !ids.isEmpty, ids.count <= maxPositions else {
                throw .invalidArgument("sequence \(s) has \(ids.count) tokens (1 to \(maxPositions) allowed)")
            }
            if let bad = ids.first(where: { $0 < 0 || Int($0) >= vocabularySize }) {
                throw .invalidArgument("sequence \(s) holds token id \(bad), outside the vocabulary of \(vocabularySize)")
            }
        }
    }

    /// The FP32 encoder's last hidden states [tokens, hidden] of the stacked (validated) sequences;
    /// `observe(layer, point, values)` sees the values the integer encoder's static scales come from.
    func hiddenStates(_ batch: [[Int32]], observe: ((Int, IntegerEncoder.Point, Matrix<Float>) -> Void)? = nil) -> Matrix<Float> {
        let h = config.hiddenSize
        let lengths = batch.map(\.count)
        var x = Matrix<Float>(unfilledRows: lengths.reduce(0, +), columns: h)
        // x[t] = word[id_t] + position[p_t] + type[0], row by row.
        wordEmbeddings.storage.withUnsafeBufferPointer { word in positionEmbeddings.storage.withUnsafeBufferPointer { position in
        typeEmbeddings.storage.withUnsafeBufferPointer { type in x.storage.withUnsafeMutableBufferPointer { out in
            var row = 0
            for ids in batch {
                for (p, id) in ids.enumerated() {
                    let (w, q, y) = (word.baseAddress! + Int(id) * h, position.baseAddress! + p * h, out.baseAddress! + row * h)
                    for c in 0..<h { y[c] = w[c] + q[c] + type[c] }
                    row += 1
                }
            }
        }}}}
        x = embeddingNorm(x)
        for (index, layer) in layers.enumerated() {
            let q = layer.query.forward(x), k = layer.key.forward(x), v = layer.value.forward(x)
            let context = attention.perSequence(queries: q, keys: k, values: v, lengths: lengths, causal: false)
            let attentionSum = layer.attentionOutput.forward(context, activation: nil, residual: x)
            x = layer.attentionNorm(attentionSum)
            if observe == nil, let up = layer.intermediate as? Int8Linear, let down = layer.output as? Int8Linear {
                x = layer.outputNorm(Int8Linear.feedForward(x, up: up, activation: .gelu, down: down, residual: x))
                continue
            }
            let inner = layer.intermediate.forward(x, activation: .gelu, residual: nil)
            let outputSum = layer.output.forward(inner, activation: nil, residual: x)
            x = layer.outputNorm(outputSum)
            if let observe {
                for (point, values) in [(IntegerEncoder.Point.query, q), (.key, k), (.value, v), (.attentionSum, attentionSum), (.gelu, inner), (.outputSum, outputSum)] {
                    observe(index, point, values)
                }
            }
        }
        return x
    }

    /// Per encoder layer: query, key, value, attention output, intermediate, output.
    public var linearLayerPaths: [WritableKeyPath<BertModel, any LinearLayer>] {
        layers.indices.flatMap { i -> [WritableKeyPath<BertModel, any LinearLayer>] in
            [\.layers[i].query, \.layers[i].key, \.layers[i].value, \.layers[i].attentionOutput, \.layers[i].intermediate, \.layers[i].output]
        }
    }
}
