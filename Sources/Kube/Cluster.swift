import Datapath
import Engine
import Wire

/// A Kubernetes cluster built into a `World`: nodes with their cni0 bridge (the CNI
/// `bridge` plugin as flannel delegates it), pods scheduled, given an address by host-local
/// IPAM and plumbed with a veth pair.
///
/// Addressing and names follow kernel-ref REFERENCE.md's plan, so podwire's captures read
/// like the kernel's: node N (0-based) has cni0 `10.244.N.1` with MAC `02:44:NN:00:00:01`,
/// a pod at `10.244.N.H` has MAC `02:44:NN:00:00:HH` on eth0 and `02:ee:NN:00:00:HH` on the
/// host end, and node eth0 is `02:50:00:00:00:(0x11+N)`. (Real clusters use random locally
/// administered MACs; readable fixed ones make the captures easier to follow.) Host veth
/// names are `veth` + 8 hex digits from a seeded generator, as `RandomVethName` draws them.
public struct ClusterConfiguration: Sendable {
    public var podSubnet: IPv4Network
    public var serviceSubnet: IPv4Network
    public var mtu: Int
    public var seed: UInt64
    public var network: PodNetwork
    /// Propagation delay of every LAN cable (node or host ↔ switch port) without its own.
    public var lanDelay: SimDuration
    /// Switches and cables; nil: `Underlay.automatic` (one switch, every machine on it).
    public var underlay: Underlay?
    /// `nf_conntrack_max` on every node; nil: what kube-proxy sets for the node's cores, or
    /// without kube-proxy the kernel's default for the node's memory.
    public var conntrackMax: Int?
    /// Whether kube-proxy runs on the nodes (programs Services and sizes conntrack). Without
    /// it a node has flanneld's rules only, and the kernel's conntrack default.
    public var kubeProxy = true
    public init(podSubnet: IPv4Network = IPv4Network("10.244.0.0/16")!,
                serviceSubnet: IPv4Network = IPv4Network("10.96.0.0/12")!, mtu: Int = 1500, seed: UInt64 = 1,
                network: PodNetwork = .bridge, lanDelay: SimDuration = .microseconds(1), underlay: Underlay? = nil) {
        self.podSubnet = podSubnet
        self.serviceSubnet = serviceSubnet
        self.mtu = mtu
        self.seed = seed
        self.network = network
        self.lanDelay = lanDelay
        self.underlay = underlay
    }
}

/// How pods on different nodes reach each other.
public enum PodNetwork: String, Sendable {
    /// The CNI bridge plugin alone: pods reach pods on their own node only.
    case bridge
    /// flannel's host-gw backend: every node routes each other node's pod CIDR via that
    /// node's LAN address (`10.244.M.0/24 via <node M> dev eth0`), no encapsulation.
    case flannelHostGW = "flannel-host-gw"
    /// flannel's VXLAN backend (k8s-datapath.md §3): a `flannel.1` VTEP per node (VNI 1,
    /// UDP 8472, `10.244.N.0/32`, MTU = underlay − 50) and, for every other node M, the
    /// permanent neighbour, FDB entry and `onlink` route flanneld installs. Pods and cni0 get
    /// the VTEP's MTU (1450 on a 1500-byte LAN).
    case flannelVXLAN = "flannel-vxlan"
}

/// A plain host on the LAN with no Kubernetes role (kernel-ref's "ext").
public struct HostDefinition: Sendable {
    public var name: String
    public var address: IPv4Interface
    /// Static routes (`ip route add 10.244.1.0/24 via 192.168.50.12`), e.g. to reach pod
    /// CIDRs through a node the way a host-gw LAN router would.
    public var routes: [(destination: IPv4Network, via: IPv4Address)]
    public init(name: String, address: IPv4Interface, routes: [(destination: IPv4Network, via: IPv4Address)] = []) {
        self.name = name
        self.address = address
        self.routes = routes
    }
}

public final class Cluster {
    public let configuration: ClusterConfiguration
    public let world: World
    public private(set) var nodes: [Node] = []
    public private(set) var pods: [Pod] = []
    /// `pods` index of the first pod with each (namespace, name).
    private var podIndexes: [PodKey: Int] = [:]
    /// External hosts: (definition, namespace, eth0).
    public private(set) var hosts: [(definition: HostDefinition, netns: NamespaceID, eth0: DeviceID)] = []
    /// The switches of the underlay, in topology order (namespace `<name>`, bridge `br-<name>`).
    public private(set) var switches: [(name: String, netns: NamespaceID, bridge: BridgeID)] = []
    /// The first switch (the automatic underlay's `lan`), if any.
    public var lan: (netns: NamespaceID, bridge: BridgeID)? { switches.first.map { ($0.netns, $0.bridge) } }
    /// eth0s already made as the far end of a crossover cable, by machine name.
    private var crossoverEnds: [String: DeviceID] = [:]
    private var switchPorts = 0
    /// Services in creation order.
    public internal(set) var services: [ServiceDefinition] = []
    /// Deployments in creation order, with their replicas' pod names.
    public private(set) var deployments: [(name: String, namespace: String, replicas: [String])] = []
    private var names: SeededGenerator

    public init(_ configuration: ClusterConfiguration, nodes definitions: [NodeDefinition],
                hosts hostDefinitions: [HostDefinition] = []) {
        self.configuration = configuration
        world = World(seed: configuration.seed, maxFrame: max(configuration.mtu, 1500) + EthernetHeader.length)
        names = world.random.stream("kube/names")
        let underlay = configuration.underlay
            ?? .automatic(machines: definitions.map(\.name) + hostDefinitions.map(\.name))
        // Switches as kernel-ref builds its LAN: a bridge without an address in a namespace
        // of its own. Then every machine's namespace, so a crossover cable can join two.
        for (i, name) in underlay.switches.enumerated() {
            let ns = world.addNamespace(name: name, kind: .host, node: name)
            let (bridge, _) = world.addBridge(ns, name: "br-\(name)",
                                              mac: MACAddress(0x02, 0x50, 0xFF, 0, 0, UInt8(truncatingIfNeeded: i + 1)), mtu: configuration.mtu)
            switches.append((name, ns, bridge))
        }
        let nodeNS = definitions.map { world.addNamespace(name: $0.name, kind: .node, node: $0.name) }
        let hostNS = hostDefinitions.map { world.addNamespace(name: $0.name, kind: .host, node: $0.name) }
        for (k, d) in definitions.enumerated() { peerMACs[d.name] = Self.nodeMAC(k) }
        for (k, h) in hostDefinitions.enumerated() { peerMACs[h.name] = Self.hostMAC(k) }
        for (d, ns) in zip(definitions, nodeNS) { addNode(d, ns, underlay) }
        for (h, ns) in zip(hostDefinitions, hostNS) { addHost(h, ns, underlay) }
        cableSwitches(underlay)
        if configuration.network == .flannelHostGW { addHostGatewayRoutes() }
        if configuration.network == .flannelVXLAN { addVXLANOverlay() }
    }

    /// The VTEP MAC of node k: `02:f1:kk:00:00:00`, the kernel reference's plan (flannel
    /// draws a random locally administered MAC).
    static func vtepMAC(_ k: Int) -> MACAddress { MACAddress(0x02, 0xF1, UInt8(truncatingIfNeeded: k), 0, 0, 0) }

    /// flanneld's vxlan backend: the device, then per remote node neighbour, FDB, route.
    private func addVXLANOverlay() {
        var vteps: [DeviceID] = []
        for n in nodes {
            let dev = world.addVXLAN(n.netns, name: "flannel.1", mac: Self.vtepMAC(n.index),
                                     mtu: world.device(n.eth0).mtu - VXLANHeader.overhead, vni: 1,
                                     port: VXLANHeader.linuxPort, local: n.definition.address.address)
            world.addAddress(IPv4Interface(address: n.definition.podCIDR.network, prefixLength: 32), to: dev)
            vteps.append(dev)
        }
        for n in nodes {
            for m in nodes where m !== n {
                let gateway = m.definition.podCIDR.network
                world.addPermanentNeighbour(gateway, mac: Self.vtepMAC(m.index), device: vteps[n.index])
                world.addVXLANForwardingEntry(vteps[n.index], mac: Self.vtepMAC(m.index), remote: m.definition.address.address)
                world.addRoute(Route(destination: m.definition.podCIDR, gateway: gateway, device: vteps[n.index], onlink: true),
                               in: n.netns)
            }
        }
    }

    /// A machine's eth0, cabled as the underlay says: a shaped veth to a switch port, a
    /// crossover veth to another machine's eth0, or — with no link — a NIC without carrier.
    /// `rate`: the NIC's line rate; `transmitRate`: what leaves it at most (a bus cap), and
    /// `txqueuelen` its queue — both for this machine's end only.
    private func plug(_ ns: NamespaceID, machine: String, mac: MACAddress, rate: Int64, transmitRate: Int64? = nil,
                      txqueuelen: Int = 1000, _ underlay: Underlay) -> DeviceID {
        if let made = crossoverEnds[machine] {
            // Made by the peer with the cable's shape. The two NICs negotiate the slower line
            // rate, both ways; this end also gets its own bus cap and queue.
            if var own = world.device(made).link, case .veth(let other) = world.device(made).kind {
                own.rate = min(own.rate, rate)
                if var theirs = world.device(other).link, theirs.rate > own.rate {
                    theirs.rate = own.rate
                    world.setLink(theirs, of: other)
                }
                own.rate = min(own.rate, transmitRate ?? own.rate)
                own.txqueuelen = txqueuelen
                world.setLink(own, of: made)
            }
            return made
        }
        guard let (link, peer) = underlay.link(of: machine) else {
            return world.addPhysical(ns, name: "eth0", mac: mac, mtu: configuration.mtu)
        }
        let shape = LinkShape(rate: min(link.rate ?? rate, rate), propagationDelay: link.delay ?? configuration.lanDelay)
        var own = shape
        own.rate = min(shape.rate, transmitRate ?? shape.rate)
        own.txqueuelen = txqueuelen
        if let sw = switches.first(where: { $0.name == peer.machine }) {
            let (eth0, port) = world.addVethPair(ns, "eth0", mac1: mac, sw.netns, peer.interface, mac2: nextPortMAC(), mtu: configuration.mtu)
            world.attach(port, to: sw.bridge, hairpin: false)
            world.setLink(own, of: eth0)
            world.setLink(shape, of: port)
            return eth0
        }
        // A crossover cable: the peer's namespace exists already; its eth0 is made here.
        // (A peer that is no machine of this cluster leaves the NIC without carrier; the
        // topology reader refuses such links before they get here.)
        guard let peerNS = world.namespaces.first(where: { $0.name == peer.machine && $0.kind != .pod })?.id else {
            return world.addPhysical(ns, name: "eth0", mac: mac, mtu: configuration.mtu)
        }
        let peerMAC = peerMACs[peer.machine] ?? nextPortMAC()
        let (eth0, other) = world.addVethPair(ns, "eth0", mac1: mac, peerNS, "eth0", mac2: peerMAC, mtu: configuration.mtu)
        world.setLink(own, of: eth0)
        world.setLink(shape, of: other)
        crossoverEnds[peer.machine] = other
        return eth0
    }

    /// Machines' eth0 MACs by name, known before their devices exist (for crossover cables).
    private var peerMACs: [String: MACAddress] = [:]

    /// Switch ports get `02:50:fe:00:HH:LL` in creation order.
    private func nextPortMAC() -> MACAddress {
        defer { switchPorts += 1 }
        return MACAddress(0x02, 0x50, 0xFE, 0, UInt8(truncatingIfNeeded: switchPorts >> 8), UInt8(truncatingIfNeeded: switchPorts))
    }

    /// Cables between two switches (1 Gbit/s unless the link says otherwise).
    private func cableSwitches(_ underlay: Underlay) {
        for l in underlay.links {
            guard let a = switches.first(where: { $0.name == l.a.machine }),
                  let b = switches.first(where: { $0.name == l.b.machine }) else { continue }
            let (pa, pb) = world.addVethPair(a.netns, l.a.interface, mac1: nextPortMAC(), b.netns, l.b.interface,
                                             mac2: nextPortMAC(), mtu: configuration.mtu)
            world.attach(pa, to: a.bridge, hairpin: false)
            world.attach(pb, to: b.bridge, hairpin: false)
            let shape = LinkShape(rate: l.rate ?? 1_000_000_000, propagationDelay: l.delay ?? configuration.lanDelay)
            world.setLink(shape, of: pa)
            world.setLink(shape, of: pb)
        }
    }

    /// node eth0 MACs: `02:50:00:00:HH:(0x11+N)`; host eth0: `02:50:00:00:01:K`.
    static func nodeMAC(_ k: Int) -> MACAddress {
        MACAddress(0x02, 0x50, 0, 0, UInt8(truncatingIfNeeded: k >> 8), UInt8(truncatingIfNeeded: 0x11 + k))
    }
    static func hostMAC(_ k: Int) -> MACAddress { MACAddress(0x02, 0x50, 0, 0, 0x01, UInt8(truncatingIfNeeded: k)) }

    /// An external host (kernel-ref's "ext"): eth0 with an address on the LAN, its static
    /// routes, nothing else.
    private func addHost(_ h: HostDefinition, _ ns: NamespaceID, _ underlay: Underlay) {
        let k = hosts.count
        let eth0 = plug(ns, machine: h.name, mac: Self.hostMAC(k), rate: 1_000_000_000, underlay)
        world.addAddress(h.address, to: eth0)
        for r in h.routes {
            world.addRoute(Route(destination: r.destination, gateway: r.via, device: eth0), in: ns)
        }
        hosts.append((h, ns, eth0))
    }

    /// flannel host-gw: on every node, `<pod CIDR of M> via <LAN address of M> dev eth0`.
    private func addHostGatewayRoutes() {
        for n in nodes {
            for m in nodes where m !== n {
                world.addRoute(Route(destination: m.definition.podCIDR, gateway: m.definition.address.address,
                                     device: n.eth0), in: n.netns)
            }
        }
    }

    public func host(named name: String) -> (definition: HostDefinition, netns: NamespaceID, eth0: DeviceID)? {
        hosts.first { $0.definition.name == name }
    }

    public func node(named name: String) -> Node? { nodes.first { $0.name == name } }

    /// The MTU of pod interfaces and cni0: the cluster MTU (every LAN interface's), less
    /// VXLAN's 50 bytes under flannel-vxlan (flanneld's FLANNEL_MTU: the external
    /// interface's MTU minus the backend's overhead).
    public var podMTU: Int {
        configuration.network == .flannelVXLAN ? configuration.mtu - VXLANHeader.overhead : configuration.mtu
    }
    public func pod(named name: String, namespace: String = "default") -> Pod? {
        podIndexes[PodKey(namespace: namespace, name: name)].map { pods[$0] }
    }

    private struct PodKey: Hashable {
        var namespace: String
        var name: String
    }

    /// The pod names of a Deployment's replicas, in creation order.
    public func deploymentReplicas(name: String, namespace: String = "default") -> [String] {
        deployments.first { $0.name == name && $0.namespace == namespace }?.replicas ?? []
    }

    private func addNode(_ d: NodeDefinition, _ ns: NamespaceID, _ underlay: Underlay) {
        let k = nodes.count
        let netns = world.namespace(ns)
        netns.forwarding = true
        netns.costs = d.profile.stageCosts
        world.setCPU(d.profile.cpuConfiguration, for: [ns])
        // eth0: the node's LAN interface, cabled as the underlay says.
        let eth0 = plug(ns, machine: d.name, mac: Self.nodeMAC(k), rate: d.profile.lineRate,
                        transmitRate: d.profile.transmitRate, txqueuelen: d.profile.txqueuelen, underlay)
        // The bus cap holds for what the NIC receives too (pi-profiles.md §7.1: per direction).
        if let cap = d.profile.busCap, cap < d.profile.lineRate {
            world.setReceiveBus(ReceiveBus(rate: cap), of: eth0)
        }
        world.addAddress(d.address, to: eth0)
        // A real node has a default gateway on its LAN: the subnet's first host, onlink.
        world.addRoute(Route(destination: IPv4Network("0.0.0.0/0")!, gateway: d.address.network.address(at: 1),
                             device: eth0, onlink: true), in: ns)
        // cni0 with the gateway address (bridge plugin isGateway).
        let nodeByte = UInt8(truncatingIfNeeded: k)
        let (bridge, cni0) = world.addBridge(ns, name: "cni0", mac: MACAddress(0x02, 0x44, nodeByte, 0, 0, 1),
                                             mtu: podMTU)
        world.addAddress(IPv4Interface(address: d.podCIDR.address(at: 1), prefixLength: d.podCIDR.prefixLength), to: cni0)
        nodes.append(Node(definition: d, index: k, netns: ns, eth0: eth0, cni0: cni0, bridge: bridge))
    }

    // MARK: Pods

    /// Creates a pod: schedule, then CNI ADD. A pod that cannot be scheduled or get an
    /// address stays Pending with a message; the cluster carries on with the others.
    @discardableResult
    public func addPod(_ d: PodDefinition) -> Pod {
        var pod = Pod(definition: d, phase: .pending)
        switch Scheduler.schedule(d, nodes: nodes) {
        case .failure(let why):
            pod.reason = "Unschedulable"
            pod.message = why.message
        case .success(let node) where node.podCount >= node.definition.maxPods:
            // Only a pod bound by spec.nodeName gets here: the kubelet's admission refuses it
            // (`lifecycle.InsufficientResourceError`), and a Failed pod takes no room.
            pod.nodeName = node.name
            pod.phase = .failed
            pod.reason = "OutOfpods"
            pod.message = "Pod was rejected: Node didn't have enough resource: pods, requested: 1, used: \(node.podCount), capacity: \(node.definition.maxPods)"
        case .success(let node):
            pod.nodeName = node.name
            node.podCount += 1
            BridgePlugin.add(&pod, on: node, cluster: self, names: &names)
        }
        let key = PodKey(namespace: d.namespace, name: d.name)
        if podIndexes[key] == nil { podIndexes[key] = pods.count }
        pods.append(pod)
        return pod
    }

    /// A Deployment's replicas, named like the ReplicaSet controller names them:
    /// `<deployment>-<pod-template-hash>-<5 random characters>`.
    @discardableResult
    public func addDeployment(name: String, namespace: String = "default", replicas: Int,
                              template: PodDefinition) -> [Pod] {
        let hash = Self.podTemplateHash(name: name, template: template)
        var made: [Pod] = []
        for _ in 0..<replicas {
            var d = template
            var podName: String
            repeat {
                podName = "\(name)-\(hash)-\(Self.randomSuffix(&names, length: 5))"
            } while podIndexes[PodKey(namespace: namespace, name: podName)] != nil
            d.name = podName
            d.namespace = namespace
            d.labels = template.labels + [Label("pod-template-hash", hash)]
            made.append(addPod(d))
        }
        deployments.append((name, namespace, made.map(\.name)))
        return made
    }

    /// Kubernetes' `rand.SafeEncodeString` alphabet (no vowels, no confusable characters).
    static let safeAlphabet = Array("bcdfghjklmnpqrstvwxz2456789")

    /// FNV-32a over a canonical text of the template, encoded like ComputeHash's
    /// `SafeEncodeString(fmt.Sprint(hash))`. Deterministic and seed-independent, like the
    /// real hash (whose exact input, the Go struct dump, podwire does not reproduce).
    static func podTemplateHash(name: String, template: PodDefinition) -> String {
        var text = name
        for l in template.labels { text += "|\(l.key)=\(l.value)" }
        text += "|\(template.nodeName ?? "")"
        for c in template.containers { text += "|\(c.name):\(c.image)" }
        var h: UInt32 = 0x811C_9DC5
        for b in text.utf8 { h = (h ^ UInt32(b)) &* 0x0100_0193 }
        return String(String(h).utf8.map { safeAlphabet[Int($0) % safeAlphabet.count] })
    }

    static func randomSuffix(_ g: inout SeededGenerator, length: Int) -> String {
        String((0..<length).map { _ in safeAlphabet[Int(g.next() % UInt64(safeAlphabet.count))] })
    }
}

/// The default scheduler, reduced to what podwire models: `spec.nodeName` binds directly
/// (the scheduler is bypassed; the kubelet may still refuse it, see `Cluster.addPod`);
/// otherwise `nodeSelector` filters nodes by label, a node holding `maxPods` pods is full
/// (NodeResourcesFit's "Too many pods"), and the pod goes to the fitting node with the
/// fewest pods, ties broken by node order (deterministic spreading).
public enum Scheduler {
    public struct Failure: Error, Sendable {
        public var message: String
    }

    public static func schedule(_ d: PodDefinition, nodes: [Node]) -> Result<Node, Failure> {
        if let name = d.nodeName {
            guard let n = nodes.first(where: { $0.name == name }) else {
                return .failure(Failure(message: "spec.nodeName \(name) is not a node of this cluster"))
            }
            return .success(n)
        }
        var mismatched = 0, full = 0
        var best: Node?
        for n in nodes {
            guard d.nodeSelector.allSatisfy({ sel in n.labels.contains { $0.key == sel.key && $0.value == sel.value } }) else {
                mismatched += 1
                continue
            }
            guard n.podCount < n.definition.maxPods else {
                full += 1
                continue
            }
            if best.map({ (n.podCount, n.index) < ($0.podCount, $0.index) }) ?? true { best = n }
        }
        guard let best else { return .failure(Failure(message: unschedulable(nodes: nodes.count, mismatched: mismatched, full: full))) }
        return .success(best)
    }

    /// The FailedScheduling message of kube-scheduler 1.27+: each filter's count of nodes, then
    /// what preemption found; both lists sorted as text, as the scheduler sorts them.
    static func unschedulable(nodes: Int, mismatched: Int, full: Int) -> String {
        var reasons: [String] = [], preemption: [String] = []
        if mismatched > 0 {
            reasons.append("\(mismatched) node(s) didn't match Pod's node affinity/selector")
            preemption.append("\(mismatched) Preemption is not helpful for scheduling")
        }
        if full > 0 {
            reasons.append("\(full) Too many pods")
            preemption.append("\(full) No preemption victims found for incoming pod")
        }
        return "0/\(nodes) nodes are available: \(reasons.sorted().joined(separator: ", ")). "
            + "preemption: 0/\(nodes) nodes are available: \(preemption.sorted().joined(separator: ", "))."
    }
}

/// The CNI `bridge` plugin's ADD as flannel delegates it (k8s-datapath.md §2.1, §2.3):
/// host-local IPAM on the node's pod CIDR, a veth pair (pod side `eth0`, host side
/// `vethXXXXXXXX` on cni0 with hairpin on), the cluster MTU, and routes `default via .1` and
/// `<podSubnet> via .1` (flannel's route for the cluster network).
enum BridgePlugin {
    static func add(_ pod: inout Pod, on node: Node, cluster: Cluster, names: inout SeededGenerator) {
        let world = cluster.world
        guard var ipam = node.ipam else {
            pod.reason = "ContainerCreating"
            pod.message = "Failed to create pod sandbox: plugin type=\"bridge\": failed to allocate for range 0: "
                + "\(node.definition.podCIDR) is too small to allocate from"
            return
        }
        guard let ip = ipam.allocate() else {
            pod.reason = "ContainerCreating"
            pod.message = "Failed to create pod sandbox: plugin type=\"bridge\": failed to allocate for range 0: "
                + "no IP addresses available in range set: \(ipam.rangeSetDescription)"
            return
        }
        node.ipam = ipam
        let cidr = node.definition.podCIDR
        let hostPart = ip.rawValue - cidr.network.rawValue
        let nodeByte = UInt8(truncatingIfNeeded: node.index)
        var vethName: String
        repeat {
            vethName = "veth" + hex8(UInt32(truncatingIfNeeded: names.next()))
        } while world.device(named: vethName, in: node.netns) != nil
        let ns = world.addNamespace(name: pod.definition.name, kind: .pod, node: node.name)
        world.namespace(ns).costs = node.definition.profile.stageCosts
        world.shareCPU(of: node.netns, with: ns)
        // Pod namespaces inherit ip_forward = 1 from the node (kernel-ref §1 "Sysctls").
        world.namespace(ns).forwarding = true
        let mtu = cluster.podMTU
        let (host, eth0) = world.addVethPair(
            node.netns, vethName, mac1: MACAddress(0x02, 0xEE, nodeByte, 0, UInt8(truncatingIfNeeded: hostPart >> 8),
                                                  UInt8(truncatingIfNeeded: hostPart)),
            ns, "eth0", mac2: MACAddress(0x02, 0x44, nodeByte, 0, UInt8(truncatingIfNeeded: hostPart >> 8),
                                         UInt8(truncatingIfNeeded: hostPart)), mtu: mtu)
        world.attach(host, to: node.bridge, hairpin: true)
        world.addAddress(IPv4Interface(address: ip, prefixLength: cidr.prefixLength), to: eth0)
        let gateway = cidr.address(at: 1)
        world.addRoute(Route(destination: IPv4Network("0.0.0.0/0")!, gateway: gateway, device: eth0), in: ns)
        world.addRoute(Route(destination: cluster.configuration.podSubnet, gateway: gateway, device: eth0), in: ns)
        pod.phase = .running
        pod.ip = ip
        pod.netns = ns
        pod.eth0 = eth0
        pod.hostVeth = host
        pod.hostVethName = vethName
    }

    static func hex8(_ v: UInt32) -> String {
        let s = String(v, radix: 16)
        return String(repeating: "0", count: 8 - s.count) + s
    }
}
