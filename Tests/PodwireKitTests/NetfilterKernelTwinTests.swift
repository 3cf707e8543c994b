import Capture
import Foundation
import Testing
import Topology
import Wire
@testable import PodwireKit

/// The real kernel and podwire run one node's Services with the same rules and traffic, and
/// every iptables counter, interface counter and interface's packets agree. The kernel's side
/// is `Tests/kernel-twin/single-node-service.sh` (Linux 6.18, iptables 1.8.9 nf_tables,
/// br_netfilter, in network namespaces), fed podwire's own `--dump-rules` for this topology;
/// its outputs are in `Tests/kernel-twin/single-node-service/`.
///
/// It found three faults, all fixed: the empty nat INPUT chain's policy counted nothing
/// (NetfilterPolicyCounterTests); the first datagram to a ClusterIP whose endpoint is on the
/// same bridge and not yet in the node's neighbour table skipped FORWARD and reached the pod
/// with cni0's MAC as its source (Linux sends it from cni0 once ARP resolves, then hands it
/// back to the bridge from the client's port with the client's MAC restored,
/// `br_nf_pre_routing_finish_bridge_slow`, through FORWARD and POSTROUTING); and cni0's byte
/// counters (see `everyInterfaceCounterIsTheKernels`).
@Suite(.serialized) struct NetfilterKernelTwinTests {
    /// The twin's topology, `Tests/kernel-twin/single-node-service/topology.yaml`.
    static let topology = E2E.repo.appendingPathComponent("Tests/kernel-twin/single-node-service/topology.yaml").path

    /// `iptables-save -c` in the kernel twin's node namespace after the same six steps.
    static func kernelSave() throws -> String {
        try String(contentsOfFile: E2E.repo.appendingPathComponent("Tests/kernel-twin/single-node-service/node.iptables-save").path,
                   encoding: .utf8)
    }

    nonisolated(unsafe) static let report: Result<RunReport, Error> = Result {
        try Replay.run(try TopologyFile.parse(yaml: try String(contentsOfFile: topology, encoding: .utf8), fileName: topology),
                       options: RunOptions(outputDirectory: E2E.tempDir("kernel-twin")))
    }

    @Test func everyRuleAndPolicyCounterIsTheKernels() throws {
        let r = try Self.report.get()
        let save = try #require(r.netfilter.first { $0.node == "pi-1" }).iptablesSave
        let ours = save.split(separator: "\n").filter { !$0.hasPrefix("#") }.map(String.init)
        let kernel = try Self.kernelSave().split(separator: "\n").map(String.init)
        #expect(ours.count == kernel.count)
        for (o, k) in zip(ours, kernel) { #expect(o == k) }
        // As in the kernel run, every datagram came back.
        #expect(r.flows.map { $0.text.first ?? "" }.map { $0.prefix(while: { $0 != "," }) } == [
            "3 datagrams of 10 B sent", "1 datagram of 10 B sent", "2 datagrams of 10 B sent",
            "2 datagrams of 10 B sent", "2 datagrams of 10 B sent", "1 datagram of 10 B sent"])
        #expect(r.flows.allSatisfy { f in f.text.first.map { $0.contains("sent, \($0.prefix { $0 != " " }) echoed") } ?? false },
                "\(r.flows.map(\.text))")
    }

    /// `ip -s link` of every interface the twin has (the LAN switch is podwire's own), as
    /// (rx packets, rx bytes, rx dropped, tx packets, tx bytes, tx dropped). podwire counted
    /// cni0 as 7/334 received and 7/344 sent: a bridge counts what it passes up without the
    /// Ethernet header, and not the bridged-DNAT datagram it hands back to forwarding.
    @Test func everyInterfaceCounterIsTheKernels() throws {
        let r = try Self.report.get()
        let host = Dictionary(uniqueKeysWithValues: r.pods.map { ($0.name, $0.hostVeth) })
        // From `ip -s -j link` in each of the twin's namespaces, IPv6 off.
        let kernel: [String: [UInt64]] = [
            "pi-1/eth0": [5, 250, 0, 5, 250, 0], "pi-1/cni0": [7, 236, 0, 6, 292, 0],
            "pi-1/\(host["client"]!)": [10, 500, 0, 12, 584, 0], "pi-1/\(host["web"]!)": [12, 604, 0, 14, 688, 0],
            "client/eth0": [12, 584, 0, 10, 500, 0], "web/eth0": [14, 688, 0, 12, 604, 0], "ext/eth0": [5, 250, 0, 5, 250, 0],
            "pi-1/lo": [0, 0, 0, 0, 0, 0], "client/lo": [0, 0, 0, 0, 0, 0], "web/lo": [0, 0, 0, 0, 0, 0], "ext/lo": [0, 0, 0, 0, 0, 0],
        ]
        let ours = Dictionary(uniqueKeysWithValues: r.interfaces.filter { $0.namespace != "lan" }.map { row in
            let c = row.counters
            return ("\(row.namespace)/\(row.interface)", [c.rxPackets, c.rxBytes, c.rxDropped, c.txPackets, c.txBytes, c.txDropped])
        })
        #expect(ours == kernel)
    }

    /// Each interface the twin has carries the same packets (signature.py signatures, MACs
    /// and times aside) as the kernel's `tcpdump -p` capture of it; podwire's LAN switch has
    /// no counterpart there (the twin joins ext to the node directly).
    @Test func everyInterfaceCarriesTheKernelsPackets() throws {
        let r = try Self.report.get()
        let host = Dictionary(uniqueKeysWithValues: r.pods.map { ($0.hostVeth, $0.name) })
        let ours = try KernelTwin.signatures(r) { ns, iface in
            let name = iface.hasPrefix("veth") ? (host[iface] == "client" ? "vethc" : "vethw") : iface
            return "\(ns == "pi-1" ? "node" : ns)__\(name).pcap"
        }.filter { !$0.key.hasPrefix("lan__") }
        let kernel = try KernelTwin.kernelSignatures(E2E.repo.appendingPathComponent("Tests/kernel-twin/single-node-service").path)
        #expect(kernel.count == 7)
        #expect(Set(ours.keys) == Set(kernel.keys))
        for file in kernel.keys.sorted() {
            let o = ours[file] ?? [:], k = kernel[file] ?? [:]
            let diff = Set(o.keys).union(k.keys).filter { o[$0] != k[$0] }.sorted().map { "kernel \(k[$0] ?? 0) podwire \(o[$0] ?? 0): \($0)" }
            #expect(diff.isEmpty, "\(file):\n\(diff.joined(separator: "\n"))")
        }
    }

    /// The first datagram to the ClusterIP waits for the node to resolve web, leaves cni0
    /// with cni0's MAC, and reaches web with the client's (the kernel reference's case c1
    /// shows the same two frames: REFERENCE.md §5.3, pi-1__cni0 and web-0__eth0).
    @Test func theFirstBridgedDNATDatagramKeepsTheClientsMAC() throws {
        let r = try Self.report.get()
        let dir = try #require(r.captureDirectory)
        func firstDatagram(_ file: String) throws -> (destination: MACAddress, source: MACAddress) {
            let frames = try PcapReader.read(path: dir + "/" + file).packets.map(\.bytes)
            // The first IPv4 frame to web's 8080 (after DNAT).
            let f = try #require(frames.first { $0.count > 37 && $0[12] == 0x08 && $0[13] == 0x00 && $0[36] == 0x1f && $0[37] == 0x90 })
            return (MACAddress(f[0], f[1], f[2], f[3], f[4], f[5]), MACAddress(f[6], f[7], f[8], f[9], f[10], f[11]))
        }
        let cni0 = MACAddress(0x02, 0x44, 0, 0, 0, 0x01), client = MACAddress(0x02, 0x44, 0, 0, 0, 0x02)
        let web = MACAddress(0x02, 0x44, 0, 0, 0, 0x03)
        let onBridge = try firstDatagram("pi-1-cni0.pcap")
        #expect(onBridge.source == cni0 && onBridge.destination == web)
        let atWeb = try firstDatagram("pi-1-web-eth0.pcap")
        #expect(atWeb.source == client && atWeb.destination == web)
    }
}



/// Reading twin captures: each file's packets as signature.py `sig` strings, counted.
enum KernelTwin {
    /// The files of `dir`, by name. The kernel's UDP checksum states `partial` and `lco`
    /// (offload, REFERENCE.md §4.6) count as `ok`, podwire's: the documented difference.
    /// Each signature ends with its Ethernet and ARP addresses as the interfaces that own
    /// them (`roles`, MAC → twin file name without ".pcap"; broadcast, zero and anything
    /// else by name), since the two sides' MACs differ but whose they are must not.
    static func signatures(_ dir: String, roles: [String: String]) throws -> [String: [String: Int]] {
        let python = try #require(E2E.tool("python3"), "signature.py needs python3")
        let s = try E2E.run(python, [E2E.signaturePy, dir])
        #expect(s.status == 0, "\(s.stderr)")
        func role(_ mac: Any?) -> String {
            let m = (mac as? String) ?? "-"
            if m == "ff:ff:ff:ff:ff:ff" { return "broadcast" }
            if m == "00:00:00:00:00:00" { return "zero" }
            return roles[m] ?? "unknown"
        }
        var files: [String: [String: Int]] = [:]
        for p in E2E.jsonLines(s.stdout) where p["kind"] as? String == "pkt" {
            var sig = (p["sig"] as! String).replacingOccurrences(of: "cs=partial", with: "cs=ok")
                .replacingOccurrences(of: "cs=lco", with: "cs=ok")
            let eth = (p["eth"] as? [[String: Any]] ?? []).map { "\(role($0["src"]))>\(role($0["dst"]))" }
            sig += " | eth " + eth.joined(separator: ", ")
            if let arp = p["arp"] as? [String: Any] { sig += " | arp \(role(arp["sha"]))>\(role(arp["tha"]))" }
            files[p["file"] as! String, default: [:]][sig, default: 0] += 1
        }
        return files
    }

    /// The kernel twin's captures in `dir`/pcaps, its MACs read from `dir`/ip-s-link.jsonl
    /// (`## NS` then `ip -s -j link` of that namespace).
    static func kernelSignatures(_ dir: String) throws -> [String: [String: Int]] {
        var roles: [String: String] = [:]
        var namespace = ""
        for line in try String(contentsOfFile: dir + "/ip-s-link.jsonl", encoding: .utf8).split(separator: "\n") {
            if line.hasPrefix("## ") { namespace = String(line.dropFirst(3)); continue }
            for link in try #require(try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [[String: Any]]) {
                if let mac = link["address"] as? String, mac != "00:00:00:00:00:00" {
                    roles[mac] = "\(namespace)__\(link["ifname"] as! String)"
                }
            }
        }
        return try signatures(dir + "/pcaps", roles: roles)
    }

    /// A run's captures under the twin's file names, `twinName(namespace, interface)`
    /// (read from the run's index.json).
    static func signatures(_ r: RunReport, twinName: (String, String) -> String) throws -> [String: [String: Int]] {
        let dir = try #require(r.captureDirectory)
        let index = try #require(try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: dir + "/index.json")))
                                 as? [String: Any])
        var name: [String: String] = [:]
        var roles: [String: String] = [:]
        for f in try #require(index["files"] as? [[String: Any]]) {
            let twin = twinName(f["namespace"] as! String, f["interface"] as! String)
            name[f["file"] as! String] = twin
            if let mac = f["mac"] as? String, mac != "00:00:00:00:00:00" { roles[mac] = String(twin.dropLast(".pcap".count)) }
        }
        var out: [String: [String: Int]] = [:]
        for (file, sigs) in try signatures(dir, roles: roles) { out[try #require(name[file])] = sigs }
        return out
    }
}

/// The cluster twins, each a topology, the script that made the kernel's side and that
/// script's outputs (`Tests/kernel-twin/<name>/`), from Linux 6.18 running each node's rules
/// as podwire dumped them:
/// - `two-node-vxlan-service`: flannel VXLAN between pi-1 and pi-2 on a LAN bridge, a
///   NodePort Service whose only endpoint is web-1 on pi-2, reached through its ClusterIP
///   from pi-1 (DNAT, then VXLAN) and through both nodes' node ports from ext (DNAT and SNAT;
///   pi-1's answer crosses VXLAN), plus pod to pod, egress masquerade, ping, nodes to a
///   remote and a local pod, and a pod to a remote node's own socket;
/// - `two-node-host-gw-service`: flannel host-gw, the ClusterIP and pi-1's node port again,
///   and a Service port whose target port nothing listens on, so the port unreachables come
///   back RELATED through the DNAT;
/// - `two-node-service-features`: host-gw with sessionAffinity ClientIP (`-m recent`), a
///   NodePort with externalTrafficPolicy Local from both nodes (dropped where there is no
///   endpoint, not masqueraded where there is) and a Service without endpoints (REJECT);
/// - `three-node-host-gw`: topologies/three-node-host-gw.yaml without its iperf3 step (real
///   iperf3 adds a TCP control connection): pod to pod across nodes, ping, a full-size
///   datagram, and the LAN host pinging a node;
/// - `two-node-vxlan-stale`: a ClusterIP and a NodePort datagram, then the same 50 s later,
///   when every neighbour entry is STALE: the ARP probes of DELAY and PROBE, at +5 s and
///   +55 s, on every interface, as Linux sends them;
/// - `single-node-fragments`: one host-gw node with both pods, every datagram 2000 bytes
///   (two fragments each way): through the node port, the ClusterIP (bridged DNAT), pod to
///   pod and out to ext. Conntrack's defrag gathers each datagram, so every hook, rule and
///   conntrack entry counts it once, at its whole length (2028 bytes), and cni0 receives
///   (and captures) the reassembled datagram it passes up, where its ports saw fragments.
/// Every rule and policy counter of every node, every interface counter of every namespace,
/// and each node's conntrack table (ports and timers aside) are the kernel's.
@Suite(.serialized) struct ClusterKernelTwinTests {
    struct Case: Sendable, CustomStringConvertible {
        var name: String
        var nodes: [String]
        /// Each pod's namespace and host veth as the twin's script names them.
        var pods: [String: TwinPod]
        /// Entries in each node's conntrack table at the end.
        var entries: [String: Int]
        /// Interfaces in all the twin's namespaces, and those whose capture holds packets.
        var interfaces: Int
        var captured: Int
        var description: String { name }
        /// `Tests/kernel-twin/NAME/topology.yaml`.
        var topology: String { E2E.repo.appendingPathComponent("Tests/kernel-twin/\(name)/topology.yaml").path }
    }

    struct TwinPod: Sendable {
        var namespace: String
        var veth: String
    }

    static let twoNodePods = ["client": TwinPod(namespace: "client", veth: "vethc"), "web-1": TwinPod(namespace: "web1", veth: "vethw")]

    static let cases = [
        Case(name: "two-node-vxlan-service", nodes: ["pi-1", "pi-2"], pods: twoNodePods, entries: ["pi-1": 17, "pi-2": 18], interfaces: 21, captured: 15),
        Case(name: "two-node-host-gw-service", nodes: ["pi-1", "pi-2"], pods: twoNodePods, entries: ["pi-1": 5, "pi-2": 5], interfaces: 19, captured: 13),
        Case(name: "two-node-service-features", nodes: ["pi-1", "pi-2"], pods: twoNodePods, entries: ["pi-1": 2, "pi-2": 3], interfaces: 19, captured: 13),
        Case(name: "three-node-host-gw", nodes: ["pi-1", "pi-2", "pi-3"],
             pods: ["client": TwinPod(namespace: "client", veth: "vethc"), "web-0": TwinPod(namespace: "web0", veth: "vethw0"),
                    "web-1": TwinPod(namespace: "web1", veth: "vethw1")],
             entries: ["pi-1": 3, "pi-2": 2, "pi-3": 2], interfaces: 26, captured: 18),
        Case(name: "two-node-vxlan-stale", nodes: ["pi-1", "pi-2"], pods: twoNodePods, entries: ["pi-1": 6, "pi-2": 6],
             interfaces: 21, captured: 15),
        Case(name: "single-node-fragments", nodes: ["pi-1"],
             pods: ["client": TwinPod(namespace: "client", veth: "vethc"), "web": TwinPod(namespace: "web", veth: "vethw")],
             entries: ["pi-1": 4], interfaces: 15, captured: 10),
    ]

    /// The twin's (namespace, interface) for podwire's: pods and their host veths renamed.
    static func twinName(_ c: Case, _ r: RunReport) -> (String, String) -> (namespace: String, interface: String) {
        let podOfVeth = Dictionary(uniqueKeysWithValues: r.pods.map { ($0.hostVeth, $0.name) })
        return { namespace, interface in
            let ns = c.pods[namespace]?.namespace ?? namespace
            if interface.hasPrefix("veth"), let pod = podOfVeth[interface], let twin = c.pods[pod] { return (ns, twin.veth) }
            return (ns, interface)
        }
    }

    nonisolated(unsafe) static var reports: [String: RunReport] = [:]

    static func report(_ c: Case) throws -> RunReport {
        if let r = reports[c.name] { return r }
        let r = try Replay.run(try TopologyFile.parse(yaml: try String(contentsOfFile: c.topology, encoding: .utf8), fileName: c.topology),
                               options: RunOptions(outputDirectory: E2E.tempDir("twin-" + c.name)))
        reports[c.name] = r
        return r
    }

    static func kernelFile(_ c: Case, _ name: String) throws -> String {
        try String(contentsOfFile: E2E.repo.appendingPathComponent("Tests/kernel-twin/\(c.name)/\(name)").path, encoding: .utf8)
    }

    @Test(arguments: cases) func everyRuleAndPolicyCounterOfEveryNodeIsTheKernels(_ c: Case) throws {
        let r = try Self.report(c)
        for node in c.nodes {
            let save = try #require(r.netfilter.first { $0.node == node }).iptablesSave
            let ours = save.split(separator: "\n").filter { !$0.hasPrefix("#") }
            let kernel = try Self.kernelFile(c, "\(node).iptables-save").split(separator: "\n")
            #expect(ours.count == kernel.count, "\(node)")
            for (o, k) in zip(ours, kernel) { #expect(o == k, "\(node)") }
        }
    }

    @Test(arguments: cases) func everyInterfaceCounterIsTheKernels(_ c: Case) throws {
        let r = try Self.report(c)
        var kernel: [String: [UInt64]] = [:]
        var namespace = ""
        for line in try Self.kernelFile(c, "ip-s-link.jsonl").split(separator: "\n") {
            if line.hasPrefix("## ") { namespace = String(line.dropFirst(3)); continue }
            let links = try #require(try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [[String: Any]])
            for link in links {
                let stats = try #require(link["stats64"] as? [String: [String: Any]])
                func n(_ dir: String, _ key: String) -> UInt64 { (stats[dir]?[key] as? NSNumber)?.uint64Value ?? .max }
                let name = link["ifname"] as! String
                kernel["\(namespace)/\(name)"] =
                    [n("rx", "packets"), n("rx", "bytes"), n("rx", "dropped"), n("tx", "packets"), n("tx", "bytes"), n("tx", "dropped")]
            }
        }
        #expect(kernel.count == c.interfaces)
        let twin = Self.twinName(c, r)
        let ours = Dictionary(uniqueKeysWithValues: r.interfaces.map { row in
            let counters = row.counters, name = twin(row.namespace, row.interface)
            return ("\(name.namespace)/\(name.interface)", [counters.rxPackets, counters.rxBytes, counters.rxDropped,
                                                          counters.txPackets, counters.txBytes, counters.txDropped])
        })
        #expect(ours == kernel)
    }

    /// Every interface's packets as signature.py's normalised signatures (MACs, IP IDs, times
    /// and ephemeral ports left out): per interface, the same multiset as the twin's
    /// `tcpdump -p` capture of it (`pcaps/NS__IFACE.pcap`). One normalisation, the documented
    /// difference: the kernel's UDP checksum states `partial` and `lco` (offload, REFERENCE.md
    /// §4.6) count as podwire's `ok`.
    @Test(arguments: cases) func everyInterfaceCarriesTheKernelsPackets(_ c: Case) throws {
        let r = try Self.report(c)
        let twin = Self.twinName(c, r)
        let ours = try KernelTwin.signatures(r) { ns, iface in
            let name = twin(ns, iface)
            return "\(name.namespace)__\(name.interface).pcap"
        }
        let kernel = try KernelTwin.kernelSignatures(E2E.repo.appendingPathComponent("Tests/kernel-twin/\(c.name)").path)
        #expect(kernel.count == c.captured)
        #expect(Set(ours.keys) == Set(kernel.keys))
        for file in kernel.keys.sorted() {
            let o = ours[file] ?? [:], k = kernel[file] ?? [:]
            let diff = Set(o.keys).union(k.keys).filter { o[$0] != k[$0] }.sorted().map { "kernel \(k[$0] ?? 0) podwire \(o[$0] ?? 0): \($0)" }
            #expect(diff.isEmpty, "\(file):\n\(diff.joined(separator: "\n"))")
        }
    }

    /// `conntrack -L` with ephemeral and SNAT ports, ICMP ids and timers left out (the
    /// kernel's are random, or timed on its own clock), sorted.
    @Test(arguments: cases) func eachNodesConntrackTableIsTheKernels(_ c: Case) throws {
        let r = try Self.report(c)
        func shape(_ lines: [Substring]) -> [String] {
            lines.filter { $0.hasPrefix("udp") || $0.hasPrefix("icmp") }.map { line in
                var words = line.split(separator: " ", omittingEmptySubsequences: true).map(String.init)
                words[2] = "T"
                return words.map { w in
                    for key in ["sport=", "dport=", "id="] where w.hasPrefix(key) {
                        // The scenario's server ports and VXLAN's stay.
                        if key == "dport=", ["80", "81", "8080", "8472", "9000", "9999", "30080", "30090"].contains(w.dropFirst(key.count)) { return w }
                        return key + "*"
                    }
                    return w
                }.joined(separator: " ")
            }.sorted()
        }
        for node in c.nodes {
            let ours = try #require(r.netfilter.first { $0.node == node }).conntrack.map { Substring($0) }
            let kernel = try Self.kernelFile(c, "\(node).conntrack").split(separator: "\n")
            #expect(shape(ours) == shape(kernel), "\(node)")
            #expect(shape(ours).count == c.entries[node], "\(node)")
        }
    }
}
