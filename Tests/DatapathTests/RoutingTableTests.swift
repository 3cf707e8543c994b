import Engine
import Testing
import Wire
@testable import Datapath

/// Tests of RoutingTable.swift: a big table's lookup by prefix gives the same route as the
/// first containing route of the sorted list (longest prefix, then lowest metric, then the
/// earliest added), for random tables and addresses, and after removals.
@Suite struct RoutingTableTests {
    /// The reference: the first route of the sorted list that contains the address.
    static func scan(_ t: RoutingTable, _ a: IPv4Address) -> Route? {
        t.routes.first { $0.destination.contains(a) }
    }

    @Test(arguments: [UInt64(1), 2, 3])
    func lookupByPrefixAgreesWithTheSortedScan(seed: UInt64) {
        var random = SeededGenerator(seed: seed)
        var table = RoutingTable()
        // Prefixes from a few lengths over a small space, so networks repeat (metric ties and
        // overrides) and lengths nest; devices tell equal prefixes apart.
        let lengths = [0, 8, 16, 24, 24, 24, 25, 30, 32]
        for k in 0..<400 {
            let length = lengths[Int(random.next() % UInt64(lengths.count))]
            let address = IPv4Address(rawValue: UInt32(10 << 24) | UInt32(truncatingIfNeeded: random.next() % 4096) << 8
                                      | UInt32(truncatingIfNeeded: random.next() % 4))
            let network = IPv4Network(address: address, prefixLength: length)
            table.add(Route(destination: network, device: DeviceID(Int32(k)), metric: Int(random.next() % 3)))
            if k == 300 { table.remove { $0.device.rawValue % 7 == 0 } }
        }
        #expect(table.routes.count > RoutingTable.scanLimit)
        for _ in 0..<5_000 {
            let a = IPv4Address(rawValue: UInt32(10 << 24) | UInt32(truncatingIfNeeded: random.next() % 4096) << 8
                                | UInt32(truncatingIfNeeded: random.next() % 8))
            #expect(table.lookup(a)?.device == Self.scan(table, a)?.device, "\(a)")
        }
        // Outside 10/8 only a default route can match.
        let outside = IPv4Address(192, 168, 1, 1)
        #expect(table.lookup(outside)?.device == Self.scan(table, outside)?.device)
    }

    /// A small table is scanned; the same answers as a big one.
    @Test func smallTableIsScanned() {
        var table = RoutingTable()
        table.add(Route(destination: IPv4Network("0.0.0.0/0")!, gateway: IPv4Address(192, 168, 50, 1), device: DeviceID(1)))
        table.add(Route(destination: IPv4Network("192.168.50.0/24")!, device: DeviceID(1), isConnected: true))
        table.add(Route(destination: IPv4Network("10.244.1.0/24")!, gateway: IPv4Address(10, 244, 1, 0), device: DeviceID(2)))
        table.add(Route(destination: IPv4Network("10.244.1.0/24")!, device: DeviceID(3), metric: 10))
        #expect(table.lookup(IPv4Address(10, 244, 1, 7))?.device == DeviceID(2))
        #expect(table.lookup(IPv4Address(192, 168, 50, 9))?.device == DeviceID(1))
        #expect(table.lookup(IPv4Address(8, 8, 8, 8))?.gateway == IPv4Address(192, 168, 50, 1))
    }
}
