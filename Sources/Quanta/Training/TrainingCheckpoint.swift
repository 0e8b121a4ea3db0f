import Foundation

/// A training run's state after `step` optimizer steps, enough to continue it: every trainable parameter as the
/// optimizer sees it (step sizes as their logarithms) and AdamW's moments and step count, by parameter name;
/// `run` names what the run was (model, recipe, data, schedule), so that a resume with other settings is refused.
///
/// Stored as one safetensors file (written atomically): `parameter/NAME`, `adam_m/NAME`, `adam_v/NAME` (F32) and
/// the metadata `step`, `adam_step` and `run.KEY` for each entry of `run`.
public struct TrainingCheckpoint: Sendable {
    public var step: Int
    public var parameters: [String: [Float]]
    public var optimizer: AdamW
    public var run: [String: String]
    /// The file it was read from (for messages), or nil.
    public var path: String?

    public init(step: Int, parameters: [String: [Float]], optimizer: AdamW, run: [String: String], path: String? = nil) {
        (self.step, self.parameters, self.optimizer, self.run, self.path) = (step, parameters, optimizer, run, path)
    }

    /// The state of `model` after `step` steps of `optimizer`.
    public init<Model: TrainableModel>(_ model: Model, step: Int, optimizer: AdamW, run: [String: String]) throws(QuantaError) {
        var parameters = [String: [Float]](), stepSizes = StepSizeGuard(holds: false)
        _ = try model.updatingParameters({ name, parameter in parameters[name] = parameter }, guarding: &stepSizes)
        self.init(step: step, parameters: parameters, optimizer: optimizer, run: run)
    }

    /// `model` (the run's starting model: the same architecture and recipe) with this checkpoint's parameters.
    public func restoring<Model: TrainableModel>(_ model: Model) throws(QuantaError) -> Model {
        var missing = [String](), stepSizes = StepSizeGuard(holds: false)
        let restored = try model.updatingParameters({ name, parameter in
            guard let saved = parameters[name], saved.count == parameter.count else { missing.append(name); return }
            parameter = saved
        }, guarding: &stepSizes)
        if let name = missing.first {
            throw .file(path: path ?? "the checkpoint", reason: "parameter '\(name)' is missing or has another size (\(missing.count) such): not a checkpoint of this model and recipe")
        }
        return restored
    }

    public func write(to path: String) throws(QuantaError) {
        var entries = [SafeTensorsWriter.Entry]()
        for name in parameters.keys.sorted() {
            entries.append(.init(name: "parameter/" + name, shape: [parameters[name]!.count], floats: parameters[name]!))
            if let (m, v) = optimizer.moments[name] {
                entries.append(.init(name: "adam_m/" + name, shape: [m.count], floats: m))
                entries.append(.init(name: "adam_v/" + name, shape: [v.count], floats: v))
            }
        }
        var metadata = ["step": String(step), "adam_step": String(optimizer.step)]
        for (key, value) in run { metadata["run." + key] = value }
        try SafeTensorsWriter.write(entries, metadata: metadata, to: path)
    }

    /// Reads a checkpoint that `write(to:)` made; `optimizer` supplies AdamW's settings (not stored).
    public init(path: String, optimizer settings: AdamW) throws(QuantaError) {
        let file = try SafeTensorsFile(path: path)
        guard let step = file.metadata["step"].flatMap(Int.init), let adamStep = file.metadata["adam_step"].flatMap(Int.init) else {
            throw .file(path: path, reason: "not a training checkpoint (no step in its metadata)")
        }
        var parameters = [String: [Float]](), optimizer = settings
        optimizer.step = adamStep
        for tensor in file.tensors where tensor.name.hasPrefix("parameter/") {
            let name = String(tensor.name.dropFirst("parameter/".count))
            let values = try file.floats(tensor.name).values
            guard values.allSatisfy(\.isFinite) else { throw .file(path: path, reason: "parameter '\(name)' holds a value that is not finite") }
            parameters[name] = values
            if file.tensors.contains(where: { $0.name == "adam_m/" + name }) {
                optimizer.moments[name] = (try file.floats("adam_m/" + name).values, try file.floats("adam_v/" + name).values)
            }
        }
        var run = [String: String]()
        for (key, value) in file.metadata where key.hasPrefix("run.") { run[String(key.dropFirst(4))] = value }
        self.init(step: step, parameters: parameters, optimizer: optimizer, run: run, path: path)
    }

    /// Refuses to continue a run whose settings differ from `run` (the current command's), naming the first difference.
    public func check(matches run: [String: String]) throws(QuantaError) {
        for key in Set(run.keys).union(self.run.keys).sorted() where run[key] != self.run[key] {
            throw .file(path: path ?? "the checkpoint", reason: "was written by a run with \(key) = \(self.run[key] ?? "none"), this one has \(run[key] ?? "none"); resume with the same settings")
        }
    }
}
