import Engine
import Testing
@testable import Traffic

/// The HdrHistogram wrapper: percentiles, exact min/max, clamping.
@Suite struct LatencyRecorderTests {
    @Test func emptyHasNoPercentiles() {
        #expect(LatencyRecorder().percentiles == nil)
    }

    @Test func percentilesOfOneToThousandMicroseconds() throws {
        var r = LatencyRecorder()
        for us in 1...1000 { r.record(.microseconds(Int64(us))) }
        let p = try #require(r.percentiles)
        #expect(p.count == 1000)
        #expect(p.min == 1_000 && p.max == 1_000_000)
        // Three significant digits: within 0.1 % above the exact value.
        #expect(p.p50 >= 500_000 && p.p50 <= 500_500)
        #expect(p.p90 >= 900_000 && p.p90 <= 900_900)
        #expect(p.p99 >= 990_000 && p.p99 <= 990_990)
        #expect(p.jsonMicroseconds.text().contains("\"max\": 1000\n"))
    }

    @Test func clampsAndCountsOutOfRange() throws {
        var r = LatencyRecorder()
        r.record(.seconds(200))
        r.record(.nanoseconds(-5))
        #expect(r.clamped == 1)
        #expect(r.negative == 1)
        let p = try #require(r.percentiles)
        #expect(p.max == Int64(LatencyRecorder.highestTrackable))
        #expect(p.min == 0)
    }
}
