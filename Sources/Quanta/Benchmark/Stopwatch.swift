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
}
