import Datapath
import DatapathTestSupport
import Engine
import Testing
import Traffic
import Wire

/// The udp step's client and echo server (`UDPEcho.swift`).
@Suite struct UDPEchoTests {
    /// Every length a udp step accepts gets its echoes counted. A datagram shorter than its
    /// tag `podwire|seq=N|` carries the tag cut short; the client used to find no sequence
    /// number in the echo and report "3 datagrams of 10 B sent, 0 echoed" although all three
    /// came back. Lengths 13 and 14 cut the digits themselves (`podwire|seq=1` for seq 1 and
    /// for seq 12), which the old parser would have read as the wrong datagram.
    @Test(arguments: [0, 1, 8, 10, 12, 13, 14, 15, 16, 64])
    func echoesOfEveryLengthAreCounted(length: Int) throws {
        var n = BridgedNode()
        n.addPod("a", host: 2)
        n.addPod("b", host: 3)
        let w = n.world
        let a = try #require(n.pods["a"]), b = try #require(n.pods["b"])
        let server = try UDPEchoServer(name: "b", world: w, namespace: b.ns, port: 8080)
        let client = try UDPEchoClient(name: "a", world: w, namespace: a.ns,
                                       configuration: UDPEchoConfiguration(server: b.ip, port: 8080, count: 12, interval: .milliseconds(5),
                                                                           length: length, start: .ms(1)))
        w.run(until: .ms(200))
        #expect(client.sent == 12)
        #expect(server.echoed(from: a.ip, port: client.localPort) == 12)
        #expect(client.received == 12, "length \(length)")
        // Each echo is matched to its own datagram: every round trip is the same path's.
        let rtts = client.roundTrips.compactMap { $0 }
        #expect(rtts.count == 12 && rtts.dropFirst().allSatisfy { $0 == rtts[1] }, "\(rtts)")
    }

    /// An echo that belongs to no datagram (another length, or bytes the client did not send)
    /// is not counted.
    @Test func aStrangerIsNotAnEcho() throws {
        var n = BridgedNode()
        n.addPod("a", host: 2)
        n.addPod("b", host: 3)
        let w = n.world
        let a = try #require(n.pods["a"]), b = try #require(n.pods["b"])
        // The "server" is another client sending 8-byte datagrams to a's port: "podwire|"
        // is what a's own 8-byte datagrams carry, but a sent none of length 8.
        let client = try UDPEchoClient(name: "a", world: w, namespace: a.ns,
                                       configuration: UDPEchoConfiguration(server: b.ip, port: 9, count: 2, length: 10, start: .ms(1)))
        _ = try UDPEchoClient(name: "b", world: w, namespace: b.ns,
                              configuration: UDPEchoConfiguration(server: a.ip, port: client.localPort, count: 2, length: 8, start: .ms(2)))
        w.run(until: .ms(300))
        #expect(client.sent == 2 && client.received == 0)
    }
}
