import Foundation
@testable import PodwireKit
import Testing

/// `podwire bench engine` reports the median of its timed runs and shows every run.
@Suite struct BenchSamplesTests {
    @Test func medianOfAnOddCountIsTheMiddleRunAndIgnoresOrder() {
        let s = BenchSamples(warmUp: [], timed: [3_900_000, 2_830_000, 3_840_000])
        #expect(s.median == 3_840_000)
    }

    @Test func medianOfAnEvenCountIsTheMeanOfTheMiddleTwo() {
        #expect(BenchSamples(timed: [10, 40, 20, 30]).median == 25)
        #expect(BenchSamples(timed: [7]).median == 7)
        #expect(BenchSamples().median == nil)
    }

    @Test func warmUpRunsAreShownButNeverCounted() {
        let s = BenchSamples(warmUp: [152_473], timed: [752_294, 740_221, 759_951])
        #expect(s.median == 752_294)
        #expect(s.summary == "752294 delivered packets/s (median of 3 runs: 752294, 740221, 759951; warm-up run, not counted: 152473)")
        #expect(BenchSamples(timed: [1_500_000.9]).summary == "1500000 delivered packets/s (1 run)")
    }

    /// Bad counts are refused by the command line before anything runs.
    @Test func benchEngineRefusesZeroRuns() throws {
        let r = try E2E.run(E2E.podwire, ["bench", "engine", "--runs", "0"])
        #expect(r.status != 0)
        #expect(r.stderr.contains("--runs must be at least 1 (found 0)"))
        #expect(!r.stderr.contains("Fatal error"))
        let w = try E2E.run(E2E.podwire, ["bench", "engine", "--capture-warm-up-runs=-1"])
        #expect(w.status != 0 && w.stderr.contains("--capture-warm-up-runs must be 0 or more"))
    }
}
