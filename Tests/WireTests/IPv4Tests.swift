/// Tests of IPv4.swift on real headers from the reference captures: every field, exact
/// re-emission with the kernel's checksum, options, fragments, malformed headers, and the
/// forwarding-path TTL decrement.
import Engine
import Testing
import Wire

@Suite struct IPv4Tests {
    func ip(_ frame: [UInt8]) -> Result<IPv4Header, WireError> {
        parsing(frame.slice(14..<frame.count)) { p throws(WireError) in try IPv4Header(parsing: p) }
    }

    static let ipFixtures = Fixtures.all.filter { $0.frame[12] == 0x08 && $0.frame[13] == 0x00 }

    @Test func fixtureSelection() {
        // The parameterised tests below run once per IPv4 fixture: make sure there are some.
        #expect(Self.ipFixtures.count == 8)
    }

    @Test func parsesCaseAUDP() throws {
        // client__eth0.pcap #4: 10.244.0.2>10.244.0.3 ttl64 df1 id 64607, IP length 92.
        let h = try ip(Fixtures.udpClientToWeb0).get()
        #expect(h.tos == 0)
        #expect(h.totalLength == 92)
        #expect(h.identification == 64607)
        #expect(h.dontFragment && !h.moreFragments && h.fragmentOffset == 0 && !h.isFragment)
        #expect(h.ttl == 64)
        #expect(h.protocol == .udp)
        #expect(h.checksum == 0x2845)
        #expect(h.source == IPv4Address(10, 244, 0, 2))
        #expect(h.destination == IPv4Address(10, 244, 0, 3))
        #expect(h.headerLength == 20)
        #expect(h.payloadLength == 72)
        #expect(Fixtures.udpClientToWeb0.slice(14..<34).withUnsafeBytes { IPv4Header.isChecksumValid(header: $0) })
    }

    @Test func parsesEchoRequestAndKernelReply() throws {
        // Case (e): the request has DF, the kernel's reply has not (REFERENCE.md §4.2).
        let req = try ip(Fixtures.icmpEchoRequest).get()
        #expect(req == IPv4Header.parsed(tos: 0, totalLength: 84, identification: 45391, df: true, ttl: 64,
                                          protocol: .icmp, checksum: 0x726E, "10.244.0.2", "10.244.1.2"))
        let rep = try ip(Fixtures.icmpEchoReply).get()
        #expect(rep == IPv4Header.parsed(tos: 0, totalLength: 84, identification: 16831, df: false, ttl: 62,
                                          protocol: .icmp, checksum: 0x23FF, "10.244.1.2", "10.244.0.2"))
    }

    @Test func parsesICMPErrors() throws {
        // ICMP errors: DF0, TOS 0xc0 (REFERENCE.md §4.2).
        let i1 = try ip(Fixtures.icmpPortUnreachable).get()
        #expect(i1 == IPv4Header.parsed(tos: 0xC0, totalLength: 120, identification: 32265, df: false, ttl: 64,
                                         protocol: .icmp, checksum: 0xE5D1, "10.244.0.1", "10.244.0.2"))
        let f3 = try ip(Fixtures.icmpFragNeeded).get()
        #expect(f3 == IPv4Header.parsed(tos: 0xC0, totalLength: 576, identification: 62273, df: false, ttl: 64,
                                         protocol: .icmp, checksum: 0x9EFA, "192.168.50.12", "192.168.50.100"))
    }

    @Test func parsesFragmentsOfCaseF2() throws {
        let first = try ip(Fixtures.fragmentFirst).get()
        #expect(first.totalLength == 1444 && first.identification == 10869)
        #expect(!first.dontFragment && first.moreFragments && first.fragmentOffset == 0 && first.isFragment)
        #expect(first.checksum == 0x13E9)
        let last = try ip(Fixtures.fragmentLast).get()
        #expect(last.totalLength == 604 && last.identification == 10869)
        #expect(!last.dontFragment && !last.moreFragments && last.fragmentOffset == 1424 && last.isFragment)
        #expect(last.checksum == 0x367F && last.protocol == .udp && last.payloadLength == 584)
        // Offsets line up: 1424 bytes of payload in the first, the rest at 1424.
        #expect(first.payloadLength == Int(last.fragmentOffset))
        let whole = try ip(Fixtures.reassembledDatagram).get()
        #expect(whole.totalLength == 2028 && whole.identification == 10869 && !whole.isFragment)
        #expect(whole.payloadLength == first.payloadLength + last.payloadLength)
    }

    @Test(arguments: ipFixtures.map(\.name))
    func emitReproducesKernelHeader(name: String) throws {
        let frame = Fixtures.all.first { $0.name == name }!.frame
        let h = try ip(frame).get()
        #expect(frame.slice(14..<34).withUnsafeBytes { IPv4Header.isChecksumValid(header: $0) })
        // Rebuild from values through the public initialiser, not from the parsed struct.
        let rebuilt = IPv4Header(tos: h.tos, totalLength: h.totalLength, identification: h.identification,
                                 dontFragment: h.dontFragment, moreFragments: h.moreFragments,
                                 fragmentOffset: h.fragmentOffset, ttl: h.ttl, protocol: h.protocol,
                                 source: h.source, destination: h.destination)
        #expect(rebuilt.checksum == 0 && rebuilt.headerLength == 20)
        var sum: UInt16 = 0
        let out = emitted(count: 20) { sum = rebuilt.emit(into: $0) }
        #expect(out == frame.slice(14..<34), "\(name)")
        #expect(sum == h.checksum)
        // Round trip: parse(emit(x)) == x.
        let again = try parsing(out + [UInt8](repeating: 0, count: h.payloadLength)) { p throws(WireError) in
            try IPv4Header(parsing: p)
        }.get()
        #expect(again == h)
    }

    @Test func emitIgnoresStaleChecksumField() {
        var h = IPv4Header(totalLength: 20, protocol: .udp, source: .any, destination: .broadcast)
        let a = emitted(count: 20) { h.emit(into: $0) }
        h.checksum = 0x1234
        #expect(emitted(count: 20) { h.emit(into: $0) } == a)
        #expect(a.withUnsafeBytes { IPv4Header.isChecksumValid(header: $0) })
    }

    @Test func everyFragmentOffsetRoundTrips() throws {
        for field in stride(from: 0, through: 0x1FFF, by: 1) {
            let h = IPv4Header(totalLength: 20, dontFragment: field & 1 == 0, moreFragments: field & 2 == 0,
                               fragmentOffset: UInt16(field * 8), protocol: .udp,
                               source: IPv4Address(1, 2, 3, 4), destination: IPv4Address(5, 6, 7, 8))
            let out = emitted(count: 20) { h.emit(into: $0) }
            #expect(out.u16(at: 6) & 0x1FFF == UInt16(field))
            let back = parsing(out) { p throws(WireError) in try IPv4Header(parsing: p) }.value
            #expect(back?.fragmentOffset == UInt16(field * 8))
            #expect(back?.dontFragment == h.dontFragment && back?.moreFragments == h.moreFragments)
        }
    }

    @Test(arguments: [UInt8(0), 2, 4, 41, 47, 50, 89, 132, 253, 255])
    func unknownProtocolsRoundTrip(raw: UInt8) throws {
        var frame = Fixtures.udpClientToWeb0
        frame[14 + 9] = raw
        frame.setU16(0, at: 24)
        frame.setU16(checksum(frame.slice(14..<34)), at: 24)
        let h = try ip(frame).get()
        #expect(h.protocol.rawValue == raw)
        #expect(emitted(count: 20) { h.emit(into: $0) } == frame.slice(14..<34))
        #expect(IPProtocol(rawValue: 17) == .udp && IPProtocol(rawValue: 1) == .icmp && IPProtocol(rawValue: 6) == .tcp)
    }

    @Test func headerWithOptions() throws {
        // A 24-byte header carrying a Router Alert option (RFC 2113: 94 04 00 00) in front of
        // the case (a) UDP datagram.
        let udp = Fixtures.udpClientToWeb0.slice(34..<106)
        var pkt = Fixtures.udpClientToWeb0.slice(14..<34) + [0x94, 0x04, 0x00, 0x00] + udp
        pkt[0] = 0x46
        pkt.setU16(UInt16(pkt.count), at: 2)
        pkt.setU16(0, at: 10)
        pkt.setU16(checksum(pkt.slice(0..<24)), at: 10)
        let h = try parsing(pkt) { p throws(WireError) in try IPv4Header(parsing: p) }.get()
        #expect(h.headerLength == 24)
        #expect(h.totalLength == 96 && h.payloadLength == 72)
        #expect(h.source == IPv4Address(10, 244, 0, 2) && h.ttl == 64 && h.protocol == .udp)
        #expect(pkt.withUnsafeBytes { IPv4Header.isChecksumValid(header: $0) })
        // The checksum covers the options: damage one and it fails.
        var bad = pkt
        bad[21] ^= 0x01
        #expect(!bad.withUnsafeBytes { IPv4Header.isChecksumValid(header: $0) })
        // The transport header starts at headerLength.
        let u = try parsing(pkt.slice(h.headerLength..<pkt.count)) { p throws(WireError) in try UDPHeader(parsing: p) }.get()
        #expect(u.destinationPort == 8080)
        // Re-emitting drops the options (IHL 5): documented.
        let out = emitted(count: 20) { h.emit(into: $0) }
        #expect(out[0] == 0x45)
    }

    @Test func badVersion() {
        for v: UInt8 in [0, 1, 5, 6, 15] {
            var f = Fixtures.udpClientToWeb0
            f[14] = v << 4 | 5
            #expect(ip(f).failure == .badVersion(v))
        }
    }

    @Test func ihlBelowFiveOrBeyondTheBuffer() {
        for ihl: UInt8 in 0..<5 {
            var f = Fixtures.udpClientToWeb0
            f[14] = 0x40 | ihl
            #expect(ip(f).failure == .badHeaderLength(Int(ihl) * 4))
        }
        // IHL 15 (60 bytes) in a 20-byte buffer, and IHL 6 in a 23-byte one.
        var h = Fixtures.udpClientToWeb0.slice(14..<34)
        h[0] = 0x4F
        #expect(parsing(h) { p throws(WireError) in try IPv4Header(parsing: p) }.failure == .badHeaderLength(60))
        var h6 = Fixtures.udpClientToWeb0.slice(14..<37)
        h6[0] = 0x46
        #expect(parsing(h6) { p throws(WireError) in try IPv4Header(parsing: p) }.failure == .badHeaderLength(24))
    }

    @Test func totalLengthBelowHeaderOrBeyondBuffer() {
        for total in [0, 1, 19] {
            var f = Fixtures.udpClientToWeb0
            f.setU16(UInt16(total), at: 16)
            #expect(ip(f).failure == .badTotalLength(total))
        }
        var f = Fixtures.udpClientToWeb0
        f.setU16(93, at: 16)
        #expect(ip(f).failure == .truncated(layer: "IPv4", needed: 93, available: 92))
        f.setU16(0xFFFF, at: 16)
        #expect(ip(f).failure == .truncated(layer: "IPv4", needed: 65535, available: 92))
        // A total length of exactly the header is a legal empty packet.
        f.setU16(20, at: 16)
        #expect(ip(f).value?.payloadLength == 0)
        // Trailing bytes (Ethernet padding) are allowed.
        #expect(parsing(Fixtures.udpClientToWeb0.slice(14..<106) + [0, 0, 0]) { p throws(WireError) in
            try IPv4Header(parsing: p)
        }.value?.totalLength == 92)
    }

    @Test(arguments: ipFixtures.map(\.name))
    func everyPrefixThrows(name: String) {
        let packet = Fixtures.all.first { $0.name == name }!.frame.slice(14..<Fixtures.all.first { $0.name == name }!.frame.count)
        let total = Int(packet.u16(at: 2))
        #expect(total == packet.count)
        for n in 0..<packet.count {
            let r = parsing(packet.slice(0..<n)) { p throws(WireError) in try IPv4Header(parsing: p) }
            if n < 20 {
                #expect(r.failure == .truncated(layer: "IPv4", needed: 20, available: n))
            } else {
                #expect(r.failure == .truncated(layer: "IPv4", needed: total, available: n))
            }
        }
    }

    @Test func quotedHeaderOfFragNeededIsCutShort() throws {
        // ext__eth0.pcap #19: the quote holds 548 of the 1500 bytes of the original packet.
        let quote = Fixtures.icmpFragNeeded.slice((14 + 20 + 8)..<590)
        #expect(quote.count == 548)
        #expect(parsing(quote) { p throws(WireError) in try IPv4Header(parsing: p) }.failure
                == .truncated(layer: "IPv4", needed: 1500, available: 548))
        let q = try parsing(quote) { p throws(WireError) in try IPv4Header(parsingQuoted: p) }.get()
        #expect(q == IPv4Header.parsed(tos: 0, totalLength: 1500, identification: 0, df: true, ttl: 64,
                                        protocol: .udp, checksum: 0x4F50, "192.168.50.100", "192.168.50.12"))
        #expect(quote.withUnsafeBytes { IPv4Header.isChecksumValid(header: $0) })
        // Quoted parsing still rejects what is malformed.
        var bad = quote
        bad[0] = 0x44
        #expect(parsing(bad) { p throws(WireError) in try IPv4Header(parsingQuoted: p) }.failure == .badHeaderLength(16))
    }

    @Test func decrementTTLKeepsRealChecksumsValid() throws {
        for (name, frame) in Self.ipFixtures {
            var header = frame.slice(14..<34)
            let start = header[8]
            for expected in stride(from: Int(start) - 1, through: 0, by: -1) {
                header.withUnsafeMutableBytes { IPv4Header.decrementTTL(header: $0.baseAddress!) }
                #expect(header[8] == UInt8(expected))
                #expect(header.withUnsafeBytes { IPv4Header.isChecksumValid(header: $0) }, "\(name) ttl \(expected)")
                // Equal to a full recomputation, bit for bit.
                var zeroed = header
                zeroed.setU16(0, at: 10)
                #expect(header.u16(at: 10) == checksum(zeroed))
            }
        }
    }

    @Test func decrementTTLOnCase2Forwarding() throws {
        // Case (e): the echo reply leaves web-1 with ttl 64 and reaches the client with 62
        // after two routing hops; rebuild the ttl-64 header and decrement twice.
        let arrived = try ip(Fixtures.icmpEchoReply).get()
        var sent = arrived
        sent.ttl = 64
        var bytes = emitted(count: 20) { sent.emit(into: $0) }
        bytes.withUnsafeMutableBytes { IPv4Header.decrementTTL(header: $0.baseAddress!) }
        bytes.withUnsafeMutableBytes { IPv4Header.decrementTTL(header: $0.baseAddress!) }
        #expect(bytes == Fixtures.icmpEchoReply.slice(14..<34))
    }

    @Test func decrementTTLPropertyIncludingCarryEdges() {
        var rng = SeededGenerator(seed: 0x7717)
        var edges = 0
        for i in 0..<20_000 {
            var h = [UInt8].random(count: 20, using: &rng)
            h[0] = 0x45
            h[8] = UInt8.random(in: 0...255, using: &rng)
            if i % 4 == 0 {
                // Steer the checksum to 0xFE00...0xFFFE, where adding 0x0100 carries (and
                // 0xFEFF hits the kernel's `check >= 0xFFFF` case), by solving for the
                // identification word: x' = x + ~target + C (one's complement), C the current checksum.
                h.setU16(0, at: 10)
                let target = UInt16.random(in: 0xFE00...0xFFFE, using: &rng)
                var s = UInt32(h.u16(at: 4)) + UInt32(~target) + UInt32(checksum(h))
                s = (s & 0xFFFF) + (s >> 16)
                s = (s & 0xFFFF) + (s >> 16)
                h.setU16(UInt16(s), at: 4)
                if checksum(h) == target { edges += 1 }
            }
            h.setU16(0, at: 10)
            h.setU16(checksum(h), at: 10)
            h.withUnsafeMutableBytes { IPv4Header.decrementTTL(header: $0.baseAddress!) }
            #expect(h.withUnsafeBytes { IPv4Header.isChecksumValid(header: $0) })
            var zeroed = h
            zeroed.setU16(0, at: 10)
            #expect(h.u16(at: 10) == checksum(zeroed))
        }
        #expect(edges > 1000)
    }

    @Test func checksumValidityDetectsEverySingleBitFlip() {
        let header = Fixtures.udpClientToWeb0.slice(14..<34)
        for bit in 0..<160 {
            var h = header
            h[bit / 8] ^= 1 << UInt8(bit % 8)
            // A flip in the IHL nibble changes the length; all flips must invalidate.
            #expect(!h.withUnsafeBytes { IPv4Header.isChecksumValid(header: $0) }, "bit \(bit)")
        }
        #expect(![UInt8]().withUnsafeBytes { IPv4Header.isChecksumValid(header: $0) })
        #expect(!header.slice(0..<19).withUnsafeBytes { IPv4Header.isChecksumValid(header: $0) })
    }
}

extension IPv4Header {
    /// A parsed-looking header (checksum set) for comparisons, from strings.
    static func parsed(tos: UInt8, totalLength: UInt16, identification: UInt16, df: Bool, ttl: UInt8,
                       protocol p: IPProtocol, checksum: UInt16, _ src: String, _ dst: String) -> IPv4Header {
        var h = IPv4Header(tos: tos, totalLength: totalLength, identification: identification,
                           dontFragment: df, moreFragments: false, fragmentOffset: 0, ttl: ttl,
                           protocol: p, source: IPv4Address(src)!, destination: IPv4Address(dst)!)
        h.checksum = checksum
        return h
    }
}
