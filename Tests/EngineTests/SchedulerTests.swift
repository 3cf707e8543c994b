/// Tests for Scheduler.swift: the clock follows the events, `next(until:)` stops at its
/// limit, and running until idle leaves the clock at the last event.
import Testing
@testable import Engine

private enum Kind: Equatable, Sendable {
    case frame(Int)
    case timer(String)
}

private func t(_ ns: Int64) -> SimTime { SimTime(nanoseconds: ns) }

@Test func startsAtZeroWithNothingPending() {
    var s = Scheduler<Kind>()
    #expect(s.now == .zero)
    #expect(s.eventsProcessed == 0)
    #expect(s.pendingCount == 0)
    #expect(s.next(until: .distantFuture) == nil)
    #expect(s.now == .zero)
}

@Test func nextAdvancesNowToEachEvent() {
    var s = Scheduler<Kind>()
    s.schedule(.frame(2), at: t(200))
    s.schedule(.frame(1), at: t(100))
    s.schedule(.timer("b"), at: t(200))
    #expect(s.pendingCount == 3)
    #expect(s.next(until: .distantFuture) == .frame(1))
    #expect(s.now == t(100))
    #expect(s.next(until: .distantFuture) == .frame(2))
    #expect(s.now == t(200))
    #expect(s.next(until: .distantFuture) == .timer("b"))
    #expect(s.eventsProcessed == 3)
    #expect(s.pendingCount == 0)
}

@Test func stopsAtTheLimitAndMovesTheClockThere() {
    var s = Scheduler<Kind>()
    s.schedule(.frame(1), at: t(10))
    s.schedule(.frame(2), at: t(50))
    s.schedule(.frame(3), at: t(51))
    var seen: [Kind] = []
    while let e = s.next(until: t(50)) { seen.append(e) }   // an event exactly at the limit runs
    #expect(seen == [.frame(1), .frame(2)])
    #expect(s.now == t(50))
    #expect(s.pendingCount == 1)
    #expect(s.next(until: t(50)) == nil)
    #expect(s.next(until: t(45)) == nil)    // a limit in the past: time never runs backwards
    #expect(s.now == t(50))
    #expect(s.next(until: t(500)) == .frame(3))
    #expect(s.now == t(51))
    #expect(s.next(until: t(500)) == nil)
    #expect(s.now == t(500))                // nothing due: the clock jumps to the limit
}

@Test func runningUntilIdleLeavesTheClockAtTheLastEvent() {
    var s = Scheduler<Kind>()
    s.schedule(.frame(1), at: t(7))
    s.schedule(.frame(2), at: t(1_000))
    var n = 0
    while s.next(until: .distantFuture) != nil { n += 1 }
    #expect(n == 2)
    #expect(s.now == t(1_000))
    #expect(s.next(until: .distantFuture) == nil)
    #expect(s.now == t(1_000))
}

@Test func scheduleAfterIsRelativeToNow() {
    var s = Scheduler<Kind>()
    s.schedule(.timer("a"), after: .microseconds(3))
    #expect(s.next(until: .distantFuture) == .timer("a"))
    #expect(s.now == t(3_000))
    s.schedule(.timer("b"), after: .zero)       // same instant: runs next, after nothing else
    s.schedule(.timer("c"), after: .nanoseconds(1))
    #expect(s.next(until: .distantFuture) == .timer("b"))
    #expect(s.now == t(3_000))
    #expect(s.next(until: .distantFuture) == .timer("c"))
    #expect(s.now == t(3_001))
}

@Test func eventsScheduledWhileRunningKeepOrder() {
    // A chain: each frame schedules the next one; a timer at a fixed time interleaves.
    var s = Scheduler<Kind>()
    s.schedule(.frame(0), at: .zero)
    s.schedule(.timer("mid"), at: t(2_500))
    var log: [String] = []
    while let e = s.next(until: t(5_000)) {
        switch e {
        case .frame(let n):
            log.append("f\(n)@\(s.now.nanoseconds)")
            s.schedule(.frame(n + 1), after: .nanoseconds(1_000))
        case .timer(let name):
            log.append("\(name)@\(s.now.nanoseconds)")
        }
    }
    #expect(log == ["f0@0", "f1@1000", "f2@2000", "mid@2500", "f3@3000", "f4@4000", "f5@5000"])
    #expect(s.now == t(5_000))
    #expect(s.pendingCount == 1)
}

@Test func schedulingAfterALookAheadPastTheLimit() {
    // next(until:) looked at the event at 100 and stopped at 10; an earlier event scheduled
    // afterwards must still run first.
    var s = Scheduler<Kind>()
    s.schedule(.frame(100), at: t(100))
    #expect(s.next(until: t(10)) == nil)
    #expect(s.now == t(10))
    s.schedule(.frame(50), at: t(50))
    s.schedule(.frame(10), at: t(10))
    #expect(s.next(until: .distantFuture) == .frame(10))
    #expect(s.next(until: .distantFuture) == .frame(50))
    #expect(s.next(until: .distantFuture) == .frame(100))
}

@Test func cancelledEventsDoNotRunOrCount() {
    var s = Scheduler<Kind>()
    let retry = s.schedule(.timer("arp-retry"), at: t(1_000))
    s.schedule(.frame(1), at: t(500))
    #expect(s.pendingCount == 2)
    s.cancel(retry)
    #expect(s.pendingCount == 1)
    #expect(s.next(until: .distantFuture) == .frame(1))
    #expect(s.next(until: .distantFuture) == nil)
    #expect(s.now == t(500))
    #expect(s.eventsProcessed == 1)
}

@Test func twoSchedulersAreIndependent() {
    var a = Scheduler<Int>()
    var b = Scheduler<Int>()
    a.schedule(1, at: t(5))
    b.schedule(2, at: t(9))
    #expect(a.next(until: .distantFuture) == 1)
    #expect(a.now == t(5) && b.now == .zero)
    #expect(b.next(until: .distantFuture) == 2)
}

@Test func schedulingInThePastIsAProgrammingError() async {
    await #expect(processExitsWith: .failure) {
        var s = Scheduler<Int>()
        s.schedule(1, at: SimTime(nanoseconds: 10))
        _ = s.next(until: .distantFuture)
        s.schedule(2, at: SimTime(nanoseconds: 5))
    }
}

/// `advance(to:notAfter:)` runs an event without queueing it only when it would have been
/// next anyway: strictly earlier than everything pending, not past the limit, not in the past.
@Test func advanceRunsOnlyWhatWouldHaveBeenNext() {
    var s = Scheduler<Kind>()
    var ok: Bool
    s.schedule(.frame(1), at: t(100))
    ok = s.advance(to: t(40), notAfter: t(1_000))
    #expect(ok)
    #expect(s.now == t(40) && s.eventsProcessed == 1 && s.pendingCount == 1)
    ok = s.advance(to: t(100), notAfter: t(1_000))
    #expect(!ok)   // a tie: the pending frame goes first
    ok = s.advance(to: t(150), notAfter: t(1_000))
    #expect(!ok)   // later than the frame
    ok = s.advance(to: t(60), notAfter: t(50))
    #expect(!ok)       // past the run's limit
    ok = s.advance(to: t(30), notAfter: t(1_000))
    #expect(!ok)    // in the past
    #expect(s.now == t(40) && s.eventsProcessed == 1)
    #expect(s.next(until: .distantFuture) == .frame(1))
    ok = s.advance(to: t(100), notAfter: .distantFuture)
    #expect(ok)   // nothing pending: any time ahead
    #expect(s.now == t(100) && s.eventsProcessed == 3)
}
