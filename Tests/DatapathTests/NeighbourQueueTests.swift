import Testing
@testable import Datapath
import Engine
import Wire

/// What waits for ARP: `unres_qlen_bytes` (212992) of skb truesize, the oldest dropped first.
/// Linux 6.18 kept the newest 92 of 300 back-to-back 1472-byte datagrams (and of 1000-byte
/// ones) and the newest 166 of 200- and 500-byte ones (checked 2026-11-25: the neighbour
/// answered ARP only from its second request). podwire used to charge frame bytes + 512,
/// which kept 105 full-size datagrams and 282 small ones.
@Suite struct NeighbourQueueTests {
    @Test(arguments: [(1472, 92), (1000, 92), (500, 166), (200, 166)])
    func theQueueKeepsWhatLinuxKeeps(_ length: Int, _ kept: Int) throws {
        var n = BridgedNode()
        n.addPod("a", host: 2)
        let w = n.world
        let s = try w.openUDP(in: try #require(n.pods["a"]).ns, port: nil, app: w.register(UDPApp()))
        for _ in 0..<300 {
            try w.sendUDP(s, to: IPv4Address(10, 244, 0, 99), port: 9, payloadLength: length) {
                $0.initializeMemory(as: UInt8.self, repeating: 0)
            }
        }
        w.run(until: SimTime.zero + .milliseconds(10))
        #expect(w.accounting.dropped(.neighbourQueueFull) == UInt64(300 - kept))
        w.run(until: SimTime.zero + .seconds(4))   // resolution fails at 3 s: what waited is dropped then
        #expect(w.accounting.dropped(.neighbourFailed) == UInt64(kept))
        #expect(w.conservationHolds())
    }
}
