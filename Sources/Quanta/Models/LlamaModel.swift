import Foundation

/// A LLaMA decoder (RMSNorm, RoPE, grouped-query attention, SwiGLU MLP, tied output embedding) loaded
/// from GGUF, as llama.cpp runs SmolLM2:
///
///     h = embed[ids]
///     per block: h += O(attention(rope(Q n), rope(K n), V n)),  n = RMSNorm(h)
///                h += Down(silu(Gate m) * Up m),                m = RMSNorm(h)
///     logits = Head(RMSNorm(h))                     (Head: the Linear "output": output.weight if the file has one, else E)
///
/// GGUF stores Q and K permuted so that RoPE rotates adjacent pairs (x[2i], x[2i+1]) by
/// position * base^(-2i/d) (llama.cpp's "normal" RoPE); the angles are accumulated in Float as ggml does.
public struct LlamaModel: Sendable, LinearLayerModel {
    public struct Config: Sendable {
        public var hiddenSize: Int, layers: Int, heads: Int, kvHeads: Int, headDimension: Int
        public var feedForwardSize: Int, vocabularySize: Int, contextLength: Int
        public var ropeBase: Float, rmsEpsilon: Float
    }

    public struct Block: Sendable {
        public var attentionNorm: RMSNorm
        public var query: any LinearLayer, key: any LinearLayer, value: any LinearLayer, output: any LinearLayer
        public var feedForwardNorm: RMSNorm
        public var gate: any LinearLayer, up: any LinearLayer, down: any LinearLayer
    }

    /// Keys and values of every block for the tokens seen so far.
    public struct KVCache: Sendable {
        var keys: [[Float]], values: [[Float]]
        public private(set) var count = 0
        let width: Int

        public init(for config: Config) {
            width = config.kvHeads * config.headDimension
            keys = Array(repeating: [], count: config.layers)
            values = Array(repeating: [], count: config.layers)
        }

        mutating func append(layer: Int, keys k: Matrix<Float>, values v: Matrix<Float>) {
            keys[layer] += k.storage
            values[layer] += v.storage
        }

        mutating func advance(by tokens: Int) { count += tokens }
    }

    public let config: Config
    public var tokenEmbeddings: Matrix<Float>
    /// The output projection [vocabulary, hidden], the Linear layer named `headName`. As shipped it is tied:
    /// an FP32 layer sharing `tokenEmbeddings`' storage. Recipes leave it in FP32 unless they quantize the head.
    public var head: any LinearLayer
    public static let headName = "output"
    public var blocks: [Block]
    /// How keys and values are stored in the KV cache, per token and KV head (nil: FP32). Attention then
    /// reads the dequantized values, as a quantized cache would give them back.
    public var kvCacheQuantizer: TensorQuantizer?
    public var outputNorm: RMSNorm
    let attention: Attention

    public init(gguf: GGUFFile) throws(QuantaError) {
        func integer(_ key: String) throws(QuantaError) -> Int {
            guard let value = try gguf.value(key).integer, value > 0 else { throw .file(path: gguf.path, reason: "'\(key)' is not a positive integer") }
            return value
        }
        func number(_ key: String) throws(QuantaError) -> Float {
            guard let value = try gguf.value(key).number else { throw .file(path: gguf.path, reason: "'\(key)' is not a number") }
            return Float(value)
        }
        guard try gguf.value("general.architecture").string == "llama" else {
            throw .file(path: gguf.path, reason: "general.architecture is not 'llama'")
        }
        let hidden = try integer("llama.embedding_length"), heads = try integer("llama.attention.head_count")
        let vocabulary = try gguf.info("token_embd.weight").dimensions.last ?? 0
        let config = Config(hiddenSize: hidden, layers: try integer("llama.block_count"), heads: heads,
                            kvHeads: try integer("llama.attention.head_count_kv"), headDimension: hidden / heads,
                            feedForwardSize: try integer("llama.feed_forward_length"), vocabularySize: vocabulary,
                            contextLength: try integer("llama.context_length"),
                            ropeBase: gguf.metadata["llama.rope.freq_base"]?.number.map(Float.init) ?? 10_000,
                            rmsEpsilon: try number("llama.attention.layer_norm_rms_epsilon"))
        try self.init(config: config, untiedHead: gguf.tensors.contains { $0.name == Self.headName + ".weight" }) { name, shape throws(QuantaError) in
            try gguf.floats(name, expectedDimensions: shape.reversed())
        }
    }

    /// A model of `config` whose tensors `tensor` gives by GGUF name and shape ([rows, columns] row-major, or
    /// [count]), in GGUF's layout (Q and K rows permuted for adjacent-pair RoPE). The head is the token
    /// embedding unless `untiedHead` (then `output.weight`).
    public init(config: Config, untiedHead: Bool, tensor: (String, [Int]) throws(QuantaError) -> [Float]) throws(QuantaError) {
        let hidden = config.hiddenSize, vocabulary = config.vocabularySize
        let kv = config.kvHeads * config.headDimension
        func matrix(_ name: String, rows: Int, columns: Int) throws(QuantaError) -> Matrix<Float> {
            try Matrix(rows: rows, columns: columns, storage: tensor(name, [rows, columns]))
        }
        func linear(_ name: String, out: Int, in inFeatures: Int) throws(QuantaError) -> FloatLinear {
            try FloatLinear(name: name, weight: matrix(name + ".weight", rows: out, columns: inFeatures))
        }
        func norm(_ name: String) throws(QuantaError) -> RMSNorm {
            RMSNorm(weight: try tensor(name + ".weight", [hidden]), epsilon: config.rmsEpsilon)
        }
        self.config = config
        tokenEmbeddings = try matrix("token_embd.weight", rows: vocabulary, columns: hidden)
        // Tied (no output.weight, as SmolLM2 ships) or a separate head (a rotated export, say).
        head = try FloatLinear(name: Self.headName, weight: untiedHead ? matrix(Self.headName + ".weight", rows: vocabulary, columns: hidden) : tokenEmbeddings)
        outputNorm = try norm("output_norm")
        blocks = []
        for i in 0..<config.layers {
            let p = "blk.\(i)."
            blocks.append(Block(attentionNorm: try norm(p + "attn_norm"),
                                query: try linear(p + "attn_q", out: config.heads * config.headDimension, in: hidden),
                                key: try linear(p + "attn_k", out: kv, in: hidden),
                                value: try linear(p + "attn_v", out: kv, in: hidden),
                                output: try linear(p + "attn_output", out: hidden, in: config.heads * config.headDimension),
                                feedForwardNorm: try norm(p + "ffn_norm"),
                                gate: try linear(p + "ffn_gate", out: config.feedForwardSize, in: hidden),
                                up: try linear(p + "ffn_up", out: config.feedForwardSize, in: hidden),
                                down: try linear(p + "ffn_down", out: hidden, in: config.feedForwardSize)))
        }
        attention = try Attention(heads: config.heads, kvHeads: config.kvHeads, headDimension: config.headDimension)
    }

    /// Runs `tokens` after what `cache` holds and returns the logits of every new position
    /// ([tokens, vocabulary]), or of the last one only when `lastOnly`.
    public func forward(_ tokens: [Int32], cache: inout KVCache, lastOnly: Bool = false) throws(QuantaError) -> Matrix<Float> {
        let h = config.hiddenSize
        guard !tokens.isEmpty else { throw .invalidArgument("no tokens to run") }
        if let bad = tokens.first(where: { $0 < 0 || Int($0) >= config.vocabularySize }) {
            throw .invalidArgument("token id \(bad) is outside the vocabulary of \(config.vocabularySize)")
        }
        let start = cache.count
        var x = Matrix<Float>(rows: tokens.count, columns: h, repeating: 0)
        for (r, id) in tokens.enumerated() {
            x.storage.replaceSubrange(r * h..<(r + 1) * h, with: tokenEmbeddings.row(Int(id)))
        }
        let (cosines, sines) = ropeTables(positions: start..<start + tokens.count)
        for (layer, block) in blocks.enumerated() {
            try run(block, layer: layer, on: &x, cache: &cache, cosines: cosines, sines: sines)
        }
        cache.advance(by: tokens.count)
        if lastOnly {
            x = try Matrix(rows: 1, columns: h, storage: Array(x.row(x.rows - 1)))
        }
        return head.forward(outputNorm(x))
    }

    /// One block on the hidden states `x` ([tokens, hidden]) of the positions after what `cache` holds (at
    /// `layer`): x += attention(norm(x)), then x += down(silu(gate(norm(x))) * up(norm(x))). The rotary tables
    /// are those of the positions of x.
    func run(_ block: Block, layer: Int, on x: inout Matrix<Float>, cache: inout KVCache, cosines: [Float], sines: [Float]) throws(QuantaError) {
        let h = config.hiddenSize
        let n = block.attentionNorm(x)
        let queryKeyValue = [block.query, block.key, block.value].forward(n)
        var q = queryKeyValue[0], k = queryKeyValue[1]
        let v = queryKeyValue[2]
        rotate(&q, heads: config.heads, cosines: cosines, sines: sines)
        rotate(&k, heads: config.kvHeads, cosines: cosines, sines: sines)
        if let quantizer = kvCacheQuantizer {
            k = try quantizedPerHead(k, quantizer, tensor: block.key.name + ".cache")
            cache.append(layer: layer, keys: k, values: try quantizedPerHead(v, quantizer, tensor: block.value.name + ".cache"))
        } else {
            cache.append(layer: layer, keys: k, values: v)
        }
        var context = Matrix<Float>(rows: x.rows, columns: h, repeating: 0)
        let start = cache.count, keyCount = cache.count + x.rows
        q.storage.withUnsafeBufferPointer { qp in
            cache.keys[layer].withUnsafeBufferPointer { kp in cache.values[layer].withUnsafeBufferPointer { vp in
                context.storage.withUnsafeMutableBufferPointer { cp in
                    attention(queries: qp.baseAddress!, queryCount: x.rows, keys: kp.baseAddress!,
                              values: vp.baseAddress!, keyCount: keyCount, causalOffset: start, output: cp.baseAddress!)
                }
            } }
        }
        x.add(block.output.forward(context))
        let m = block.feedForwardNorm(x)
        let gateUp = [block.gate, block.up].forward(m)
        var gate = gateUp[0]
        gate.siluMultiply(gateUp[1])
        x.add(block.down.forward(gate))
    }

    /// `x` ([tokens, kvHeads * d]) fake-quantized with one scale per token and KV head.
    func quantizedPerHead(_ x: Matrix<Float>, _ quantizer: TensorQuantizer, tensor: String) throws(QuantaError) -> Matrix<Float> {
        let d = config.headDimension
        let heads = try Matrix(rows: x.rows * x.columns / d, columns: d, storage: x.storage)
        return try Matrix(rows: x.rows, columns: x.columns, storage: quantizer.fakeQuantize(heads, tensor: tensor).storage)
    }

    /// cos and sin of position * base^(-2i/d) for each position and pair i, accumulated in Float like ggml.
    func ropeTables(positions: Range<Int>) -> (cosines: [Float], sines: [Float]) {
        let pairs = config.headDimension / 2
        let thetaScale = powf(config.ropeBase, -2 / Float(config.headDimension))
        var cosines = [Float](), sines = [Float]()
        cosines.reserveCapacity(positions.count * pairs)
        sines.reserveCapacity(positions.count * pairs)
        for p in positions {
            var theta = Float(p)
            for _ in 0..<pairs {
                cosines.append(cosf(theta))
                sines.append(sinf(theta))
                theta *= thetaScale
            }
        }
        return (cosines, sines)
    }

    /// Rotates adjacent pairs of every head of every row of `x` ([tokens, heads * d]).
    func rotate(_ x: inout Matrix<Float>, heads: Int, cosines: [Float], sines: [Float]) {
        let d = config.headDimension, pairs = d / 2
        x.storage.withUnsafeMutableBufferPointer { p in
            for r in 0..<x.rows {
                for head in 0..<heads {
                    let base = r * x.columns + head * d
                    for i in 0..<pairs {
                        let c = cosines[r * pairs + i], s = sines[r * pairs + i]
                        let x0 = p[base + 2 * i], x1 = p[base + 2 * i + 1]
                        p[base + 2 * i] = x0 * c - x1 * s
                        p[base + 2 * i + 1] = x0 * s + x1 * c
                    }
                }
            }
        }
    }

    /// Per block: query, key, value, output, gate, up, down; then the head.
    public var linearLayerPaths: [WritableKeyPath<LlamaModel, any LinearLayer>] {
        blocks.indices.flatMap { i -> [WritableKeyPath<LlamaModel, any LinearLayer>] in
            [\.blocks[i].query, \.blocks[i].key, \.blocks[i].value, \.blocks[i].output, \.blocks[i].gate, \.blocks[i].up, \.blocks[i].down]
        } + [\.head]
    }
}
