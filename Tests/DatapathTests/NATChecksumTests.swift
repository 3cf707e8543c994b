/// NAT's checksum arithmetic against full recomputation, over many seeded random packets.
///
/// `World.natRewrite` is the rewrite `natApply` runs on every NATed packet (RFC 1624
/// incremental updates of the IPv4 header checksum and the UDP checksum, a zero UDP checksum
/// left alone, a 0x0000 result sent as 0xFFFF); `World.natICMPError` is
/// `nf_nat_icmp_reply_translation` (the quoted datagram's header and UDP checksums updated
/// incrementally, the ICMP checksum re-summed, the outer header updated incrementally). Both
/// must leave exactly the bytes that building the rewritten packet from scratch with Wire's
/// full checksums gives.
import Testing
@testable import Datapath
import Engine
import Wire

@Suite struct NATChecksumTests {
    /// An IPv4 + UDP datagram as fields; `bytes()` builds it with every checksum computed
    /// from scratch (RFC 1071 over the header, RFC 768 over pseudo-header and datagram).
    struct UDPPacket: CustomStringConvertible {
        var source: IPv4Address
        var destination: IPv4Address
        var sourcePort: UInt16
        var destinationPort: UInt16
        var identification: UInt16
        var ttl: UInt8
        var tos: UInt8
        var dontFragment: Bool
        /// IPv4 options (a multiple of 4 bytes, at most 40); their contents are not modelled,
        /// only the header length they make.
        var options: [UInt8]
        var payload: [UInt8]
        /// False: UDP checksum 0, "none" (RFC 768).
        var checksummed: Bool

        var headerLength: Int { IPv4Header.minimumLength + options.count }

        func bytes() -> [UInt8] {
            let hl = headerLength
            var b = [UInt8](repeating: 0, count: hl + UDPHeader.length + payload.count)
            b.withUnsafeMutableBytes { p in
                IPv4Header(tos: tos, totalLength: UInt16(p.count), identification: identification,
                           dontFragment: dontFragment, ttl: ttl, protocol: .udp,
                           source: source, destination: destination).emit(into: p)
                if !options.isEmpty {
                    // emit writes IHL 5 and sums 20 bytes: redo both for the longer header.
                    p[0] = UInt8(0x40 | hl / 4)
                    for (k, o) in options.enumerated() { p[IPv4Header.minimumLength + k] = o }
                    p.storeBytes(of: 0, toByteOffset: IPv4Header.checksumOffset, as: UInt16.self)
                    var c = InternetChecksum()
                    c.add(UnsafeRawBufferPointer(rebasing: p[0..<hl]))
                    p.storeBytes(of: c.finalize().bigEndian, toByteOffset: IPv4Header.checksumOffset, as: UInt16.self)
                }
                let udp = UnsafeMutableRawBufferPointer(rebasing: p[hl...])
                UDPHeader(sourcePort: sourcePort, destinationPort: destinationPort,
                          length: UInt16(udp.count)).emit(into: udp)
                for (k, x) in payload.enumerated() { udp[UDPHeader.length + k] = x }
                if checksummed {
                    let c = UDPHeader.checksum(source: source, destination: destination, datagram: UnsafeRawBufferPointer(udp))
                    udp.storeBytes(of: c.bigEndian, toByteOffset: UDPHeader.checksumOffset, as: UInt16.self)
                }
            }
            return b
        }

        /// The checksum fields `bytes()` produces.
        var ipChecksum: UInt16 { Self.field(bytes(), IPv4Header.checksumOffset) }
        var udpChecksum: UInt16 { Self.field(bytes(), headerLength + UDPHeader.checksumOffset) }

        static func field(_ b: [UInt8], _ offset: Int) -> UInt16 { UInt16(b[offset]) << 8 | UInt16(b[offset + 1]) }

        var tuple: ConntrackTuple { .udp(source, sourcePort, destination, destinationPort) }

        mutating func setTuple(_ t: ConntrackTuple) {
            (source, sourcePort, destination, destinationPort) = (t.source, t.sourcePort, t.destination, t.destinationPort)
        }

        /// Sets payload bytes 0–1 so that the UDP checksum of this packet, as it is now,
        /// comes out as 0x0000 (sent as 0xFFFF): the word is the checksum of the rest, so
        /// the one's-complement sum becomes 0xFFFF ("negative zero"). Payload ≥ 2 bytes.
        mutating func forceUDPChecksumZero() {
            payload[0] = 0
            payload[1] = 0
            checksummed = true
            let rest = udpChecksum
            payload[0] = UInt8(rest >> 8)
            payload[1] = UInt8(rest & 0xFF)
        }

        /// Sets the IP ID so that the header checksum comes out as 0x0000, the same way.
        mutating func forceIPChecksumZero() {
            identification = 0
            identification = ipChecksum
        }

        var description: String {
            "\(source):\(sourcePort) → \(destination):\(destinationPort) hl \(headerLength) payload \(payload.count)"
                + (checksummed ? "" : " no UDP checksum")
        }

        static func random(_ rng: inout SeededGenerator, maximumPayload: Int = 1472) -> UDPPacket {
            // Mostly short payloads (odd and even), some up to a full MTU.
            let length = rng.next() % 4 == 0 ? Int(rng.next() % UInt64(maximumPayload + 1)) : Int(rng.next() % 64)
            typealias T = NATChecksumTests
            return UDPPacket(source: T.randomAddress(&rng), destination: T.randomAddress(&rng),
                             sourcePort: T.randomPort(&rng), destinationPort: T.randomPort(&rng),
                             identification: UInt16(truncatingIfNeeded: rng.next()),
                             ttl: UInt8(truncatingIfNeeded: rng.next()), tos: UInt8(truncatingIfNeeded: rng.next()),
                             dontFragment: rng.next() & 1 == 0,
                             options: rng.next() % 5 == 0
                                 ? T.randomBytes(4 * Int(1 + rng.next() % 10), &rng) : [],
                             payload: T.randomBytes(length, &rng),
                             checksummed: true)
        }
    }

    static func randomBytes(_ count: Int, _ rng: inout SeededGenerator) -> [UInt8] {
        (0..<count).map { _ in UInt8(truncatingIfNeeded: rng.next()) }
    }

    static func randomAddress(_ rng: inout SeededGenerator) -> IPv4Address {
        IPv4Address(rawValue: UInt32(truncatingIfNeeded: rng.next()))
    }

    /// Any port but 0 (a port is what NAT rewrites; 0 is not a valid UDP source port to map).
    static func randomPort(_ rng: inout SeededGenerator) -> UInt16 {
        UInt16(truncatingIfNeeded: rng.next() % 0xFFFF + 1)
    }

    /// The first differing byte, for failure messages.
    static func firstDifference(_ a: [UInt8], _ b: [UInt8]) -> String {
        guard let i = zip(a, b).enumerated().first(where: { $0.element.0 != $0.element.1 })?.offset else {
            return a.count == b.count ? "identical" : "lengths \(a.count) vs \(b.count)"
        }
        return "byte \(i): 0x\(String(a[i], radix: 16)) vs 0x\(String(b[i], radix: 16))"
    }

    /// Parses `packet` as the datapath would and checks both checksums verify.
    static func expectValid(_ packet: [UInt8], _ expected: UDPPacket, _ context: String) {
        packet.withUnsafeBytes { p in
            do {
                let ip = try IPv4Header(parsing: p)
                #expect(ip.source == expected.source && ip.destination == expected.destination, "\(context)")
                #expect(IPv4Header.isChecksumValid(header: p), "\(context): IPv4 header checksum")
                let datagram = UnsafeRawBufferPointer(rebasing: p[ip.headerLength..<Int(ip.totalLength)])
                let udp = try UDPHeader(parsing: datagram)
                #expect(udp.sourcePort == expected.sourcePort && udp.destinationPort == expected.destinationPort, "\(context)")
                #expect(UDPHeader.isChecksumValid(source: ip.source, destination: ip.destination, datagram: datagram),
                        "\(context): UDP checksum")
                #expect((udp.checksum == 0) == !expected.checksummed, "\(context): UDP checksum 0 iff none was sent")
            } catch {
                Issue.record("\(context): \(error)")
            }
        }
    }

    // MARK: - natRewrite

    /// DNAT (destination) then SNAT (source), as PREROUTING then POSTROUTING apply them, each
    /// with a new address, a new port, both or neither; every eighth packet of a kind is an
    /// edge case: UDP checksum 0x0000 after NAT (must go out as 0xFFFF), UDP checksum 0xFFFF
    /// before NAT, no UDP checksum (must stay 0), IP header checksum 0x0000 after NAT.
    @Test func natRewriteEqualsFullRecomputation() {
        let world = World(seed: 1)
        var rng = SeededGenerator(seed: 1624)
        var cases = (sumZeroAfter: 0, sumFFFFBefore: 0, absent: 0, ipZeroAfter: 0, oddPayload: 0, options: 0)
        for i in 0..<12_000 {
            var before = UDPPacket.random(&rng)
            var after = before
            let change = rng.next()
            if change & 0b0011 != 0 {  // DNAT: 3 in 4
                if change & 0b0001 != 0 { after.destination = Self.randomAddress(&rng) }
                if change & 0b0010 != 0 { after.destinationPort = Self.randomPort(&rng) }
            }
            if change & 0b1100 != 0 {  // SNAT: 3 in 4
                if change & 0b0100 != 0 { after.source = Self.randomAddress(&rng) }
                if change & 0b1000 != 0 { after.sourcePort = Self.randomPort(&rng) }
            }
            switch i % 8 {
            case 0 where after.payload.count >= 2:
                after.forceUDPChecksumZero()
                before.payload = after.payload
                #expect(after.udpChecksum == 0xFFFF)
                cases.sumZeroAfter += 1
            case 1 where before.payload.count >= 2:
                before.forceUDPChecksumZero()
                after.payload = before.payload
                #expect(before.udpChecksum == 0xFFFF)
                cases.sumFFFFBefore += 1
            case 2:
                before.checksummed = false
                after.checksummed = false
                cases.absent += 1
            case 3:
                after.forceIPChecksumZero()
                before.identification = after.identification
                #expect(after.ipChecksum == 0)
                cases.ipZeroAfter += 1
            default:
                break
            }
            if before.payload.count & 1 == 1 { cases.oddPayload += 1 }
            if !before.options.isEmpty { cases.options += 1 }

            var packet = before.bytes()
            packet.withUnsafeMutableBytes { p in
                world.natRewrite(p.baseAddress!, length: p.count, address: after.destination, port: after.destinationPort,
                                 destination: true)
                world.natRewrite(p.baseAddress!, length: p.count, address: after.source, port: after.sourcePort,
                                 destination: false)
            }
            let expected = after.bytes()
            #expect(packet == expected, "packet \(i) \(before) ⇒ \(after): \(Self.firstDifference(packet, expected))")
            Self.expectValid(packet, after, "packet \(i)")
        }
        #expect(cases.sumZeroAfter > 1000 && cases.sumFFFFBefore > 1000 && cases.absent == 1500
                && cases.ipZeroAfter == 1500 && cases.oddPayload > 3000 && cases.options > 1000,
                "edge cases exercised: \(cases)")
    }

    // MARK: - natICMPError

    /// An ICMP error (outer IPv4 + ICMP header + the first `quoteLength` bytes of `quoted`)
    /// built from scratch: every checksum full.
    static func icmpError(source: IPv4Address, destination: IPv4Address, type: ICMPv4Type, code: UInt8,
                          identification: UInt16, quoting quoted: [UInt8], quoteLength: Int) -> [UInt8] {
        let message = ICMPv4Header.length + quoteLength
        var b = [UInt8](repeating: 0, count: IPv4Header.minimumLength + message)
        b.withUnsafeMutableBytes { p in
            IPv4Header(totalLength: UInt16(p.count), identification: identification, ttl: 64, protocol: .icmp,
                       source: source, destination: destination).emit(into: p)
            let icmp = UnsafeMutableRawBufferPointer(rebasing: p[IPv4Header.minimumLength...])
            for k in 0..<quoteLength { icmp[ICMPv4Header.length + k] = quoted[k] }
            ICMPv4Header(type: type, code: code, restOfHeader: code == ICMPv4UnreachableCode.fragmentationNeeded ? 1450 : 0)
                .emit(intoMessage: icmp)
        }
        return b
    }

    /// The outer addresses and the quoted tuple of an ICMP error, as its bytes say.
    static func parseError(_ b: [UInt8]) throws -> (source: IPv4Address, destination: IPv4Address, quote: ConntrackTuple) {
        try b.withUnsafeBytes { p in
            let outer = try IPv4Header(parsing: p)
            let message = UnsafeRawBufferPointer(rebasing: p[outer.headerLength...])
            #expect(ICMPv4Header.isChecksumValid(message: message), "ICMP checksum")
            #expect(IPv4Header.isChecksumValid(header: p), "outer IPv4 header checksum")
            let quoted = UnsafeRawBufferPointer(rebasing: message[ICMPv4Header.length...])
            let inner = try IPv4Header(parsingQuoted: quoted)
            #expect(IPv4Header.isChecksumValid(header: quoted), "quoted IPv4 header checksum")
            let udp = try UDPHeader(parsingQuoted: UnsafeRawBufferPointer(rebasing: quoted[inner.headerLength...]))
            return (outer.source, outer.destination, .udp(inner.source, udp.sourcePort, inner.destination, udp.destinationPort))
        }
    }

    /// A flow C:cp → V:vp with DNAT to E:ep, SNAT to N:np, or both; then ICMP errors about
    /// either direction's (NATed) datagrams, RELATED to it, translated at PREROUTING
    /// (`.destination`) and then at POSTROUTING (`.source`) as the datapath does. After each
    /// step the whole packet must equal a from-scratch build of what its headers now say —
    /// the quoted IPv4 header checksum and the quoted UDP checksum (against the *complete*
    /// quoted datagram, also when the quote is cut short, since NAT updates the checksum of
    /// the whole datagram), the ICMP checksum, the outer header checksum — and at the end
    /// the error must quote the datagram as its receiver sent it:
    ///  - about an original-direction datagram (RELATED, reply direction): the quote is the
    ///    original tuple, the outer destination the client, the outer source the Service
    ///    address when the flow was DNATed (the kernel's "outer looks like the reply");
    ///  - about a reply (RELATED, original direction): the quote is the reply tuple, the
    ///    outer destination the endpoint, the outer source the SNAT address when SNATed.
    /// Edge cases, a tenth of the errors each: no UDP checksum in the quote (stays 0); a quoted
    /// UDP checksum of 0x0000 after translation (sent 0xFFFF); a quoted IPv4 header checksum
    /// of 0x0000 after translation; an outer header checksum of 0x0000 after translation.
    @Test func icmpErrorTranslationEqualsFullRecomputation() throws {
        let world = World(seed: 2)
        let ns = world.addNamespace(name: "node", kind: .node, node: "node")
        try world.enableNetfilter(ns, ruleset: NetfilterRuleset(), conntrackMax: 0)
        let st = try #require(world.namespace(ns).netfilter)
        var rng = SeededGenerator(seed: 792)
        var cases = (truncated: 0, whole: 0, absent: 0, sumZero: 0, quotedIPZero: 0, outerIPZero: 0, dnat: 0, snat: 0, both: 0)
        for i in 0..<4_000 {
            // The flow and its NAT.
            var client = UDPPacket.random(&rng, maximumPayload: 700)
            let original = client.tuple
            var reply = original.inverted
            let kind = rng.next() % 3  // 0: DNAT, 1: SNAT, 2: both
            if kind != 1 { (reply.source, reply.sourcePort) = (Self.randomAddress(&rng), Self.randomPort(&rng)) }
            if kind != 0 { (reply.destination, reply.destinationPort) = (Self.randomAddress(&rng), Self.randomPort(&rng)) }
            switch kind {
            case 0: cases.dnat += 1
            case 1: cases.snat += 1
            default: cases.both += 1
            }
            let id = try #require(st.conntrack.create(original: original, now: .zero))
            st.conntrack.setReply(id, reply)
            #expect(st.conntrack.confirm(id, now: .zero) == .confirmed)

            let aboutReply = i & 1 == 1
            // The datagram the error is about, as it was on the wire where the error was made
            // (after NAT), and what the error must quote once translated.
            let onTheWire = aboutReply ? original.inverted : reply.inverted
            let translated = aboutReply ? reply : original
            client.setTuple(onTheWire)
            let forcedZero = (2...3).contains(i % 10) && client.payload.count >= 2
            if i % 10 < 2 {
                client.checksummed = false
                cases.absent += 1
            } else if forcedZero {
                // The quote's UDP checksum comes out as 0x0000 (sent 0xFFFF) after translation.
                client.setTuple(translated)
                client.forceUDPChecksumZero()
                client.setTuple(onTheWire)
                cases.sumZero += 1
            } else if i % 10 == 4 {
                // The quoted IPv4 header checksum comes out as 0x0000 after translation.
                client.setTuple(translated)
                client.forceIPChecksumZero()
                client.setTuple(onTheWire)
                cases.quotedIPZero += 1
            }
            let datagram = client.bytes()
            // Linux quotes at most 576 bytes in all (548 of the datagram), at least the
            // header and 8 bytes; sometimes less than the whole datagram.
            let minimumQuote = client.headerLength + UDPHeader.length
            let quoteLength = min(548, rng.next() % 3 == 0
                ? minimumQuote + Int(rng.next() % UInt64(datagram.count - minimumQuote + 1))
                : datagram.count)
            if quoteLength < datagram.count { cases.truncated += 1 } else { cases.whole += 1 }
            let router = Self.randomAddress(&rng)
            let (type, code): (ICMPv4Type, UInt8) = [(.destinationUnreachable, 3), (.destinationUnreachable, 4),
                                                     (.timeExceeded, 0)][Int(rng.next() % 3)]
            // Where the error must end up (see above).
            let finalOuter = aboutReply
                ? (source: kind != 0 ? reply.destination : router, destination: reply.source)
                : (source: kind != 1 ? original.destination : router, destination: original.source)
            var outerID = UInt16(truncatingIfNeeded: rng.next())
            if i % 10 == 5 {
                // The outer header checksum comes out as 0x0000 after translation: the IP ID
                // is the checksum of the final header with ID 0.
                let probe = Self.icmpError(source: finalOuter.source, destination: finalOuter.destination, type: type,
                                           code: code, identification: 0, quoting: datagram, quoteLength: quoteLength)
                outerID = UDPPacket.field(probe, IPv4Header.checksumOffset)
                cases.outerIPZero += 1
            }
            var error = Self.icmpError(source: router, destination: onTheWire.source, type: type, code: code,
                                       identification: outerID, quoting: datagram, quoteLength: quoteLength)

            // The error travels against the datagram it quotes.
            let direction: ConntrackDirection = aboutReply ? .original : .reply
            for manip in [NATManip.destination, .source] {
                error.withUnsafeMutableBytes { p in
                    world.natICMPError(st, p.baseAddress!, length: p.count, quote: IPv4Header.minimumLength + ICMPv4Header.length,
                                       entry: id, reply: direction == .reply, manip: manip)
                }
                let now = try Self.parseError(error)
                var quoted = client
                quoted.setTuple(now.quote)
                let rebuilt = Self.icmpError(source: now.source, destination: now.destination, type: type, code: code,
                                             identification: outerID, quoting: quoted.bytes(), quoteLength: quoteLength)
                #expect(error == rebuilt, "error \(i) after \(manip): \(Self.firstDifference(error, rebuilt))")
            }
            let final = try Self.parseError(error)
            #expect(final.quote == translated, "error \(i): quotes \(final.quote)")
            #expect(final.source == finalOuter.source && final.destination == finalOuter.destination,
                    "error \(i): \(final.source) → \(final.destination)")
            let quoteOffset = IPv4Header.minimumLength + ICMPv4Header.length
            if i % 10 == 4 {
                #expect(UDPPacket.field(error, quoteOffset + IPv4Header.checksumOffset) == 0, "error \(i): quoted header")
            } else if i % 10 == 5 {
                #expect(UDPPacket.field(error, IPv4Header.checksumOffset) == 0, "error \(i): outer header")
            }
            let quoteChecksum = UDPPacket.field(error, quoteOffset + client.headerLength + UDPHeader.checksumOffset)
            if !client.checksummed {
                #expect(quoteChecksum == 0, "error \(i): an absent UDP checksum stays absent")
            } else if forcedZero {
                #expect(quoteChecksum == 0xFFFF, "error \(i): a 0x0000 UDP checksum is sent as 0xFFFF")
            }
        }
        #expect(cases.truncated > 500 && cases.whole > 500 && cases.absent == 800 && cases.sumZero > 500
                && cases.quotedIPZero == 400 && cases.outerIPZero == 400
                && min(cases.dnat, cases.snat, cases.both) > 1000, "cases exercised: \(cases)")
    }
}
