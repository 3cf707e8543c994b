/// Tests for SimTime.swift: descriptions, arithmetic and conversions of instants and intervals.
import Testing
import Engine

@Test(arguments: [
    (SimDuration.seconds(2), "2s"),
    (SimDuration.milliseconds(1_500), "1.5s"),
    (SimDuration.milliseconds(200), "200ms"),
    (SimDuration.zero, "0s"),
    (SimDuration.microseconds(12), "12us"),
    (SimDuration.nanoseconds(7), "7ns"),
    (SimDuration.milliseconds(1_250), "1.25s"),
    (SimDuration.microseconds(1_001), "1.001ms"),
    (SimDuration.seconds(-2), "-2s"),
    (SimDuration.milliseconds(-1_500), "-1.5s"),
])
func durationDescription(duration: SimDuration, text: String) {
    #expect(duration.description == text)
}

@Test func durationConstructorsAndArithmetic() {
    #expect(SimDuration.seconds(1).nanoseconds == 1_000_000_000)
    #expect(SimDuration.milliseconds(3).nanoseconds == 3_000_000)
    #expect(SimDuration.microseconds(4).nanoseconds == 4_000)
    #expect(SimDuration.milliseconds(1) + .microseconds(500) == .microseconds(1_500))
    #expect(SimDuration.seconds(1) - .milliseconds(1) == .milliseconds(999))
    #expect(SimDuration.microseconds(3) * 4 == .microseconds(12))
    var d = SimDuration.zero
    d += .nanoseconds(5)
    #expect(d == .nanoseconds(5))
    #expect(SimDuration.microseconds(999) < .milliseconds(1))
    #expect(SimDuration.milliseconds(2).seconds == 0.002)
}

@Test func durationFromFractionalSecondsRoundsToNearestNanosecond() {
    #expect(SimDuration.seconds(1.5) == .milliseconds(1_500))
    #expect(SimDuration.seconds(0.000_000_003) == .nanoseconds(3))   // 3e-9 * 1e9 is not exactly 3
    #expect(SimDuration.seconds(0.000_000_000_4) == .zero)
    #expect(SimDuration.seconds(0.000_000_000_6) == .nanoseconds(1))
    #expect(SimDuration.seconds(-0.000_000_000_6) == .nanoseconds(-1))
    #expect(SimDuration.seconds(-0.25) == .milliseconds(-250))
    #expect(SimDuration.seconds(1e-9 * 2.5 + 1e-12) == .nanoseconds(3))
}

@Test func timeArithmetic() {
    let start = SimTime.zero + .milliseconds(1)
    #expect(start.nanoseconds == 1_000_000)
    let later = start + .microseconds(250)
    #expect(later - start == .microseconds(250))
    #expect(later - .microseconds(250) == start)
    #expect(start < later)
    var moving = start
    moving += .seconds(1)
    #expect(moving == SimTime(nanoseconds: 1_001_000_000))
    #expect(SimTime.zero < .distantFuture)
    #expect(SimTime.distantFuture.nanoseconds == .max)
    #expect(later.seconds == 0.00125)
}

@Test func timeDescriptionHasNanosecondPrecision() {
    #expect((SimTime.zero + .microseconds(1_000_250)).description == "1.000250000")
    #expect(SimTime.zero.description == "0.000000000")
    #expect(SimTime(nanoseconds: 12_345_678_901).description == "12.345678901")
}
