/// Tests of ARP.swift on the case (a) exchange: parse every field, emit the exact bytes,
/// reject non-Ethernet/IPv4 ARP, and survive truncated or garbage input.
import Engine
import Testing
import Wire

@Suite struct ARPTests {
    let client = MACAddress(0x02, 0x44, 0, 0, 0, 0x02)
    let web0 = MACAddress(0x02, 0x44, 0, 0, 0, 0x03)

    func arp(_ frame: [UInt8]) -> Result<ARPPacket, WireError> {
        parsing(frame.slice(EthernetHeader.length..<frame.count)) { p throws(WireError) in try ARPPacket(parsing: p) }
    }

    @Test func parsesRequest() throws {
        // client__eth0.pcap #1: who-has 10.244.0.3 tell 10.244.0.2.
        let a = try arp(Fixtures.arpRequestClientToWeb0).get()
        #expect(a.operation == .request)
        #expect(a.senderHardwareAddress == client)
        #expect(a.senderProtocolAddress == IPv4Address("10.244.0.2"))
        #expect(a.targetHardwareAddress == .zero)
        #expect(a.targetProtocolAddress == IPv4Address("10.244.0.3"))
    }

    @Test func parsesReply() throws {
        // client__eth0.pcap #3: 10.244.0.3 is-at 02:44:00:00:00:03.
        let a = try arp(Fixtures.arpReplyWeb0ToClient).get()
        #expect(a == ARPPacket(operation: .reply,
                               senderHardwareAddress: web0, senderProtocolAddress: IPv4Address(10, 244, 0, 3),
                               targetHardwareAddress: client, targetProtocolAddress: IPv4Address(10, 244, 0, 2)))
    }

    @Test func emitReproducesBothFrames() throws {
        for frame in [Fixtures.arpRequestClientToWeb0, Fixtures.arpReplyWeb0ToClient] {
            #expect(frame.count == 42)   // no padding to 60 on veth (REFERENCE.md §3)
            let a = try arp(frame).get()
            #expect(emitted(count: ARPPacket.length) { a.emit(into: $0) } == frame.slice(14..<42))
        }
        // A request built from values, as a pod's neighbour code would, in a whole frame.
        let request = ARPPacket(operation: .request,
                                senderHardwareAddress: client, senderProtocolAddress: IPv4Address(10, 244, 0, 2),
                                targetHardwareAddress: .zero, targetProtocolAddress: IPv4Address(10, 244, 0, 3))
        let frame = emitted(count: 42) { buf in
            EthernetHeader(destination: .broadcast, source: client, etherType: .arp).emit(into: buf)
            request.emit(into: UnsafeMutableRawBufferPointer(rebasing: buf[14...]))
        }
        #expect(frame == Fixtures.arpRequestClientToWeb0)
    }

    @Test func unknownOperationRoundTrips() throws {
        var frame = Fixtures.arpRequestClientToWeb0
        frame.setU16(3, at: 20)   // RARP request opcode
        let a = try arp(frame).get()
        #expect(a.operation.rawValue == 3)
        #expect(a.operation != .request && a.operation != .reply)
        #expect(emitted(count: 28) { a.emit(into: $0) } == frame.slice(14..<42))
    }

    @Test func rejectsOtherHardwareAndProtocolTypes() {
        func mutated(_ at: Int, _ value: UInt8) -> [UInt8] {
            var f = Fixtures.arpRequestClientToWeb0
            f[14 + at] = value
            return f
        }
        #expect(arp(mutated(1, 6)).failure == .unsupported(layer: "ARP", detail: "htype 6"))      // IEEE 802
        #expect(arp(mutated(2, 0x86)).failure == .unsupported(layer: "ARP", detail: "ptype 34304"))
        #expect(arp(mutated(4, 8)).failure == .unsupported(layer: "ARP", detail: "hlen 8"))
        #expect(arp(mutated(5, 16)).failure == .unsupported(layer: "ARP", detail: "plen 16"))
    }

    @Test func everyShortPrefixThrowsTruncated() {
        let body = Fixtures.arpReplyWeb0ToClient.slice(14..<42)
        for n in 0..<ARPPacket.length {
            let r = parsing(body.slice(0..<n)) { p throws(WireError) in try ARPPacket(parsing: p) }
            #expect(r.failure == .truncated(layer: "ARP", needed: 28, available: n))
        }
        // Ethernet padding after the 28 bytes is ignored.
        let padded = body + [UInt8](repeating: 0, count: 18)
        #expect(parsing(padded) { p throws(WireError) in try ARPPacket(parsing: p) }.value != nil)
    }

    @Test func garbageNeverTraps() {
        var rng = SeededGenerator(seed: 826)
        var parsed = 0
        for i in 0..<20_000 {
            var b = [UInt8].random(count: Int.random(in: 0...40, using: &rng), using: &rng)
            if i % 2 == 0, b.count >= 6 { b.replaceSubrange(0..<6, with: [0, 1, 8, 0, 6, 4]) }
            switch parsing(b, { p throws(WireError) in try ARPPacket(parsing: p) }) {
            case .success(let a):
                parsed += 1
                #expect(emitted(count: 28) { a.emit(into: $0) } == b.slice(0..<28))
            case .failure(.truncated), .failure(.unsupported): break
            case .failure(let e): Issue.record("unexpected \(e)")
            }
        }
        #expect(parsed > 0)
    }
}
