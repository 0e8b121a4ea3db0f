import Testing
import Quanta

/// `before` runs, untimed, once before every run of every body, warm-ups included, and in that order.
@Suite struct StopwatchTests {
    @Test func beforeRunsOnceBeforeEachRun() {
        let stopwatch = Stopwatch(warmup: 2, runs: 3)
        var events = [String]()
        _ = stopwatch.medianSeconds(before: { events.append("before") }) { events.append("body") }
        #expect(events == Array(repeating: ["before", "body"], count: 5).flatMap { $0 })
        events = []
        _ = stopwatch.interleavedMedianSeconds(before: { events.append("before") }, [{ events.append("a") }, { events.append("b") }])
        let warmups = Array(repeating: ["before", "a"], count: 2).flatMap { $0 } + Array(repeating: ["before", "b"], count: 2).flatMap { $0 }
        #expect(events == warmups + Array(repeating: ["before", "a", "before", "b"], count: 3).flatMap { $0 })
    }
}
