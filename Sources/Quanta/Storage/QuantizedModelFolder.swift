import Foundation

/// A quantized model on disk (`quanta quantize --out DIR`; docs/QUANTIZED_FORMAT.md):
///
///     DIR/quanta.json         what was done: base model, recipe, each Linear's kind and quantizers
///     DIR/model.safetensors   each Linear's packed codes, scales and zero points (`StoredWeight`), bias,
///                             SmoothQuant input scale, calibrated activation parameters, and the weight of
///                             an FP32 Linear the recipe changed (one equal to the base's is left out); for a
///                             decoder also every norm weight, and the embeddings when a rotation changed them
///
/// The tokenizer, the configuration and every tensor absent from the file come from the base model, which
/// must be the same model the folder was made from (its Linear names and shapes are checked).
public enum QuantizedModelFolder {
    public static let descriptionFile = "quanta.json", tensorFile = "model.safetensors"
    public static let formatName = "quanta-quantized-model", formatVersion = 2

    public struct Description: Codable, Sendable {
        public struct Layer: Codable, Sendable {
            /// `fp32`, `quantized` (fake-quantized weight and input) or `llm-int8` (outlier decomposition).
            public var kind: String
            public var name: String
            public var weight: QuantizerDescription?
            public var activation: QuantizerDescription?
            public var outlierThreshold: Float?
        }

        public var format = QuantizedModelFolder.formatName
        public var version = QuantizedModelFolder.formatVersion
        /// `minilm`, `smollm2`, or the absolute path of the base model.
        public var baseModel: String
        public var architecture: String
        public var recipe: String
        public var kvCache: QuantizerDescription?
        public var layers: [Layer]
        /// True for the integer-only encoder (`int-only`): the tensors are `IntegerEncoder.tensors()`, no layers.
        public var integerEncoder: Bool?
    }

    /// Collects the stored form of each layer while a `QuantizationPipeline` quantizes it, then writes the folder.
    public final class Writer {
        var layers = [Description.Layer]()
        var entries = [SafeTensorsWriter.Entry]()

        public init() {}

        /// Records `quantized`, the layer the recipe made of the FP32 layer `source` (after the recipe's
        /// transforms), its codes from `Writer.codedWeight`.
        public func record(source: any LinearLayer, quantized: any LinearLayer) throws(QuantaError) {
            guard let float = source as? FloatLinear else { throw .invalidArgument("\(source.name): only FP32 layers can be stored") }
            let name = float.name
            var layer = Description.Layer(kind: "fp32", name: name)
            var weight: TensorQuantizer?, activation: TensorQuantizer?
            var coded = (values: float.weight, parameters: QuantizationParameters?.none)
            switch quantized {
            case let q as FakeQuantizedLinear:
                (layer.kind, weight, activation) = ("quantized", q.weightQuantizer, q.activationQuantizer)
                coded = try Self.codedWeight(source: float, quantized: q)
            case let q as OutlierDecomposedLinear:
                (layer.kind, weight, activation, layer.outlierThreshold) = ("llm-int8", q.weightQuantizer, q.activationQuantizer, q.threshold)
                entries += [.init(name: name + ".outlier_columns", type: .i32, shape: [q.keptColumns.count], bytes: StoredWeight.data(q.keptColumns.map { Int32($0) })),
                            .init(name: name + ".outlier_weight", shape: [q.keptWeight.rows, q.keptWeight.columns], floats: q.keptWeight.storage)]
            case is FloatLinear: break
            default: throw .invalidArgument("\(name): a \(type(of: quantized)) cannot be stored")
            }
            layer.weight = weight.map(QuantizerDescription.init)
            layer.activation = activation.map(QuantizerDescription.init)
            entries += try weight.map { q throws(QuantaError) in try StoredWeight.entries(coded.values, quantizer: q, parameters: coded.parameters, name: name) }
                ?? [.init(name: name + ".weight", shape: [float.outFeatures, float.inFeatures], floats: float.weight.storage)]
            entries += activation.map { QuantizerDescription.entries($0, layer: name) } ?? []
            if let bias = float.bias { entries.append(.init(name: name + ".bias", shape: [bias.count], floats: bias)) }
            if let scale = float.inputScale { entries.append(.init(name: name + ".smooth_scale", shape: [scale.count], floats: scale)) }
            layers.append(layer)
        }

        /// The matrix whose codes the folder stores for `quantized`, made of `source`, and the integer parameters
        /// to code it with, so that the folder decodes to exactly the layer's weight: the layer's own weight with
        /// the integer parameters it carries (GPTQ's rounding is not `source`'s nearest codes); else the layer's
        /// own weight where its quantizer gives it back unchanged (MX blocks and float scales re-derived from a
        /// weight already on their grid, as GPTQ leaves it); else `source`, whose codes the layer was built from
        /// (a float scale re-derived from the rounded weight can differ from the source's in the last bit).
        public static func codedWeight(source: FloatLinear, quantized: FakeQuantizedLinear) throws(QuantaError) -> (values: Matrix<Float>, parameters: QuantizationParameters?) {
            let own = quantized.quantized.weight
            if let p = quantized.weightParameters { return (own, p) }
            if let q = quantized.weightQuantizer, try q.fakeQuantize(own, tensor: source.name + ".weight") == own { return (own, nil) }
            return (source.weight, nil)
        }

        /// Writes the folder for `model` (whose Linear layers were all recorded), made from `base`
        /// (named `baseModel` on the command line) by `recipe`. Nothing is left half-written: the folder is
        /// assembled beside `folder` and renamed into place; an existing folder is replaced only when it is
        /// itself a quantized model folder.
        public func write(_ model: LoadedModel, base: LoadedModel, baseModel: String, recipe: Recipe, to folder: String) throws(QuantaError) {
            var tensors = entries
            func stored<Model: QuantizableModel>(_ model: Model) throws(QuantaError) -> (tensors: [SafeTensorsWriter.Entry], replacesLinearLayers: Bool) {
                guard let base = base.model as? Model else { throw .invalidArgument("the quantized model and its base are different architectures") }
                return try model.storedTensors(base: base)
            }
            let (modelTensors, integerOnly) = try stored(model.model)
            tensors = integerOnly ? modelTensors : tensors + modelTensors
            // An FP32 weight equal to the base's (the tied output head, say) is read back from the base.
            let unchanged = Set(zip(model.allLinearLayers, base.allLinearLayers).compactMap { pair -> String? in
                guard let a = pair.0 as? FloatLinear, let b = pair.1 as? FloatLinear, a.weight.storage == b.weight.storage else { return nil }
                return a.name + ".weight"
            })
            tensors.removeAll { unchanged.contains($0.name) }
            let storedNames = Set(layers.map(\.name))
            if !integerOnly, let missing = QuantizedModelFolder.linearNames(model).first(where: { !storedNames.contains($0) }) {
                throw .invalidArgument("\(missing) was not recorded while quantizing")
            }
            let description = Description(baseModel: QuantizedModelFolder.portableName(baseModel), architecture: type(of: model.model).architecture,
                                          recipe: recipe.name, kvCache: recipe.kvCache.map(QuantizerDescription.init),
                                          layers: integerOnly ? [] : layers, integerEncoder: integerOnly ? true : nil)
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
            encoder.keyEncodingStrategy = .convertToSnakeCase
            let json: Data
            do { json = try encoder.encode(description) } catch { throw .invalidArgument("cannot encode the description: \(error)") }
            try QuantizedModelFolder.replaceAtomically(folder) { (temporary: String) throws(QuantaError) in
                try SafeTensorsWriter.write(tensors, metadata: ["format": formatName], to: temporary + "/" + tensorFile)
                try AtomicFile.write(json, to: temporary + "/" + descriptionFile)
            }
        }
    }

    /// True when `folder` holds a quantized model description.
    public static func isQuantizedModel(_ folder: String) -> Bool {
        FileManager.default.fileExists(atPath: folder + "/" + descriptionFile)
    }

    public static func description(of folder: String) throws(QuantaError) -> Description {
        let path = folder + "/" + descriptionFile
        let decoder = JSONDecoder()
        decoder.keyDecodingStrategy = .convertFromSnakeCase
        let data = try MappedFile.read(path)
        let description: Description
        do { description = try decoder.decode(Description.self, from: data) } catch {
            throw .file(path: path, reason: "not a quantized model description (\(error))")
        }
        guard description.format == formatName, description.version == formatVersion else {
            throw .file(path: path, reason: "format '\(description.format)' version \(description.version); this Quanta reads '\(formatName)' version \(formatVersion)")
        }
        return description
    }

    /// The quantized model in `folder`, built on its base model.
    public static func load(_ folder: String) throws(QuantaError) -> LoadedModel {
        let description = try description(of: folder)
        let baseReference = try ModelReference(description.baseModel)
        if case .quantized = baseReference { throw .file(path: folder, reason: "its base model \(description.baseModel) is itself quantized") }
        let base = try LoadedModel(baseReference)
        let file = try SafeTensorsFile(path: folder + "/" + tensorFile)
        let layers = Dictionary(description.layers.map { ($0.name, $0) }, uniquingKeysWith: { a, _ in a })
        let baseNames = linearNames(base)
        if let extra = layers.keys.first(where: { !baseNames.contains($0) }) {
            throw .file(path: folder + "/" + descriptionFile, reason: "layer \(extra) is not in the base model \(description.baseModel): the folder was made from another model")
        }
        func rebuild(_ layer: any LinearLayer) throws(QuantaError) -> any LinearLayer {
            guard let stored = layers[layer.name] else {
                throw .file(path: folder + "/" + descriptionFile, reason: "no entry for layer \(layer.name) of \(description.baseModel)")
            }
            return try loadLayer(stored, file: file, base: layer)
        }
        guard description.architecture == type(of: base.model).architecture else { throw mismatch(folder, description) }
        func loaded<Model: QuantizableModel>(_ model: Model) throws(QuantaError) -> Model {
            try model.loadingStored(file, description: description, linear: rebuild)
        }
        return try base.replacing(loaded(base.model))
    }

    static func mismatch(_ folder: String, _ description: Description) -> QuantaError {
        .file(path: folder + "/" + descriptionFile, reason: "architecture '\(description.architecture)' does not match the base model \(description.baseModel)")
    }

    /// The layer `stored` describes, on `base`, the base model's layer of the same name.
    static func loadLayer(_ stored: Description.Layer, file: SafeTensorsFile, base: any LinearLayer) throws(QuantaError) -> any LinearLayer {
        let name = stored.name, rows = base.outFeatures, columns = base.inFeatures
        let weightQuantizer = try stored.weight.map { d throws(QuantaError) in try d.quantizer(file: file, layer: name, columns: columns) }
        let weight: Matrix<Float>
        var parameters: QuantizationParameters?
        if let weightQuantizer {
            (weight, parameters) = try StoredWeight.decodeWithParameters(file, name: name, quantizer: weightQuantizer, rows: rows, columns: columns)
        } else if stored.kind == "fp32", !file.tensors.contains(where: { $0.name == name + ".weight" }), let float = base as? FloatLinear {
            weight = float.weight
        } else {
            weight = try Matrix(rows: rows, columns: columns, storage: file.floats(name + ".weight", expectedShape: [rows, columns]).values)
        }
        func optional(_ tensor: String, count: Int) throws(QuantaError) -> [Float]? {
            guard file.tensors.contains(where: { $0.name == tensor }) else { return nil }
            let values = try file.floats(tensor, expectedShape: [count]).values
            if let bad = values.firstIndex(where: { !$0.isFinite }) { throw .nonFinite(tensor: tensor, index: bad, value: values[bad]) }
            return values
        }
        if let bad = weight.storage.firstIndex(where: { !$0.isFinite }) { throw .nonFinite(tensor: name + ".weight", index: bad, value: weight.storage[bad]) }
        let float = try FloatLinear(name: name, weight: weight, bias: optional(name + ".bias", count: rows),
                                    inputScale: optional(name + ".smooth_scale", count: columns))
        let activation = try stored.activation.map { d throws(QuantaError) in try d.quantizer(file: file, layer: name, columns: columns) }
        switch stored.kind {
        case "fp32": return float
        case "quantized": return FakeQuantizedLinear(quantized: float, weight: weightQuantizer, activation: activation, weightParameters: parameters)
        case "llm-int8":
            guard let threshold = stored.outlierThreshold, threshold > 0, let weightQuantizer, let activation else {
                throw .file(path: file.path, reason: "\(name): an llm-int8 layer needs a positive outlier_threshold, a weight and an activation quantizer")
            }
            let columns = try file.integers(name + ".outlier_columns", expectedShape: [file.info(name + ".outlier_columns").shape.first ?? -1]).map(Int.init)
            let kept = try Matrix(rows: rows, columns: columns.count, storage: file.floats(name + ".outlier_weight", expectedShape: [rows, columns.count]).values)
            return try StoredWeight.wrapping(file, name + ".outlier_columns") { () throws(QuantaError) in
                try OutlierDecomposedLinear(quantized: float, threshold: threshold, weight: weightQuantizer, activation: activation,
                                            keptColumns: columns, keptWeight: kept)
            }
        default:
            throw .file(path: file.path, reason: "\(name): unknown layer kind '\(stored.kind)' (fp32, quantized, llm-int8)")
        }
    }

    static func linearNames(_ model: LoadedModel) -> [String] { model.allLinearLayers.map(\.name) }

    /// Built-in names as they are; paths made absolute, so the folder can be used from anywhere.
    static func portableName(_ model: String) -> String {
        ["minilm", "smollm2"].contains(model) ? model : URL(fileURLWithPath: model).standardizedFileURL.path
    }

    /// Runs `fill` on a fresh folder beside `folder`, then renames it to `folder` (an existing one must be
    /// empty or a quantized model folder).
    static func replaceAtomically(_ folder: String, fill: (String) throws(QuantaError) -> Void) throws(QuantaError) {
        try AtomicFolder.replace(folder, kind: "a quantized model folder", replaceable: isQuantizedModel, fill: fill)
    }
}
