import Datapath
@_exported import DatapathTestSupport
import Engine
import Wire

/// Records every hop with a copy of the frame, for assertions.
final class HopRecorder: HopObserver {
    struct Record {
        var hop: Hop
        var device: String
        var frame: [UInt8]
    }
    let world: World
    var records: [Record] = []
    init(_ world: World) { self.world = world }
    func observe(_ hop: Hop, frame: UnsafeRawBufferPointer) {
        let name = hop.device == .none ? "-" : "\(world.namespace(hop.namespace).name)/\(world.device(hop.device).name)"
        records.append(Record(hop: hop, device: name, frame: Array(frame)))
    }
}

/// A UDP app: sends `count` datagrams at start, echoes if `echo`, records what it gets.
final class UDPApp: NetworkApplication {
    var received: [(ReceivedDatagram, [UInt8])] = []
    var errors: [ReceivedICMP] = []
    var echo = false
    func udpReceived(_ world: World, socket: SocketID, datagram: ReceivedDatagram) {
        received.append((datagram, Array(datagram.payload)))
        if echo {
            try? world.sendUDP(socket, to: datagram.source, port: datagram.sourcePort,
                               payloadLength: datagram.payload.count) { $0.copyMemory(from: datagram.payload) }
        }
    }
    func icmpReceived(_ world: World, socket: SocketID, message: ReceivedICMP) {
        errors.append(message)
    }
}
