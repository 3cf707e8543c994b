import Datapath
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
    /// "ns/dev:rx" / "ns/dev:tx" for capture-visible hops, in order.
    var captureTrail: [String] {
        records.compactMap { r in
            switch r.hop.stage {
            case .deviceRx: "\(r.device):rx"
            case .deviceTx: "\(r.device):tx"
            default: nil
            }
        }
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

/// One node namespace with cni0 10.244.0.1/24 and pods as the CNI bridge plugin makes them.
struct BridgedNode {
    let world: World
    let node: NamespaceID
    let bridge: BridgeID
    let cni0: DeviceID
    var pods: [String: (ns: NamespaceID, eth0: DeviceID, hostVeth: DeviceID, ip: IPv4Address)] = [:]

    init(seed: UInt64 = 1, mtu: Int = 1500) {
        world = World(seed: seed)
        node = world.addNamespace(name: "pi-1", kind: .node, node: "pi-1")
        world.namespace(node).forwarding = true
        (bridge, cni0) = world.addBridge(node, name: "cni0", mac: MACAddress(0x02, 0x44, 0, 0, 0, 1), mtu: mtu)
        world.addAddress(IPv4Interface("10.244.0.1/24")!, to: cni0)
    }

    mutating func addPod(_ name: String, host: UInt8, mtu: Int = 1500, hairpin: Bool = true) {
        let ns = world.addNamespace(name: name, kind: .pod, node: "pi-1")
        let (h, e) = world.addVethPair(node, "veth0000000\(host)", mac1: MACAddress(0x02, 0xee, 0, 0, 0, host),
                                       ns, "eth0", mac2: MACAddress(0x02, 0x44, 0, 0, 0, host), mtu: mtu)
        world.attach(h, to: bridge, hairpin: hairpin)
        let ip = IPv4Address(10, 244, 0, host)
        world.addAddress(IPv4Interface(address: ip, prefixLength: 24), to: e)
        world.addRoute(Route(destination: IPv4Network("0.0.0.0/0")!, gateway: IPv4Address(10, 244, 0, 1), device: e), in: ns)
        pods[name] = (ns, e, h, ip)
    }
}
