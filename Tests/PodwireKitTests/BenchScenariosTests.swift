import Datapath
import Engine
import PodwireKit
import Testing
import Wire

/// The scenarios behind `podwire bench` and Benchmarks/ do the work they claim to measure.
/// No timing here: only what the packets did.
@Suite struct BenchScenariosTests {
    /// The (destination, destination port, source) of every IPv4/UDP frame one device sends
    /// or receives, read from the frame's bytes.
    final class UDPFrames: HopObserver {
        let device: DeviceID
        let stage: HopStage
        var seen: [(destination: IPv4Address, port: UInt16, source: IPv4Address)] = []

        init(device: DeviceID, stage: HopStage) {
            self.device = device
            self.stage = stage
        }

        func observe(_ hop: Hop, frame: UnsafeRawBufferPointer) {
            guard hop.device == device, hop.stage == stage,
                  let eth = try? EthernetHeader(parsing: frame), eth.etherType == .ipv4 else { return }
            let packet = UnsafeRawBufferPointer(rebasing: frame[EthernetHeader.length...])
            guard let ip = try? IPv4Header(parsing: packet), ip.protocol == .udp,
                  let udp = try? UDPHeader(parsing: UnsafeRawBufferPointer(rebasing: packet[ip.headerLength..<Int(ip.totalLength)]))
            else { return }
            seen.append((ip.destination, udp.destinationPort, ip.source))
        }
    }

    /// pod → Service → pod on another node: the client addresses every datagram to the
    /// ClusterIP, pi-1's conntrack DNATs them (one entry for the one socket), and the server
    /// pod on pi-2 receives them addressed to its own IP and port 5201 — which would not be
    /// the case if the scenario silently sent straight to the pod.
    @Test func clusterIPGoesThroughTheServiceDNAT() throws {
        let s = try UDPPathScenario(.clusterIP, capture: false)
        let world = s.cluster.world
        let clientIP = try #require(s.client.ip), serverIP = try #require(s.server.ip)
        let sent = UDPFrames(device: try #require(s.client.eth0), stage: .deviceTx)
        let received = UDPFrames(device: try #require(s.server.eth0), stage: .deviceRx)
        world.addObserver(sent)
        world.addObserver(received)

        let packets = 2_000
        #expect(s.deliver(packets: packets) == packets)
        #expect(s.sent == packets)
        #expect(s.conservationHolds)

        // What the client put on the wire: the Service, never the pod.
        #expect(s.target.address == IPv4Address(10, 96, 0, 20) && s.target.port == 80)
        #expect(sent.seen.count == packets)
        #expect(sent.seen.allSatisfy { $0.destination == IPv4Address(10, 96, 0, 20) && $0.port == 80 && $0.source == clientIP })
        // What reached the server pod: its own address and the targetPort, from the client (no SNAT).
        #expect(serverIP != IPv4Address(10, 96, 0, 20))
        #expect(received.seen.count == packets)
        #expect(received.seen.allSatisfy { $0.destination == serverIP && $0.port == 5201 && $0.source == clientIP })
        #expect(s.deliveredFromClientToPod == packets)

        // pi-1: one conntrack entry for the flow, DNATed to the pod, counting every datagram.
        let entries = s.clientFlowEntries()
        #expect(entries.count == 1)
        let entry = try #require(entries.first)
        #expect(entry.status.contains(.dstNAT) && !entry.status.contains(.srcNAT))
        #expect(entry.reply.source == serverIP && entry.reply.sourcePort == 5201)
        #expect(entry.originalCounters.packets == UInt64(packets))
        #expect(s.serviceDNATVerified)

        // pi-2 tracks the already translated flow, without NAT of its own.
        let pi2 = try #require(world.namespace(s.cluster.nodes[1].netns).netfilter)
        let pi2Flows = pi2.conntrack.entries(now: s.lastDelivery).filter { $0.original.source == clientIP }
        #expect(pi2Flows.count == 1)
        #expect(pi2Flows.first.map { $0.original.destination == serverIP && $0.original.destinationPort == 5201 } == true)
        #expect(pi2Flows.first.map { !$0.status.contains(.dstNAT) && !$0.status.contains(.srcNAT) } == true)

        // The check judges the entry when the last datagram arrived: a long idle afterwards
        // (a long `deliver` batch runs the clock on) expires the unreplied flow (30 s), which
        // must not fail a run whose datagrams all went through it.
        world.run(until: world.now + .seconds(60))
        let pi1 = try #require(world.namespace(s.cluster.nodes[0].netns).netfilter)
        #expect(!pi1.conntrack.entries(now: world.now).contains { $0.original.source == clientIP })
        #expect(s.serviceDNATVerified)
    }

    /// The bridged and cross-node VXLAN scenarios measure the datapath without netfilter
    /// (their doc comment says so): no node has rules or a conntrack table.
    @Test(arguments: [UDPPathScenario.Path.bridged, .crossNodeVXLAN])
    func directPathsRunWithoutNetfilter(_ path: UDPPathScenario.Path) throws {
        let s = try UDPPathScenario(path, capture: false)
        #expect(s.deliver(packets: 200) == 200)
        #expect(s.conservationHolds)
        #expect(s.deliveredFromClientToPod == 200)
        #expect(s.cluster.nodes.allSatisfy { s.cluster.world.namespace($0.netns).netfilter == nil })
        #expect(s.clientFlowEntries().isEmpty)
        #expect(!s.serviceDNATVerified)
    }
}
