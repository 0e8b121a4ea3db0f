import Dispatch

/// Times a piece of work: `warmup` untimed runs, then `runs` timed ones; reports the median.
public struct Stopwatch: Sendable {
    public let warmup: Int
    public let runs: Int

    public init(warmup: Int = 2, runs: Int = 7) {
        precondition(runs >= 1 && warmup >= 0)
        self.warmup = warmup
        self.runs = runs
    }

    /// Median seconds of `body` over the timed runs.
    public func medianSeconds(_ body: () -> Void) -> Double {
        for _ in 0..<warmup { body() }
        var seconds = [Double]()
        for _ in 0..<runs {
            let start = DispatchTime.now().uptimeNanoseconds
            body()
            seconds.append(Double(DispatchTime.now().uptimeNanoseconds - start) * 1e-9)
        }
        return seconds.sorted()[runs / 2]
    }

    /// Median seconds of each body, run in turn (each body's warm-up first, then every timed round runs each
    /// body once), so that a slow spell of a noisy machine falls on all of them alike.
    public func interleavedMedianSeconds(_ bodies: [() -> Void]) -> [Double] {
        for body in bodies { for _ in 0..<warmup { body() } }
        var seconds = [[Double]](repeating: [], count: bodies.count)
        for _ in 0..<runs {
            for (index, body) in bodies.enumerated() {
                let start = DispatchTime.now().uptimeNanoseconds
                body()
                seconds[index].append(Double(DispatchTime.now().uptimeNanoseconds - start) * 1e-9)
            }
        }
        return seconds.map { $0.sorted()[runs / 2] }
    }
}
