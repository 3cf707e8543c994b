import Engine
import Histogram

/// Latency distribution of one flow, kept in an HdrHistogram (values in nanoseconds, three
/// significant digits). The counts array is allocated once, when the recorder is made, and
/// covers 1 ns … 100 s, so recording never allocates (the histogram's auto-resize is off).
/// Longer values are clamped to 100 s and counted in `clamped`.

/// p50/p90/p99/max of a latency distribution, in nanoseconds. Percentiles are the
/// histogram's "highest equivalent value" (within 0.1 % of the true value); `max` and
/// `min` are exact.
public struct LatencyPercentiles: Sendable, Equatable {
    public var count: UInt64
    public var min: Int64
    public var p50: Int64
    public var p90: Int64
    public var p99: Int64
    public var max: Int64

    public init(count: UInt64, min: Int64, p50: Int64, p90: Int64, p99: Int64, max: Int64) {
        self.count = count
        self.min = min
        self.p50 = p50
        self.p90 = p90
        self.p99 = p99
        self.max = max
    }

    /// `{"count", "min", "p50", "p90", "p99", "max"}` in microseconds with 3 decimals
    /// (exact: the values are integer nanoseconds).
    public var jsonMicroseconds: JSONValue {
        func us(_ ns: Int64) -> JSONValue { .number(DecimalText.fixed(ns, fractionDigits: 3)) }
        return .object([
            ("count", .int(count)), ("min", us(min)), ("p50", us(p50)), ("p90", us(p90)),
            ("p99", us(p99)), ("max", us(max)),
        ])
    }
}

public struct LatencyRecorder: Sendable {
    /// The largest value recorded as is: 100 s.
    public static let highestTrackable: UInt64 = 100_000_000_000

    private var histogram: Histogram<UInt64>
    /// Values above `highestTrackable` (recorded as `highestTrackable`).
    public private(set) var clamped: UInt64 = 0
    /// Negative values (recorded as 0): only possible with a forged timestamp.
    public private(set) var negative: UInt64 = 0

    public init() {
        histogram = Histogram(lowestDiscernibleValue: 1, highestTrackableValue: Self.highestTrackable,
                              numberOfSignificantValueDigits: .three)
    }

    public var count: UInt64 { histogram.totalCount }

    @inline(__always)
    public mutating func record(_ d: SimDuration) {
        var v: UInt64
        if d.nanoseconds < 0 {
            negative += 1
            v = 0
        } else {
            v = UInt64(d.nanoseconds)
        }
        if v > Self.highestTrackable {
            clamped += 1
            v = Self.highestTrackable
        }
        histogram.record(v)
    }

    /// nil when nothing was recorded.
    public var percentiles: LatencyPercentiles? {
        guard histogram.totalCount > 0 else { return nil }
        return LatencyPercentiles(
            count: histogram.totalCount,
            min: Int64(histogram.min),
            p50: Int64(histogram.valueAtPercentile(50)),
            p90: Int64(histogram.valueAtPercentile(90)),
            p99: Int64(histogram.valueAtPercentile(99)),
            max: Int64(histogram.maxRecorded))
    }
}
