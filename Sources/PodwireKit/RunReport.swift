import Datapath
import Engine
import Foundation
import Kube
import Traffic

/// What a run produced, in the order a reader wants it: pods and their IPs, flow results,
/// per-interface counters, drops by reason, packet conservation, and where the captures are.
/// Rendered as a text table (stdout) and as JSON (`--json`, summary.json) with the same
/// content. Nothing here depends on the wall clock, so the same file and seed give the same
/// bytes.
public struct RunReport {
    public struct PodRow {
        public var name: String
        public var namespace: String
        public var node: String
        public var phase: String
        public var ip: String
        public var hostVeth: String
        public var message: String?
    }
    public struct InterfaceRow {
        public var node: String
        public var namespace: String
        public var interface: String
        public var mac: String
        public var addresses: [String]
        public var counters: DeviceCounters
    }
    public struct Flow {
        /// "iperf3" or "ping".
        public var kind: String
        /// One line naming the flow: "iperf3 pod/client → pod/web-0:5201 …".
        public var title: String
        /// Human lines (iperf3 / ping style).
        public var text: [String]
        /// The flow's JSON (iperf3 -J or ping shaped).
        public var json: JSONValue
        /// The run ended before the step was done (`ScenarioStep.isCutShort`): its figures
        /// cover only what happened before the end, and a request in flight counts as lost.
        public var cutShort = false
    }

    public var topology: String
    public var file: String
    public var seed: UInt64
    public var duration: SimDuration
    public var events: UInt64
    public var pods: [PodRow] = []
    public var flows: [Flow] = []
    public var interfaces: [InterfaceRow] = []
    public var accounting = PacketAccounting()
    /// ICMP errors each namespace did not send because Linux's per-destination rate limit
    /// held them back (nstat's `IcmpOutRateLimitHost`), for namespaces where it did.
    public var icmpRateLimited: [(node: String, namespace: String, count: Int)] = []
    public var inFlight: UInt64 = 0
    /// Each node's iptables rules (iptables-save -c) and conntrack table (conntrack -L) at the end.
    public var netfilter: [NodeNetfilter] = []
    public struct NodeNetfilter: Sendable {
        public var node: String
        public var iptablesSave: String
        public var conntrack: [String]
        public var conntrackMax: Int
        public var tableFullDrops: UInt64
        /// What `conntrack -S` counts, per CPU (the node's cores, from 0).
        public var conntrackStatistics: [ConntrackStatistics]
    }
    public var conservationHolds = false
    public var captureDirectory: String?
    /// Each pcap with its packets and its size on disk in bytes.
    public var captureFiles: [(file: String, packets: Int, bytes: Int64)] = []
    /// The pcaps' total size on disk.
    public var captureBytes: Int64 { captureFiles.reduce(0) { $0 + $1.bytes } }
    /// A node's eth0 capture when the run has VXLAN devices (to show how to decode 8472).
    public var vxlanUnderlayFile: String?
    /// Where each UDP flow's datagrams arrive, for `--svg` (FlowThroughput.swift); empty
    /// without captures.
    var flowTaps: [FlowTap] = []
    /// The wall-clock second the captures' simulated t = 0 maps to.
    var captureEpochSeconds: Int64 = 0

    // MARK: Text

    public func text() -> String {
        var out: [String] = []
        out.append("podwire: \(topology) (\(file)), seed \(seed), \(duration) simulated, \(events) events")
        out.append("")
        out.append("PODS")
        out += table([["NAME", "NODE", "STATUS", "IP", "HOST VETH"]] + pods.map {
            [$0.namespace == "default" ? $0.name : "\($0.namespace)/\($0.name)", $0.node, $0.phase, $0.ip, $0.hostVeth]
        })
        for p in pods where p.message != nil {
            out.append("  \(p.name): \(p.message!)")
        }
        out.append("")
        out.append("FLOWS")
        if flows.isEmpty { out.append("  (no scenario steps)") }
        for f in flows {
            out.append("  \(f.title)")
            out += f.text.map { "    " + $0 }
        }
        out.append("")
        out.append("INTERFACES (ip -s link)")
        out += table([["NODE", "NETNS", "IFACE", "RX pkts", "RX bytes", "RX drop", "TX pkts", "TX bytes", "TX drop"]]
            + interfaces.map { i in
                [i.node, i.namespace, i.interface, "\(i.counters.rxPackets)", "\(i.counters.rxBytes)",
                 "\(i.counters.rxDropped)", "\(i.counters.txPackets)", "\(i.counters.txBytes)", "\(i.counters.txDropped)"]
            }, rightAlignFrom: 3)
        out.append("")
        out.append("DROPS BY REASON")
        let drops = DropReason.allCases.filter { accounting.dropped($0) > 0 }
        if drops.isEmpty { out.append("  none") }
        for r in drops {
            out.append("  \(pad(String(accounting.dropped(r)), 9, right: true))  \(r.kernelName)  (\(r.description))")
        }
        if !icmpRateLimited.isEmpty {
            // Not drops: these ICMP errors were never made. Said, so that "20 sent, 6 ICMP
            // errors" does not read as lost errors.
            out.append("")
            out.append("ICMP ERRORS NOT SENT (rate limit per destination: a burst of 6, then 1 a second; nstat IcmpOutRateLimitHost)")
            out += table([["NODE", "NETNS", "COUNT"]] + icmpRateLimited.map { [$0.node, $0.namespace, "\($0.count)"] },
                         rightAlignFrom: 2)
        }
        out.append("")
        out.append("PACKET CONSERVATION")
        let split = accounting.fragmented > 0
        out.append("  created \(accounting.created) (sent \(accounting.originated) + bridge flood copies \(accounting.cloned)"
            + (split ? " + router fragments \(accounting.fragmentsCreated)" : "") + ")"
            + " = delivered \(accounting.delivered) + dropped \(accounting.dropped)"
            + (split ? " + cut into fragments \(accounting.fragmented)" : "")
            + " + in flight at end \(inFlight)"
            + (conservationHolds ? "  ✓" : "  ✗ MISMATCH"))
        if let dir = captureDirectory {
            out.append("")
            let total = captureFiles.reduce(0) { $0 + $1.packets }
            out.append("CAPTURES: \(captureFiles.count) pcap file\(captureFiles.count == 1 ? "" : "s"), \(total) packets, "
                       + "\(Self.size(captureBytes)), in \(dir)/ (index.json lists them)")
            // A second of gigabit iperf3 across VXLAN writes ~1.5 GB (every hop of every
            // datagram); say how to keep the next run smaller before the disk says it.
            if captureBytes >= Self.largeCapture {
                out.append("  large: spec.capture.snaplen: 128 keeps headers only; capture.interfaces (e.g. [\"*/eth0\"]) or "
                           + "a capture.filter keeps fewer files or frames")
            }
            if let busiest = captureFiles.max(by: { ($0.packets, $1.file) < ($1.packets, $0.file) }) {
                out.append("  tcpdump -nn -e -r \(dir)/\(busiest.file)")
                out.append("  tshark -r \(dir)/\(busiest.file)")
            }
            if let underlay = vxlanUnderlayFile {
                // Wireshark 4.0 does not decode Linux's VXLAN port 8472 unaided. tcpdump 4.99
                // decodes it as OTV, whose 8-byte header has VXLAN's layout, and then the inner
                // frame correctly; `-T vxlan` would force the inner UDP to VXLAN too (garbage
                // for every pod datagram), so the plain command is the one to give.
                out.append("  tshark -r \(dir)/\(underlay) -d udp.port==8472,vxlan     (flannel's VXLAN is on UDP 8472)")
                out.append("  tcpdump -nn -e -r \(dir)/\(underlay)     (tcpdump 4.99 calls UDP 8472 \"OTV\": "
                           + "the same header, \"instance\" is the VNI)")
            }
            out.append("  wireshark \(dir)/*.pcap     (or: mergecap -w all.pcapng \(dir)/*.pcap)")
            out.append("  timestamps are nanosecond pcap; simulated t=0 is 2026-01-01T00:00:00Z")
        }
        return out.joined(separator: "\n") + "\n"
    }

    // MARK: JSON

    public func json() -> JSONValue {
        let podsJSON: [JSONValue] = pods.map { p in
            .object([("name", .string(p.name)), ("namespace", .string(p.namespace)), ("node", .string(p.node)),
                     ("phase", .string(p.phase)), ("ip", .string(p.ip)), ("host_veth", .string(p.hostVeth)),
                     ("message", p.message.map { .string($0) } ?? .null)])
        }
        let flowsJSON: [JSONValue] = flows.map {
            .object([("kind", .string($0.kind)), ("title", .string($0.title)), ("cut_short", .bool($0.cutShort)),
                     ("result", $0.json)])
        }
        let interfacesJSON: [JSONValue] = interfaces.map { i in
            let c = i.counters
            let rx: JSONValue = .object([("bytes", .int(c.rxBytes)), ("packets", .int(c.rxPackets)), ("dropped", .int(c.rxDropped))])
            let tx: JSONValue = .object([("bytes", .int(c.txBytes)), ("packets", .int(c.txPackets)), ("dropped", .int(c.txDropped))])
            let addrs: [JSONValue] = i.addresses.map { .string($0) }
            return .object([("node", .string(i.node)), ("namespace", .string(i.namespace)), ("ifname", .string(i.interface)),
                            ("address", .string(i.mac)), ("addr_info", .array(addrs)),
                            ("stats64", .object([("rx", rx), ("tx", tx)]))])
        }
        let dropsJSON: [JSONValue] = DropReason.allCases.filter { accounting.dropped($0) > 0 }.map { r in
            .object([("reason", .string(r.kernelName)), ("description", .string(r.description)),
                     ("packets", .int(accounting.dropped(r)))])
        }
        let conservation: JSONValue = .object([
            ("created", .int(accounting.created)), ("originated", .int(accounting.originated)),
            ("flood_copies", .int(accounting.cloned)), ("delivered", .int(accounting.delivered)),
            ("router_fragments", .int(accounting.fragmentsCreated)), ("fragmented", .int(accounting.fragmented)),
            ("dropped", .int(accounting.dropped)), ("in_flight", .int(inFlight)),
            ("holds", .bool(conservationHolds)),
        ])
        var captureJSON: JSONValue = .null
        if let dir = captureDirectory {
            let files: [JSONValue] = captureFiles.map {
                .object([("file", .string($0.file)), ("packets", .int($0.packets)), ("bytes", .int(UInt64($0.bytes)))])
            }
            captureJSON = .object([("directory", .string(dir)), ("bytes", .int(UInt64(captureBytes))), ("files", .array(files))])
        }
        return .object([
            ("topology", .string(topology)),
            ("file", .string(file)),
            ("seed", .int(seed)),
            ("duration", .string(duration.description)),
            ("events", .int(events)),
            ("pods", .array(podsJSON)),
            ("flows", .array(flowsJSON)),
            ("interfaces", .array(interfacesJSON)),
            ("drops", .array(dropsJSON)),
            ("icmp_rate_limited", .array(icmpRateLimited.map { r in
                .object([("node", .string(r.node)), ("namespace", .string(r.namespace)), ("count", .int(UInt64(r.count)))])
            })),
            ("conservation", conservation),
            ("netfilter", .array(netfilter.map { n in
                .object([("node", .string(n.node)), ("iptables_save", .string(n.iptablesSave)),
                         ("conntrack", .array(n.conntrack.map { .string($0) })),
                         ("conntrack_max", .int(UInt64(n.conntrackMax))), ("table_full_drops", .int(n.tableFullDrops)),
                         ("conntrack_statistics", .array(n.conntrackStatistics.enumerated().map { Self.statisticsJSON($1, cpu: $0) }))])
            })),
            ("capture", captureJSON),
        ])
    }

    // MARK: Table helpers

    private func pad(_ s: String, _ w: Int, right: Bool = false) -> String {
        let n = s.count
        if n >= w { return s }
        return right ? String(repeating: " ", count: w - n) + s : s + String(repeating: " ", count: w - n)
    }

    /// Captures from 1 GiB up get a hint on keeping the next run smaller.
    static let largeCapture: Int64 = 1 << 30

    /// `conntrack -S`'s counters for one CPU, under its own names.
    static func statisticsJSON(_ st: ConntrackStatistics, cpu: Int) -> JSONValue {
        .object([("cpu", .int(UInt64(cpu))), ("found", .int(st.found)), ("invalid", .int(st.invalid)), ("insert", .int(st.insert)),
                 ("insert_failed", .int(st.insertFailed)), ("drop", .int(st.drop)), ("early_drop", .int(st.earlyDrop)),
                 ("error", .int(st.error)), ("search_restart", .int(st.searchRestart)),
                 ("clash_resolve", .int(st.clashResolve)), ("chaintoolong", .int(st.chainTooLong))])
    }

    /// Bytes the way `ls -lh` counts them (powers of 1024), one decimal: "812 bytes",
    /// "143.2 KiB", "1.4 GiB".
    static func size(_ bytes: Int64) -> String {
        guard bytes >= 1024 else { return "\(bytes) byte\(bytes == 1 ? "" : "s")" }
        var value = Double(bytes) / 1024
        for unit in ["KiB", "MiB", "GiB"] {
            if value < 1024 || unit == "GiB" { return String(format: "%.1f", value) + " " + unit }
            value /= 1024
        }
        return ""
    }

    private func table(_ rows: [[String]], rightAlignFrom: Int = Int.max) -> [String] {
        guard let first = rows.first else { return [] }
        var widths = [Int](repeating: 0, count: first.count)
        for r in rows { for (i, c) in r.enumerated() { widths[i] = max(widths[i], c.count) } }
        return rows.map { r in
            var line = "  " + r.enumerated().map { i, c in pad(c, widths[i], right: i >= rightAlignFrom) }
                .joined(separator: "  ")
            while line.hasSuffix(" ") { line.removeLast() }
            return line
        }
    }
}
