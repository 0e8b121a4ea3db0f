import Testing
import Quanta

@Suite struct CalibratorTests {
    /// Statistics of a Gaussian sample with a few large outliers.
    static func statistics(outliers: Int = 20) -> ActivationStatistics {
        var x = TestData.gaussian(rows: 512, columns: 64, seed: 21)
        for i in 0..<outliers { x.storage[i * 997 % x.count] = 40 + Float(i) }
        var s = ActivationStatistics(channels: 64)
        try! s.observe(x, layer: "test")
        return s
    }

    @Test func histogramDoublesItsRangeWithoutLosingCounts() {
        var h = AbsoluteHistogram(bins: 8)
        h.add([0.5, 1.5])                 // range becomes 2 (next power of two above 1.5)
        #expect(h.range == 2 && h.total == 2)
        h.add([7, 0.1])                   // 7 needs range 8: two doublings
        #expect(h.range == 8 && h.total == 4)
        #expect(h.counts[0] == 2 && h.counts[1] == 1 && h.counts[7] == 1)   // bins of width 1: 0.1 and 0.5, 1.5, 7
    }

    @Test func thresholdsOrderAsExpected() {
        let s = Self.statistics()
        let minMax = Calibrator.minMax(movingAverage: false).threshold(s)
        let p9999 = Calibrator.percentile(99.99).threshold(s), p999 = Calibrator.percentile(99.9).threshold(s)
        let entropy = Calibrator.entropy.threshold(s), mse = Calibrator.mse.threshold(s)
        #expect(minMax == s.absMax && minMax >= 59)
        #expect(p999 <= p9999 && p9999 <= minMax)
        // A Gaussian with sparse outliers: percentile and entropy clip far below the outliers; MSE keeps
        // them when clipping 20 values by ~40 costs more than rounding 32768 values more coarsely.
        #expect(p999 < 5 && entropy < 20, "p99.9 \(p999) entropy \(entropy)")
        #expect(entropy > 2 && mse > 2 && mse <= minMax, "and not below the Gaussian's bulk")
    }

    @Test func mseThresholdBeatsMinMaxOnItsOwnObjective() {
        let s = Self.statistics()
        func error(_ t: Float) -> Double {
            let step = Double(t) / 127
            return s.histogram.counts.enumerated().reduce(0) { sum, item in
                let centre = (Double(item.offset) + 0.5) * Double(s.histogram.binWidth)
                let q = centre >= Double(t) ? Double(t) : (centre / step).rounded() * step
                return sum + item.element * (centre - q) * (centre - q)
            }
        }
        #expect(error(Calibrator.mse.threshold(s)) < error(Calibrator.minMax(movingAverage: false).threshold(s)))
    }

    @Test func entropyWithoutOutliersKeepsNearlyTheWholeRange() {
        // A uniform distribution has no tail worth clipping.
        var x = Matrix<Float>(rows: 256, columns: 64, repeating: 0)
        var g = SplitMix64(seed: 4)
        for i in 0..<x.count { x.storage[i] = Float.random(in: -1...1, using: &g) }
        var s = ActivationStatistics(channels: 64)
        try! s.observe(x, layer: "uniform")
        #expect(Calibrator.entropy.threshold(s) > 0.9 * s.absMax)
    }

    @Test func statisticsTrackChannelsMovingAverageAndRejectNaN() throws {
        var s = ActivationStatistics(channels: 2, movingAverageFactor: 0.5)
        try s.observe(try Matrix(rows: 2, columns: 2, storage: [1, -3, 2, 0.5]), layer: "l")
        try s.observe(try Matrix(rows: 1, columns: 2, storage: [5, 1]), layer: "l")
        #expect(s.channelAbsMax == [5, 3] && s.minimum == -3 && s.maximum == 5 && s.tokens == 3)
        #expect(s.movingMaximum == 3.5 && s.movingMinimum == -1)   // (2 + 5)/2, (-3 + 1)/2
        #expect(throws: QuantaError.self) { try s.observe(try Matrix(rows: 1, columns: 2, storage: [.nan, 1]), layer: "blk.0.attn_q") }
    }
}
