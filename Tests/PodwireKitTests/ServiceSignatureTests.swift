import Foundation
import Testing

/// Issue 4, "must show" 1: topologies/two-node-service.yaml against the kernel reference
/// (shared/reference/kernel-ref), case by case and hop by hop.
///
/// The topology starts every step when the reference's did (relative to case a's first
/// datagram), so both runs see the same neighbour-cache history: the same ARP requests,
/// and the same unicast re-probes of stale entries, fall into the same cases.
///
/// Each case is cut into *attempts* (one per datagram the client sends, with everything it
/// causes until the next one: ARP, translated copies, replies, ICMP errors). An attempt's
/// shape is the multiset of its phases — a normalised signature.py signature plus the capture
/// points that saw it — so a shape fixes the interfaces crossed, the translated addresses and
/// ports at each of them, TTLs, DF, lengths and checksum status. Timers that fire in the same
/// instant may order their ARP probes differently, which the multiset ignores.
///
/// Where the kernel chose an endpoint at random (c1, d, h, j: `statistic --mode random`),
/// the sequence of choices differs between the two runs; there every podwire attempt must
/// have a shape the kernel produced in that case, and both runs must reach the same endpoints.
@Suite(.serialized) struct ServiceSignatureTests {
    nonisolated(unsafe) static var output: String?
    nonisolated(unsafe) static var records: (ours: [[String: Any]], kernel: [[String: Any]])?

    static func run() throws -> String {
        if let d = output { return d }
        let dir = E2E.tempDir("svc-sig")
        let r = try E2E.run(E2E.podwire, ["run", "topologies/two-node-service.yaml", "--out", dir])
        #expect(r.status == 0, "\(r.stderr)")
        output = dir
        return dir
    }

    static func signatures() throws -> (ours: [[String: Any]], kernel: [[String: Any]]) {
        if let r = records { return r }
        let dir = try run()
        guard let python = E2E.tool("python3") else { return ([], []) }
        let o = try E2E.run(python, [E2E.signaturePy, dir, "--merge", "--no-mac"])
        let k = try E2E.run(python, [E2E.signaturePy, E2E.kernelPcaps, "--merge", "--no-mac"])
        let r = (E2E.jsonLines(o.stdout).filter { $0["kind"] as? String == "pkt" },
                 E2E.jsonLines(k.stdout).filter { $0["kind"] as? String == "pkt" })
        records = r
        return r
    }

    // MARK: capture points

    /// The kernel's host-side veth names (REFERENCE.md §1).
    static let kernelVeths = ["vethd2a04d71": "client", "veth5755280d": "web-0", "vethba92dbab": "web-1"]

    /// "pi-1__vethd2a04d71.pcap" → "veth(client)", "lan__lan-pi-1.pcap" → "lan:lan-pi-1".
    static func kernelRole(_ file: String) -> String {
        let base = String((file as NSString).lastPathComponent.dropLast(5))
        let parts = base.components(separatedBy: "__")
        if let pod = kernelVeths[parts[1]] { return "veth(\(pod))" }
        return parts[0] + ":" + parts[1]
    }

    /// podwire names pcaps <node>-<interface> and <node>-<pod>-<interface>.
    static func ourRoleMap(_ dir: String) throws -> (String) -> String {
        let pods = try E2E.json(dir + "/summary.json")["pods"] as! [[String: Any]]
        var veths: [String: String] = [:]
        for p in pods { veths[p["host_veth"] as! String] = p["name"] as? String }
        let podNames = pods.compactMap { $0["name"] as? String }
        return { file in
            let base = String((file as NSString).lastPathComponent.dropLast(5))
            for (veth, pod) in veths where base.hasSuffix("-" + veth) { return "veth(\(pod))" }
            for machine in ["pi-1", "pi-2", "lan", "ext"] where base.hasPrefix(machine + "-") {
                let rest = String(base.dropFirst(machine.count + 1))
                for pod in podNames where rest.hasPrefix(pod + "-") { return pod + ":" + String(rest.dropFirst(pod.count + 1)) }
                return machine + ":" + rest
            }
            return base
        }
    }

    // MARK: cases and attempts

    struct Case {
        var name: String
        /// The attempt starts with a packet at this capture point whose signature contains `starts`.
        var sender: String
        var starts: String
        /// The kernel chose the endpoint at random.
        var random = false
    }

    static let cases: [Case] = [
        Case(name: "a", sender: "client:eth0", starts: "ip:10.244.0.2>10.244.0.3 "),
        Case(name: "b", sender: "client:eth0", starts: "ip:10.244.0.2>10.244.1.2 "),
        Case(name: "c1", sender: "client:eth0", starts: "ip:10.244.0.2>10.96.0.20 ", random: true),
        Case(name: "c2", sender: "client:eth0", starts: "ip:10.244.0.2>10.96.0.20 "),
        Case(name: "d", sender: "ext:eth0", starts: "ip:192.168.50.100>192.168.50.12 ", random: true),
        Case(name: "e", sender: "client:eth0", starts: "icmp 8/0"),
        Case(name: "f0", sender: "client:eth0", starts: "ip:10.244.0.2>10.244.1.2 "),
        Case(name: "f1", sender: "client:eth0", starts: "ip:10.244.0.2>10.244.1.2 "),
        Case(name: "f3", sender: "ext:eth0", starts: "ip:192.168.50.100>192.168.50.12 "),
        Case(name: "g", sender: "client:eth0", starts: "ip:10.244.0.2>192.168.50.100 "),
        Case(name: "h", sender: "web-0:eth0", starts: "ip:10.244.0.3>10.96.0.20 ", random: true),
        Case(name: "i1", sender: "client:eth0", starts: "ip:10.244.0.2>10.96.0.21 "),
        Case(name: "j", sender: "client:eth0", starts: "ip:10.244.0.2>10.96.0.20 ", random: true),
    ]

    struct Phase: Hashable, Comparable, CustomStringConvertible {
        var sig: String
        var roles: [String]
        static func < (a: Phase, b: Phase) -> Bool { (a.sig, a.roles.joined(separator: ",")) < (b.sig, b.roles.joined(separator: ",")) }
        var description: String { "\(sig)\n      at \(roles.joined(separator: ", "))" }
    }

    /// One attempt: its phases, sorted.
    typealias Shape = [Phase]

    /// The case windows: [start, next case's start) from out/cases.tsv (a little earlier, as
    /// VXLANTests does), kernel epoch.
    static func kernelWindows() throws -> [String: (Double, Double)] {
        let rows = try String(contentsOfFile: E2E.kernelCases, encoding: .utf8).split(separator: "\n").dropFirst()
            .map { $0.split(separator: "\t").map(String.init) }
        var w: [String: (Double, Double)] = [:]
        for (i, r) in rows.enumerated() {
            let end = i + 1 < rows.count ? Double(rows[i + 1][1])! : .infinity
            w[r[0]] = (Double(r[1])! - 0.02, end - 0.01)
        }
        return w
    }

    static func attempts(_ records: [[String: Any]], in window: (Double, Double), offset: Double, role: (String) -> String,
                         _ c: Case) -> [Shape] {
        let inWindow = records.filter { r in (r["ts"] as? Double).map { $0 - offset >= window.0 && $0 - offset < window.1 } ?? false }
            .sorted { ($0["ts"] as! Double) < ($1["ts"] as! Double) }
        var groups: [[[String: Any]]] = [[]]
        var started = false
        for r in inWindow {
            let sig = r["sig"] as? String ?? ""
            if role(r["file"] as? String ?? "") == c.sender && sig.contains(c.starts) {
                if started { groups.append([]) }
                started = true
            }
            groups[groups.count - 1].append(r)
        }
        return groups.map { group in
            var order: [String] = []
            var byKey: [String: Phase] = [:]
            for r in group {
                var sig = (r["sig"] as? String ?? "").replacingOccurrences(of: "cs=partial", with: "cs=ok")
                sig = sig.replacingOccurrences(of: "cs=lco", with: "cs=ok")
                let payload = (r["payload"] as? [String: Any])?["sha1"] as? String ?? ""
                let key = sig.contains("arp") ? sig : sig + "#" + payload
                if byKey[key] == nil {
                    order.append(key)
                    byKey[key] = Phase(sig: sig, roles: [])
                }
                byKey[key]!.roles.append(role(r["file"] as? String ?? ""))
            }
            return order.map { var p = byKey[$0]!; p.roles.sort(); return p }.sorted()
        }
    }

    /// The endpoint addresses an attempt's translated packets reached.
    static func endpoints(_ shapes: [Shape]) -> Set<String> {
        var s = Set<String>()
        for shape in shapes {
            for p in shape where p.sig.contains(">10.244.0.3 ") || p.sig.contains(">10.244.1.2 ") {
                if p.sig.contains("udp E>8080") { s.insert(p.sig.contains(">10.244.0.3 ") ? "web-0" : "web-1") }
            }
        }
        return s
    }

    static func describe(_ s: Shape) -> String { s.map { "    \($0)" }.joined(separator: "\n") }

    /// Compares one case; returns the number of attempts podwire made.
    @discardableResult
    static func compare(_ c: Case) throws -> Int {
        let (ours, kernel) = try signatures()
        let windows = try kernelWindows()
        guard let w = windows[c.name] else { Issue.record("case \(c.name) is not in cases.tsv"); return 0 }
        // Both timelines start at case a's first datagram on the client's eth0.
        func firstSend(_ records: [[String: Any]], role: (String) -> String) -> Double {
            records.filter { role($0["file"] as? String ?? "") == "client:eth0" && ($0["sig"] as? String ?? "").contains("ip:10.244.0.2>10.244.0.3 ") }
                .compactMap { $0["ts"] as? Double }.min() ?? .nan
        }
        let ourRole = try ourRoleMap(try run())
        let kernelZero = firstSend(kernel, role: kernelRole), ourZero = firstSend(ours, role: ourRole)
        let k = attempts(kernel, in: w, offset: 0, role: kernelRole, c)
        let o = attempts(ours, in: (w.0 - kernelZero, w.1 - kernelZero), offset: ourZero, role: ourRole, c)
        #expect(k.count >= 1 && k.allSatisfy { !$0.isEmpty }, "case \(c.name): no kernel attempts")
        #expect(o.count == k.count, "case \(c.name): kernel made \(k.count) attempts, podwire \(o.count)")
        if c.random {
            let kernelShapes = Set(k)
            for (i, shape) in o.enumerated() where !kernelShapes.contains(shape) {
                let known = kernelShapes.map(describe).joined(separator: "\n  --\n")
                Issue.record("case \(c.name), attempt \(i + 1): no kernel attempt has this shape\n\(describe(shape))\n  kernel's shapes:\n\(known)")
            }
            #expect(endpoints(o) == endpoints(k), "case \(c.name): endpoints reached: kernel \(endpoints(k)), podwire \(endpoints(o))")
        } else {
            for (i, (ks, os)) in zip(k, o).enumerated() where ks != os {
                let onlyKernel = ks.filter { !os.contains($0) }, onlyOurs = os.filter { !ks.contains($0) }
                Issue.record("case \(c.name), attempt \(i + 1) differs\n  only in the kernel's:\n\(describe(onlyKernel))\n  only in podwire's:\n\(describe(onlyOurs))")
            }
        }
        return o.count
    }

    static func named(_ n: String) -> Case { cases.first { $0.name == n }! }

    /// (a), (b): the warm-up cases resolve the same neighbours as the kernel's.
    @Test func casesAAndBWarmTheSameNeighbourEntries() throws {
        #expect(try Self.compare(Self.named("a")) == 3)
        #expect(try Self.compare(Self.named("b")) == 3)
    }

    /// (c1) same-node and cross-node ClusterIP: 10.96.0.20:80 is DNATed on pi-1 (bridged DNAT
    /// for web-0, TTL 64, not seen on cni0 once the neighbour is known; routed for web-1,
    /// TTL 63 on flannel.1, 62 at web-1) and replies come from 10.96.0.20:80. (c2) one socket:
    /// one entry, one endpoint, three identical attempts.
    @Test func caseCClusterIPSameAndCrossNode() throws {
        #expect(try Self.compare(Self.named("c1")) == 6)
        #expect(try Self.compare(Self.named("c2")) == 3)
    }

    /// (d) NodePort from the external host: DNAT to either pod and SNAT to pi-2's flannel.1
    /// (10.244.1.0, for web-0) or cni0 (10.244.1.1, for web-1) address with a random source
    /// port; replies translated back to 192.168.50.12:30080.
    @Test func caseDNodePortFromTheExternalHost() throws {
        #expect(try Self.compare(Self.named("d")) == 7)
    }

    /// (e), (f0), (f1): the pod-IP cases between d and f3, with the neighbour re-probes that
    /// fall into them (f1 sends nothing itself: the probes are the whole attempt).
    @Test func casesEF0F1MatchIncludingNeighbourProbes() throws {
        #expect(try Self.compare(Self.named("e")) == 3)
        #expect(try Self.compare(Self.named("f0")) == 1)
        #expect(try Self.compare(Self.named("f1")) == 1)
    }

    /// (f3) ext → NodePort, 1472 bytes with DF: pi-2 DNATs, finds MTU 1450 towards either pod
    /// and answers ICMP 3/4 (mtu 1450, TOS 0xc0) whose quote is translated back to
    /// 192.168.50.12:30080; ext learns the path MTU, so its second send fails with EMSGSIZE
    /// and puts nothing on the wire. The neighbour probes of pi-2 and web-0 fall in this case.
    @Test func caseF3FragmentationNeededThroughTheNodePort() throws {
        #expect(try Self.compare(Self.named("f3")) == 1)
        let flows = try E2E.json(try Self.run() + "/summary.json")["flows"] as! [[String: Any]]
        let f3 = flows.first { ($0["title"] as? String ?? "").contains("1472") }?["result"] as? [String: Any]
        #expect((f3?["send_errors"] as? [String])?.first?.hasPrefix("EMSGSIZE") == true, "\(String(describing: f3))")
    }

    /// (g) egress: FLANNEL-POSTRTG masquerades 10.244.0.2 to 192.168.50.11 (TTL 63 on the
    /// LAN), and the reply is translated back to the pod.
    @Test func caseGEgressMasquerade() throws {
        #expect(try Self.compare(Self.named("g")) == 2)
    }

    /// (h) hairpin: web-0 → 10.96.0.20 landing on web-0 leaves and re-enters web-0's veth from
    /// 10.244.0.1 (cni0, MASQUERADE); landing on web-1 it crosses the overlay unmasqueraded.
    @Test func caseHHairpinThroughTheOwnService() throws {
        #expect(try Self.compare(Self.named("h")) == 6)
    }

    /// (i1) no endpoints: ICMP 3/3 from 10.244.0.1 (pi-1's cni0 address), TOS 0xc0, quoting
    /// 10.244.0.2 → 10.96.0.21:80.
    @Test func caseINoEndpointsIsPortUnreachableFromTheGateway() throws {
        #expect(try Self.compare(Self.named("i1")) == 1)
    }

    /// (j) repeat ClusterIP flows after everything else: same shapes as c1.
    @Test func caseJRepeatClusterIPFlows() throws {
        #expect(try Self.compare(Self.named("j")) == 6)
    }
}
