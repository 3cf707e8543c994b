/// `podwire run --svg DIR`: each UDP flow's goodput over simulated time, read back from the
/// captures the run wrote (no datapath hook): the sending and receiving namespaces' pcaps are
/// read with libpcap, each UDP datagram that reached the flow's server is attributed to the
/// flow, and its payload bytes are summed per time bin.
///
/// Attribution. At the receiver (each endpoint pod of a Service, after DNAT) a datagram is a
/// candidate when it is IPv4/UDP to an address of that namespace and the port its server
/// listens on. It belongs to the flow whose client sent it:
/// * directly, when it still carries the client's source address and port (no SNAT);
/// * otherwise (kube-proxy's and flanneld's MASQUERADE use `--random-fully`, so the source
///   port changes), by content: NAT leaves the UDP payload alone, so the datagram is matched
///   to the earliest datagram with the same UDP length and first 32 payload bytes that the
///   client's own interfaces sent (to the address and port it addressed) and that nothing has
///   claimed yet.
/// Fragments follow their first fragment (which carries the ports), keyed by source,
/// destination and IP ID. What is counted is what reached the receiver's interfaces — a
/// datagram later dropped for want of a socket still counts. Ping steps carry no UDP payload
/// and are not plotted.

import Capture
import Datapath
import Engine
import Foundation
import Kube
import Topology
import Traffic

/// Where one scenario flow's datagrams leave and arrive, for reading them back from the captures.
struct FlowTap: Sendable {
    /// The step's number, as in "flow N" (1-based scenario index).
    var flow: Int
    /// The flow's title in the run summary.
    var title: String
    /// The client socket's (ephemeral) port: the flow's source port.
    var clientPort: UInt16
    /// The address and port the client sends to (a ClusterIP, a node port …), host order.
    var serverAddress: UInt32 = 0
    var serverPort: UInt16 = 0
    /// Capture files of the client's namespace (what it sent, before any NAT).
    var senders: [String] = []
    /// Capture files (names in the capture directory) of each receiving namespace, with that
    /// namespace's addresses (host order) and the port its server listens on.
    var receivers: [(file: String, addresses: [UInt32], port: UInt16)] = []
    /// Why the flow cannot be plotted, or nil.
    var problem: String?
    /// A caveat about what is plotted, or nil.
    var note: String?

    var label: String { "flow \(flow): \(title)" }
}

enum FlowThroughput {
    /// A tap for every `udp` and `iperf3` step, in scenario order. `captured` are the pcap
    /// files the run wrote (the topology's `capture.interfaces` may leave some out).
    /// `titles` are the flows' titles in scenario order (`RunReport.flows`).
    static func taps(runner: ScenarioRunner, titles: [String], interfaces: [CaptureInterface], captured: [String]) -> [FlowTap] {
        let world = runner.cluster.world
        /// The namespace's own interfaces that were captured: not lo, not bridge ports (what
        /// a port carries for the namespace itself shows again on its bridge, cni0).
        func files(of ns: Namespace) -> [String] {
            ns.devices.filter { id in
                let dev = world.device(id)
                return dev.kind != .loopback && dev.master == nil
            }.compactMap { id in interfaces.first { $0.device == id }?.fileName }.filter { captured.contains($0) }
        }
        var taps: [FlowTap] = []
        for (i, step) in runner.topology.scenario.enumerated() {
            let client: Target, server: Target, port: UInt16
            switch step.action {
            case .ping: continue
            case .udp(let s): (client, server, port) = (s.client, s.server, s.port)
            case .iperf3(let s): (client, server, port) = (s.client, s.server, s.port)
            }
            let name = "flow \(i + 1)"
            var tap = FlowTap(flow: i + 1, title: i < titles.count ? titles[i] : name, clientPort: 0)
            for app in runner.traffic.applications {
                switch app {
                case .iperf3Client(let c, _) where c.name == name:
                    (tap.clientPort, tap.serverAddress, tap.serverPort) = (c.localPort, c.configuration.server.rawValue, c.configuration.port)
                case .udpEchoClient(let c, _) where c.name == name:
                    (tap.clientPort, tap.serverAddress, tap.serverPort) = (c.localPort, c.configuration.server.rawValue, c.configuration.port)
                default: break
                }
            }
            guard tap.clientPort != 0, case .success(let from) = runner.resolve(client) else {
                tap.problem = "it did not start (see its result in the summary)"
                taps.append(tap)
                continue
            }
            tap.senders = files(of: world.namespace(from.netns))
            var destinations = runner.backends(of: server).map { (netns: $0.netns, port: $0.port) }
            if destinations.isEmpty, case .success(let e) = runner.resolve(server) { destinations = [(e.netns, port)] }
            var left: [String] = []
            for d in destinations {
                let ns = world.namespace(d.netns)
                let kept = files(of: ns)
                if kept.isEmpty { left.append(ns.name) }
                let addresses = ns.localAddresses.map(\.rawValue)
                tap.receivers += kept.map { (file: $0, addresses: addresses, port: d.port) }
            }
            if destinations.isEmpty {
                tap.problem = "its server \(server) has no namespace"
            } else if tap.receivers.isEmpty {
                tap.problem = "no interface of \(left.joined(separator: ", ")) was captured (spec.capture.interfaces)"
            } else if tap.senders.isEmpty {
                tap.note = "the client's interfaces were not captured, so only datagrams that keep its source port (no SNAT) are counted"
            } else if !left.isEmpty {
                tap.note = "no interface of \(left.joined(separator: ", ")) was captured, so what reached it is missing"
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

    /// Whether `name` is a chart `writeCharts` writes: `throughput.svg` or `flow-N.svg`.
    static func isChartName(_ name: String) -> Bool {
        if name == "throughput.svg" { return true }
        guard name.hasPrefix("flow-") && name.hasSuffix(".svg") else { return false }
        let n = name.dropFirst(5).dropLast(4)
        return !n.isEmpty && n.allSatisfy(\.isASCII) && n.allSatisfy(\.isNumber)
    }

    /// Removes the charts an earlier run wrote into `directory` (nothing else there), so the
    /// folder never mixes runs: a run with fewer flows would leave the earlier run's
    /// `flow-N.svg` files beside its own, and a run that fails would leave all of them.
    /// `podwire run --svg` calls it before the replay; `writeCharts` again before writing.
    static func removeCharts(in directory: String) throws(RunError) {
        let fm = FileManager.default
        guard let names = try? fm.contentsOfDirectory(atPath: directory) else { return }
        for name in names.sorted() where isChartName(name) {
            do {
                try fm.removeItem(atPath: directory + "/" + name)
            } catch {
                throw RunError(description: "cannot remove the earlier chart \(directory)/\(name): \(OutputPath.reason(error))",
                               exitCode: 1)
            }
        }
    }

    /// Why `bin` cannot chart a run of `duration`, or nil. `podwire run` asks before the
    /// replay too, so a bin that is too short costs no run.
    static func binProblem(duration: SimDuration, bin: SimDuration) -> String? {
        let binNS = bin.nanoseconds, end = duration.nanoseconds
        guard binNS > 0 else { return "--svg-bin must be longer than 0s" }
        let count = (end + binNS - 1) / binNS
        guard count <= Int64(maximumBins) else {
            return "--svg-bin \(bin) cuts \(duration) into \(count) bins; at most \(maximumBins) are drawn — use a bin of at least \(SimDuration.nanoseconds((end + Int64(maximumBins) - 1) / Int64(maximumBins)))"
        }
        return nil
    }

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
        if let why = binProblem(duration: duration, bin: bin) { throw RunError(description: why, exitCode: 2) }
        let binNS = bin.nanoseconds, end = duration.nanoseconds
        let count = Int((end + binNS - 1) / binNS)
        var bytes = [[UInt64]](repeating: [UInt64](repeating: 0, count: count), count: taps.count)
        let live = taps.indices.filter { taps[$0].problem == nil }

        func read(_ file: String) throws(RunError) -> [(t: Int64, d: Datagram)] {
            let capture: (linkType: Int32, nanosecondPrecision: Bool, packets: [(seconds: Int64, nanoseconds: Int64, bytes: [UInt8], originalLength: Int)])
            do {
                capture = try PcapReader.read(path: directory + "/" + file)
            } catch {
                throw RunError(description: "--svg: cannot read \(directory)/\(file): \(error)", exitCode: 1)
            }
            guard capture.linkType == 1 else { return [] }  // DLT_EN10MB; podwire writes nothing else
            return capture.packets.compactMap { p in
                let t = (p.seconds - epochSeconds) * 1_000_000_000 + p.nanoseconds
                guard t >= 0, t <= end, let d = Datagram(p.bytes) else { return nil }
                return (t, d)
            }
        }

        // What each client sent (first fragments only), by content, in time order.
        var sent = [[Datagram.Content: [Int64]]](repeating: [:], count: taps.count)
        var claimed = [[Datagram.Content: Int]](repeating: [:], count: taps.count)
        var source = [UInt32?](repeating: nil, count: taps.count)
        var senderFiles: [String] = []
        for t in live { for f in taps[t].senders where !senderFiles.contains(f) { senderFiles.append(f) } }
        for file in senderFiles {
            let mine = live.filter { taps[$0].senders.contains(file) }
            for (time, d) in try read(file) {
                guard let ports = d.ports, let content = d.content else { continue }
                for t in mine where ports.source == taps[t].clientPort && d.destination == taps[t].serverAddress
                    && ports.destination == taps[t].serverPort {
                    sent[t][content, default: []].append(time)
                    if source[t] == nil { source[t] = d.source }
                }
            }
        }
        for t in live { for k in sent[t].keys { sent[t][k]!.sort() } }

        // What reached the receivers, every file merged in time order.
        var receiverFiles: [String] = []
        for t in live { for r in taps[t].receivers where !receiverFiles.contains(r.file) { receiverFiles.append(r.file) } }
        var arrivals: [(t: Int64, file: Int, d: Datagram)] = []
        for (f, file) in receiverFiles.enumerated() {
            let wanted = live.flatMap { t in taps[t].receivers.filter { $0.file == file } }
            for (time, d) in try read(file) where d.fragmentOffset > 0
                || wanted.contains(where: { $0.port == d.ports?.destination && $0.addresses.contains(d.destination) }) {
                arrivals.append((time, f, d))
            }
        }
        arrivals.sort { ($0.t, $0.file) < ($1.t, $1.file) }  // stable: each file keeps its order

        var fragments: [FragmentOwner: Int] = [:]
        for a in arrivals {
            let d = a.d
            let owner = FragmentOwner(file: a.file, key: d.fragmentKey)
            let tap: Int
            var payload = d.ipPayload
            if d.fragmentOffset == 0 {
                guard let ports = d.ports else { continue }
                let file = receiverFiles[a.file]
                let candidates = live.filter { t in
                    taps[t].receivers.contains { $0.file == file && $0.port == ports.destination && $0.addresses.contains(d.destination) }
                }
                if let direct = candidates.first(where: { taps[$0].clientPort == ports.source && (source[$0] ?? d.source) == d.source }) {
                    tap = direct
                    if let c = d.content, let times = sent[tap][c], claimed[tap][c, default: 0] < times.count { claimed[tap][c, default: 0] += 1 }
                } else {
                    // Translated on the way: the oldest unclaimed datagram with this content.
                    guard let c = d.content else { continue }
                    var best: (tap: Int, time: Int64)?
                    for t in candidates {
                        guard let times = sent[t][c] else { continue }
                        let next = claimed[t][c, default: 0]
                        if next < times.count, times[next] <= a.t, times[next] < (best?.time ?? .max) { best = (t, times[next]) }
                    }
                    guard let best else { continue }
                    tap = best.tap
                    claimed[tap][c, default: 0] += 1
                }
                payload -= 8
                if d.moreFragments { fragments[owner] = tap }
            } else {
                guard let t = fragments[owner] else { continue }
                tap = t
                if !d.moreFragments { fragments[owner] = nil }
            }
            let b = min(Int(a.t / binNS), count - 1)
            bytes[tap][b] += UInt64(max(payload, 0))
        }
        return bytes
    }

    private struct FragmentOwner: Hashable {
        var file: Int
        var key: Datagram.FragmentKey
    }

    /// Writes `throughput.svg` (every flow) and `flow-N.svg` (one each) into `directory`;
    /// returns the paths written, the flows left out with why, and caveats about others.
    static func writeCharts(_ report: RunReport, directory: String, bin: SimDuration?) throws(RunError)
        -> (files: [String], skipped: [String], notes: [String]) {
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
            throw RunError(description: "cannot create the --svg folder \(directory): \(OutputPath.reason(error))", exitCode: 1)
        }
        try removeCharts(in: directory)
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
        let notes = taps.compactMap { t in t.note.map { "flow \(t.flow) (\(t.title)): \($0)" } }
        return (written, skipped, notes)
    }
}

/// The IPv4 and UDP header fields the binning needs, read from an Ethernet frame.
struct Datagram {
    var source: UInt32
    var destination: UInt32
    var identification: UInt16
    var moreFragments: Bool
    var fragmentOffset: Int
    /// IP total length less the IP header (UDP header included on a first fragment).
    var ipPayload: Int
    var ports: (source: UInt16, destination: UInt16)?
    /// A first fragment's UDP length and first 32 payload bytes (or as many as were captured).
    var content: Content?

    /// What NAT leaves alone: identifies a datagram between its sender and its receiver.
    struct Content: Hashable {
        var udpLength: UInt16
        var head: [UInt8]
    }

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
        if fragmentOffset == 0, b.count >= ip + ihl + 8 {
            let start = ip + ihl + 8
            content = Content(udpLength: u16(ip + ihl + 4), head: Array(b[start..<min(b.count, start + 32)]))
        }
    }
}
