import Foundation
import Testing

/// A sender held back by its send buffer (`SO_SNDBUF`, World+SendBuffer.swift), end to end:
/// two Pi 4 nodes on gigabit, each flow offering 2 Gbit/s of 1400-byte UDP for 200 ms. The
/// node's own iperf3 keeps its datagrams charged while they wait in eth0's queue, so it is
/// held to the wire: nothing lost, about 955 Mbit/s, and no more queueing than its 212,992-byte
/// buffer holds (92 datagrams of 2304 bytes, 1.1 ms at line rate). A pod's datagrams stop
/// counting when pi-1's IPv4 stack takes them, so the pod sends as fast as its core allows
/// and eth0's queue drops the excess. A node's unlimited sender (`bitrate: 0`, iperf3's
/// `-b 0`) is held to the wire the same way. Linux 6.18 did both in namespaces
/// (Tests/kernel-twin/send-buffer.sh). podwire used to drop half of the node's datagrams at
/// the queue, with 12 ms of queueing.
@Suite struct SendBufferTests {
    @Test func aNodesSenderIsHeldToTheWireAndAPodsIsNot() throws {
        let t = try E2E.topology("two-node-vxlan.yaml", steps: """
                - {at: 0s, iperf3: {client: node/pi-1, server: node/pi-2, udp: true, bitrate: 2G, length: 1400, time: 200ms}}
                - {at: 500ms, iperf3: {client: pod/client, server: pod/web-1, udp: true, bitrate: 2G, length: 1400, time: 200ms}}
                - {at: 750ms, iperf3: {client: node/pi-2, server: node/pi-1, udp: true, bitrate: 0, length: 1400, time: 200ms}}

            """).replacingOccurrences(of: "duration: 3s", with: "duration: 1s")
        let dir = E2E.tempDir("send-buffer")
        try t.write(toFile: dir + "/t.yaml", atomically: true, encoding: .utf8)
        let r = try E2E.run(E2E.podwire, ["run", dir + "/t.yaml", "--out", dir + "/out", "--json"])
        #expect(r.status == 0, "\(r.stderr)")
        let summary = try #require(try JSONSerialization.jsonObject(with: Data(r.stdout.utf8)) as? [String: Any])
        let flows = try #require(summary["flows"] as? [[String: Any]])
        try #require(flows.count == 3)
        func total(_ flow: [String: Any]) throws -> [String: Any] {
            let result = try #require(flow["result"] as? [String: Any])
            let end = try #require(result["end"] as? [String: Any])
            return try #require(end["sum"] as? [String: Any])
        }
        let node = try total(flows[0]), pod = try total(flows[1]), unlimited = try total(flows[2])
        // Offered 2 Gbit/s, or as fast as its core allows (-b 0): the wire's ~955 Mbit/s either way.
        for sum in [node, unlimited] {
            #expect(sum["lost_packets"] as? Int == 0, "\(sum)")
            let rate = try #require(sum["bits_per_second"] as? Double)
            #expect(rate > 950e6 && rate < 965e6, "\(rate)")
        }
        // Queueing: at most a send buffer's worth of datagrams (92 × 1466 byte-times ≈ 1.08 ms).
        let podwire = try #require((flows[0]["result"] as? [String: Any])?["podwire"] as? [String: Any])
        let delay = try #require(podwire["one_way_delay_us"] as? [String: Any])
        let maxDelay = try #require(delay["max"] as? Double)
        #expect(maxDelay < 1_200, "\(delay)")
        let podLost = try #require(pod["lost_percent"] as? Double)
        #expect(podLost > 30, "\(pod)")
        // Lost at pi-1's eth0 queue (the node flow lost nothing, so these are the pod's).
        let drops = try #require(summary["drops"] as? [[String: Any]])
        let queueDrops = drops.first { $0["reason"] as? String == "SKB_DROP_REASON_QDISC_DROP" }?["packets"] as? Int ?? 0
        #expect(queueDrops >= pod["lost_packets"] as? Int ?? .max, "\(drops)")
    }
}
