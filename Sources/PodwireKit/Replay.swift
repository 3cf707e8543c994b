import Capture
import Datapath
import Engine
import Foundation
import Kube
import Topology
import Traffic
import Wire

/// `podwire run`: topology → cluster → scenario → capture → run → report.
public struct RunOptions: Sendable {
    /// Output folder; nil = `pcaps/<metadata.name>`.
    public var outputDirectory: String?
    public var seed: UInt64?
    public var duration: SimDuration?
    /// Write pcaps and index.json (off for benchmarks and some tests).
    public var capture = true
    /// Called now and then with (simulated now, simulated end) so the CLI can draw progress.
    public var progress: (@Sendable (SimTime, SimTime) -> Void)?
    /// The engine's shortcuts (all by default; the output is the same without them, only slower).
    public var shortcuts = EngineShortcuts.all
    public init(outputDirectory: String? = nil, seed: UInt64? = nil, duration: SimDuration? = nil, capture: Bool = true) {
        self.outputDirectory = outputDirectory
        self.seed = seed
        self.duration = duration
        self.capture = capture
    }
}

/// A run that could not complete, with a message meant for the user.
public struct RunError: Error, CustomStringConvertible {
    public var description: String
    /// Non-zero exit status: 2 for bad input (topology, filter), 1 otherwise.
    public var exitCode: Int32
}

public enum Replay {
    /// The marker that says a folder is podwire's output, so its pcaps may be replaced.
    static let marker = ".podwire"
    /// The run's summary, written into the output folder once the run is complete.
    public static let summaryFileName = "summary.json"

    /// Capture replaces the `*.pcap` files of its folder. Never do that to captures podwire
    /// did not write: a folder with pcaps but neither our marker nor an index.json is refused.
    ///
    /// A previous run's `summary.json` is removed here, before anything is written, as the
    /// capture removes its `index.json`: a run that is then interrupted leaves no summary of
    /// another run beside its partial pcaps. Only in a folder that is already podwire's.
    /// A capture error as `file:line:col: spec.capture.FIELD: …` where the file says which
    /// field is at fault (a pattern no interface matches, a filter libpcap refuses).
    static func captureProblem(_ error: CaptureError, _ capture: CaptureSpec, file: String) -> String {
        switch error {
        case .noInterfaceMatches: "\(capture.interfacesLocation?.description ?? file): spec.capture.interfaces: \(error)"
        case .badFilter: "\(capture.filterLocation?.description ?? file): spec.capture.filter: \(error)"
        default: "\(file): spec.capture: \(error)"
        }
    }

    /// The capture's filter compiles and its patterns match some interface of the built
    /// cluster: what `run` checks before it claims the output folder, and `validate` too.
    static func checkCapture(_ topology: TopologySpec, interfaces: [CaptureInterface]) throws(RunError) {
        let opts = CaptureOptions(directory: "", interfaceGlobs: topology.capture.interfaces, snaplen: topology.capture.snaplen)
        do throws(CaptureError) {
            if !topology.capture.filter.isEmpty {
                _ = try BPFFilter(expression: topology.capture.filter, snaplen: opts.effectiveSnaplen)
            }
            if opts.selected(from: interfaces).isEmpty { throw .noInterfaceMatches(globs: opts.interfaceGlobs) }
        } catch {
            throw RunError(description: captureProblem(error, topology.capture, file: topology.fileName), exitCode: 2)
        }
    }

    /// `validate`'s look at what only the built cluster shows: the capture's patterns.
    public static func checkBuilt(_ topology: TopologySpec) throws(RunError) {
        let cluster = ClusterBuilder.build(topology, seed: topology.seed)
        try checkCapture(topology, interfaces: ClusterBuilder.captureInterfaces(cluster))
    }

    static func claimOutputDirectory(_ dir: String) throws(RunError) {
        let fm = FileManager.default
        let contents = (try? fm.contentsOfDirectory(atPath: dir)) ?? []
        let ours = contents.contains(marker) || contents.contains("index.json")
        if contents.contains(where: { $0.hasSuffix(".pcap") }) && !ours {
            throw RunError(description: "\(dir) holds pcap files that podwire did not write; "
                + "choose another folder with --out, or empty this one", exitCode: 2)
        }
        if ours && contents.contains(summaryFileName) {
            do {
                try fm.removeItem(atPath: dir + "/" + summaryFileName)
            } catch {
                throw RunError(description: "cannot remove the previous run's \(dir)/\(summaryFileName): \(OutputPath.reason(error))",
                               exitCode: 1)
            }
        }
        do {
            try fm.createDirectory(atPath: dir, withIntermediateDirectories: true)
        } catch {
            throw RunError(description: "cannot create the output folder \(dir): \(OutputPath.reason(error))", exitCode: 1)
        }
        guard fm.createFile(atPath: dir + "/" + marker,
                            contents: Data("This folder is podwire's output; its pcaps are replaced on the next run.\n".utf8)) else {
            throw RunError(description: "cannot write to the output folder \(dir)", exitCode: 1)
        }
    }

    public static func run(_ topology: TopologySpec, options: RunOptions) throws(RunError) -> RunReport {
        let seed = options.seed ?? topology.seed
        let duration = options.duration ?? topology.duration
        let cluster = ClusterBuilder.build(topology, seed: seed)
        cluster.world.shortcuts = options.shortcuts
        do {
            try cluster.programNodeNetfilter()
        } catch {
            throw RunError(description: "\(topology.fileName): the rules kube-proxy and flanneld would program do not load: \(error)",
                           exitCode: 1)
        }
        let world = cluster.world
        let outDir = options.outputDirectory ?? "pcaps/\(topology.name)"

        var capture: PcapCapture?
        let interfaces = ClusterBuilder.captureInterfaces(cluster)
        var opts = CaptureOptions(directory: outDir)
        if options.capture {
            opts.interfaceGlobs = topology.capture.interfaces
            opts.snaplen = topology.capture.snaplen
            opts.filter = topology.capture.filter
            // Before the folder is claimed: a spec.capture mistake leaves no folder behind.
            try checkCapture(topology, interfaces: interfaces)
            try claimOutputDirectory(outDir)
            do {
                let c = try PcapCapture(interfaces: interfaces, options: opts)
                world.addObserver(c)
                capture = c
            } catch {
                throw RunError(description: Self.captureProblem(error, topology.capture, file: topology.fileName), exitCode: 2)
            }
        }

        let traffic = ScenarioRunner(cluster: cluster, topology: topology)
        traffic.start()

        let end = SimTime.zero + duration
        if let progress = options.progress {
            let slice = SimDuration.milliseconds(10)
            var t = SimTime.zero
            while t < end {
                t = min(t + slice, end)
                world.run(until: t)
                progress(t, end)
            }
        } else {
            world.run(until: end)
        }

        var report = RunReport(topology: topology.name, file: topology.fileName, seed: seed, duration: duration,
                               events: world.scheduler.eventsProcessed)
        report.pods = cluster.pods.map { p in
            RunReport.PodRow(name: p.name, namespace: p.definition.namespace, node: p.nodeName ?? "<none>",
                             phase: p.phase == .running ? "Running" : "\(p.phase.rawValue) (\(p.reason ?? ""))",
                             ip: p.ip?.description ?? "<none>", hostVeth: p.hostVethName ?? "<none>", message: p.message)
        }
        report.flows = traffic.results(runEnd: duration)
        for ns in world.namespaces {
            for d in ns.devices {
                let dev = world.device(d)
                report.interfaces.append(RunReport.InterfaceRow(node: ns.node, namespace: ns.name, interface: dev.name,
                                                                mac: dev.mac.description,
                                                                addresses: dev.addresses.map(\.description),
                                                                counters: dev.counters))
            }
        }
        for n in cluster.nodes {
            guard let nf = world.namespace(n.netns).netfilter else { continue }
            report.netfilter.append(RunReport.NodeNetfilter(node: n.name, iptablesSave: nf.rules.save(counters: true),
                                                            conntrack: nf.conntrack.list(now: world.now),
                                                            conntrackMax: nf.conntrack.maximum,
                                                            tableFullDrops: nf.conntrack.tableFullDrops,
                                                            conntrackStatistics: (0..<max(1, world.coreStatistics(n.netns).count))
                                                                .map { nf.conntrack.statistics(cpu: $0) }))
        }
        report.icmpRateLimited = world.namespaces.filter { $0.icmpOutRateLimitHost > 0 }
            .map { ($0.node, $0.name, $0.icmpOutRateLimitHost) }
        report.accounting = world.accounting
        report.inFlight = world.packetsInFlight()
        report.conservationHolds = world.conservationHolds()
        if let capture {
            do {
                let files = try capture.finish(extra: ["topology": topology.name, "seed": String(seed)])
                report.captureDirectory = outDir
                report.captureFiles = files.map {
                    var st = stat()
                    let bytes = stat($0.path, &st) == 0 ? Int64(st.st_size) : 0
                    return (file: String($0.path.split(separator: "/").last ?? ""), packets: $0.packets, bytes: bytes)
                }
                report.captureEpochSeconds = opts.epochSeconds
                report.flowTaps = FlowThroughput.taps(runner: traffic, titles: report.flows.map(\.title), interfaces: interfaces,
                                                      captured: report.captureFiles.map(\.file))
                if !world.vxlans.isEmpty, let first = cluster.nodes.first {
                    let name = "\(first.name)-eth0.pcap"
                    if report.captureFiles.contains(where: { $0.file == name }) { report.vxlanUnderlayFile = name }
                }
            } catch {
                throw RunError(description: "writing captures: \(error)", exitCode: 1)
            }
        }
        return report
    }
}
