/// A model whose Linear layers sit at known places: the one abstraction the quantization pipeline, the
/// integer runtime and the training code need to visit or replace them, whatever the architecture. A model
/// lists where its Linear layers are; mapping, listing and filtering them come with the protocol.
public protocol LinearLayerModel {
    /// Where every Linear layer sits, in model order (the order `allLinearLayers` lists them and
    /// `mapLinearLayers` visits them).
    var linearLayerPaths: [WritableKeyPath<Self, any LinearLayer>] { get }
}

extension LinearLayerModel {
    /// The same model with every Linear layer passed through `transform` (e.g. `Recipe.quantize`), in model order.
    public func mapLinearLayers(_ transform: (any LinearLayer) throws(QuantaError) -> any LinearLayer) throws(QuantaError) -> Self {
        var copy = self
        for path in linearLayerPaths { copy[keyPath: path] = try transform(copy[keyPath: path]) }
        return copy
    }

    /// Every Linear layer, in model order.
    public var allLinearLayers: [any LinearLayer] { linearLayerPaths.map { self[keyPath: $0] } }

    /// The FP32 Linear layers, in model order (quantized ones are skipped).
    public var linearLayers: [FloatLinear] { allLinearLayers.compactMap { $0 as? FloatLinear } }
}
