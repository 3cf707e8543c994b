import Foundation
import Testing

/// topologies/three-node-host-gw.yaml end to end: flannel's host-gw backend on a LAN switch.
@Suite(.serialized) struct HostGatewayTests {
    nonisolated(unsafe) static var output: String?
    static func run() throws -> String {
        if let d = output { return d }
        let dir = E2E.tempDir("hostgw")
        let r = try E2E.run(E2E.podwire, ["run", "topologies/three-node-host-gw.yaml", "--out", dir])
        #expect(r.status == 0, "\(r.stderr)")
        output = dir
        return dir
    }

    nonisolated(unsafe) static var parsed: [[String: Any]]?
    static func signatures(_ dir: String) throws -> [[String: Any]] {
        if let p = parsed { return p }
        guard let python = E2E.tool("python3") else { return [] }
        let s = try E2E.run(python, [E2E.signaturePy, dir, "--merge", "--no-mac"])
        #expect(s.status == 0)
        let p = E2E.jsonLines(s.stdout).filter { $0["kind"] as? String == "pkt" }
        parsed = p
        return p
    }

    /// Issue 3, "must show" 3: cross-node pod traffic shows no VXLAN, arrives with TTL 62
    /// (one decrement per routing node), and uses the full 1500-byte MTU.
    @Test func crossNodePodTrafficIsPlainRoutedIPv4() throws {
        let dir = try Self.run()
        let recs = try Self.signatures(dir)
        #expect(!recs.isEmpty)
        #expect(!recs.contains { ($0["stack"] as? String ?? "").contains("vxlan") })
        #expect(!recs.contains { (($0["l4"] as? [[String: Any]]) ?? []).contains { $0["dport"] as? Int == 8472 || $0["dport"] as? Int == 4789 } })
        func ttl(_ file: String, _ sigPart: String) -> [Int] {
            recs.filter { ($0["file"] as? String ?? "").hasSuffix(file) && ($0["sig"] as? String ?? "").contains(sigPart) }
                .compactMap { (($0["ip"] as? [[String: Any]])?.first?["ttl"]) as? Int }
        }
        let request = "10.244.0.2>10.244.1.2"
        #expect(Set(ttl("pi-1-client-eth0.pcap", request)) == [64])
        #expect(Set(ttl("pi-1-eth0.pcap", request)) == [63])
        #expect(Set(ttl("lan-lan-pi-2.pcap", request)) == [63])
        #expect(Set(ttl("pi-2-web-0-eth0.pcap", request)) == [62])
        // The echo comes back the same way: 62 at the client.
        #expect(Set(ttl("pi-1-client-eth0.pcap", "10.244.1.2>10.244.0.2")) == [62])
        // A DF datagram of exactly the pod MTU crosses unfragmented: 1514-byte frames at web-1.
        let big = recs.filter { ($0["file"] as? String ?? "").hasSuffix("pi-3-web-1-eth0.pcap") && $0["len"] as? Int == 1514 }
        #expect(big.count == 2)   // the datagram and its echo
        #expect(big.allSatisfy { ($0["sig"] as? String ?? "").contains("df1") })
        let summary = try E2E.json(dir + "/summary.json")
        #expect((summary["conservation"] as? [String: Any])?["holds"] as? Bool == true)
    }

    /// "must show" 2 and 4 for this topology: tshark clean, byte-identical replays.
    @Test func capturesAreCleanAndReplaysAreByteIdentical() throws {
        let dir = try Self.run()
        let files = E2E.pcaps(in: dir)
        #expect(files.count == 26)
        #expect(files.contains("lan-br-lan.pcap") && files.contains("lan-lan-ext.pcap") && files.contains("ext-eth0.pcap"))
        guard let tshark = E2E.tool("tshark") else { return }
        for f in files {
            let t = try E2E.run(tshark, ["-r", dir + "/" + f, "-o", "ip.check_checksum:TRUE", "-o", "udp.check_checksum:TRUE",
                                         "-Y", "_ws.malformed || _ws.expert.severity >= warning", "-T", "fields", "-e", "frame.number"])
            #expect(t.status == 0 && t.stdout.isEmpty, "\(f): \(t.stdout.prefix(300)) \(t.stderr.prefix(300))")
        }
        let again = E2E.tempDir("hostgw-again")
        // Same folder name is not needed for pcaps and index.json: they do not name it.
        let r = try E2E.run(E2E.podwire, ["run", "topologies/three-node-host-gw.yaml", "--out", again])
        #expect(r.status == 0)
        for f in files + ["index.json"] {
            let a = try Data(contentsOf: URL(fileURLWithPath: dir + "/" + f))
            let b = try Data(contentsOf: URL(fileURLWithPath: again + "/" + f))
            #expect(a == b, "\(f) differs between two runs")
        }
    }

    /// The LAN is a shaped 1 Gbit/s cable per port: iperf3's 1442-byte frames take 11.728 µs
    /// of wire time (with 24 bytes of preamble, FCS and gap), so no two leave eth0 closer.
    @Test func lanLinksSerialiseAtTheProfilesLineRate() throws {
        let dir = try Self.run()
        let recs = try Self.signatures(dir).filter { ($0["file"] as? String ?? "").hasSuffix("pi-1-eth0.pcap") && $0["len"] as? Int == 1442 }
        let ts = recs.compactMap { $0["ts"] as? Double }
        #expect(ts.count > 8000)
        let gaps = zip(ts.dropFirst(), ts).map { $0 - $1 }
        #expect((gaps.min() ?? 0) >= 11.7e-6)
    }
}
