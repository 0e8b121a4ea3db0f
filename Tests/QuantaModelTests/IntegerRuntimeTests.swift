import Foundation
import Testing
import Quanta

/// Records the input of the layer it wraps (the real activations a layer sees inside the model).
final class RecordingLinear: LinearLayer, @unchecked Sendable {
    let inner: any LinearLayer
    var inputs = [Matrix<Float>]()
    init(_ inner: any LinearLayer) { self.inner = inner }
    var name: String { inner.name }
    var inFeatures: Int { inner.inFeatures }
    var outFeatures: Int { inner.outFeatures }
    var weightBytes: Int { inner.weightBytes }
    func forward(_ x: Matrix<Float>) -> Matrix<Float> {
        inputs.append(x)
        return inner.forward(x)
    }
}

/// The integer runtime (real INT8 products) against the fake-quantized model of the same recipe: on the
/// activations every layer really sees, each integer layer gives its fake-quantized twin's output up to
/// float rounding. (Through 30 blocks, a rounding difference occasionally moves an activation across a
/// rounding boundary of the next quantizer, so whole-model logits are compared by perplexity instead.)
@Suite struct IntegerRuntimeTests {
    @Test(arguments: ["w8a8", "w8a8-rotated", "w8a8-block32", "w7a8-block32", "w8a8-smoothquant", "w8a8-static"]) func smolLM2LayersMatchFakeQuantization(_ recipe: String) throws {
        let (model, tokenizer) = try ModelFixtures.smolLM2.get()
        let data = EvaluationData(assets: try ModelFixtures.assets())
        let prompt = Array(tokenizer.encode(try data.novel("emma")).prefix(96))
        let calibration = Array(tokenizer.encode(try data.novel("mansfield-park")).prefix(256))
        var recorders = [RecordingLinear]()
        // The output head too (`--quantize-head`), so that every Linear has an integer twin.
        let fake = try QuantizationPipeline().quantize(model, recipe: Recipe.named(recipe, quantizingHead: true), calibration: CalibrationRun.windows(of: calibration))
        let recording = try fake.mapLinearLayers { layer in
            let r = RecordingLinear(layer)
            recorders.append(r)
            return r
        }
        var cache = LlamaModel.KVCache(for: model.config)
        _ = try recording.forward(prompt, cache: &cache)
        #expect(recorders.count == 7 * model.config.layers + 1)
        for recorder in recorders {
            guard let integer = Int8Linear(recorder.inner) else { Issue.record("\(recorder.name) has no integer kernel"); continue }
            let x = try #require(recorder.inputs.first)
            let a = recorder.inner.forward(x), b = integer.forward(x)
            let worst = zip(a.storage, b.storage).map { abs($0 - $1) }.max()!
            #expect(worst <= 2e-5 * a.storage.map(\.magnitude).max()!, "\(recorder.name): max |difference| \(worst)")
        }
    }
}
