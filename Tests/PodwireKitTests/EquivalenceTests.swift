@testable import Datapath
import Engine
import Foundation
import PodwireKit
import Testing
import Topology

/// The engine's shortcuts (`EngineShortcuts`) skip work whose result is already known. They
/// must not change anything a user can see: every example topology and every bench scenario
/// is run with all of them on and with all of them off, and every pcap must match byte for
/// byte, and every report line, counter, iptables counter and conntrack entry must match too.
/// Each run also shows that the shortcuts were taken, so a match is not two identical slow runs.
@Suite struct EquivalenceTests {
    /// Every file in topologies/.
    static let topologies: [String] = {
        let dir = E2E.repo.appendingPathComponent("topologies").path
        return ((try? FileManager.default.contentsOfDirectory(atPath: dir)) ?? [])
            .filter { $0.hasSuffix(".yaml") }.sorted().map { "\(dir)/\($0)" }
    }()

    @Test func everyExampleTopologyIsFound() {
        #expect(Self.topologies.count >= 5, "topologies/ holds the example files: \(Self.topologies)")
    }

    @Test(arguments: topologies)
    func aTopologyReplaysTheSameWithoutShortcuts(_ path: String) throws {
        let topology = try TopologyFile.load(path: path)
        var runs: [(report: RunReport, dir: String, files: [String: Data])] = []
        for shortcuts in [EngineShortcuts.all, []] {
            let dir = E2E.tempDir("equivalence")
            defer { try? FileManager.default.removeItem(atPath: dir) }
            var options = RunOptions(outputDirectory: dir)
            options.shortcuts = shortcuts
            let report = try Replay.run(topology, options: options)
            runs.append((report, dir, try Self.files(in: dir)))
        }
        let (fast, slow) = (runs[0], runs[1])
        #expect(fast.report.captureFiles.map(\.packets).reduce(0, +) > 0, "\(path): the runs captured packets")
        #expect(fast.files.keys.sorted() == slow.files.keys.sorted(), "\(path): the same files")
        for (name, bytes) in fast.files.sorted(by: { $0.key < $1.key }) {
            #expect(slow.files[name] == Self.unDir(bytes, fast.dir, slow.dir), "\(path): \(name) differs without the shortcuts")
        }
        #expect(fast.report.text().replacingOccurrences(of: fast.dir, with: slow.dir) == slow.report.text(),
                "\(path): the report differs without the shortcuts")
        #expect(fast.report.json().text().replacingOccurrences(of: fast.dir, with: slow.dir) == slow.report.json().text(),
                "\(path): the JSON report differs without the shortcuts")
        #expect(fast.report.conservationHolds && slow.report.conservationHolds)
    }

    static let paths: [UDPPathScenario.Path] = [.bridged, .crossNodeVXLAN, .clusterIP]

    /// The bench scenarios (the ones the speed figures come from), every hop captured.
    @Test(arguments: paths)
    func aBenchScenarioRunsTheSameWithoutShortcuts(_ path: UDPPathScenario.Path) throws {
        var runs: [(files: [String: Data], state: [String], direct: UInt64, walks: UInt64)] = []
        for shortcuts in [EngineShortcuts.all, []] {
            let dir = E2E.tempDir("equivalence-bench")
            defer { try? FileManager.default.removeItem(atPath: dir) }
            let s = try UDPPathScenario(path, capture: true, captureDirectory: dir, shortcuts: shortcuts)
            #expect(s.deliver(packets: 2_000) == 2_000)
            _ = try s.finishCapture()
            let world = s.cluster.world
            let walks = world.namespaces.compactMap(\.netfilter).map(\.rules.rememberedWalks).reduce(0, +)
            runs.append((try Self.files(in: dir), Self.state(world), world.directContinuations, walks))
        }
        let (fast, slow) = (runs[0], runs[1])
        #expect(fast.files.count >= 6 && fast.files.keys.sorted() == slow.files.keys.sorted())
        for (name, bytes) in fast.files.sorted(by: { $0.key < $1.key }) {
            #expect(slow.files[name] == bytes, "\(path): \(name) differs without the shortcuts")
        }
        #expect(fast.state == slow.state, "\(path): counters differ without the shortcuts")
        // The shortcuts were taken with them on, and never with them off.
        #expect(fast.direct > 2_000 && slow.direct == 0)
        if path == .clusterIP {
            #expect(fast.walks > 2_000 && slow.walks == 0)
        }
    }

    /// Every counter of a world, one line each: packet accounting, events, devices, cores,
    /// iptables (with rule counters) and conntrack.
    static func state(_ world: World) -> [String] {
        var out = ["accounting \(world.accounting)", "events \(world.scheduler.eventsProcessed)",
                   "in flight \(world.packetsInFlight())", "now \(world.now)"]
        for ns in world.namespaces {
            for d in ns.devices { out.append("\(ns.name) \(world.device(d).name) \(world.device(d).counters)") }
            out.append("\(ns.name) cores \(world.coreStatistics(ns.id))")
            if let nf = ns.netfilter {
                out.append(nf.rules.save(counters: true))
                out += nf.conntrack.list(now: world.now, extended: true)
            }
        }
        return out
    }

    /// Every file of a run's folder by name (the `.podwire` marker aside).
    static func files(in dir: String) throws -> [String: Data] {
        var out: [String: Data] = [:]
        for name in try FileManager.default.contentsOfDirectory(atPath: dir) where !name.hasPrefix(".") {
            out[name] = try Data(contentsOf: URL(fileURLWithPath: "\(dir)/\(name)"))
        }
        return out
    }

    /// `bytes` with the folder name `from` written as `to` (index.json names its folder).
    static func unDir(_ bytes: Data, _ from: String, _ to: String) -> Data {
        guard let s = String(data: bytes, encoding: .utf8), s.contains(from) else { return bytes }
        return Data(s.replacingOccurrences(of: from, with: to).utf8)
    }
}
