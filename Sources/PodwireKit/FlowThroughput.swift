/// `podwire run --svg DIR`: each UDP flow's goodput over simulated time, read back from the
/// captures the run wrote (no datapath hook): the receiving namespace's pcaps are read with
/// libpcap, each UDP datagram for the flow's server is matched by the flow's 5-tuple, and its
/// payload bytes are summed per time bin.
///
/// Matching: a frame counts for a flow when it is IPv4/UDP from the flow's client port to an
/// address of the receiving namespace and the port the server listens on there (after a
/// Service's DNAT: each endpoint pod and its target port). The source address is not
/// compared, so a masqueraded flow (NodePort) still matches. Fragments count from the first
/// one (which carries the ports), keyed by (source, destination, IP ID). What is counted is
/// what reached the receiver's interfaces — a datagram later dropped for want of a socket
/// still counts. Ping steps carry no UDP payload and are not plotted.

import Capture
import Datapath
import Engine
import Foundation
import Kube
import Topology
import Traffic

/// Where one scenario flow's datagrams arrive, for reading them back from the captures.
struct FlowTap: Sendable {
    /// The step's number, as in "flow N" (1-based scenario index).
    var flow: Int
    /// The flow's title in the run summary.
    var title: String
    /// The client socket's (ephemeral) port: the flow's source port.
    var clientPort: UInt16
    /// Capture files (names in the capture directory) of each receiving namespace, with that
    /// namespace's addresses (host order) and the port its server listens on.
    var receivers: [(file: String, addresses: [UInt32], port: UInt16)]
    /// Why the flow cannot be plotted, or nil.
    var problem: String?

    var label: String { "flow \(flow): \(title)" }
}

enum FlowThroughput {
    /// A tap for every `udp` and `iperf3` step, in scenario order. `captured` are the pcap
    /// files the run wrote (the topology's `capture.interfaces` may leave some out).
    /// `titles` are the flows' titles in scenario order (`RunReport.flows`).
    static func taps(runner: ScenarioRunner, titles: [String], interfaces: [CaptureInterface], captured: [String]) -> [FlowTap] {
        let world = runner.cluster.world
        var taps: [FlowTap] = []
        for (i, step) in runner.topology.scenario.enumerated() {
            let server: Target, port: UInt16
            switch step.action {
            case .ping: continue
            case .udp(let s): (server, port) = (s.server, s.port)
            case .iperf3(let s): (server, port) = (s.server, s.port)
            }
            let name = "flow \(i + 1)"
            var tap = FlowTap(flow: i + 1, title: i < titles.count ? titles[i] : name, clientPort: 0, receivers: [])
            for app in runner.traffic.applications {
                switch app {
                case .iperf3Client(let c, _) where c.name == name: tap.clientPort = c.localPort
                case .udpEchoClient(let c, _) where c.name == name: tap.clientPort = c.localPort
                default: break
                }
            }
            guard tap.clientPort != 0 else {
                tap.problem = "it did not start (see its result in the summary)"
                taps.append(tap)
                continue
            }
            var destinations = runner.backends(of: server).map { (netns: $0.netns, port: $0.port) }
            if destinations.isEmpty, case .success(let e) = runner.resolve(server) { destinations = [(e.netns, port)] }
            var left: [String] = []
            for d in destinations {
                let ns = world.namespace(d.netns)
                // The namespace's own interfaces: not lo, not bridge ports (what a port
                // carries for the namespace itself shows again on its bridge, cni0).
                let files = ns.devices.filter { id in
                    let dev = world.device(id)
                    return dev.kind != .loopback && dev.master == nil
                }.compactMap { id in interfaces.first { $0.device == id }?.fileName }
                let kept = files.filter { captured.contains($0) }
                if kept.isEmpty { left.append(ns.name) }
                let addresses = ns.localAddresses.map(\.rawValue)
                tap.receivers += kept.map { (file: $0, addresses: addresses, port: d.port) }
            }
            if destinations.isEmpty {
                tap.problem = "its server \(server) has no namespace"
            } else if tap.receivers.isEmpty {
                tap.problem = "no interface of \(left.joined(separator: ", ")) was captured (spec.capture.interfaces)"
            }
            taps.append(tap)
        }
        return taps
    }

    /// duration / 100 rounded down to 1, 2 or 5 × 10^k ns, at least 1 µs: 2s → 20ms, 1.5s → 10ms.
    static func defaultBin(for duration: SimDuration) -> SimDuration {
        let target = max(duration.nanoseconds / 100, 1000)
        var magnitude: Int64 = 1
        while magnitude <= target / 10 { magnitude *= 10 }
        let step = [5, 2, 1].map { $0 * magnitude }.first { $0 <= target } ?? magnitude
        return .nanoseconds(step)
    }

    /// At most this many bins per flow (a 1 µs bin over a long run would be millions).
    static let maximumBins = 100_000

    /// Each plottable tap's goodput per bin (Mbit/s of UDP payload), in tap order.
    static func series(taps: [FlowTap], directory: String, epochSeconds: Int64, duration: SimDuration,
                       bin: SimDuration) throws(RunError) -> [ThroughputSeries] {
        let bytes = try binnedBytes(taps: taps, directory: directory, epochSeconds: epochSeconds, duration: duration, bin: bin)
        let binNS = bin.nanoseconds, end = duration.nanoseconds
        var out: [ThroughputSeries] = []
        for (t, tap) in taps.enumerated() where tap.problem == nil {
            let mbps = bytes[t].indices.map { b -> Double in
                let width = min(Int64(b + 1) * binNS, end) - Int64(b) * binNS
                return Double(bytes[t][b]) * 8 * 1000 / Double(width)
            }
            out.append(ThroughputSeries(label: tap.label, mbps: mbps))
        }
        return out
    }

    /// UDP payload bytes per tap (all taps, in order; none for one with a problem) and bin.
    static func binnedBytes(taps: [FlowTap], directory: String, epochSeconds: Int64, duration: SimDuration,
                            bin: SimDuration) throws(RunError) -> [[UInt64]] {
        let binNS = bin.nanoseconds, end = duration.nanoseconds
        guard binNS > 0 else { throw RunError(description: "--svg-bin must be longer than 0s", exitCode: 2) }
        let count = Int((end + binNS - 1) / binNS)
        guard count <= maximumBins else {
            throw RunError(description: "--svg-bin \(bin) cuts \(duration) into \(count) bins; at most \(maximumBins) are drawn — use a bin of at least \(SimDuration.nanoseconds((end + Int64(maximumBins) - 1) / Int64(maximumBins)))",
                           exitCode: 2)
        }
        var bytes = [[UInt64]](repeating: [UInt64](repeating: 0, count: count), count: taps.count)

        // Each file once, in first-use order, with the receivers that read it.
        var files: [String] = []
        var byFile: [String: [(tap: Int, addresses: [UInt32], port: UInt16)]] = [:]
        for (t, tap) in taps.enumerated() where tap.problem == nil {
            for r in tap.receivers {
                if byFile[r.file] == nil { files.append(r.file) }
                byFile[r.file, default: []].append((t, r.addresses, r.port))
            }
        }
        for file in files {
            let receivers = byFile[file] ?? []
            let capture: (linkType: Int32, nanosecondPrecision: Bool, packets: [(seconds: Int64, nanoseconds: Int64, bytes: [UInt8], originalLength: Int)])
            do {
                capture = try PcapReader.read(path: directory + "/" + file)
            } catch {
                throw RunError(description: "--svg: cannot read \(directory)/\(file): \(error)", exitCode: 1)
            }
            guard capture.linkType == 1 else { continue }  // DLT_EN10MB; podwire writes nothing else
            var fragments: [Datagram.FragmentKey: Int] = [:]
            for p in capture.packets {
                let t = (p.seconds - epochSeconds) * 1_000_000_000 + p.nanoseconds
                guard t >= 0, t <= end, let d = Datagram(p.bytes) else { continue }
                let tap: Int
                var payload = d.ipPayload
                if d.fragmentOffset == 0 {
                    guard let ports = d.ports,
                          let match = receivers.first(where: { r in
                              r.port == ports.destination && taps[r.tap].clientPort == ports.source && r.addresses.contains(d.destination)
                          }) else { continue }
                    tap = match.tap
                    payload -= 8
                    if d.moreFragments { fragments[d.fragmentKey] = tap }
                } else {
                    guard let owner = fragments[d.fragmentKey] else { continue }
                    tap = owner
                    if !d.moreFragments { fragments[d.fragmentKey] = nil }
                }
                let b = min(Int(t / binNS), count - 1)
                bytes[tap][b] += UInt64(max(payload, 0))
            }
        }
        return bytes
    }

    /// Writes `throughput.svg` (every flow) and `flow-N.svg` (one each) into `directory`;
    /// returns the paths written and the flows left out with why.
    static func writeCharts(_ report: RunReport, directory: String, bin: SimDuration?) throws(RunError)
        -> (files: [String], skipped: [String]) {
        guard let captures = report.captureDirectory else {
            throw RunError(description: "--svg reads the run's captures, and this run wrote none", exitCode: 2)
        }
        let bin = bin ?? defaultBin(for: report.duration)
        let taps = report.flowTaps
        let series = try series(taps: taps, directory: captures, epochSeconds: report.captureEpochSeconds,
                                duration: report.duration, bin: bin)
        do {
            try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        } catch {
            throw RunError(description: "cannot create the --svg folder \(directory): \(error.localizedDescription)", exitCode: 1)
        }
        var written: [String] = []
        func write(_ name: String, _ text: String) throws(RunError) {
            let path = directory + "/" + name
            guard FileManager.default.createFile(atPath: path, contents: Data(text.utf8)) else {
                throw RunError(description: "cannot write \(path)", exitCode: 1)
            }
            written.append(path)
        }
        let title = "\(report.topology): goodput per flow (seed \(report.seed))"
        try write("throughput.svg", FlowThroughputChart.svg(series: series, bin: bin, duration: report.duration, title: title))
        for (tap, s) in zip(taps.filter { $0.problem == nil }, series) {
            try write("flow-\(tap.flow).svg", FlowThroughputChart.svg(series: [s], bin: bin, duration: report.duration,
                                                                    title: "\(report.topology): flow \(tap.flow) goodput"))
        }
        let skipped = taps.compactMap { t in t.problem.map { "flow \(t.flow) (\(t.title)): \($0)" } }
        return (written, skipped)
    }
}

/// The IPv4 and UDP header fields the binning needs, read from an Ethernet frame.
private struct Datagram {
    var source: UInt32
    var destination: UInt32
    var identification: UInt16
    var moreFragments: Bool
    var fragmentOffset: Int
    /// IP total length less the IP header (UDP header included on a first fragment).
    var ipPayload: Int
    var ports: (source: UInt16, destination: UInt16)?

    /// A datagram's fragments share source, destination and IP ID (protocol: always UDP here).
    struct FragmentKey: Hashable {
        var source: UInt32
        var destination: UInt32
        var identification: UInt16
    }

    var fragmentKey: FragmentKey { FragmentKey(source: source, destination: destination, identification: identification) }

    init?(_ b: [UInt8]) {
        let ip = 14
        guard b.count >= ip + 20, b[12] == 0x08, b[13] == 0x00, b[ip] >> 4 == 4, b[ip + 9] == 17 else { return nil }
        let ihl = Int(b[ip] & 0x0f) * 4
        guard ihl >= 20, b.count >= ip + ihl else { return nil }
        func u16(_ i: Int) -> UInt16 { UInt16(b[i]) << 8 | UInt16(b[i + 1]) }
        func u32(_ i: Int) -> UInt32 { UInt32(u16(i)) << 16 | UInt32(u16(i + 2)) }
        let total = Int(u16(ip + 2))
        guard total >= ihl else { return nil }
        source = u32(ip + 12)
        destination = u32(ip + 16)
        identification = u16(ip + 4)
        let flags = u16(ip + 6)
        moreFragments = flags & 0x2000 != 0
        fragmentOffset = Int(flags & 0x1fff) * 8
        ipPayload = total - ihl
        if fragmentOffset == 0, b.count >= ip + ihl + 4 {
            ports = (u16(ip + ihl), u16(ip + ihl + 2))
        }
    }
}
