/// Tests of ICMPv4.swift on the echo pair of case (e), the port unreachable of case i1 and
/// the frag-needed of case f3: fields, exact emission with the checksum, quoted headers.
import Engine
import Testing
import Wire

@Suite struct ICMPv4Tests {
    func message(_ frame: [UInt8]) -> [UInt8] { frame.slice(34..<frame.count) }

    func icmp(_ bytes: [UInt8]) -> Result<ICMPv4Header, WireError> {
        parsing(bytes) { p throws(WireError) in try ICMPv4Header(parsing: p) }
    }

    @Test func parsesEchoPair() throws {
        // Case (e): id 30173 seq 1 on both sides, checksums valid (REFERENCE.md §5.5).
        let req = try icmp(message(Fixtures.icmpEchoRequest)).get()
        #expect(req.type == .echoRequest && req.code == 0)
        #expect(req.identifier == 30173 && req.sequence == 1)
        #expect(req.restOfHeader == 0x75DD_0001)
        #expect(req.checksum == 0x8AF0)
        let rep = try icmp(message(Fixtures.icmpEchoReply)).get()
        #expect(rep.type == .echoReply && rep.code == 0)
        #expect(rep.identifier == 30173 && rep.sequence == 1)
        #expect(rep.checksum == 0x92F0)
        for f in [Fixtures.icmpEchoRequest, Fixtures.icmpEchoReply, Fixtures.icmpPortUnreachable, Fixtures.icmpFragNeeded] {
            #expect(message(f).withUnsafeBytes { ICMPv4Header.isChecksumValid(message: $0) })
        }
        // Same data in both (the reply echoes it).
        #expect(message(Fixtures.icmpEchoRequest).slice(8..<64) == message(Fixtures.icmpEchoReply).slice(8..<64))
    }

    @Test func parsesPortUnreachableOfCaseI1() throws {
        // client__eth0.pcap #59: 3/3 from 10.244.0.1, quoting 10.244.0.2:36095 > 10.96.0.21:80 ttl 63.
        let m = message(Fixtures.icmpPortUnreachable)
        #expect(m.count == 100)
        let h = try icmp(m).get()
        #expect(h.type == .destinationUnreachable && h.code == ICMPv4UnreachableCode.port)
        #expect(h.restOfHeader == 0 && h.checksum == 0x1CC5)
        let quoted = m.slice(8..<m.count)
        let qip = try parsing(quoted) { p throws(WireError) in try IPv4Header(parsing: p) }.get()
        #expect(qip.source == IPv4Address(10, 244, 0, 2) && qip.destination == IPv4Address(10, 96, 0, 21))
        #expect(qip.ttl == 63 && qip.protocol == .udp && qip.dontFragment && qip.totalLength == 92)
        let qudp = try parsing(quoted.slice(20..<quoted.count)) { p throws(WireError) in try UDPHeader(parsing: p) }.get()
        #expect(qudp.sourcePort == 36095 && qudp.destinationPort == 80)
    }

    @Test func parsesFragNeededOfCaseF3() throws {
        // ext__eth0.pcap #19: 3/4 mtu 1450 (RFC 1191), quoting 192.168.50.100:57684 > :30080.
        let m = message(Fixtures.icmpFragNeeded)
        let h = try icmp(m).get()
        #expect(h.type == .destinationUnreachable && h.code == ICMPv4UnreachableCode.fragmentationNeeded)
        #expect(h.nextHopMTU == 1450 && h.restOfHeader == 1450 && h.checksum == 0x748B)
        let quoted = m.slice(8..<m.count)
        let qip = try parsing(quoted) { p throws(WireError) in try IPv4Header(parsingQuoted: p) }.get()
        #expect(qip.totalLength == 1500 && qip.ttl == 64)   // quoted before the TTL decrement (§4.1)
        let qudp = try parsing(quoted.slice(qip.headerLength..<quoted.count)) { p throws(WireError) in
            try UDPHeader(parsingQuoted: p)
        }.get()
        #expect(qudp.sourcePort == 57684 && qudp.destinationPort == 30080 && qudp.length == 1480)
    }

    @Test func emitReproducesEveryMessage() throws {
        for f in [Fixtures.icmpEchoRequest, Fixtures.icmpEchoReply, Fixtures.icmpPortUnreachable, Fixtures.icmpFragNeeded] {
            let m = message(f)
            let parsed = try icmp(m).get()
            let h = ICMPv4Header(type: parsed.type, code: parsed.code, restOfHeader: parsed.restOfHeader)
            #expect(h.checksum == 0)
            // Body in place first, header garbage: emit must overwrite and checksum it all.
            var out = m
            out.replaceSubrange(0..<8, with: [0xDE, 0xAD, 0xBE, 0xEF, 0xDE, 0xAD, 0xBE, 0xEF])
            out.withUnsafeMutableBytes { h.emit(intoMessage: $0) }
            #expect(out == m)
        }
    }

    @Test func buildsEchoReplyFromRequest() throws {
        // What the kernel's icmp_echo does: same id/seq/data, type 0.
        var m = message(Fixtures.icmpEchoRequest)
        let req = try icmp(m).get()
        m.withUnsafeMutableBytes { ICMPv4Header(type: .echoReply, code: 0, restOfHeader: req.restOfHeader).emit(intoMessage: $0) }
        #expect(m == message(Fixtures.icmpEchoReply))
    }

    @Test func computedViews() {
        var h = ICMPv4Header(type: .echoRequest, code: 0)
        #expect(h.restOfHeader == 0)
        h.identifier = 0xABCD
        h.sequence = 0x1234
        #expect(h.restOfHeader == 0xABCD_1234)
        h.sequence = 7
        #expect(h.identifier == 0xABCD && h.restOfHeader == 0xABCD_0007)
        var f = ICMPv4Header(type: .destinationUnreachable, code: ICMPv4UnreachableCode.fragmentationNeeded)
        f.nextHopMTU = 1450
        #expect(f.restOfHeader == 0x0000_05AA)
        #expect(ICMPv4Type(rawValue: 11) == .timeExceeded)
        #expect([ICMPv4UnreachableCode.network, ICMPv4UnreachableCode.host, ICMPv4UnreachableCode.protocol,
                 ICMPv4UnreachableCode.port, ICMPv4UnreachableCode.fragmentationNeeded] == [0, 1, 2, 3, 4])
    }

    @Test func oddLengthMessageChecksum() {
        var rng = SeededGenerator(seed: 792)
        for n in 8...120 {
            var m = [UInt8].random(count: n, using: &rng)
            let h = ICMPv4Header(type: .echoRequest, code: 0, restOfHeader: 0x0001_0002)
            m.withUnsafeMutableBytes { h.emit(intoMessage: $0) }
            var zeroed = m
            zeroed.setU16(0, at: 2)
            #expect(m.u16(at: 2) == naiveChecksum(zeroed), "length \(n)")
            #expect(m.withUnsafeBytes { ICMPv4Header.isChecksumValid(message: $0) })
        }
    }

    @Test func unknownTypesRoundTrip() throws {
        for t: UInt8 in [5, 13, 42, 255] {
            var m = message(Fixtures.icmpEchoRequest)
            m[0] = t
            m.setU16(0, at: 2)
            m.setU16(checksum(m), at: 2)
            let h = try icmp(m).get()
            #expect(h.type.rawValue == t)
            var out = m
            out.withUnsafeMutableBytes { ICMPv4Header(type: h.type, code: h.code, restOfHeader: h.restOfHeader).emit(intoMessage: $0) }
            #expect(out == m)
        }
    }

    @Test func everyShortPrefixThrows() {
        let m = message(Fixtures.icmpPortUnreachable)
        for n in 0..<8 {
            #expect(icmp(m.slice(0..<n)).failure == .truncated(layer: "ICMPv4", needed: 8, available: n))
            #expect(!m.slice(0..<n).withUnsafeBytes { ICMPv4Header.isChecksumValid(message: $0) })
        }
        // A cut-short message parses (the header is whole) but fails verification.
        for n in 8..<m.count {
            #expect(icmp(m.slice(0..<n)).value != nil)
            #expect(!m.slice(0..<n).withUnsafeBytes { ICMPv4Header.isChecksumValid(message: $0) }, "\(n)")
        }
    }
}
