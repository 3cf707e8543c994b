import Foundation
import Testing
import Topology
@testable import PodwireKit

/// topologies/two-node-vxlan.yaml against the kernel reference (shared/reference/kernel-ref):
/// the same datapath, built with flannel's VXLAN backend, compared hop by hop.
@Suite(.serialized) struct VXLANTests {
    nonisolated(unsafe) static var output: String?
    nonisolated(unsafe) static var summaryText = ""
    nonisolated(unsafe) static var ours: [[String: Any]]?
    nonisolated(unsafe) static var kernel: [[String: Any]]?

    static func run() throws -> String {
        if let d = output { return d }
        let dir = E2E.tempDir("vxlan")
        let r = try E2E.run(E2E.podwire, ["run", "topologies/two-node-vxlan.yaml", "--out", dir])
        #expect(r.status == 0, "\(r.stderr)")
        summaryText = r.stdout
        output = dir
        return dir
    }

    static func signatures() throws -> (ours: [[String: Any]], kernel: [[String: Any]]) {
        if let o = ours, let k = kernel { return (o, k) }
        let dir = try run()
        guard let python = E2E.tool("python3") else { return ([], []) }
        let o = try E2E.run(python, [E2E.signaturePy, dir, "--merge", "--no-mac"])
        let k = try E2E.run(python, [E2E.signaturePy, E2E.kernelPcaps, "--merge", "--no-mac"])
        ours = E2E.jsonLines(o.stdout).filter { $0["kind"] as? String == "pkt" }
        kernel = E2E.jsonLines(k.stdout).filter { $0["kind"] as? String == "pkt" }
        return (ours!, kernel!)
    }

    /// Capture points of both datapaths, by role.
    static let kernelRoles = [
        "client__eth0.pcap": "client:eth0", "pi-1__vethd2a04d71.pcap": "veth(client)", "pi-1__cni0.pcap": "pi-1:cni0",
        "pi-1__flannel.1.pcap": "pi-1:flannel.1", "pi-1__eth0.pcap": "pi-1:eth0", "lan__lan-pi-1.pcap": "lan:pi-1",
        "lan__lan-pi-2.pcap": "lan:pi-2", "lan__lan-ext.pcap": "lan:ext", "lan__br-lan.pcap": "lan:br-lan",
        "ext__eth0.pcap": "ext:eth0", "pi-2__eth0.pcap": "pi-2:eth0", "pi-2__flannel.1.pcap": "pi-2:flannel.1",
        "pi-2__cni0.pcap": "pi-2:cni0", "pi-2__vethba92dbab.pcap": "veth(web-1)", "web-1__eth0.pcap": "web-1:eth0",
    ]

    static func ourRoles(_ dir: String) throws -> [String: String] {
        let pods = try E2E.json(dir + "/summary.json")["pods"] as! [[String: Any]]
        func veth(_ pod: String, _ node: String) -> String {
            "\(node)-" + (pods.first { $0["name"] as? String == pod }!["host_veth"] as! String) + ".pcap"
        }
        return [
            "pi-1-client-eth0.pcap": "client:eth0", veth("client", "pi-1"): "veth(client)", "pi-1-cni0.pcap": "pi-1:cni0",
            "pi-1-flannel.1.pcap": "pi-1:flannel.1", "pi-1-eth0.pcap": "pi-1:eth0", "lan-lan-pi-1.pcap": "lan:pi-1",
            "lan-lan-pi-2.pcap": "lan:pi-2", "lan-lan-ext.pcap": "lan:ext", "lan-br-lan.pcap": "lan:br-lan",
            "ext-eth0.pcap": "ext:eth0", "pi-2-eth0.pcap": "pi-2:eth0", "pi-2-flannel.1.pcap": "pi-2:flannel.1",
            "pi-2-cni0.pcap": "pi-2:cni0", veth("web-1", "pi-2"): "veth(web-1)", "pi-2-web-1-eth0.pcap": "web-1:eth0",
        ]
    }

    static func kernelWindow(_ k: [[String: Any]], from: String, to: String) throws -> [[String: Any]] {
        let cases = try String(contentsOfFile: E2E.kernelCases, encoding: .utf8).split(separator: "\n").map { $0.split(separator: "\t") }
        let a = Double(cases.first { $0.first.map(String.init) == from }![1])!
        let b = Double(cases.first { $0.first.map(String.init) == to }![1])!
        return k.filter { ($0["ts"] as? Double).map { $0 >= a - 0.02 && $0 < b - 0.01 } ?? false }
    }

    static func window(_ o: [[String: Any]], _ start: Double, _ end: Double) -> [[String: Any]] {
        let epoch = 1_767_225_600.0
        return o.filter { ($0["ts"] as? Double).map { $0 >= epoch + start && $0 < epoch + end } ?? false }
    }

    static func compare(_ kernel: [E2E.Phase], _ ours: [E2E.Phase]) {
        #expect(ours.count == kernel.count, "phases: kernel \(kernel.count), podwire \(ours.count)")
        for (i, (kp, op)) in zip(kernel, ours).enumerated() {
            #expect(op.sig == kp.sig, "phase \(i): signature differs\n kernel:  \(kp.sig)\n podwire: \(op.sig)")
            #expect(op.roles == kp.roles, "phase \(i) (\(kp.sig.prefix(90))): capture points differ\n kernel:  \(kp.roles)\n podwire: \(op.roles)")
        }
    }

    /// Issue 3, "must show" 1 — case (b): client → web-1 across nodes. ARP for the gateway,
    /// pi-1 routes (TTL 63 on flannel.1), ARPs on the LAN once, sends VXLAN (outer TTL 64, DF 0,
    /// UDP → 8472, VNI 1, 156 bytes) through the switch; pi-2 decapsulates (flannel.1 at the same
    /// instant), ARPs on cni0 and delivers with TTL 62; each echo comes back the same way.
    @Test func caseBCrossNodeMatchesTheKernelHopByHop() throws {
        let (o, k) = try Self.signatures()
        let dir = try Self.run()
        let kernelPhases = E2E.phases(try Self.kernelWindow(k, from: "b", to: "c1"), roles: Self.kernelRoles)
        let ourPhases = E2E.phases(Self.window(o, 0.5, 0.7), roles: try Self.ourRoles(dir))
        // Not vacuous: ARP on both sides, and 3 × (request, echo) in all their forms.
        #expect(kernelPhases.count >= 20, "kernel phases: \(kernelPhases.count)")
        #expect(kernelPhases.filter { $0.sig.contains("vxlan") }.count == 6)
        Self.compare(kernelPhases, ourPhases)
        let outer = Self.window(o, 0.5, 0.7).filter { ($0["stack"] as? String ?? "").contains("vxlan") }
        #expect(!outer.isEmpty)
        #expect(outer.allSatisfy { $0["len"] as? Int == 156 })
        #expect(outer.allSatisfy { (($0["vxlan"] as? [String: Any])?["vni"] as? Int) == 1 })
        #expect(outer.allSatisfy { (($0["vxlan"] as? [String: Any])?["outer_sport_ephemeral"] as? Bool) == true })
        // One inner flow, one outer source port per direction.
        let requestPorts = Set(outer.filter { ($0["sig"] as? String ?? "").contains("o:192.168.50.11>") }
            .compactMap { ($0["vxlan"] as? [String: Any])?["outer_sport"] as? Int })
        #expect(requestPorts.count == 1)
    }

    /// Case (e): ping across nodes, 98-byte echoes become 148-byte VXLAN frames; the kernel's
    /// reply has DF clear; the client sees TTL 62.
    @Test func caseEPingAcrossNodesMatchesTheKernel() throws {
        let (o, k) = try Self.signatures()
        let dir = try Self.run()
        let kernelPhases = E2E.phases(try Self.kernelWindow(k, from: "e", to: "f0"), roles: Self.kernelRoles)
            .filter { !$0.sig.contains("arp") }
        let ourPhases = E2E.phases(Self.window(o, 1.0, 1.4), roles: try Self.ourRoles(dir)).filter { !$0.sig.contains("arp") }
        #expect(kernelPhases.filter { $0.sig.contains("vxlan") && $0.sig.contains("icmp") }.count == 6)
        Self.compare(kernelPhases, ourPhases)
    }

    /// Case (f0)/(f1): a DF datagram of exactly the pod MTU (IP 1450) crosses as 1514-byte
    /// underlay frames; one byte more and the sender refuses it, nothing on any interface.
    @Test func podMTUIs1450AndUnderlayFramesAre1514() throws {
        let (o, _) = try Self.signatures()
        let f0 = Self.window(o, 1.5, 1.6)
        #expect(f0.contains { ($0["file"] as? String ?? "").hasSuffix("pi-1-eth0.pcap") && $0["len"] as? Int == 1514 })
        #expect(f0.contains { ($0["file"] as? String ?? "").hasSuffix("pi-1-flannel.1.pcap") && $0["len"] as? Int == 1464 })
        #expect(Self.window(o, 1.6, 1.65).isEmpty)
        let dir = try Self.run()
        let flows = try E2E.json(dir + "/summary.json")["flows"] as! [[String: Any]]
        let f1 = (flows[4]["result"] as? [String: Any])?["send_errors"] as? [String]
        #expect((flows[3]["result"] as? [String: Any])?["received"] as? Int == 1)
        #expect(f1?.first?.hasPrefix("EMSGSIZE") == true)
    }

    /// Case (f2): 2000 bytes without DF. The client fragments (1458-byte frame with MF, 618 at
    /// offset 1424, DF clear, one ID), both cross flannel.1 (TTL 63) and the LAN as 1508 + 668
    /// byte VXLAN frames with one outer source port (fragments hash without ports), web-1
    /// gets both (TTL 62) and reassembles; the 2000-byte echo comes back the same way.
    /// pi-1's cni0 shows the datagram once, reassembled (2042 bytes): conntrack's defrag
    /// gathers it in the bridge's PREROUTING before cni0 receives it, as in the kernel
    /// reference (REFERENCE.md §5.6 f2). podwire's cni0 showed the two fragments.
    @Test func caseF2FragmentsCrossTheOverlayAndReassemble() throws {
        let (o, _) = try Self.signatures()
        let f2 = Self.window(o, 1.65, 1.66)
        func lens(_ file: String) -> [Int] {
            f2.filter { ($0["file"] as? String ?? "").hasSuffix(file) && ($0["sig"] as? String ?? "").contains("10.244.0.2>10.244.1.2") }
                .compactMap { $0["len"] as? Int }
        }
        #expect(lens("pi-1-client-eth0.pcap") == [1458, 618])
        #expect(lens("pi-1-cni0.pcap") == [2042])
        #expect(lens("pi-1-flannel.1.pcap") == [1458, 618])
        #expect(lens("pi-1-eth0.pcap") == [1508, 668])
        #expect(lens("pi-2-web-1-eth0.pcap") == [1458, 618])
        let outerPorts = Set(f2.filter { ($0["file"] as? String ?? "").hasSuffix("pi-1-eth0.pcap")
            && ($0["sig"] as? String ?? "").contains("o:192.168.50.11>") }
            .compactMap { ($0["vxlan"] as? [String: Any])?["outer_sport"] as? Int })
        #expect(outerPorts.count == 1)
        let atWeb = f2.filter { ($0["file"] as? String ?? "").hasSuffix("pi-2-web-1-eth0.pcap") && ($0["sig"] as? String ?? "").contains("10.244.0.2>10.244.1.2") }
        #expect(atWeb.allSatisfy { ($0["sig"] as? String ?? "").contains("ttl62 df0") })
        let flows = try E2E.json(try Self.run() + "/summary.json")["flows"] as! [[String: Any]]
        #expect((flows[5]["result"] as? [String: Any])?["received"] as? Int == 1)
    }

    /// "must show" 2 and 4: tshark decodes VXLAN on 8472 with no malformed or bad-checksum
    /// packet; the same seed replays byte for byte.
    @Test func capturesDecodeCleanlyAndReplayIdentically() throws {
        let dir = try Self.run()
        guard let tshark = E2E.tool("tshark") else { return }
        let files = E2E.pcaps(in: dir)
        #expect(files.count == 24)
        for f in files {
            let t = try E2E.run(tshark, ["-r", dir + "/" + f, "-d", "udp.port==8472,vxlan", "-o", "ip.check_checksum:TRUE",
                                         "-o", "udp.check_checksum:TRUE", "-Y", "_ws.malformed || _ws.expert.severity >= warning",
                                         "-T", "fields", "-e", "frame.number"])
            #expect(t.status == 0 && t.stdout.isEmpty, "\(f): \(t.stdout.prefix(300)) \(t.stderr.prefix(300))")
        }
        #expect(Self.summaryText.contains("tshark -r \(dir)/pi-1-eth0.pcap -d udp.port==8472,vxlan"))
        #expect(Self.summaryText.contains("tcpdump -nn -e -r \(dir)/pi-1-eth0.pcap     (tcpdump 4.99 calls UDP 8472 \"OTV\""))
        #expect(!Self.summaryText.contains("-T vxlan"))
        if let tcpdump = E2E.tool("tcpdump") {
            // The printed command shows the pods' datagrams inside the tunnel, decoded. (With
            // -T vxlan, tcpdump 4.99 also reads the inner UDP as VXLAN: "ethertype Unknown".)
            let d = try E2E.run(tcpdump, ["-nn", "-e", "-r", dir + "/pi-1-eth0.pcap"])
            #expect(d.status == 0, "\(d.stderr)")
            #expect(d.stdout.contains("10.244.0.2.") && d.stdout.contains("> 10.244.1.2."), "\(d.stdout.prefix(600))")
            #expect(!d.stdout.contains("Unknown") && !d.stdout.contains("[invalid]"), "\(d.stdout.prefix(600))")
        }
        let v = try E2E.run(tshark, ["-r", dir + "/pi-1-eth0.pcap", "-d", "udp.port==8472,vxlan", "-Y", "vxlan.vni == 1",
                                     "-T", "fields", "-e", "frame.number"])
        #expect(!v.stdout.isEmpty, "tshark did not decode VXLAN on pi-1's eth0")
        let again = E2E.tempDir("vxlan-again")
        #expect(try E2E.run(E2E.podwire, ["run", "topologies/two-node-vxlan.yaml", "--out", again]).status == 0)
        for f in files + ["index.json"] {
            #expect(try Data(contentsOf: URL(fileURLWithPath: dir + "/" + f)) == Data(contentsOf: URL(fileURLWithPath: again + "/" + f)), "\(f)")
        }
        let s = try E2E.json(dir + "/summary.json")
        #expect((s["conservation"] as? [String: Any])?["holds"] as? Bool == true)
    }

    /// Packets that waited for ARP leave before later ones (`__neigh_update` sends the queue in
    /// the softirq that took the reply). A gigabit iperf3 flow's first datagram waits on pi-2
    /// for web-1's MAC while the second is already in pi-2's backlog; the queue was sent as a
    /// plain event, behind that backlog, and the two reached web-1 swapped ("out-of-order 1").
    @Test func datagramsThatWaitedForARPAreNotOvertaken() throws {
        let yaml = try String(contentsOfFile: E2E.repo.path + "/topologies/two-node-vxlan.yaml", encoding: .utf8)
        guard let scenario = yaml.range(of: "  scenario:\n") else {
            Issue.record("two-node-vxlan.yaml has no scenario")
            return
        }
        let dir = E2E.tempDir("vxlan-arp-order")
        var t = yaml
        t.insert(contentsOf: "    - {at: 0ms, iperf3: {client: pod/client, server: pod/web-1, udp: true, bitrate: 1G, length: 1422, time: 5ms}}\n",
                 at: scenario.upperBound)
        try t.write(toFile: dir + "/t.yaml", atomically: true, encoding: .utf8)
        let r = try E2E.run(E2E.podwire, ["run", dir + "/t.yaml", "--out", dir + "/out", "--duration", "20ms"])
        #expect(r.status == 0, "\(r.stderr)")
        let flow = r.stdout.split(separator: "\n").first { $0.contains("flow 1: 10.244.0.2:") }.map(String.init) ?? ""
        #expect(flow.contains(" datagrams, lost 0 (0%), out-of-order 0,"), "\(flow)")
    }
}

/// flannel.1 counts each packet's IP bytes, not the inner Ethernet header (`vxlan_rcv` counts
/// after `eth_type_trans`; `iptunnel_xmit` counts from the inner network header). Linux 6.18,
/// two namespaces with flannel's VXLAN setup (static neighbour, FDB entry and onlink route):
/// UDP datagrams of 10, 100 and 1000 bytes, each echoed, counted 3 packets and 1194 bytes
/// each way on both flannel.1 devices. podwire counted 1236 (14 more per packet).
@Suite struct VXLANCounterTests {
    @Test func flannelDevicesCountIPBytes() throws {
        let yaml = """
            apiVersion: podwire/v1alpha1
            kind: Topology
            metadata: {name: vxlan-counters}
            spec:
              duration: 1s
              cluster: {cni: flannel-vxlan}
              nodes:
                - {name: pi-1, profile: raspberry-pi-4b, address: 192.168.50.11/24}
                - {name: pi-2, profile: raspberry-pi-4b, address: 192.168.50.12/24}
              scenario:
                - {at: 0ms,   udp: {client: pod/a, server: pod/b, port: 9000, count: 1, length: 10}}
                - {at: 100ms, udp: {client: pod/a, server: pod/b, port: 9000, count: 1, length: 100}}
                - {at: 200ms, udp: {client: pod/a, server: pod/b, port: 9000, count: 1, length: 1000}}
              capture: {interfaces: ["*/flannel.1"]}
            ---
            {apiVersion: v1, kind: Pod, metadata: {name: a}, spec: {nodeName: pi-1, containers: [{name: c, image: busybox}]}}
            ---
            {apiVersion: v1, kind: Pod, metadata: {name: b}, spec: {nodeName: pi-2, containers: [{name: c, image: busybox}]}}
            """
        let r = try Replay.run(try TopologyFile.parse(yaml: yaml, fileName: "vxlan-counters.yaml"),
                               options: RunOptions(outputDirectory: E2E.tempDir("vxlan-counters")))
        for node in ["pi-1", "pi-2"] {
            let c = try #require(r.interfaces.first { $0.namespace == node && $0.interface == "flannel.1" }).counters
            #expect([c.rxPackets, c.rxBytes, c.txPackets, c.txBytes] == [3, 1194, 3, 1194], "\(node)")
        }
    }
}
