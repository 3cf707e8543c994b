/// BPF filters compiled and run by libpcap, tcpdump syntax, and libpcap's own errors.
import Capture
import Testing

@Suite struct BPFFilterTests {
    @Test func udpPortKeepsTheUDPFrameAndDropsARP() throws {
        let filter = try BPFFilter(expression: "udp port 8080", snaplen: 262_144)
        #expect(Frames.udp(destinationPort: 8080).withUnsafeBytes { filter.matches($0) })
        #expect(Frames.udp(sourcePort: 8080, destinationPort: 9).withUnsafeBytes { filter.matches($0) })
        #expect(!Frames.udp(destinationPort: 53).withUnsafeBytes { filter.matches($0) })
        #expect(!Frames.arpRequest().withUnsafeBytes { filter.matches($0) })
    }

    @Test(arguments: [
        ("arp", false, true),
        ("ip host 10.244.1.2", true, false),
        ("src net 10.244.0.0/24 and dst port 8080", true, false),
        ("ether broadcast", false, true),
        ("not ip", false, true),
        ("", true, true),
    ])
    func tcpdumpSyntax(expression: String, keepsUDP: Bool, keepsARP: Bool) throws {
        let filter = try BPFFilter(expression: expression, snaplen: 262_144)
        #expect(Frames.udp().withUnsafeBytes { filter.matches($0) } == keepsUDP)
        #expect(Frames.arpRequest().withUnsafeBytes { filter.matches($0) } == keepsARP)
    }

    @Test func badExpressionCarriesLibpcapsMessage() {
        do {
            _ = try BPFFilter(expression: "udp prot 8080", snaplen: 262_144)
            Issue.record("expected badFilter")
        } catch {
            guard case let .badFilter(expression, message) = error else { Issue.record("\(error)"); return }
            #expect(expression == "udp prot 8080")
            #expect(message.contains("syntax error"), "libpcap's text, got: \(message)")
            #expect(error.description.contains("tcpdump -d 'udp prot 8080'"))
            #expect(error.description.contains(message))
        }
        do {
            _ = try BPFFilter(expression: "port 99999", snaplen: 262_144)
            Issue.record("expected badFilter")
        } catch {
            guard case let .badFilter(_, message) = error else { Issue.record("\(error)"); return }
            #expect(message.contains("99999"), "libpcap's text, got: \(message)")
        }
    }

    @Test func seesTruncatedFramesAsALiveCaptureWould() throws {
        // With a 20-byte snaplen the IPv4 addresses are beyond the captured bytes.
        let filter = try BPFFilter(expression: "ip dst host 10.244.1.2", snaplen: 20)
        #expect(!Frames.udp().withUnsafeBytes { filter.matches($0) })
        let full = try BPFFilter(expression: "ip dst host 10.244.1.2", snaplen: 262_144)
        #expect(Frames.udp().withUnsafeBytes { full.matches($0) })
    }
}
