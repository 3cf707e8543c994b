import Testing
@testable import Datapath

/// Tests of FlatTable.swift: elements keep their values and references through growth,
/// writes through the subscript land in place, and the table releases what it holds.
@Suite struct FlatTableTests {
    /// Counts live instances, to see that the table retains and releases its elements.
    final class Tracked {
        nonisolated(unsafe) static var live = 0
        let value: Int
        init(_ value: Int) {
            self.value = value
            Tracked.live += 1
        }
        deinit { Tracked.live -= 1 }
    }

    struct Element {
        var number: Int
        var list: [Int]
        var tracked: Tracked
    }

    @Test func growsWritesInPlaceAndReleases() {
        let before = Tracked.live
        do {
            let t = FlatTable<Element>()
            for i in 0..<100 { t.append(Element(number: i, list: [i], tracked: Tracked(i))) }
            t.append(repeating: Element(number: -1, list: [], tracked: Tracked(-1)), count: 50)
            #expect(t.count == 150)
            #expect(Tracked.live - before == 101)   // 100 + one shared by the 50 copies
            for i in 0..<100 {
                #expect(t[i].number == i && t[i].list == [i] && t[i].tracked.value == i)
            }
            #expect((100..<150).allSatisfy { t[$0].number == -1 && t[$0].tracked.value == -1 })
            t[7].number += 1000
            t[7].list.append(8)
            #expect(t[7].number == 1007 && t[7].list == [7, 8] && t[8].number == 8)
            t[3].tracked = Tracked(33)
            #expect(Tracked.live - before == 101)   // Tracked(3) was released
        }
        #expect(Tracked.live == before)
    }
}
