/// `podwire run --svg`: each UDP flow's payload bytes read back from the captures, per bin —
/// across nodes over VXLAN, fragmented, through a Service's DNAT, bridged on one node and
/// masqueraded (NodePort, pod to a LAN host) — and the charts written from them.

import Engine
import Foundation
import Testing
import Topology
@testable import PodwireKit

@Suite(.serialized) struct FlowThroughputTests {
    static let yaml = """
        apiVersion: podwire/v1alpha1
        kind: Topology
        metadata: {name: flows}
        spec:
          duration: 600ms
          cluster: {cni: flannel-vxlan}
          nodes:
            - {name: pi-1, profile: raspberry-pi-4b, address: 192.168.50.11/24}
            - {name: pi-2, profile: raspberry-pi-4b, address: 192.168.50.12/24}
          hosts: [{name: ext, address: 192.168.50.100/24}]
          scenario:
            - {at: 0s, iperf3: {client: pod/client, server: pod/web-1, port: 5201, udp: true, bitrate: 20M, length: 1000, time: 200ms}}
            - {at: 100ms, udp: {client: pod/client, server: pod/web-1, port: 8080, count: 5, interval: 10ms, length: 2000}}
            - {at: 150ms, ping: {from: pod/client, to: pod/web-0, count: 2, interval: 10ms}}
            - {at: 300ms, udp: {client: pod/client, server: svc/web:80, count: 4, interval: 10ms, length: 100}}
            - {at: 250ms, iperf3: {client: pod/client, server: pod/web-0, port: 5202, udp: true, bitrate: 10M, length: 500, time: 100ms}}
            - {at: 400ms, udp: {client: host/ext, server: node/pi-2:30080, count: 3, interval: 10ms, length: 300}}
            - {at: 450ms, udp: {client: pod/client, server: host/ext, port: 9000, count: 2, interval: 10ms, length: 200}}
          capture: {interfaces: ["CAPTURE"]}
        ---
        apiVersion: v1
        kind: Pod
        metadata: {name: client}
        spec: {nodeName: pi-1, containers: [{name: c, image: busybox}]}
        ---
        apiVersion: v1
        kind: Pod
        metadata: {name: web-0, labels: {app: web}}
        spec: {nodeName: pi-1, containers: [{name: web, image: nginx, ports: [{name: http, containerPort: 8080, protocol: UDP}]}]}
        ---
        apiVersion: v1
        kind: Pod
        metadata: {name: web-1}
        spec: {nodeName: pi-2, containers: [{name: web, image: nginx}]}
        ---
        apiVersion: v1
        kind: Service
        metadata: {name: web}
        spec:
          type: NodePort
          selector: {app: web}
          ports: [{name: http, protocol: UDP, port: 80, targetPort: http, nodePort: 30080}]
        """

    static func run(capture: String = "*", label: String) throws -> RunReport {
        let t = try TopologyFile.parse(yaml: yaml.replacingOccurrences(of: "CAPTURE", with: capture), fileName: "flows.yaml")
        return try Replay.run(t, options: RunOptions(outputDirectory: E2E.tempDir(label)))
    }

    static func bytes(_ r: RunReport, bin: SimDuration) throws -> [[UInt64]] {
        try FlowThroughput.binnedBytes(taps: r.flowTaps, directory: r.captureDirectory!, epochSeconds: r.captureEpochSeconds,
                                       duration: r.duration, bin: bin)
    }

    @Test func everyUDPFlowIsFoundInTheReceiversCaptures() throws {
        let r = try Self.run(label: "flows")
        #expect(r.flowTaps.map(\.flow) == [1, 2, 4, 5, 6, 7])  // the ping (3) carries no UDP payload
        #expect(r.flowTaps.allSatisfy { $0.problem == nil && $0.clientPort != 0 })
        // web-1 and web-0 are pods: their eth0 only. The Service's endpoint is web-0 on 8080.
        #expect(r.flowTaps[0].receivers.map(\.file) == ["pi-2-web-1-eth0.pcap"])
        #expect(r.flowTaps[2].receivers.map(\.file) == ["pi-1-web-0-eth0.pcap"] && r.flowTaps[2].receivers.map(\.port) == [8080])
        let b = try Self.bytes(r, bin: .milliseconds(50))
        #expect(b.allSatisfy { $0.count == 12 })
        #expect(r.flowTaps[0].senders == ["pi-1-client-eth0.pcap"] && r.flowTaps[4].senders == ["ext-eth0.pcap"])
        // iperf3 20 Mbit/s of 1000 B payloads for 200 ms: 500 datagrams, all within 0-250 ms.
        #expect(b[0].reduce(0, +) == 500 * 1000)
        #expect(b[0][5...].allSatisfy { $0 == 0 })
        #expect(b[0][1] == 125_000)  // 50 ms at 20 Mbit/s
        // 5 datagrams of 2000 B, each cut into two fragments by the 1450-byte pod MTU.
        #expect(b[1].reduce(0, +) == 5 * 2000)
        #expect(b[1][2] + b[1][3] == 10_000)
        #expect(b[2].reduce(0, +) == 4 * 100)  // through the Service, DNATed to web-0:8080
        #expect(b[2][6] == 400)
        #expect(b[3].reduce(0, +) == 250 * 500)  // bridged on pi-1: 10 Mbit/s for 100 ms
        #expect(b[3][5] + b[3][6] == 125_000)
        // Masqueraded with a random source port (kube-proxy's NodePort, flanneld's pod → LAN):
        // found by content, against what the client sent.
        #expect(b[4].reduce(0, +) == 3 * 300 && b[4][8] == 900)
        #expect(b[5].reduce(0, +) == 2 * 200 && b[5][9] == 400)
        var blind = r.flowTaps
        for i in blind.indices { blind[i].senders = [] }
        let direct = try FlowThroughput.binnedBytes(taps: blind, directory: r.captureDirectory!, epochSeconds: r.captureEpochSeconds,
                                                    duration: r.duration, bin: .milliseconds(50))
        #expect(direct[4].reduce(0, +) == 0 && direct[5].reduce(0, +) == 0)  // the source port changed on the way
        #expect(direct[0] == b[0] && direct[1] == b[1] && direct[2] == b[2] && direct[3] == b[3])
    }

    @Test func chartsAreWrittenAndRepeatable() throws {
        let r = try Self.run(label: "flows-a")
        let dir = E2E.tempDir("svg-a")
        let (files, skipped, notes) = try FlowThroughput.writeCharts(r, directory: dir, bin: nil)
        #expect(skipped.isEmpty && notes.isEmpty)
        #expect(files.map { URL(fileURLWithPath: $0).lastPathComponent } == ["throughput.svg", "flow-1.svg", "flow-2.svg", "flow-4.svg", "flow-5.svg", "flow-6.svg", "flow-7.svg"])
        let text = try String(contentsOfFile: dir + "/throughput.svg", encoding: .utf8)
        let x = try #require(XMLElements.parse(text))
        #expect(x.all("polyline", class: "flow").count == 6)
        // 600 ms / 100 = 6 ms, rounded down to 5 ms: 120 bins, two points each.
        #expect(x.all("polyline", class: "flow").allSatisfy { $0.attributes["points"]!.split(separator: " ").count == 240 })
        #expect(x.texts.contains { $0.hasPrefix("flow 1: iperf3 -u pod/client → pod/web-1:5201 -b 20M") })
        #expect(x.texts.contains { $0.hasPrefix("flow 4: udp pod/client → svc/web:80") })
        let one = try #require(XMLElements.parse(try String(contentsOfFile: dir + "/flow-2.svg", encoding: .utf8)))
        #expect(one.all("polyline", class: "flow").count == 1)

        // Same topology and seed, another run: the same bytes.
        let again = try Self.run(label: "flows-b")
        let dir2 = E2E.tempDir("svg-b")
        _ = try FlowThroughput.writeCharts(again, directory: dir2, bin: nil)
        for f in ["throughput.svg", "flow-1.svg", "flow-5.svg"] {
            let a = FileManager.default.contents(atPath: dir + "/" + f), b = FileManager.default.contents(atPath: dir2 + "/" + f)
            #expect(a != nil && a == b, "\(f) differs between two runs")
        }
    }

    /// A udp step of one datagram has no interval to speak of: its title used to say
    /// "1 × 64 B every 50ms", the default interval of a step that never waits.
    @Test func aOneDatagramStepsTitleGivesNoInterval() throws {
        let yaml = """
            apiVersion: podwire/v1alpha1
            kind: Topology
            metadata: {name: titles}
            spec:
              duration: 100ms
              nodes: [{name: pi-1, profile: raspberry-pi-4b, address: 192.168.50.11/24}]
              scenario:
                - {at: 0s, udp: {client: pod/a, server: pod/b, port: 8080, count: 1, length: 64}}
                - {at: 10ms, udp: {client: pod/a, server: pod/b, port: 8080, count: 2, interval: 5ms, length: 64}}
              capture: {interfaces: ["pi-1/b/eth0"]}
            ---
            {apiVersion: v1, kind: Pod, metadata: {name: a}, spec: {nodeName: pi-1, containers: [{name: c, image: busybox}]}}
            ---
            {apiVersion: v1, kind: Pod, metadata: {name: b}, spec: {nodeName: pi-1, containers: [{name: c, image: busybox}]}}
            """
        let r = try Replay.run(try TopologyFile.parse(yaml: yaml, fileName: "titles.yaml"),
                               options: RunOptions(outputDirectory: E2E.tempDir("titles")))
        #expect(r.flows.map(\.title) == ["udp pod/a → pod/b:8080, 1 × 64 B, echoed (at 0s)",
                                          "udp pod/a → pod/b:8080, 2 × 64 B every 5ms, echoed (at 10ms)"])
    }

    @Test func aFlowWhoseReceiverWasNotCapturedIsSkippedWithAReason() throws {
        let r = try Self.run(capture: "pi-1/*/*", label: "flows-pi1")
        let dir = E2E.tempDir("svg-pi1")
        let (files, skipped, notes) = try FlowThroughput.writeCharts(r, directory: dir, bin: .milliseconds(100))
        #expect(files.count == 4)  // throughput.svg, flow-4, flow-5 and flow-6 (received on pi-1)
        #expect(skipped.count == 3)  // flows 1 and 2 to web-1 on pi-2, flow 7 to ext
        #expect(notes == ["flow 6 (udp host/ext → node/pi-2:30080, 3 × 300 B every 10ms, echoed (at 400ms)): the client's interfaces were not captured, so only datagrams that keep its source port (no SNAT) are counted"])
        #expect(skipped.first == "flow 1 (iperf3 -u pod/client → pod/web-1:5201 -b 20M -l 1000 -t 200ms (at 0s)): no interface of web-1 was captured (spec.capture.interfaces)")
    }

    @Test func binsAreBoundedAndDefaultTo1_2_5() throws {
        #expect(FlowThroughput.defaultBin(for: .seconds(2)) == .milliseconds(20))
        #expect(FlowThroughput.defaultBin(for: .milliseconds(1500)) == .milliseconds(10))
        #expect(FlowThroughput.defaultBin(for: .seconds(3)) == .milliseconds(20))
        #expect(FlowThroughput.defaultBin(for: .seconds(50)) == .milliseconds(500))
        #expect(FlowThroughput.defaultBin(for: .microseconds(10)) == .microseconds(1))
        do {
            _ = try FlowThroughput.series(taps: [], directory: "/nonexistent", epochSeconds: 0, duration: .seconds(10), bin: .microseconds(1))
            Issue.record("expected too many bins")
        } catch {
            #expect(error.description.contains("10000000 bins; at most 100000") && error.exitCode == 2)
        }
    }

    /// A folder of charts never mixes runs: charts an earlier run wrote (`flow-N.svg`,
    /// `throughput.svg`) are removed before the replay; other files stay.
    @Test func runRemovesAnEarlierRunsChartsOnly() throws {
        let dir = E2E.tempDir("svg-stale")
        let plots = dir + "/plots"
        try FileManager.default.createDirectory(atPath: plots, withIntermediateDirectories: true)
        for name in ["flow-99.svg", "throughput.svg", "flow-x.svg", "notes.txt"] {
            try "earlier\n".write(toFile: plots + "/" + name, atomically: true, encoding: .utf8)
        }
        #expect(FlowThroughput.isChartName("flow-12.svg") && !FlowThroughput.isChartName("flow-.svg")
                && !FlowThroughput.isChartName("flow-1a.svg") && !FlowThroughput.isChartName("throughput.svg.bak"))
        let r = try E2E.run(E2E.podwire, ["run", "topologies/single-node.yaml", "--out", dir + "/out", "--svg", plots])
        #expect(r.status == 0, "\(r.stderr)")
        let names = Set(try FileManager.default.contentsOfDirectory(atPath: plots))
        #expect(!names.contains("flow-99.svg"), "an earlier run's chart was left: \(names.sorted())")
        #expect(names.contains("flow-x.svg") && names.contains("notes.txt"))
        #expect(try String(contentsOfFile: plots + "/throughput.svg", encoding: .utf8).contains("single-node"))
        let charts = names.filter(FlowThroughput.isChartName)
        #expect(r.stdout.contains("PLOTS: \(charts.count) SVG files in \(plots)/"), "\(r.stdout)")
    }

    /// A bin too short for the run is refused before the replay, not after it.
    @Test func runRefusesATooShortBinBeforeReplaying() throws {
        let dir = E2E.tempDir("svg-bin")
        let r = try E2E.run(E2E.podwire, ["run", "topologies/single-node.yaml", "--out", dir + "/out", "--duration", "10ms",
                                          "--svg", dir + "/plots", "--svg-bin", "1ns"])
        #expect(r.status == 2, "exit \(r.status)\n\(r.stderr)")
        #expect(r.stderr.contains("--svg-bin 1ns cuts 10ms into 10000000 bins; at most 100000 are drawn — use a bin of at least 100ns"),
                "\(r.stderr)")
        #expect(r.stdout.isEmpty)
        #expect(!FileManager.default.fileExists(atPath: dir + "/out"), "the replay ran before the refusal")
    }
}
