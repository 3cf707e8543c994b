/// Shared by the Datapath and Traffic tests: a node namespace with the cni0 bridge, and pods
/// plumbed the way the CNI bridge plugin does it, built directly on Datapath (no Kube).
import Datapath
import Engine
import Wire

/// One node namespace with cni0 10.244.0.1/24 and pods as the CNI bridge plugin makes them.
public struct BridgedNode {
    public let world: World
    public let node: NamespaceID
    public let bridge: BridgeID
    public let cni0: DeviceID
    public var pods: [String: (ns: NamespaceID, eth0: DeviceID, hostVeth: DeviceID, ip: IPv4Address)] = [:]

    public init(seed: UInt64 = 1, mtu: Int = 1500) {
        world = World(seed: seed)
        node = world.addNamespace(name: "pi-1", kind: .node, node: "pi-1")
        world.namespace(node).forwarding = true
        (bridge, cni0) = world.addBridge(node, name: "cni0", mac: MACAddress(0x02, 0x44, 0, 0, 0, 1), mtu: mtu)
        world.addAddress(IPv4Interface("10.244.0.1/24")!, to: cni0)
    }

    public mutating func addPod(_ name: String, host: UInt8, mtu: Int = 1500, hairpin: Bool = true) {
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
