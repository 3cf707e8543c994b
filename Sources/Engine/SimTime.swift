/// Simulated time. Two types over integer nanoseconds (STYLE.md "Engine"): an instant
/// (`SimTime`, measured from the start of the simulation) and an interval (`SimDuration`).
/// No wall clock is ever read below the CLI; time is always passed in.

/// An interval of simulated time in nanoseconds.
public struct SimDuration: Hashable, Comparable, Sendable, CustomStringConvertible {
    public var nanoseconds: Int64

    @inlinable public init(nanoseconds: Int64) { self.nanoseconds = nanoseconds }

    /// Computed, not a `static let`: a global's lazy-initialisation check on every use
    /// showed in the datapath's profile.
    @inlinable public static var zero: SimDuration { SimDuration(nanoseconds: 0) }

    @inlinable public static func nanoseconds(_ n: Int64) -> SimDuration { SimDuration(nanoseconds: n) }
    @inlinable public static func microseconds(_ n: Int64) -> SimDuration { SimDuration(nanoseconds: n * 1_000) }
    @inlinable public static func milliseconds(_ n: Int64) -> SimDuration { SimDuration(nanoseconds: n * 1_000_000) }
    /// Whole seconds (`Int`, the default literal type, so `.seconds(2)` is not ambiguous with the `Double` overload).
    @inlinable public static func seconds(_ n: Int) -> SimDuration { SimDuration(nanoseconds: Int64(n) * 1_000_000_000) }
    /// Rounds to the nearest nanosecond (halves away from zero).
    @inlinable public static func seconds(_ s: Double) -> SimDuration {
        // Not `.rounded()`: that calls libm's `round`, and Engine links nothing but the
        // stdlib. `ns - Double(whole)` is exact, so this rounds exactly like `round`.
        let ns = s * 1e9
        let whole = Int64(ns)
        let fraction = ns - Double(whole)
        if fraction >= 0.5 { return SimDuration(nanoseconds: whole + 1) }
        if fraction <= -0.5 { return SimDuration(nanoseconds: whole - 1) }
        return SimDuration(nanoseconds: whole)
    }

    @inlinable public var seconds: Double { Double(nanoseconds) / 1e9 }

    @inlinable public static func < (a: Self, b: Self) -> Bool { a.nanoseconds < b.nanoseconds }
    @inlinable public static func + (a: Self, b: Self) -> Self { Self(nanoseconds: a.nanoseconds + b.nanoseconds) }
    @inlinable public static func - (a: Self, b: Self) -> Self { Self(nanoseconds: a.nanoseconds - b.nanoseconds) }
    @inlinable public static func * (a: Self, k: Int64) -> Self { Self(nanoseconds: a.nanoseconds * k) }
    @inlinable public static func += (a: inout Self, b: Self) { a.nanoseconds += b.nanoseconds }

    /// Shortest exact form with the largest fitting unit: "2s", "1.5s", "200ms", "12us", "7ns".
    public var description: String {
        let n = nanoseconds
        if n == 0 { return "0s" }
        let units: [(Int64, String)] = [(1_000_000_000, "s"), (1_000_000, "ms"), (1_000, "us"), (1, "ns")]
        for (scale, name) in units where abs(n) >= scale {
            if n % scale == 0 { return "\(n / scale)\(name)" }
            // Up to 3 decimals when exact at that precision, e.g. 1.5s, 0.25ms.
            let milli = scale / 1_000
            if milli > 0 && n % milli == 0 {
                var frac = String(abs(n % scale) / milli)
                while frac.count < 3 { frac = "0" + frac }
                while frac.hasSuffix("0") { frac.removeLast() }
                return "\(n / scale).\(frac)\(name)"
            }
        }
        return "\(n)ns"
    }
}

/// An instant of simulated time: nanoseconds since the simulation started.
public struct SimTime: Hashable, Comparable, Sendable, CustomStringConvertible {
    public var nanoseconds: Int64

    @inlinable public init(nanoseconds: Int64) { self.nanoseconds = nanoseconds }

    @inlinable public static var zero: SimTime { SimTime(nanoseconds: 0) }

    /// The wall-clock second simulated t = 0 stands for, in captures and in reports that
    /// carry a date (2026-01-01T00:00:00Z). Fixed, never the current time, so the same run
    /// gives the same bytes.
    public static let epochSeconds: Int64 = 1_767_225_600
    /// Later than any event: "run until idle".
    @inlinable public static var distantFuture: SimTime { SimTime(nanoseconds: .max) }

    @inlinable public var seconds: Double { Double(nanoseconds) / 1e9 }

    @inlinable public static func < (a: Self, b: Self) -> Bool { a.nanoseconds < b.nanoseconds }
    @inlinable public static func + (t: Self, d: SimDuration) -> Self { Self(nanoseconds: t.nanoseconds &+ d.nanoseconds) }
    @inlinable public static func - (t: Self, d: SimDuration) -> Self { Self(nanoseconds: t.nanoseconds - d.nanoseconds) }
    @inlinable public static func - (a: Self, b: Self) -> SimDuration { SimDuration(nanoseconds: a.nanoseconds - b.nanoseconds) }
    @inlinable public static func += (t: inout Self, d: SimDuration) { t.nanoseconds &+= d.nanoseconds }

    /// Seconds with nanosecond precision, e.g. "1.000250000".
    public var description: String {
        let s = nanoseconds / 1_000_000_000
        var frac = String(nanoseconds % 1_000_000_000)
        while frac.count < 9 { frac = "0" + frac }
        return "\(s).\(frac)"
    }
}
