/// Whole-frame tests across the Wire parsers: every real frame parses layer by layer, and
/// every prefix of it and random garbage throw a `WireError` instead of trapping.
import Engine
import Testing
import Wire

/// What a frame parsed into, layer by layer.
enum ParsedFrame: Equatable {
    case arp(EthernetHeader, ARPPacket)
    case udp(EthernetHeader, IPv4Header, UDPHeader)
    case icmp(EthernetHeader, IPv4Header, ICMPv4Header)
    case fragment(EthernetHeader, IPv4Header)
    case otherIP(EthernetHeader, IPv4Header)
    case other(EthernetHeader)
}

/// Parses a whole frame the way a receive path would, strictly: the IPv4 packet must be
/// whole, the transport header within it, checksums are not checked.
func parseFrame(_ p: UnsafeRawBufferPointer) throws(WireError) -> ParsedFrame {
    let eth = try EthernetHeader(parsing: p)
    let l3 = UnsafeRawBufferPointer(rebasing: p[EthernetHeader.length...])
    switch eth.etherType {
    case .arp:
        return .arp(eth, try ARPPacket(parsing: l3))
    case .ipv4:
        let ip = try IPv4Header(parsing: l3)
        let l4 = UnsafeRawBufferPointer(rebasing: l3[ip.headerLength..<Int(ip.totalLength)])
        if ip.isFragment { return .fragment(eth, ip) }
        switch ip.protocol {
        case .udp: return .udp(eth, ip, try UDPHeader(parsing: l4))
        case .icmp: return .icmp(eth, ip, try ICMPv4Header(parsing: l4))
        default: return .otherIP(eth, ip)
        }
    default:
        return .other(eth)
    }
}

@Suite struct StackTests {
    @Test func everyFixtureParsesToItsLayers() throws {
        let kinds = try Fixtures.all.map { (name, frame) -> String in
            switch try parsing(frame, parseFrame).get() {
            case .arp: "arp"
            case .udp: "udp"
            case .icmp: "icmp"
            case .fragment: "fragment"
            case .otherIP, .other: "other"
            }
        }
        #expect(kinds == ["arp", "arp", "udp", "icmp", "icmp", "fragment", "fragment", "icmp", "icmp", "udp"])
    }

    @Test(arguments: Fixtures.all.map(\.name))
    func everyPrefixOfEveryFixtureThrows(name: String) {
        let frame = Fixtures.all.first { $0.name == name }!.frame
        for n in 0..<frame.count {
            // Each prefix goes in its own exactly-sized allocation, so reading past it would
            // be caught by the address sanitizer (`swift test --sanitize=address`).
            let r = parsing(frame.slice(0..<n), parseFrame)
            #expect(r.failure != nil, "\(name): prefix \(n) parsed")
        }
        #expect(parsing(frame, parseFrame).value != nil)
    }

    @Test func randomGarbageNeverTraps() {
        var rng = SeededGenerator(seed: 0x6172_6261_6765)
        var outcomes: [String: Int] = [:]
        for i in 0..<50_000 {
            var b = [UInt8].random(count: Int.random(in: 0...120, using: &rng), using: &rng)
            // Half of the inputs start like IPv4 or ARP so the deeper checks run too.
            if i % 2 == 0, b.count >= 15 {
                switch Int.random(in: 0..<3, using: &rng) {
                case 0:
                    b[12] = 0x08; b[13] = 0x00; b[14] = 0x40 | (b[14] & 0x0F)
                case 1 where b.count >= 34:
                    // A plausible IPv4 header: IHL 5, total length = what is there, not a
                    // fragment, UDP or ICMP; the transport bytes stay random.
                    b[12] = 0x08; b[13] = 0x00; b[14] = 0x45
                    b.setU16(UInt16(b.count - 14), at: 16)
                    b[20] = 0; b[21] = 0
                    b[23] = Bool.random(using: &rng) ? 17 : 1
                default:
                    b[12] = 0x08; b[13] = 0x06
                }
            }
            let key: String
            switch parsing(b, parseFrame) {
            case .success: key = "ok"
            case .failure(let e): key = "\(e)".prefix { $0 != "(" }.description
            }
            outcomes[key, default: 0] += 1
        }
        // Garbage reaches every error case that random bytes can produce.
        for k in ["ok", "truncated", "badHeaderLength", "badTotalLength", "badLength", "unsupported"] {
            #expect(outcomes[k, default: 0] > 0, "\(k): \(outcomes)")
        }
    }

    @Test func randomMutationsOfRealFramesNeverTrap() {
        var rng = SeededGenerator(seed: 99)
        for _ in 0..<20_000 {
            var f = Fixtures.all.randomElement(using: &rng)!.frame
            for _ in 0..<Int.random(in: 1...4, using: &rng) {
                f[Int.random(in: 0..<min(f.count, 64), using: &rng)] = UInt8.random(in: 0...255, using: &rng)
            }
            if Bool.random(using: &rng) { f.removeLast(Int.random(in: 0...f.count, using: &rng)) }
            _ = parsing(f, parseFrame)
        }
    }
}
