import Testing
@testable import Datapath
import Engine
import Wire

/// Shaped cables: serialisation at the line rate, propagation delay, txqueuelen.
@Suite struct LinkTests {
    /// Two hosts on one veth "cable": a at 10.0.0.1, b at 10.0.0.2, both ends shaped.
    static func pair(rate: Int64, queue: Int = 1000, delay: SimDuration = .microseconds(5))
        -> (World, NamespaceID, NamespaceID, DeviceID) {
        let w = World(seed: 1)
        let a = w.addNamespace(name: "a", kind: .host, node: "a")
        let b = w.addNamespace(name: "b", kind: .host, node: "b")
        let (ea, eb) = w.addVethPair(a, "eth0", mac1: MACAddress(2, 0, 0, 0, 0, 1), b, "eth0", mac2: MACAddress(2, 0, 0, 0, 0, 2), mtu: 1500)
        w.addAddress(IPv4Interface("10.0.0.1/24")!, to: ea)
        w.addAddress(IPv4Interface("10.0.0.2/24")!, to: eb)
        for d in [ea, eb] { w.setLink(LinkShape(rate: rate, propagationDelay: delay, txqueuelen: queue), of: d) }
        return (w, a, b, ea)
    }

    @Test func serialisationAndPropagationSetArrivalTimes() throws {
        let (w, a, b, ea) = Self.pair(rate: 1_000_000_000)
        let rec = HopRecorder(w)
        w.addObserver(rec)
        let server = UDPApp()
        _ = try w.openUDP(in: b, port: 9, app: w.register(server))
        let cs = try w.openUDP(in: a, port: nil, app: w.register(UDPApp()))
        for _ in 0..<3 {
            try w.sendUDP(cs, to: IPv4Address(10, 0, 0, 2), port: 9, payloadLength: 1472) { $0.initializeMemory(as: UInt8.self, repeating: 0) }
        }
        w.run(until: SimTime.zero + .milliseconds(10))
        #expect(server.received.count == 3)
        // 1514-byte frames + 24 bytes of preamble/FCS/IFG at 1 Gbit/s = 12.304 µs on the wire.
        let tx = rec.records.filter { $0.device == "a/eth0" && $0.hop.stage == .deviceTx && $0.frame.count == 1514 }
        let rx = rec.records.filter { $0.device == "b/eth0" && $0.hop.stage == .deviceRx && $0.frame.count == 1514 }
        #expect(tx.count == 3 && rx.count == 3)
        if tx.count == 3 && rx.count == 3 {
            #expect(tx[1].hop.time - tx[0].hop.time == .nanoseconds(12_304))   // back to back
            #expect(tx[2].hop.time - tx[1].hop.time == .nanoseconds(12_304))
            #expect(rx[0].hop.time - tx[0].hop.time == .nanoseconds(12_304 + 5_000))
        }
        #expect(w.device(ea).counters.txPackets >= 3)
        #expect(w.conservationHolds())
    }

    @Test func aFullTransmitQueueDropsWithAReason() throws {
        let (w, a, b, ea) = Self.pair(rate: 10_000_000, queue: 4)
        let server = UDPApp()
        _ = try w.openUDP(in: b, port: 9, app: w.register(server))
        let cs = try w.openUDP(in: a, port: nil, app: w.register(UDPApp()))
        // Resolve ARP first so the burst meets the queue, not the neighbour queue.
        try w.sendUDP(cs, to: IPv4Address(10, 0, 0, 2), port: 9, payloadLength: 10) { $0.initializeMemory(as: UInt8.self, repeating: 0) }
        w.run(until: SimTime.zero + .milliseconds(5))
        for _ in 0..<20 {
            try w.sendUDP(cs, to: IPv4Address(10, 0, 0, 2), port: 9, payloadLength: 1472) { $0.initializeMemory(as: UInt8.self, repeating: 0) }
        }
        w.run(until: SimTime.zero + .milliseconds(100))
        // One on the wire, four waiting; the rest of the burst is dropped.
        #expect(server.received.count == 1 + 5)
        #expect(w.accounting.dropped(.queueFull) == 15)
        #expect(w.device(ea).counters.txDropped == 15)
        #expect(w.conservationHolds())
    }
}
