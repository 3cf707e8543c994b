import Engine
import Testing
@testable import Datapath

/// Tests of FlatHashTable.swift: the table against a reference `Dictionary` under random
/// insert, replace, remove and lookup (keys drawn from small ranges so clusters, collisions,
/// backward-shift deletions across the wrap-around and growth all happen), and the narrow
/// key types the datapath uses.
@Suite struct FlatHashTableTests {
    @Test(arguments: [UInt64(1), 2, 3])
    func agreesWithDictionaryUnderRandomOperations(seed: UInt64) {
        var random = SeededGenerator(seed: seed)
        var table = FlatHashTable<UInt64, Int32>()
        var reference: [UInt64: Int32] = [:]
        // Keys from a few bands: small integers, MAC-like 48-bit values, neighbour-like
        // (device << 32 | address) values, so the hash sees both low and high bits vary.
        func key() -> UInt64 {
            let r = random.next()
            switch r % 3 {
            case 0: return r >> 58                                   // 0..<64
            case 1: return 0x0A58_0A00_0000 | (r >> 40 & 0xFF)       // MAC-like
            default: return UInt64(r >> 61) << 32 | 0x0AF4_0000 | (r >> 20 & 0x3F)  // device, address
            }
        }
        for step in 0..<20_000 {
            let k = key()
            switch random.next() % 10 {
            case 0..<4:
                let v = Int32(truncatingIfNeeded: random.next())
                table[k] = v
                reference[k] = v
            case 4..<6:
                #expect(table.removeValue(forKey: k) == reference.removeValue(forKey: k))
            case 6:
                let i = table.slot(of: k)
                #expect((i >= 0) == (reference[k] != nil))
                if i >= 0 {
                    #expect(table.value(at: i) == reference[k])
                    table.setValue(-7, at: i)
                    reference[k] = -7
                }
            default:
                #expect(table[k] == reference[k])
            }
            #expect(table.count == reference.count)
            if step % 997 == 0 { #expect(table.checkInvariants()) }
        }
        #expect(table.checkInvariants())
        for k in reference.keys { #expect(table[k] == reference[k]) }
        // Emptied completely, then refilled: no stale slot survives.
        for k in Array(reference.keys) { table[k] = nil }
        #expect(table.count == 0 && table.isEmpty && table.checkInvariants())
        for k in reference.keys { #expect(table[k] == nil) }
    }

    @Test func growsPastManyEntriesAndKeepsEveryOne() {
        var table = FlatHashTable<UInt64, UInt64>(minimumCapacity: 1)
        for k in 0..<5_000 as Range<UInt64> { table.insert(k &* 0x1_0000_0001, k) }
        #expect(table.count == 5_000 && table.checkInvariants())
        for k in 0..<5_000 as Range<UInt64> { #expect(table[k &* 0x1_0000_0001] == k) }
        #expect(table[5_000 &* 0x1_0000_0001] == nil)
    }

    @Test func anEmptyTableHasNoStorageUntilTheFirstInsertion() {
        var table = FlatHashTable<UInt64, Int32>()
        #expect(table[42] == nil && table.slot(of: 42) == -1 && table.removeValue(forKey: 42) == nil)
        #expect(table.count == 0 && table.checkInvariants())
        table[42] = 1
        table[42] = nil
        #expect(table[42] == nil && table.isEmpty && table.checkInvariants())
        table[7] = 2
        #expect(table[7] == 2 && table.count == 1)
    }

    @Test func portKeysCoverTheWholeRange() {
        var table = FlatHashTable<UInt16, Int32>()
        for port in [0, 1, 5201, 8472, 32768, 60999, 65535] as [UInt16] { table[port] = Int32(port) }
        #expect(table[65535] == 65535 && table[0] == 0 && table[8472] == 8472)
        #expect(table[80] == nil)
        table[8472] = nil
        #expect(table[8472] == nil && table.count == 6 && table.checkInvariants())
    }
}
