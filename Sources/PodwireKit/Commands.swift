import ArgumentParser
import Capture
import Datapath
import Engine
import Foundation
import Topology
import Traffic

/// The `podwire` command line. The wall clock is read only here (progress, bench timing),
/// never below.
public struct PodwireCommand: ParsableCommand {
    public static let configuration = CommandConfiguration(
        commandName: "podwire",
        abstract: "A packet-level emulator of Kubernetes pod networking on Raspberry-Pi-sized nodes.",
        discussion: """
            Replays a topology file (a podwire Topology document followed by plain Kubernetes \
            manifests), moves every frame through emulated veths, bridges and IP stacks, and \
            writes a pcap of every interface.
            """,
        subcommands: [RunCommand.self, ValidateCommand.self, BenchCommand.self]
    )
    public init() {}
}

/// A duration option like "2s" or "500ms" (Go syntax, as in topology files). Options use
/// `parse` as their transform, so a bad value says what is wrong: "a duration needs a
/// unit: write e.g. 5s or 5ms" rather than only "the value '5' is invalid".
struct DurationArgument {
    var value: SimDuration

    static func parse(_ argument: String) throws -> DurationArgument {
        guard let d = TopologyFile.parseDuration(argument) else {
            throw ValidationError(TopologyFile.durationProblem(argument) ?? "expected a duration such as 2s or 500ms")
        }
        return DurationArgument(value: d)
    }
}

struct RunCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "run", abstract: "Replay a topology file and write a pcap of every interface.",
        discussion: """
            With --svg DIR, podwire then reads the captures back and plots each udp and iperf3 \
            flow's goodput (UDP payload Mbit/s, as it reached the server's interfaces) over \
            simulated time: DIR/throughput.svg has a line per flow, DIR/flow-N.svg one flow each. \
            Bins are --svg-bin long (default: the duration / 100, rounded down to 1, 2 or 5 × 10^k).
            """)

    @Argument(help: "The topology file (YAML stream), or - for standard input.") var file: String
    @Option(name: .long, help: "Output folder (default: pcaps/<metadata.name>).") var out: String?
    @Option(name: .long, help: "Seed for every random choice (default: spec.seed).") var seed: UInt64?
    @Option(name: .long, help: "Simulated time to run, e.g. 2s (default: spec.duration).", transform: DurationArgument.parse)
    var duration: DurationArgument?
    @Flag(name: .long, help: "Print the summary as JSON instead of a table.") var json = false
    @Flag(name: .long, help: "After the summary, print each node's iptables rules in iptables-save -c form.")
    var dumpRules = false
    @Flag(name: .long, help: "After the summary, print each node's conntrack table in conntrack -L form.")
    var dumpConntrack = false
    @Option(name: .long, help: ArgumentHelp("After the run, write SVG charts of each UDP flow's goodput over time into this folder.",
                                            valueName: "dir"))
    var svg: String?
    @Option(name: .long, help: "Time bin of the --svg charts, e.g. 10ms (default: duration / 100, rounded down to 1-2-5).",
            transform: DurationArgument.parse)
    var svgBin: DurationArgument?

    func validate() throws {
        // As spec.duration: a run of 0s would replay nothing.
        if let d = duration?.value, d.nanoseconds <= 0 {
            throw ValidationError("--duration \(d): a run must be longer than 0s; pass e.g. --duration 2s")
        }
        if svgBin != nil && svg == nil { throw ValidationError("--svg-bin needs --svg DIR") }
        if let b = svgBin, b.value.nanoseconds <= 0 { throw ValidationError("--svg-bin must be longer than 0s") }
        // Before the replay, not after it (OutputPath.swift).
        if let out, let why = OutputPath.folderProblem(out) {
            throw ValidationError("--out \(out): \(why); pass a folder podwire may create or write in")
        }
        if let svg, let why = OutputPath.folderProblem(svg) {
            throw ValidationError("--svg \(svg): \(why); pass a folder for the charts, e.g. --svg plots")
        }
    }

    func run() throws {
        let topology = try loadTopology(file)
        var options = RunOptions(outputDirectory: out, seed: seed, duration: duration?.value)
        if svg != nil, let bin = svgBin?.value,
           let why = FlowThroughput.binProblem(duration: options.duration ?? topology.duration, bin: bin) {
            FileHandle.standardError.write(Data("podwire: \(why)\n".utf8))
            throw ExitCode(2)
        }
        if let svg {
            do {
                try FlowThroughput.removeCharts(in: svg)
            } catch {
                FileHandle.standardError.write(Data("podwire: \(error.description)\n".utf8))
                throw ExitCode(error.exitCode)
            }
        }
        let progress = ProgressLine()
        if progress.enabled { options.progress = { now, end in progress.update(now, end) } }
        let report: RunReport
        do {
            report = try Replay.run(topology, options: options)
        } catch {
            progress.clear()
            FileHandle.standardError.write(Data("podwire: \(error.description)\n".utf8))
            throw ExitCode(error.exitCode)
        }
        progress.clear()
        let jsonBytes = report.json().utf8Text()
        if let dir = report.captureDirectory {
            let path = dir + "/" + Replay.summaryFileName
            // Written from the bytes as they are: a 250-node run's summary is ~480 MB, and a
            // `Data` copy of it raised the peak memory by as much.
            let written = jsonBytes.withUnsafeBytes { raw in
                guard let base = raw.baseAddress else { return FileManager.default.createFile(atPath: path, contents: Data()) }
                let data = Data(bytesNoCopy: UnsafeMutableRawPointer(mutating: base), count: raw.count, deallocator: .none)
                return FileManager.default.createFile(atPath: path, contents: data)
            }
            guard written else {
                FileHandle.standardError.write(Data("podwire: cannot write \(path)\n".utf8))
                throw ExitCode(1)
            }
        }
        print(json ? String(decoding: jsonBytes, as: UTF8.self) : report.text(), terminator: "")
        if !json {
            for n in report.netfilter where dumpRules {
                print("\n# \(n.node): iptables-save -c")
                print(n.iptablesSave, terminator: "")
            }
            for n in report.netfilter where dumpConntrack {
                print("\n# \(n.node): conntrack -L (nf_conntrack_max \(n.conntrackMax))")
                for l in n.conntrack { print(l) }
                print(ConnectionTracker.listSummary(count: n.conntrack.count))
                print("# \(n.node): conntrack -S")
                for (cpu, st) in n.conntrackStatistics.enumerated() { print(ConnectionTracker.statisticsLine(st, cpu: cpu)) }
            }
        }
        if let svg {
            do {
                let (files, skipped, notes) = try FlowThroughput.writeCharts(report, directory: svg, bin: svgBin?.value)
                for why in skipped { FileHandle.standardError.write(Data("podwire: --svg: not plotted: \(why)\n".utf8)) }
                for note in notes { FileHandle.standardError.write(Data("podwire: --svg: note: \(note)\n".utf8)) }
                if !json { print("\nPLOTS: \(files.count) SVG file\(files.count == 1 ? "" : "s") in \(svg)/ (throughput.svg has every flow)") }
            } catch {
                FileHandle.standardError.write(Data("podwire: \(error.description)\n".utf8))
                throw ExitCode(error.exitCode)
            }
        }
        if !report.conservationHolds {
            FileHandle.standardError.write(Data("podwire: packet conservation does not hold — this is a podwire bug\n".utf8))
            throw ExitCode(1)
        }
    }
}

struct ValidateCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "validate", abstract: "Check a topology file and report every problem with file:line:column.")

    @Argument(help: "The topology file (YAML stream), or - for standard input.") var file: String

    func run() throws {
        let t = try loadTopology(file)
        // What run would refuse once the cluster is built: the capture's filter (compiled by
        // libpcap) and its interface patterns. Building takes 0.5 s for 250 nodes.
        do {
            try Replay.checkBuilt(t)
        } catch {
            FileHandle.standardError.write(Data((error.description + "\n").utf8))
            FileHandle.standardError.write(Data("podwire: 1 error in \(displayName(file))\n".utf8))
            throw ExitCode(2)
        }
        print("\(displayName(file)): ok — \(t.nodes.count) node(s), \(t.pods.count) pod(s), \(t.deployments.count) deployment(s), "
              + "\(t.scenario.count) scenario step(s), \(t.duration) simulated")
    }
}

/// Loads a topology, printing every error and exiting with status 2 on bad input.
func loadTopology(_ file: String) throws -> TopologySpec {
    do {
        return try TopologyFile.load(path: file)
    } catch {
        FileHandle.standardError.write(Data((error.description + "\n").utf8))
        let n = error.errors.count
        FileHandle.standardError.write(Data("podwire: \(n) error\(n == 1 ? "" : "s") in \(displayName(file))\n".utf8))
        throw ExitCode(2)
    }
}

/// How messages name the topology argument: `-` is standard input.
func displayName(_ file: String) -> String {
    file == "-" ? TopologyFile.standardInputName : file
}

/// "t=0.420s / 2s" on stderr, redrawn at most 5 times a second, only when stderr is a
/// terminal and the run has taken more than a second of wall time.
final class ProgressLine: @unchecked Sendable {
    let enabled = isatty(STDERR_FILENO) == 1
    private let started = ContinuousClock.now
    private var lastDraw: ContinuousClock.Instant?
    private var drawn = false

    func update(_ now: SimTime, _ end: SimTime) {
        let t = ContinuousClock.now
        guard t - started > .seconds(1) else { return }
        if let last = lastDraw, t - last < .milliseconds(200) { return }
        lastDraw = t
        drawn = true
        let pct = end.nanoseconds > 0 ? Int(100 * now.nanoseconds / end.nanoseconds) : 100
        FileHandle.standardError.write(Data("\r\u{1B}[Kpodwire: t=\(SimDuration(nanoseconds: now.nanoseconds)) / \(SimDuration(nanoseconds: end.nanoseconds)) (\(pct)%)".utf8))
    }

    func clear() {
        if drawn { FileHandle.standardError.write(Data("\r\u{1B}[K".utf8)) }
    }
}

struct BenchCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "bench",
        abstract: "Benchmarks: podwire's own speed (engine, the default) or the emulated Pi cluster's throughput.",
        subcommands: [BenchEngineCommand.self, BenchThroughputCommand.self],
        defaultSubcommand: BenchEngineCommand.self)
}

struct BenchEngineCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "engine",
        abstract: "Measure podwire's own speed: engine events/s, bridged, cross-node VXLAN and ClusterIP UDP packets/s, capture off and on.",
        discussion: """
            Runs the same scenarios as the Benchmarks/ package (PodwireKit/BenchScenarios.swift). \
            bridge_* and vxlan_* run without netfilter; clusterip_* (pod → Service → pod on another \
            node) with kube-proxy's and flannel's rules and conntrack on both nodes. \
            mallocs_per_packet is null here: only the Benchmarks/ package can count allocations \
            (make benchmarks). scale_* (run first, alone with --scale-only): a generated cluster of \
            250 Pi 4 nodes, 5,000 pods and 1,000 ClusterIP Services (PodwireKit/ScaleScenario.swift) — \
            scale_build_s builds it and programs every node's netfilter, scale_sim_second_wall_s runs \
            one simulated second of 100 pods sending to random Services, scale_peak_rss_bytes is the \
            process's peak resident memory (VmHWM) after both, reset before them through \
            /proc/self/clear_refs and measured before any other scenario runs (null without /proc). \
            The hold model and each packet scenario are built afresh and timed --runs times (3); the figure is the median, \
            and without --json every run is printed. Capture-on scenarios first run \
            --capture-warm-up-runs times untimed (1), so the pages their pcaps fill are resident \
            (a lazily backed VM's first touch of a page costs the host, not podwire).
            """)

    @Flag(name: .long, help: "Print one JSON line.") var json = false
    @Option(name: .long, help: "Events for the engine hold model.") var events = 20_000_000
    @Option(name: .long, help: "Datagrams for the bridged scenario with capture off (VXLAN and ClusterIP: half as many).") var packets = 2_000_000
    @Option(name: .long, help: "Datagrams for the bridged scenario with capture on (VXLAN and ClusterIP: a quarter).") var capturedPackets = 500_000
    @Option(name: .long, help: "Timed runs of the engine hold model and of each packet scenario; the figure reported is their median (every run is printed without --json).")
    var runs = 3
    @Option(name: .long, help: "Untimed runs of each capture-on scenario before its timed ones: they make the guest memory the pcaps go into resident first (see BenchSamples.swift).")
    var captureWarmUpRuns = 1
    @Flag(name: .long, help: "Run only the 250-node scale scenario (scale_* keys).") var scaleOnly = false
    @Option(name: .long, help: "Folder for the capture-on pcaps (default: /dev/shm if present, else the temp folder).")
    var captureDir: String?

    func validate() throws {
        guard runs >= 1 else {
            throw ValidationError("--runs must be at least 1 (found \(runs)): the figure is the median of the timed runs")
        }
        guard captureWarmUpRuns >= 0 else {
            throw ValidationError("--capture-warm-up-runs must be 0 or more (found \(captureWarmUpRuns)); 0 skips the warm-up")
        }
        guard events > 0, packets > 0, capturedPackets >= 4 else {
            throw ValidationError("--events and --packets must be positive and --captured-packets at least 4 (VXLAN and ClusterIP capture a quarter of it)")
        }
        if let captureDir, let why = OutputPath.folderProblem(captureDir) {
            throw ValidationError("--capture-dir \(captureDir): \(why); pass a folder podwire may create or write in")
        }
    }

    /// A failure once the bench has started: said on standard error, exit status 1 (not a
    /// usage error, so no usage text).
    static func failure(_ message: String) -> ExitCode {
        FileHandle.standardError.write(Data("podwire: bench engine: \(message)\n".utf8))
        return ExitCode(1)
    }

    func run() throws {
        let clock = ContinuousClock()
        // The scale cluster first, while the process is fresh: its peak RSS is then the
        // process's high-water mark (VmHWM) right after it, not polluted by what the other
        // scenarios allocated. The cluster is freed before they run.
        // Without --json each figure is printed as soon as it is measured (the whole bench
        // takes ~25 s); JSON is one line at the end.
        func show(_ line: String) {
            guard !json else { return }
            print(line)
            fflush(nil)  // every output stream: progress shows through a pipe too
        }
        let scale = measureScale(clock)
        if scaleOnly {
            printScale(scale)
            return
        }
        for line in scaleLines(scale) { show(line) }
        // Engine: ns-3's hold model, 100k pending events; a fresh model per run (so every run
        // pops the same events: same checksum), the median of --runs as for the packets.
        var engine = BenchSamples()
        var checksum: UInt64 = 0
        for _ in 0..<runs {
            var model = HoldModel(pendingEvents: 100_000, seed: 1)
            _ = model.run(events: 1_000_000)
            let t = clock.measure { checksum = model.run(events: events) }
            engine.timed.append(Double(events) / t.seconds)
        }
        let engineRate = engine.median!
        show("engine hold model (100k pending):      \(engine.summary(unit: "events/s"))  (checksum \(checksum & 0xFFFF))")

        func measure(_ path: UDPPathScenario.Path, capture: Bool, packets: Int) throws -> Double {
            let s: UDPPathScenario
            do {
                s = try UDPPathScenario(path, capture: capture, captureDirectory: captureDir.map { $0 + "/podwire-bench" })
            } catch {
                throw Self.failure("the capture-on bench cannot start its capture: \(error)")
            }
            s.deliver(packets: 20_000)
            // With capture on, the time includes writing the last queued bytes and closing
            // every file (finish), not only handing them to the background writer. A capture
            // that failed (disk full …) is an error, not a rate.
            var failure: (any Error)?
            let t = clock.measure {
                s.deliver(packets: packets)
                do { _ = try s.capture?.finish() } catch { failure = error }
            }
            if let failure {
                s.tearDown()
                throw Self.failure("the capture-on bench could not write its pcaps: \(failure); free space or pass --capture-dir")
            }
            precondition(s.conservationHolds, "packet conservation failed in the bench scenario")
            precondition(s.delivered == 20_000 + packets && s.sent == s.delivered,
                         "the bench scenario delivered \(s.delivered) of \(s.sent) datagrams")
            if path == .clusterIP {
                precondition(s.serviceDNATVerified,
                             "the ClusterIP scenario did not go through one DNATed conntrack entry on pi-1: \(s.clientFlowEntries())")
            }
            s.tearDown()
            return Double(packets) / t.seconds
        }
        /// Each scenario is built afresh for every run; capture-on ones first run untimed.
        func sample(_ path: UDPPathScenario.Path, capture: Bool, packets: Int) throws -> BenchSamples {
            var s = BenchSamples()
            for _ in 0..<(capture ? captureWarmUpRuns : 0) {
                s.warmUp.append(try measure(path, capture: true, packets: packets))
            }
            for _ in 0..<runs { s.timed.append(try measure(path, capture: capture, packets: packets)) }
            return s
        }
        func sample(_ label: String, _ path: UDPPathScenario.Path, capture: Bool, packets: Int) throws -> BenchSamples {
            let s = try sample(path, capture: capture, packets: packets)
            show(label + s.summary)
            return s
        }
        let off = try sample("bridged UDP 1400 B, capture off:       ", .bridged, capture: false, packets: packets)
        let on = try sample("bridged UDP 1400 B, every hop captured: ", .bridged, capture: true, packets: capturedPackets)
        let vxlanOff = try sample("cross-node VXLAN UDP 1400 B, capture off:       ", .crossNodeVXLAN, capture: false,
                                  packets: packets / 2)
        let vxlanOn = try sample("cross-node VXLAN UDP 1400 B, every hop captured: ", .crossNodeVXLAN, capture: true,
                                 packets: capturedPackets / 4)
        let clusterIPOff = try sample("ClusterIP → pod on another node UDP 1400 B, capture off:       ", .clusterIP,
                                      capture: false, packets: packets / 2)
        let clusterIPOn = try sample("ClusterIP → pod on another node UDP 1400 B, every hop captured: ", .clusterIP,
                                     capture: true, packets: capturedPackets / 4)
        func rate(_ s: BenchSamples) -> JSONValue { .int(Int64(s.median!)) }
        if json {
            print(JSONValue.object([
                ("engine_events_per_s", .int(Int64(engineRate))),
                ("bridge_pkts_per_s_pcap_off", rate(off)),
                ("bridge_pkts_per_s_pcap_on", rate(on)),
                ("mallocs_per_packet", .null),
                ("vxlan_pkts_per_s_pcap_off", rate(vxlanOff)),
                ("vxlan_pkts_per_s_pcap_on", rate(vxlanOn)),
                ("clusterip_pkts_per_s_pcap_off", rate(clusterIPOff)),
                ("clusterip_pkts_per_s_pcap_on", rate(clusterIPOn)),
            ] + scaleJSON(scale) + [
                ("runs", .int(Int64(runs))),
                ("capture_warm_up_runs", .int(Int64(captureWarmUpRuns))),
            ]).compactText())
        } else {
            print("(bridged and VXLAN without netfilter; ClusterIP with kube-proxy's and flannel's rules and conntrack on both nodes)")
            print("mallocs per packet: see `make benchmarks` (ordo-one/benchmark counts them)")
        }
    }
}

extension BenchEngineCommand {
    /// What `podwire bench engine` reports of the 250-node scale scenario.
    struct ScaleFigures {
        var buildSeconds: Double
        var simSecondWallSeconds: Double
        var peakRSSBytes: Int64?
        var sent: Int
        var received: Int
    }

    /// Builds the 250-node cluster (netfilter included) and runs its simulated second, each
    /// timed; the peak RSS is the process's `VmHWM` right after, reset just before the build
    /// where /proc/self/clear_refs allows. Call it first, while the process is fresh.
    func measureScale(_ clock: ContinuousClock) -> ScaleFigures {
        ProcessMemory.resetPeak()
        var scenario: ScaleScenario?
        let build = clock.measure { scenario = ScaleScenario(.full) }
        let s = scenario!
        var result = (sent: 0, received: 0)
        let traffic = clock.measure { result = s.runTraffic(for: .seconds(1)) }
        precondition(s.conservationHolds, "packet conservation failed in the scale scenario")
        precondition(result.sent > 0 && result.received == result.sent && s.sendErrors == 0,
                     "the scale scenario delivered \(result.received) of \(result.sent) datagrams (\(s.sendErrors) send errors)")
        let figures = ScaleFigures(buildSeconds: build.seconds, simSecondWallSeconds: traffic.seconds,
                                   peakRSSBytes: ProcessMemory.peakResidentBytes(), sent: result.sent, received: result.received)
        scenario = nil
        return figures
    }

    func printScale(_ f: ScaleFigures) {
        if json {
            print(JSONValue.object(scaleJSON(f)).compactText())
        } else {
            for line in scaleLines(f) { print(line) }
        }
    }

    func scaleJSON(_ f: ScaleFigures) -> [(String, JSONValue)] {
        [
            ("scale_build_s", .number(DecimalText.double(f.buildSeconds, fractionDigits: 3))),
            ("scale_peak_rss_bytes", f.peakRSSBytes.map { .int($0) } ?? .null),
            ("scale_sim_second_wall_s", .number(DecimalText.double(f.simSecondWallSeconds, fractionDigits: 3))),
        ]
    }

    func scaleLines(_ f: ScaleFigures) -> [String] {
        let rss = f.peakRSSBytes.map { "\($0) bytes (\($0 / 1_048_576) MiB)" } ?? "unknown (no /proc/self/status)"
        return [
            "scale 250 nodes, 5000 pods, 1000 Services, build incl. netfilter: \(format(f.buildSeconds)) s",
            "scale peak RSS (VmHWM, scale scenario alone):                     \(rss)",
            "scale 1 simulated second, \(f.received) datagrams to random Services: \(format(f.simSecondWallSeconds)) s wall",
        ]
    }

    private func format(_ seconds: Double) -> String { DecimalText.double(seconds, fractionDigits: 3) }

    /// The process's peak resident set (`VmHWM` of /proc/self/status, Linux).
    enum ProcessMemory {
        /// `VmHWM` in bytes, or nil where there is no /proc.
        static func peakResidentBytes() -> Int64? {
            // Read to EOF: procfs files report size 0, so size-based reads see nothing.
            guard let handle = FileHandle(forReadingAtPath: "/proc/self/status") else { return nil }
            defer { try? handle.close() }
            let text = String(decoding: handle.readDataToEndOfFile(), as: UTF8.self)
            for line in text.split(separator: "\n") where line.hasPrefix("VmHWM:") {
                // "VmHWM:\t  707008 kB"
                let kib = line.dropFirst(6).split(whereSeparator: { $0 == " " || $0 == "\t" }).first.flatMap { Int64($0) }
                return kib.map { $0 * 1024 }
            }
            return nil
        }

        /// Resets `VmHWM` to the current RSS (`echo 5 > /proc/self/clear_refs`, Linux ≥ 4.0);
        /// does nothing where that is not possible.
        static func resetPeak() {
            guard let handle = FileHandle(forWritingAtPath: "/proc/self/clear_refs") else { return }
            try? handle.write(contentsOf: Data("5".utf8))
            try? handle.close()
        }
    }
}

extension Duration {
    var seconds: Double {
        let c = components
        return Double(c.seconds) + Double(c.attoseconds) / 1e18
    }
}
