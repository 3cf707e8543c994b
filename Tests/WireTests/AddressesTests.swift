/// Tests of Addresses.swift: parsing and printing MAC and IPv4 addresses, prefixes and
/// interface addresses, prefix arithmetic, and loading/storing in wire order.
import Engine
import Testing
import Wire

@Suite struct AddressesTests {
    @Test(arguments: [
        ("10.244.0.2", UInt32(0x0AF4_0002)), ("0.0.0.0", 0), ("255.255.255.255", 0xFFFF_FFFF),
        ("192.168.50.100", 0xC0A8_3264), ("10.96.0.20", 0x0A60_0014), ("1.0.0.0", 0x0100_0000),
    ])
    func parsesIPv4(text: String, raw: UInt32) throws {
        let a = try #require(IPv4Address(text))
        #expect(a.rawValue == raw)
        #expect(a.description == text)
        #expect(IPv4Address(Substring(text)) == a)
    }

    @Test(arguments: [
        "1.2.3", "256.1.1.1", "01.2.3.4", "1.2.3.04", "1.2.3.4.5", "", "...", "1..2.3", "1.2.3.",
        ".1.2.3", "a.b.c.d", " 1.2.3.4", "1.2.3.4 ", "1.2.3.-4", "1.2.3.+4", "１.2.3.4", "1.2.3.4/24",
        "1000.1.1.1", "0x1.2.3.4", "1.2.3.٤",
    ])
    func rejectsInvalidIPv4(text: String) {
        #expect(IPv4Address(text) == nil, "\(text)")
    }

    @Test func ipv4Properties() {
        #expect(IPv4Address(127, 0, 0, 1) == .loopback && IPv4Address.loopback.isLoopback)
        #expect(IPv4Address.any.isUnspecified && IPv4Address.broadcast.isBroadcast)
        #expect(IPv4Address("224.0.0.22")!.isMulticast && !IPv4Address("10.0.0.1")!.isMulticast)
        #expect(IPv4Address("10.244.0.2")! < IPv4Address("10.244.0.10")!)
    }

    @Test func ipv4LoadStoreAtAnyAlignment() {
        let a = IPv4Address(192, 168, 50, 11)
        for offset in 0..<8 {
            var b = [UInt8](repeating: 0xEE, count: 12)
            b.withUnsafeMutableBytes { a.store(to: $0.baseAddress! + offset) }
            #expect(b.slice(offset..<(offset + 4)) == [192, 168, 50, 11])
            #expect(b.filter { $0 == 0xEE }.count == 8)
            #expect(b.withUnsafeBytes { IPv4Address(loading: $0.baseAddress! + offset) } == a)
        }
        // Addresses straight out of a real header: client__eth0.pcap #4 bytes 26..<34.
        let f = Fixtures.udpClientToWeb0
        #expect(f.withUnsafeBytes { IPv4Address(loading: $0.baseAddress! + 26) } == IPv4Address("10.244.0.2"))
        #expect(f.withUnsafeBytes { IPv4Address(loading: $0.baseAddress! + 30) } == IPv4Address("10.244.0.3"))
    }

    @Test func parsesMAC() throws {
        let m = try #require(MACAddress("02:44:00:00:00:01"))
        #expect(m.rawValue == 0x0244_0000_0001)
        #expect(m == MACAddress(0x02, 0x44, 0, 0, 0, 0x01))
        #expect(m.description == "02:44:00:00:00:01")
        #expect(MACAddress("02-f1-01-00-00-00")?.description == "02:f1:01:00:00:00")
        #expect(MACAddress("02:F1:01:AB:CD:EF")?.description == "02:f1:01:ab:cd:ef")
        #expect(m.isLocallyAdministered && !m.isMulticast && !m.isBroadcast)
        #expect(MACAddress.broadcast.description == "ff:ff:ff:ff:ff:ff")
        #expect(MACAddress("01:00:5e:00:00:16")!.isMulticast)
        #expect(MACAddress(rawValue: 0xFFFF_0244_0000_0001) == m)   // high bits dropped
        #expect(MACAddress("02:44:00:00:00:01")! < MACAddress("02:44:00:00:00:02")!)
    }

    @Test(arguments: [
        "", "02:44:00:00:00", "02:44:00:00:00:01:", ":02:44:00:00:00:01", "02:44:00:00:00:01:02",
        "0g:44:00:00:00:01", "2:44:00:00:00:01", "02:44:00:00:00:001", "+2:44:00:00:00:01",
        "-2:44:00:00:00:01", "02::44:00:00:00:01", "02:44-00:00:00:01", "02 44 00 00 00 01",
        "024400000001", "02:44:00:00:00:0１",
    ])
    func rejectsInvalidMAC(text: String) {
        #expect(MACAddress(text) == nil, "\(text)")
    }

    @Test func macStringRoundTrip() {
        var rng = SeededGenerator(seed: 48)
        for _ in 0..<1000 {
            let m = MACAddress(rawValue: rng.next())
            #expect(MACAddress(m.description) == m)
        }
    }

    @Test func macLoadStoreAtAnyAlignment() {
        // Real bytes: the source MAC of client__eth0.pcap #4 at offset 6.
        let f = Fixtures.udpClientToWeb0
        #expect(f.withUnsafeBytes { MACAddress(loading: $0.baseAddress! + 6) } == MACAddress("02:44:00:00:00:02"))
        let m = MACAddress("02:50:00:00:01:00")!
        for offset in 0..<8 {
            var b = [UInt8](repeating: 0xEE, count: 16)
            b.withUnsafeMutableBytes { m.store(to: $0.baseAddress! + offset) }
            #expect(b.slice(offset..<(offset + 6)) == [0x02, 0x50, 0, 0, 0x01, 0])
            #expect(b.filter { $0 == 0xEE }.count == 10)
            #expect(b.withUnsafeBytes { MACAddress(loading: $0.baseAddress! + offset) } == m)
        }
    }

    @Test func parsesNetworks() throws {
        let n = try #require(IPv4Network("10.244.0.0/16"))
        #expect(n.network == IPv4Address(10, 244, 0, 0) && n.prefixLength == 16)
        #expect(n.mask == 0xFFFF_0000 && n.broadcast == IPv4Address(10, 244, 255, 255) && n.size == 65536)
        #expect(n.description == "10.244.0.0/16")
        #expect(IPv4Network("0.0.0.0/0")?.size == 1 << 32)
        #expect(IPv4Network("10.244.0.3/32")?.size == 1)
        // Host bits set: an interface address, not a network.
        #expect(IPv4Network("10.244.0.1/16") == nil)
        for bad in ["10.244.0.0", "10.244.0.0/", "10.244.0.0/33", "10.244.0.0/-1", "10.244.0.0/+8",
                    "10.244.0.0/16/8", "10.244.0/16", "/16", "10.244.0.0/100", "10.244.0.0/ 8"] {
            #expect(IPv4Network(bad) == nil, "\(bad)")
        }
        // The initialiser clears host bits.
        #expect(IPv4Network(address: IPv4Address(10, 244, 1, 2), prefixLength: 24).description == "10.244.1.0/24")
        #expect(IPv4Network.mask(0) == 0 && IPv4Network.mask(32) == 0xFFFF_FFFF && IPv4Network.mask(24) == 0xFFFF_FF00)
    }

    @Test func containsAndOverlaps() throws {
        let cluster = IPv4Network("10.244.0.0/16")!
        let node0 = IPv4Network("10.244.0.0/24")!
        let node1 = IPv4Network("10.244.1.0/24")!
        let services = IPv4Network("10.96.0.0/12")!
        #expect(cluster.contains(IPv4Address(10, 244, 1, 2)))
        #expect(!cluster.contains(IPv4Address(10, 96, 0, 20)))
        #expect(services.contains(IPv4Address(10, 96, 0, 20)) && services.contains(IPv4Address(10, 111, 255, 255)))
        #expect(!services.contains(IPv4Address(10, 112, 0, 0)))
        #expect(cluster.contains(node0) && cluster.contains(node1) && !node0.contains(cluster))
        #expect(node0.contains(node0))
        #expect(cluster.overlaps(node1) && node1.overlaps(cluster))
        #expect(!node0.overlaps(node1) && !cluster.overlaps(services))
        #expect(IPv4Network("0.0.0.0/0")!.overlaps(services))
        #expect(node0 < node1 && cluster < node1)
        #expect(cluster.address(at: 1) == IPv4Address(10, 244, 0, 1))
    }

    @Test func subnets() {
        let cluster = IPv4Network("10.244.0.0/16")!
        #expect(cluster.subnet(index: 0, prefixLength: 24)?.description == "10.244.0.0/24")
        #expect(cluster.subnet(index: 3, prefixLength: 24)?.description == "10.244.3.0/24")
        #expect(cluster.subnet(index: 255, prefixLength: 24)?.description == "10.244.255.0/24")
        #expect(cluster.subnet(index: 256, prefixLength: 24) == nil)
        #expect(cluster.subnet(index: -1, prefixLength: 24) == nil)
        #expect(cluster.subnet(index: 0, prefixLength: 15) == nil)
        #expect(cluster.subnet(index: 0, prefixLength: 33) == nil)
        #expect(cluster.subnet(index: 0, prefixLength: 16) == cluster)
        #expect(cluster.subnet(index: 1, prefixLength: 16) == nil)
        #expect(cluster.subnet(index: 65535, prefixLength: 32)?.description == "10.244.255.255/32")
        let all = IPv4Network("0.0.0.0/0")!
        #expect(all.subnet(index: Int(UInt32.max), prefixLength: 32)?.description == "255.255.255.255/32")
        #expect(all.subnet(index: Int(UInt32.max) + 1, prefixLength: 32) == nil)
        #expect(all.subnet(index: 1, prefixLength: 1)?.description == "128.0.0.0/1")
    }

    @Test func interfaces() throws {
        let i = try #require(IPv4Interface("192.168.50.11/24"))
        #expect(i.address == IPv4Address(192, 168, 50, 11) && i.prefixLength == 24)
        #expect(i.network == IPv4Network("192.168.50.0/24"))
        #expect(i.description == "192.168.50.11/24")
        #expect(IPv4Interface("10.244.0.0/32")?.network.size == 1)   // flannel.1's address
        #expect(IPv4Interface("192.168.50.11") == nil)
        #expect(IPv4Interface("192.168.50.11/33") == nil)
        #expect(IPv4Interface("192.168.50.256/24") == nil)
    }
}
