/// Tests for EventQueue.swift: (time, FIFO) order, cancellation, payload lifetime, value
/// semantics, extreme times, and a randomised comparison with a sorted-array model.
import Testing
@testable import Engine

private func t(_ ns: Int64) -> SimTime { SimTime(nanoseconds: ns) }

/// Pops everything, as (time, payload).
private func drain<E>(_ q: inout EventQueue<E>) -> [(Int64, E)] {
    var out: [(Int64, E)] = []
    while let (time, _, event) = q.popNext() { out.append((time.nanoseconds, event)) }
    return out
}

@Test func popsInTimeOrder() {
    var q = EventQueue<Int>()
    let times: [Int64] = [50, 10, 40, 30, 20, 1_000_000_000, 0, 5]
    for (i, time) in times.enumerated() { q.schedule(i, at: t(time)) }
    #expect(q.count == times.count)
    #expect(drain(&q).map(\.0) == times.sorted())
    #expect(q.isEmpty && q.count == 0)
    #expect(q.popNext() == nil)
}

@Test func equalTimesPopFirstInFirstOut() {
    var q = EventQueue<Int>(minimumCapacity: 4)
    // Many events at the same instants, interleaved, so that FIFO must survive every bucket move.
    var expected: [Int64: [Int]] = [:]
    var g = SeededGenerator(seed: 1).stream("fifo")
    for i in 0..<5_000 {
        let time = Int64(g.next() % 7) * 100
        q.schedule(i, at: t(time))
        expected[time, default: []].append(i)
    }
    let popped = drain(&q)
    #expect(popped.count == 5_000)
    let order = expected.keys.sorted().flatMap { expected[$0]! }
    #expect(popped.map(\.1) == order)
}

@Test func equalTimesStayFifoWhilePoppingAndScheduling() {
    var q = EventQueue<Int>()
    for i in 0..<10 { q.schedule(i, at: t(100)) }
    var seen: [Int] = []
    for i in 10..<20 {
        seen.append(q.popNext()!.event)
        q.schedule(i, at: t(100))    // equal to the time being popped: goes behind the rest
    }
    seen += drain(&q).map(\.1)
    #expect(seen == Array(0..<20))
}

@Test func sequencesIncreaseAndIdsComeBackOnPop() {
    var q = EventQueue<String>()
    let a = q.schedule("a", at: t(2))
    let b = q.schedule("b", at: t(1))
    #expect(b.sequence == a.sequence + 1)
    let first = q.popNext()!
    #expect(first.id == b && first.event == "b" && first.time == t(1))
    #expect(q.popNext()!.id == a)
}

@Test func cancelledEventsNeverPop() {
    var q = EventQueue<Int>()
    var ids: [EventID] = []
    for i in 0..<100 { ids.append(q.schedule(i, at: t(Int64(i % 10)))) }
    for i in stride(from: 0, to: 100, by: 3) { q.cancel(ids[i]) }
    #expect(q.count == 100 - 34)
    let popped = drain(&q).map(\.1)
    #expect(popped.count == 66)
    #expect(!popped.contains { $0 % 3 == 0 })
    #expect(popped == (0..<100).filter { $0 % 3 != 0 }.sorted { ($0 % 10, $0) < ($1 % 10, $1) })
}

@Test func cancelIsIdempotentAndIgnoresPoppedOrUnknownIds() {
    var q = EventQueue<Int>()
    let a = q.schedule(1, at: t(10))
    let b = q.schedule(2, at: t(20))
    let c = q.schedule(3, at: t(30))
    q.cancel(b)
    q.cancel(b)
    #expect(q.count == 2)
    let popped = q.popNext()!
    #expect(popped.id == a)
    q.cancel(a)                      // already popped, slot not yet reused
    #expect(q.count == 1)
    let d = q.schedule(4, at: t(40)) // reuses a slot
    q.cancel(a)                      // stale id whose slot now holds another event
    q.cancel(b)
    #expect(q.count == 2)
    q.cancel(EventID(sequence: 12345, slot: 999_999))   // unknown
    q.cancel(EventID(sequence: 12345, slot: d.slot))    // right slot, wrong sequence
    #expect(q.count == 2)
    #expect(drain(&q).map(\.1) == [3, 4])
    q.cancel(c)
    q.cancel(d)
    #expect(q.count == 0 && q.isEmpty)
}

@Test func cancellingEverythingEmptiesTheQueue() {
    var q = EventQueue<Int>()
    let ids = (0..<50).map { q.schedule($0, at: t(Int64($0))) }
    for id in ids { q.cancel(id) }
    #expect(q.isEmpty)
    #expect(q.peekTime() == nil)
    #expect(q.popNext() == nil)
    q.schedule(7, at: t(3))
    #expect(q.popNext()?.event == 7)
}

@Test func peekTimeSkipsCancelledEvents() {
    var q = EventQueue<Int>()
    let first = q.schedule(1, at: t(5))
    q.schedule(2, at: t(9))
    #expect(q.peekTime() == t(5))
    q.cancel(first)
    #expect(q.peekTime() == t(9))
    #expect(q.count == 1)
    #expect(q.popNext()?.event == 2)
    #expect(q.peekTime() == nil)
}

@Test func schedulingBelowTheLastMinimumStillOrders() {
    var q = EventQueue<Int>()
    q.schedule(1, at: t(1_000))
    q.schedule(2, at: t(5_000))
    #expect(q.peekTime() == t(1_000))   // the queue has now looked ahead to 1000
    q.schedule(3, at: t(999))
    q.schedule(4, at: t(-5))
    q.schedule(5, at: t(1_000))
    #expect(drain(&q).map(\.1) == [4, 3, 1, 5, 2])
}

@Test func extremeAndNegativeTimesOrder() {
    var q = EventQueue<Int>()
    let times: [Int64] = [.max, .min, 0, -1, 1, .max - 1, .min + 1, 1 << 62, -(1 << 62)]
    for (i, time) in times.enumerated() { q.schedule(i, at: t(time)) }
    q.schedule(99, at: .distantFuture)
    let popped = drain(&q)
    #expect(popped.map(\.0) == (times + [.max]).sorted())
    #expect(popped.last!.1 == 99)   // FIFO among the two .max events
}

@Test func growsPastItsMinimumCapacity() {
    var q = EventQueue<Int>(minimumCapacity: 1)
    var g = SeededGenerator(seed: 2)
    for i in 0..<20_000 { q.schedule(i, at: t(Int64(g.next() % 1_000_000))) }
    let popped = drain(&q)
    #expect(popped.count == 20_000)
    #expect(zip(popped, popped.dropFirst()).allSatisfy { $0.0 <= $1.0 })
}

@Test func isAValueType() {
    var a = EventQueue<Int>()
    for i in 0..<10 { a.schedule(i, at: t(Int64(i))) }
    var b = a
    _ = b.popNext()
    b.schedule(100, at: t(0))
    b.cancel(EventID(sequence: 5, slot: 5))
    #expect(a.count == 10)
    #expect(drain(&a).map(\.1) == Array(0..<10))
    #expect(drain(&b).map(\.1) == [100, 1, 2, 3, 4, 6, 7, 8, 9])
}

private final class Payload {
    let n: Int
    init(_ n: Int) { self.n = n }
}

@Test func payloadsAreReleasedWhenPoppedCancelledOrDropped() {
    weak var popped: Payload?
    weak var cancelled: Payload?
    weak var pending: Payload?
    do {
        var q = EventQueue<Payload>()
        do {
            let p = Payload(1), c = Payload(2), r = Payload(3)
            popped = p; cancelled = c; pending = r
            q.schedule(p, at: t(1))
            let id = q.schedule(c, at: t(2))
            q.schedule(r, at: t(3))
            q.cancel(id)
        }
        #expect(q.popNext()?.event.n == 1)
        #expect(popped == nil)
        #expect(q.peekTime() == t(3))   // discards the cancelled event on its way
        #expect(cancelled == nil)
        #expect(pending != nil)
    }
    #expect(pending == nil)
}

/// Random schedule/pop/cancel/peek against a sorted-array model.
@Test(arguments: [1, 2, 3] as [UInt64])
func matchesSortedArrayModel(seed: UInt64) {
    struct Item { var time: Int64; var sequence: UInt64; var payload: Int; var id: EventID }
    var g = SeededGenerator(seed: seed).stream("model")
    var q = EventQueue<Int>(minimumCapacity: 8)
    var model: [Item] = []   // kept sorted by (time, sequence)
    var issued: [EventID] = []
    var lastPopped: Int64 = 0
    var payload = 0
    for step in 0..<30_000 {
        let op = g.next() % 100
        if op < 45 {
            // Mostly near the last popped time with many duplicates; sometimes far or earlier.
            let r = g.next() % 100
            let time: Int64
            switch r {
            case 0..<70: time = lastPopped + Int64(g.next() % 64)
            case 70..<90: time = lastPopped + Int64(g.next() % 100_000)
            case 90..<97: time = lastPopped - Int64(g.next() % 200)
            default: time = Int64(bitPattern: g.next()) >> Int64(g.next() % 64)
            }
            payload += 1
            let id = q.schedule(payload, at: t(time))
            issued.append(id)
            let item = Item(time: time, sequence: id.sequence, payload: payload, id: id)
            let index = model.firstIndex { ($0.time, $0.sequence) > (time, id.sequence) } ?? model.endIndex
            model.insert(item, at: index)
        } else if op < 80 {
            let got = q.popNext()
            if model.isEmpty {
                #expect(got == nil, "step \(step)")
            } else {
                let want = model.removeFirst()
                #expect(got?.time.nanoseconds == want.time && got?.event == want.payload && got?.id == want.id,
                        "step \(step): got \(String(describing: got)), want \(want)")
                lastPopped = want.time
            }
        } else if op < 92 {
            guard !issued.isEmpty else { continue }
            let id = issued[Int(g.next() % UInt64(issued.count))]
            q.cancel(id)
            model.removeAll { $0.id == id }
        } else {
            #expect(q.peekTime()?.nanoseconds == model.first?.time, "step \(step)")
        }
        #expect(q.count == model.count, "step \(step)")
        #expect(q.isEmpty == model.isEmpty)
    }
    let rest = drain(&q)
    #expect(rest.map(\.0) == model.map(\.time))
    #expect(rest.map(\.1) == model.map(\.payload))
}

/// The held earliest event (EventQueue.swift, "Earliest"): an event strictly earlier than
/// every bucket is kept aside; a later one with the same time must still pop after it, and
/// one at the same time as the held event must pop after it even when yet another earlier
/// event displaces both into the buckets.
@Test func heldEarliestEventKeepsFifoWhenDisplaced() {
    var q = EventQueue<String>()
    q.schedule("far", at: t(1_000))
    q.schedule("a", at: t(100))       // earlier than the buckets: held
    #expect(q.minimumKey() == EventQueue<String>.key(t(100)))
    q.schedule("b", at: t(100))       // equal to the held one: both go to the buckets, a first
    q.schedule("c", at: t(50))        // strictly earlier: held
    q.schedule("d", at: t(50))        // equal again
    q.schedule("e", at: t(10))        // displaces nothing equal
    q.schedule("f", at: t(100))
    #expect(q.count == 7)
    #expect(drain(&q).map(\.1) == ["e", "c", "d", "a", "b", "f", "far"])
}

@Test func cancellingTheHeldEarliestEventSkipsItButNotWhatFollows() {
    var q = EventQueue<String>()
    q.schedule("later", at: t(500))
    let held = q.schedule("held", at: t(5))
    q.cancel(held)
    #expect(q.count == 1)
    #expect(q.minimumKey() == EventQueue<String>.key(t(5)))   // a tombstone still bounds it below
    #expect(q.peekTime() == t(500))
    #expect(q.popNext()?.event == "later")
    #expect(q.popNext() == nil)
    // A cancelled held event that is due must not hide a due event in the buckets.
    q.schedule("x", at: t(600))
    let y = q.schedule("y", at: t(550))
    q.cancel(y)
    #expect(q.popNext()?.event == "x")
}

@Test func copiesKeepTheirOwnHeldEvent() {
    var a = EventQueue<Int>()
    a.schedule(2, at: t(20))
    a.schedule(1, at: t(10))          // held in `a`
    var b = a
    b.schedule(0, at: t(5))           // displaces 1 into b's buckets only
    #expect(drain(&a).map(\.1) == [1, 2])
    #expect(drain(&b).map(\.1) == [0, 1, 2])
}
