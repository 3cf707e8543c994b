import Datapath
import Engine
import Wire
@testable import Traffic

/// Test fixtures: a one-node bridged world (from DatapathTests' TestSupport) and a hop
/// recorder that keeps what the Traffic tests look at.

/// Records frames seen at `deviceTx` of one device, with their times.
final class TxRecorder: HopObserver {
    let device: DeviceID
    var frames: [(time: SimTime, bytes: [UInt8])] = []
    var drops: [DropReason] = []
    init(device: DeviceID) { self.device = device }
    func observe(_ hop: Hop, frame: UnsafeRawBufferPointer) {
        if hop.stage == .drop, let r = hop.dropReason { drops.append(r) }
        if hop.stage == .deviceTx && hop.device == device { frames.append((hop.time, Array(frame))) }
    }
    /// Frames that are IPv4 with the given protocol.
    func ipv4(_ proto: IPProtocol) -> [(time: SimTime, bytes: [UInt8])] {
        frames.filter { $0.bytes.count >= 34 && $0.bytes[12] == 0x08 && $0.bytes[13] == 0x00 && $0.bytes[23] == proto.rawValue }
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

    /// client (10.244.0.2) and server (10.244.0.3).
    static func twoPods(seed: UInt64 = 1) -> BridgedNode {
        var n = BridgedNode(seed: seed)
        n.addPod("client", host: 2)
        n.addPod("server", host: 3)
        return n
    }

    var client: (ns: NamespaceID, eth0: DeviceID, hostVeth: DeviceID, ip: IPv4Address) { pods["client"]! }
    var server: (ns: NamespaceID, eth0: DeviceID, hostVeth: DeviceID, ip: IPv4Address) { pods["server"]! }
}

extension SimTime {
    static func ms(_ n: Int64) -> SimTime { .zero + .milliseconds(n) }
}

/// Offsets of an Ethernet + IPv4 (no options) frame.
enum FrameOffset {
    static let ip = 14
    static let l4 = 34
    static let udpPayload = 42
    static let icmpData = 42
}

func be32(_ b: [UInt8], _ o: Int) -> UInt32 {
    UInt32(b[o]) << 24 | UInt32(b[o + 1]) << 16 | UInt32(b[o + 2]) << 8 | UInt32(b[o + 3])
}
