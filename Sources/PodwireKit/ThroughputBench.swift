import ArgumentParser
import Datapath
import Engine
import Foundation
import Kube
import Topology
import Traffic
import Wire

/// One row of `podwire bench throughput`: an iperf3-style UDP run between two pods on two
/// nodes of one profile, at offered line rate for a fixed simulated time.
public struct ThroughputRow: Sendable, Equatable {
    /// Built-in profile name (`raspberry-pi-4b` …).
    public var profile: String
    /// `flannel-vxlan` or `flannel-host-gw`.
    public var cni: String
    /// `pod` (to the server pod's IP) or `service` (to a ClusterIP whose one endpoint is it).
    public var via: String
    /// UDP payload bytes per datagram (iperf3 `-l`).
    public var length: Int
    /// UDP payload bits per second the client offers (line rate, less the per-datagram
    /// header and framing overhead).
    public var offeredBps: Double
    /// UDP payload bits per second the client sent over the test (iperf3's sender bitrate):
    /// below `offeredBps` when the client's CPU cannot keep up (`sendmsg` blocks).
    public var sentBps: Double
    /// UDP payload bits per second the server received (iperf3's receiver bitrate).
    public var goodputBps: Double
    /// Datagrams the server did not receive, in percent of those sent.
    public var lostPercent: Double
    /// Datagrams sent and received.
    public var sent: UInt64
    public var received: UInt64
    /// Where the lost datagrams were dropped, sorted by reason.
    public var drops: [ThroughputDrop]
    /// The published figure for this row, in Mbit/s, and its source, when one exists.
    public var publishedMbps: Double?
    public var publishedSource: String?
}

/// Drops of one reason in a throughput run.
public struct ThroughputDrop: Sendable, Equatable {
    /// The kernel's name for the reason and podwire's text (`SKB_DROP_REASON_CPU_BACKLOG (…)`).
    public var reason: String
    public var count: UInt64
}

/// The runs behind `podwire bench throughput`: two nodes of one profile on the LAN switch,
/// flannel (VXLAN or host-gw), kube-proxy's and flanneld's rules and conntrack on both (as
/// `podwire run` programs every cluster), a client pod on pi-1 and an iperf3 server pod on
/// pi-2. The client sends `-l length` datagrams at the NIC's line rate (as attached: the
/// 3B+'s USB 2.0 cap) for `time`, to the server pod or to a ClusterIP whose one endpoint it
/// is. No wall clock: the figures are simulated, so a run gives the same row every time.
public enum ThroughputBench {
    public enum Via: String, Sendable, CaseIterable, ExpressibleByArgument {
        case pod, service
    }
    public enum CNI: String, Sendable, CaseIterable, ExpressibleByArgument {
        case vxlan = "flannel-vxlan"
        case hostGW = "flannel-host-gw"

        var network: PodNetwork { self == .vxlan ? .flannelVXLAN : .flannelHostGW }
        /// Bytes a frame costs on the wire beyond the UDP payload: UDP 8, IP 20, Ethernet 14,
        /// FCS 4, preamble 8, inter-frame gap 12 (IEEE 802.3), plus VXLAN's 50.
        var overhead: Int { self == .vxlan ? 66 + 50 : 66 }
        /// The largest UDP payload that fits the pod MTU (1472, or 1422 under VXLAN).
        var largestLength: Int { 1500 - 28 - (self == .vxlan ? 50 : 0) }
    }

    /// The profiles of the default matrix, slowest first (the Zero 2 W has no wired port:
    /// its 100 Mbit/s adapter is an assumption, so it is run only when asked for).
    public static let defaultProfiles = ["raspberry-pi-3b", "raspberry-pi-3b-plus", "raspberry-pi-4b", "raspberry-pi-5"]
    /// 64-byte datagrams: the CPU-bound case.
    public static let smallLength = 64

    /// UDP payload bits per second that fill `rate` with `length`-byte datagrams.
    public static func offeredRate(lineRate: Int64, length: Int, cni: CNI) -> UInt64 {
        UInt64(lineRate) * UInt64(length) / UInt64(length + cni.overhead)
    }

    /// One run. `length` nil: the largest datagram that fits the pod MTU.
    public static func run(profile: NodeProfile, cni: CNI, via: Via, length: Int?, time: SimDuration,
                           seed: UInt64 = 1) -> ThroughputRow {
        let length = length ?? cni.largestLength
        let nodes = (0..<2).map { i in
            NodeDefinition(name: "pi-\(i + 1)", profile: profile, address: IPv4Interface("192.168.50.\(11 + i)/24")!,
                           podCIDR: IPv4Network("10.244.\(i).0/24")!)
        }
        let cluster = Cluster(ClusterConfiguration(seed: seed, network: cni.network), nodes: nodes)
        let serverContainer = Container(name: "iperf3", image: "iperf3", ports: [
            ContainerPort(name: "iperf", containerPort: 5201, protocol: "UDP"),
        ])
        let client = cluster.addPod(PodDefinition(name: "client", nodeName: "pi-1"))
        let server = cluster.addPod(PodDefinition(name: "server", labels: [Label("app", "server")], nodeName: "pi-2",
                                                  containers: [serverContainer]))
        let serviceIP = IPv4Address(10, 96, 0, 20)
        cluster.addService(ServiceDefinition(name: "server", clusterIP: serviceIP, selector: [Label("app", "server")],
                                             ports: [ServicePort(name: "iperf", port: 80, targetPort: .name("iperf"))]))
        try! cluster.programNodeNetfilter()
        let world = cluster.world
        let iperfServer = try! Iperf3Server(name: "server", world: world, namespace: server.netns!, port: 5201)
        // One datagram first, so ARP has resolved every hop before the flood starts (iperf3's
        // TCP control connection does that on a real cluster).
        _ = try! Iperf3Client(name: "warm-up", world: world, namespace: client.netns!,
                                       configuration: Iperf3ClientConfiguration(server: server.ip!, port: 5201, bitrate: 1_000_000,
                                                                                length: 64, time: .milliseconds(1)))
        let rate = offeredRate(lineRate: profile.transmitRate, length: length, cni: cni)
        let start = SimTime.zero + .milliseconds(10)
        let target = via == .pod ? (server.ip!, UInt16(5201)) : (serviceIP, UInt16(80))
        let iperf = try! Iperf3Client(name: "client", world: world, namespace: client.netns!,
                                      configuration: Iperf3ClientConfiguration(server: target.0, port: target.1, bitrate: rate,
                                                                               length: length, time: time, start: start))
        let before = world.accounting
        world.run(until: start + time + .milliseconds(50))
        precondition(world.conservationHolds(), "packet conservation failed in the throughput run")
        let stream = iperfServer.stream(from: client.ip!, port: iperf.localPort)
        let received = stream?.packets ?? 0
        var goodput = 0.0
        if let s = stream, s.packets > 1, s.lastArrival > s.firstArrival {
            // The steady rate: datagrams after the first, over the time between first and last.
            goodput = Double(s.packets - 1) * Double(length * 8) * 1e9 / Double((s.lastArrival - s.firstArrival).nanoseconds)
        }
        let sent = iperf.datagrams
        var drops: [ThroughputDrop] = []
        for r in DropReason.allCases {
            let n = world.accounting.dropped(r) - before.dropped(r)
            if n > 0 { drops.append(ThroughputDrop(reason: r.kernelName + " (" + r.description + ")", count: n)) }
        }
        drops.sort { $0.reason < $1.reason }
        let published = publishedFigure(profile: profile.name, cni: cni, length: length)
        return ThroughputRow(profile: profile.name, cni: cni.rawValue, via: via.rawValue, length: length,
                             offeredBps: Double(rate),
                             sentBps: Double(iperf.bytesSent) * 8 * 1e9 / Double(time.nanoseconds), goodputBps: goodput,
                             lostPercent: sent == 0 ? 0 : Double(sent - min(received, sent)) * 100 / Double(sent),
                             sent: sent, received: received, drops: drops,
                             publishedMbps: published?.mbps, publishedSource: published?.source)
    }

    /// The published figure a row compares with (shared/reference/pi-profiles.md §2, §7.2),
    /// for full-size datagrams; small datagrams have none (the CPU-bound regime is a model).
    public static func publishedFigure(profile: String, cni: CNI, length: Int) -> (mbps: Double, source: String)? {
        guard length == cni.largestLength else { return nil }
        let vxlan = cni == .vxlan
        switch profile {
        case "raspberry-pi-3b":
            return (94.4, "94.4 Mbit/s iperf on the LAN9514 10/100 port (Jeff Geerling, jeffgeerling.com/blog/2015/getting-gigabit-networking)")
        case "raspberry-pi-3b-plus":
            return (224, "~224 Mbit/s in practice (Jeff Geerling, same page); at most ~300 (geerlingguy/internet-pi#105)")
        case let p where p.hasPrefix("raspberry-pi-4b"):
            return vxlan ? (924.6, "gigabit wire limit for 1422-byte UDP in VXLAN (1538-byte frames); no published Pi pod-to-pod figure")
                : (957.1, "gigabit wire limit for 1472-byte UDP; measured 949 Mbit/s TCP (tomcore.io), 950–958 UDP (salivity, weak)")
        case let p where p.hasPrefix("raspberry-pi-5"):
            return vxlan ? (924.6, "gigabit wire limit for 1422-byte UDP in VXLAN; Pi 5 assumed line-rate like Pi 4 (no primary figure)")
                : (957.1, "gigabit wire limit for 1472-byte UDP; Pi 5 assumed line-rate like Pi 4 (no primary figure)")
        default:
            return nil
        }
    }

    /// `row` as `iperf3 -J`'s receiver summary, with the matrix keys first.
    public static func json(_ row: ThroughputRow, time: SimDuration) -> JSONValue {
        func number(_ v: Double, _ digits: Int) -> JSONValue { .number(String(format: "%.\(digits)f", v)) }
        let seconds = Double(time.nanoseconds) / 1e9
        return .object([
            ("profile", .string(row.profile)), ("cni", .string(row.cni)), ("via", .string(row.via)),
            ("length", .int(row.length)),
            ("offered_bps", .int(UInt64(row.offeredBps))), ("sent_bps", .int(UInt64(row.sentBps.rounded()))),
            ("goodput_bps", .int(UInt64(row.goodputBps.rounded()))),
            ("lost_percent", number(row.lostPercent, 3)),
            ("published_mbps", row.publishedMbps.map { number($0, 1) } ?? .null),
            ("published_source", row.publishedSource.map { .string($0) } ?? .null),
            ("drops", .array(row.drops.map { .object([("reason", .string($0.reason)), ("count", .int($0.count))]) })),
            ("end", .object([("sum", .object([
                ("start", .int(0)), ("end", number(seconds, 6)), ("seconds", number(seconds, 6)),
                ("bytes", .int(row.received * UInt64(row.length))),
                ("bits_per_second", number(row.goodputBps, 1)),
                ("lost_packets", .int(row.sent - min(row.received, row.sent))), ("packets", .int(row.sent)),
                ("lost_percent", number(row.lostPercent, 3)),
            ]))])),
        ])
    }
}

struct BenchThroughputCommand: ParsableCommand {
    /// The datagram lengths a CNI's rows run: those asked for (default: the largest that
    /// fits, and 64), each above the CNI's largest run as the largest, once.
    static func lengths(_ asked: [Int], cni: ThroughputBench.CNI) -> [Int] {
        var out: [Int] = []
        for l in asked.isEmpty ? [cni.largestLength, ThroughputBench.smallLength] : asked {
            let len = min(l, cni.largestLength)
            if !out.contains(len) { out.append(len) }
        }
        return out
    }

    static let configuration = CommandConfiguration(
        commandName: "throughput",
        abstract: "iperf3-style UDP throughput between pods on two emulated Pi nodes, per profile, CNI, path and datagram size.",
        discussion: """
            Each row: two nodes of the profile on one gigabit switch, flannel, kube-proxy; a client pod \
            on pi-1 sends UDP at the NIC's line rate (as attached) for --time of simulated time to a \
            server pod on pi-2 (or to a ClusterIP in front of it). Goodput is the receiver's steady \
            rate. Figures are simulated, so they repeat exactly; small-datagram (CPU-bound) rows rest \
            on estimated per-stage costs (see NodeProfile). Published figures and sources are shown \
            where one exists.
            """)

    @Option(name: .long, help: "Profiles to run (repeatable; default: 3B, 3B+, 4B, 5).") var profile: [String] = []
    @Option(name: .long, help: "flannel-vxlan or flannel-host-gw (repeatable; default: both).") var cni: [ThroughputBench.CNI] = []
    @Option(name: .long, help: "pod or service (repeatable; default: both).") var via: [ThroughputBench.Via] = []
    @Option(name: .long, help: "UDP payload bytes, 12…1472 (repeatable; default: the largest that fits, and 64). Over flannel-vxlan, lengths above 1422 run as 1422, the largest that fits the pod MTU.")
    var length: [Int] = []
    @Option(name: .long, help: "Simulated time per run, e.g. 200ms.", transform: DurationArgument.parse)
    var time: DurationArgument?
    @Flag(name: .long, help: "Print one iperf3 -J-shaped JSON object per row, one per line.") var json = false
    @Option(name: .long, help: "Also draw the matrix as an SVG bar chart in this file.") var svg: String?

    func validate() throws {
        for p in profile where NodeProfile.named(p) == nil {
            throw ValidationError("unknown profile \(p); expected one of " + NodeProfile.names.joined(separator: ", ")
                                  + (Suggestions.closest(to: p, in: NodeProfile.names).map { " (did you mean \($0)?)" } ?? ""))
        }
        for l in length where !(Iperf3DatagramHeader.length...1472).contains(l) {
            throw ValidationError("--length \(l): expected \(Iperf3DatagramHeader.length)…1472 bytes (a datagram that fits one 1500-byte frame)")
        }
        if let t = time?.value, t.nanoseconds <= 0 || t > .seconds(60) {
            throw ValidationError("--time must be above 0 and at most 60s")
        }
        // Before the matrix runs, not after it (OutputPath.swift).
        if let svg, let why = OutputPath.fileProblem(svg) {
            throw ValidationError("--svg \(svg): \(why); name a file, e.g. --svg throughput.svg")
        }
    }

    func run() throws {
        let time = time?.value ?? .milliseconds(200)
        let profiles = (profile.isEmpty ? ThroughputBench.defaultProfiles : profile).map { NodeProfile.named($0)! }
        let cnis = cni.isEmpty ? [ThroughputBench.CNI.hostGW, .vxlan] : cni
        let vias = via.isEmpty ? ThroughputBench.Via.allCases : via
        var rows: [ThroughputRow] = []
        if !json {
            print("podwire bench throughput: UDP pod → pod across two nodes, \(time) simulated per row")
            print(pad("profile", 21) + pad("cni", 16) + pad("via", 8) + lpad("length", 6) + lpad("offered", 14)
                  + lpad("sent", 14) + lpad("goodput", 14) + lpad("lost/total", 20) + lpad("published", 12))
        }
        for p in profiles {
            for c in cnis {
                for v in vias {
                    for len in Self.lengths(length, cni: c) {
                        let row = ThroughputBench.run(profile: p, cni: c, via: v, length: len, time: time)
                        rows.append(row)
                        if json {
                            print(ThroughputBench.json(row, time: time).compactText())
                        } else {
                            let lost = "\(row.sent - min(row.received, row.sent))/\(row.sent) (" + String(format: "%.2g", row.lostPercent) + "%)"
                            print(pad(row.profile, 21) + pad(row.cni, 16) + pad(row.via, 8) + lpad("\(row.length)", 6)
                                  + lpad(mbits(row.offeredBps), 14) + lpad(mbits(row.sentBps), 14)
                                  + lpad(mbits(row.goodputBps), 14) + lpad(lost, 20)
                                  + lpad(row.publishedMbps.map { String(format: "%.1f", $0) } ?? "—", 12))
                        }
                    }
                }
            }
        }
        // The lengths some CNI of this run could not carry whole (only VXLAN's limit is below
        // the 1472 `validate` allows).
        let clamped = length.enumerated().filter { i, l in cnis.contains { l > $0.largestLength } && !length[..<i].contains(l) }.map(\.element)
        // Said, not silent: `--length 1472 --length 1422` used to print two identical 1422 rows.
        let clampNote = clamped.map { "--length \($0) ran as \(ThroughputBench.CNI.vxlan.largestLength) over flannel-vxlan, "
            + "the largest datagram that fits its pod MTU (1450) in one frame" }
        if json {
            for note in clampNote { FileHandle.standardError.write(Data("podwire: note: \(note)\n".utf8)) }
        }
        if !json {
            for note in clampNote { print("Note: \(note).") }
            print("")
            // Each source once, in row order; no heading when no row has one (a Zero 2 W matrix).
            var sources: [(profile: String, source: String)] = []
            for r in rows {
                if let s = r.publishedSource, !sources.contains(where: { $0.source == s }) { sources.append((r.profile, s)) }
            }
            if !sources.isEmpty {
                print("Sources of the published figures:")
                for s in sources { print("  \(s.profile): \(s.source)") }
            }
            print("Lost datagrams by drop reason are in --json; small-datagram rows are CPU-bound on estimated costs.")
        }
        if let svg {
            let text = ThroughputChart.svg(rows: rows, title: "podwire bench throughput (UDP pod → pod, \(time) simulated)")
            do {
                try OutputPath.write(text, toFile: svg)
            } catch {
                FileHandle.standardError.write(Data("podwire: cannot write the --svg chart \(svg): \(OutputPath.reason(error))\n".utf8))
                throw ExitCode(1)
            }
        }
    }

    private func mbits(_ bps: Double) -> String { String(format: "%.1f Mbit/s", bps / 1e6) }
    private func pad(_ s: String, _ n: Int) -> String { s.count >= n ? s + " " : s + String(repeating: " ", count: n - s.count) }
    private func lpad(_ s: String, _ n: Int) -> String { s.count >= n ? " " + s : String(repeating: " ", count: n - s.count) + s }
}
