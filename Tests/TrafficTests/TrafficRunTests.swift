/// The scenario registry: order of reports, whole-run JSON.
import Datapath
import DatapathTestSupport
import Engine
import Testing
import Wire
@testable import Traffic

@Suite struct TrafficRunTests {
    static func scenario(seed: UInt64) throws -> (TrafficRun, World) {
        let n = BridgedNode.twoPods(seed: seed)
        let run = TrafficRun(world: n.world)
        try run.addPing(name: "ping-before", in: n.client.ns,
                        configuration: PingConfiguration(destination: n.server.ip, count: 2, interval: .milliseconds(100)))
        let s = try run.addIperf3Server(name: "iperf3-server", in: n.server.ns)
        try run.addIperf3Client(name: "iperf3-client", in: n.client.ns,
                                configuration: .init(server: n.server.ip, bitrate: 10_000_000, length: 1000,
                                                     time: .milliseconds(50), start: .ms(300)),
                                server: s)
        try run.addPing(name: "ping-after", in: n.client.ns,
                        configuration: PingConfiguration(destination: n.server.ip, count: 1, start: .ms(400)))
        n.world.run(until: .ms(2_000))
        return (run, n.world)
    }

    @Test func reportsComeInScenarioOrder() throws {
        let (run, world) = try Self.scenario(seed: 5)
        let reports = run.reports()
        #expect(reports.map(\.name) == ["ping-before", "iperf3-client", "ping-after"])
        guard case .iperf3(let i) = reports[1] else { Issue.record("not iperf3"); return }
        #expect(i.packets == 63)   // ⌈0.05 × 10e6 / 8000⌉ = 62.5 → 63
        #expect(i.packetsReceived == 63)
        guard case .ping(let p) = reports[2] else { Issue.record("not ping"); return }
        #expect(p.received == 1)
        #expect(world.conservationHolds())
        #expect(run.applications.map(\.name) == ["ping-before", "iperf3-server", "iperf3-client", "ping-after"])
    }

    @Test func wholeRunJSONIsByteIdentical() throws {
        let a = try Self.scenario(seed: 11).0.reportsJSON()
        let b = try Self.scenario(seed: 11).0.reportsJSON()
        #expect(a == b)
        #expect(a.hasPrefix("{\n  \"reports\": [\n"))
    }

    @Test func duplicatePortIsRefused() throws {
        let n = BridgedNode.twoPods()
        let run = TrafficRun(world: n.world)
        try run.addIperf3Server(name: "a", in: n.server.ns, port: 5201)
        #expect(throws: SocketOpenError.portInUse(5201)) { try run.addIperf3Server(name: "b", in: n.server.ns, port: 5201) }
    }
}
