import Foundation
@testable import PodwireKit
import Testing

/// `podwire bench engine` reports the median of its timed runs and shows every run.
@Suite struct BenchSamplesTests {
    @Test func medianOfAnOddCountIsTheMiddleRunAndIgnoresOrder() {
        let s = BenchSamples(warmUp: [], timed: [3_900_000, 2_830_000, 3_840_000])
        #expect(s.median == 3_840_000)
    }

    @Test func medianOfAnEvenCountIsTheMeanOfTheMiddleTwo() {
        #expect(BenchSamples(timed: [10, 40, 20, 30]).median == 25)
        #expect(BenchSamples(timed: [7]).median == 7)
        #expect(BenchSamples().median == nil)
    }

    @Test func warmUpRunsAreShownButNeverCounted() {
        let s = BenchSamples(warmUp: [152_473], timed: [752_294, 740_221, 759_951])
        #expect(s.median == 752_294)
        #expect(s.summary == "752294 delivered packets/s (median of 3 runs: 752294, 740221, 759951; warm-up run, not counted: 152473)")
        #expect(BenchSamples(timed: [1_500_000.9]).summary == "1500000 delivered packets/s (1 run)")
        #expect(BenchSamples(timed: [25_300_000, 23_311_253, 25_700_000]).summary(unit: "events/s")
                == "25300000 events/s (median of 3 runs: 25300000, 23311253, 25700000)")
    }

    /// Bad counts are refused by the command line before anything runs.
    @Test func benchEngineRefusesZeroRuns() throws {
        let r = try E2E.run(E2E.podwire, ["bench", "engine", "--runs", "0"])
        #expect(r.status != 0)
        #expect(r.stderr.contains("--runs must be at least 1 (found 0)"))
        #expect(!r.stderr.contains("Fatal error"))
        let w = try E2E.run(E2E.podwire, ["bench", "engine", "--capture-warm-up-runs=-1"])
        #expect(w.status != 0 && w.stderr.contains("--capture-warm-up-runs must be 0 or more"))
    }

    /// The smallest whole bench: few events and datagrams, every scenario still runs (the
    /// 250-node one at full size: ~14 s in a debug build).
    static let tinyBench = ["bench", "engine", "--events", "1000", "--packets", "200", "--captured-packets", "8",
                            "--runs", "1", "--capture-warm-up-runs", "0"]

    /// `bench engine --json` keeps `podwire bench --json`'s keys and adds issue 5's, every
    /// rate a positive number, and leaves nothing in its capture folder.
    @Test func benchEngineJSONHasEveryKey() throws {
        let dir = E2E.tempDir("bench-json")
        let r = try E2E.run(E2E.podwire, Self.tinyBench + ["--json", "--capture-dir", dir])
        #expect(r.status == 0, "\(r.stderr)")
        let lines = r.stdout.split(separator: "\n")
        #expect(lines.count == 1, "one JSON line:\n\(r.stdout)")
        let object = try JSONSerialization.jsonObject(with: Data(r.stdout.utf8)) as? [String: Any] ?? [:]
        for key in ["engine_events_per_s", "bridge_pkts_per_s_pcap_off", "bridge_pkts_per_s_pcap_on",
                    "vxlan_pkts_per_s_pcap_off", "vxlan_pkts_per_s_pcap_on",
                    "clusterip_pkts_per_s_pcap_off", "clusterip_pkts_per_s_pcap_on",
                    "scale_build_s", "scale_peak_rss_bytes", "scale_sim_second_wall_s"] {
            let value = (object[key] as? NSNumber)?.doubleValue ?? 0
            #expect(value > 0, "\(key): \(String(describing: object[key]))")
        }
        #expect(object.keys.contains("mallocs_per_packet") && object["mallocs_per_packet"] is NSNull)
        #expect((object["runs"] as? Int) == 1 && (object["capture_warm_up_runs"] as? Int) == 0)
        #expect(object.count == 13, "keys: \(object.keys.sorted())")
        let left = (try? FileManager.default.contentsOfDirectory(atPath: dir)) ?? []
        #expect(left.isEmpty, "left in the capture folder: \(left)")
    }

    /// Without --json every figure is a line of its own, in the order measured (printed as
    /// each is done, so a user sees the bench move).
    @Test func benchEngineTextHasALinePerFigureInTheOrderMeasured() throws {
        let r = try E2E.run(E2E.podwire, Self.tinyBench)
        #expect(r.status == 0, "\(r.stderr)")
        let starts = ["scale 250 nodes", "scale peak RSS", "scale 1 simulated second", "engine hold model",
                      "bridged UDP 1400 B, capture off:", "bridged UDP 1400 B, every hop captured:",
                      "cross-node VXLAN UDP 1400 B, capture off:", "cross-node VXLAN UDP 1400 B, every hop captured:",
                      "ClusterIP → pod on another node UDP 1400 B, capture off:",
                      "ClusterIP → pod on another node UDP 1400 B, every hop captured:",
                      "(bridged and VXLAN without netfilter", "mallocs per packet:"]
        let lines = r.stdout.split(separator: "\n").map(String.init)
        #expect(lines.count == starts.count, "\(r.stdout)")
        for (line, start) in zip(lines, starts) { #expect(line.hasPrefix(start), "\(line) does not start with \(start)") }
        #expect(lines.filter { $0.hasSuffix("delivered packets/s (1 run)") }.count == 6, "\(r.stdout)")
        #expect(lines[3].contains(" events/s (1 run)  (checksum "), "\(lines[3])")
    }
}
