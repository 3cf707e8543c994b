@testable import Datapath
import DatapathTestSupport
import Engine
import Testing
import Wire

/// The send buffer's accounting (World+SendBuffer.swift); SendBufferTests in PodwireKitTests
/// shows what it does to a flood.
@Suite struct SendBufferAccountingTests {
    /// What Linux 6.18 charged a UDP socket per datagram (`ss -m`'s t, the datagram held in an
    /// ARP queue; Tests/kernel-twin/send-buffer.sh): 64, 1400 and 1472 payload bytes.
    @Test func truesizeIsWhatLinuxCharged() {
        #expect(World.sendTruesize(ipLength: 20 + 8 + 64) == 832)
        #expect(World.sendTruesize(ipLength: 20 + 8 + 1400) == 2304)
        #expect(World.sendTruesize(ipLength: 20 + 8 + 1472) == 2304)
    }

    /// Datagrams count against their socket while in flight and stop counting when the
    /// receiver's IPv4 stack takes them (or when they are dropped).
    @Test func theChargeLastsUntilTheNextStackTakesThePacket() throws {
        var n = BridgedNode()
        n.addPod("a", host: 2)
        n.addPod("b", host: 3)
        let w = n.world
        final class Quiet: NetworkApplication {}
        let socket = try w.openUDP(in: try #require(n.pods["a"]).ns, port: 40000, app: w.register(Quiet()))
        _ = try w.openUDP(in: try #require(n.pods["b"]).ns, port: 8080, app: w.register(Quiet()))
        for _ in 0..<3 { try w.sendUDP(socket, to: IPv4Address(10, 244, 0, 3), port: 8080, payloadLength: 64) { _ in } }
        // Sent, not yet received: each waits for ARP or is on its way.
        #expect(w.sendBufferUsed(socket) == 3 * 832)
        #expect(w.hasSendBufferRoom(socket))
        // One to a port nobody listens on is dropped there, after b's IPv4 stack took it.
        try w.sendUDP(socket, to: IPv4Address(10, 244, 0, 3), port: 9, payloadLength: 1400) { _ in }
        #expect(w.sendBufferUsed(socket) == 3 * 832 + 2304)
        w.run(until: SimTime(nanoseconds: 100_000_000))
        #expect(w.sendBufferUsed(socket) == 0)
        #expect(w.conservationHolds())
    }

    /// A sender blocked on a full buffer is woken once it is back under half: behind a
    /// 100 Mbit/s NIC each datagram releases its charge when it goes onto the wire.
    @Test func aBlockedSenderWakesBelowHalf() throws {
        var n = BridgedNode()
        n.addPod("a", host: 2)
        n.addPod("b", host: 3)
        let w = n.world
        final class Waker: NetworkApplication {
            var socket = SocketID(rawValue: -1)
            /// Each wake's tag and what the buffer held then.
            var woken: [(tag: UInt64, used: Int)] = []
            func timerFired(_ world: World, tag: UInt64) { woken.append((tag, world.sendBufferUsed(socket))) }
        }
        let app = Waker()
        let socket = try w.openUDP(in: try #require(n.pods["a"]).ns, port: 40000, app: w.register(app))
        app.socket = socket
        _ = try w.openUDP(in: try #require(n.pods["b"]).ns, port: 8080, app: w.register(Waker()))
        // a's eth0 as a 100 Mbit/s NIC: its queue releases the datagrams one frame time apart.
        w.setLink(LinkShape(rate: 100_000_000), of: try #require(n.pods["a"]).eth0)
        // b's address resolved first, so nothing waits (or is dropped) in an ARP queue.
        try w.sendUDP(socket, to: IPv4Address(10, 244, 0, 3), port: 8080, payloadLength: 64) { _ in }
        w.run(until: SimTime(nanoseconds: 10_000_000))
        #expect(w.sendBufferUsed(socket) == 0)
        // 93 datagrams of 2304 fill the 212,992-byte buffer (92 still fit: 211,968 < 212,992).
        for _ in 0..<93 { try w.sendUDP(socket, to: IPv4Address(10, 244, 0, 3), port: 8080, payloadLength: 1400) { _ in } }
        #expect(!w.hasSendBufferRoom(socket))
        w.waitForSendBufferRoom(socket, tag: 7)
        w.run(until: SimTime(nanoseconds: 100_000_000))
        // Woken once, by the first release that took the buffer under half (106,496 bytes).
        #expect(app.woken.map(\.tag) == [7])
        #expect(app.woken.allSatisfy { $0.used < 106_496 && $0.used >= 106_496 - 2304 }, "\(app.woken)")
        #expect(w.sendBufferUsed(socket) == 0 && w.hasSendBufferRoom(socket))
    }
}
