/// Tests for HoldModel.swift: the workload is deterministic, keeps its queue size, and pops
/// exactly what a plain reference priority queue pops for the same random increments.
/// (Its speed is measured by Benchmarks/, never here.)
import Testing
@testable import Engine

@Test func sameSeedSameChecksum() {
    var a = HoldModel(pendingEvents: 1_000, seed: 7)
    var b = HoldModel(pendingEvents: 1_000, seed: 7)
    #expect(a.run(events: 20_000) == b.run(events: 20_000))
    #expect(a.now == b.now)
    var c = HoldModel(pendingEvents: 1_000, seed: 8)
    var d = HoldModel(pendingEvents: 1_000, seed: 7)
    #expect(c.run(events: 20_000) != d.run(events: 20_000))
}

@Test func queueSizeStaysConstantAndTimeAdvances() {
    var m = HoldModel(pendingEvents: 500, seed: 1)
    #expect(m.scheduler.pendingCount == 500)
    _ = m.run(events: 10_000)
    #expect(m.scheduler.pendingCount == 500)
    #expect(m.scheduler.eventsProcessed == 10_000)
    #expect(m.now > .zero)
}

@Test func popsWhatAReferenceHeapPops() {
    // The same workload on a textbook binary heap ordered by (time, sequence).
    struct Reference {
        var heap: [(time: Int64, sequence: UInt64)] = []
        var sequence: UInt64 = 0
        mutating func push(_ time: Int64) {
            heap.append((time, sequence)); sequence += 1
            var i = heap.count - 1
            while i > 0, heap[i] < heap[(i - 1) / 2] { heap.swapAt(i, (i - 1) / 2); i = (i - 1) / 2 }
        }
        mutating func pop() -> Int64 {
            let top = heap[0]
            heap[0] = heap[heap.count - 1]
            heap.removeLast()
            var i = 0
            while true {
                var m = i
                for c in [2 * i + 1, 2 * i + 2] where c < heap.count && heap[c] < heap[m] { m = c }
                if m == i { break }
                heap.swapAt(i, m); i = m
            }
            return top.time
        }
    }
    let pending = 2_000, events = 50_000
    var random = SeededGenerator(seed: 3).stream("hold")
    var reference = Reference()
    for _ in 0..<pending { reference.push(HoldModel.increment(&random).nanoseconds) }
    var checksum: UInt64 = 0xCBF2_9CE4_8422_2325
    for _ in 0..<events {
        let now = reference.pop()
        checksum = (checksum ^ UInt64(bitPattern: now)) &* 0x0000_0100_0000_01B3
        reference.push(now + HoldModel.increment(&random).nanoseconds)
    }
    var model = HoldModel(pendingEvents: pending, seed: 3)
    #expect(model.run(events: events) == checksum)
}

@Test func pinnedChecksum() {
    // Pins the generator, the logarithm and the queue order together: a change to any of
    // them (or a platform difference) changes this value.
    var m = HoldModel(pendingEvents: 1_000, seed: 1)
    #expect(m.run(events: 10_000) == 7_434_432_795_234_195_361)
}
