import Engine
import Wire

/// A network namespace: its devices, addresses, routes, neighbours and sockets.
public enum NamespaceKind: String, Sendable {
    /// A node's root namespace (hosts cni0, eth0 …; forwards IPv4).
    case node
    /// A pod's namespace (its eth0 and lo; shared by the pod's containers).
    case pod
    /// A plain host with no Kubernetes role (e.g. the `external` LAN host).
    case host
}

/// Per-packet CPU cost of each datapath stage, in simulated time. The defaults are the costs
/// proposed for a Raspberry Pi 4 at 1.5 GHz in shared/reference/pi-profiles.md §7.1 —
/// **estimates, not measurements**: no published ns-per-packet figure exists for the Linux
/// bridge, VXLAN or conntrack on ARM (§4 "not found"), so each is anchored as that table
/// explains (e.g. NIC receive: a Pi 4 moves ~81 kpps of full-size frames on one softirq core,
/// so the whole receive chain must fit in 12.3 µs; iptables: 90–230 x86 cycles per rule,
/// scaled for the A72's clock and IPC). A node profile multiplies them by its CPU scale.
///
/// With a node CPU (`World.setCPU`), each cost is time the packet's core is busy: stages queue
/// behind one another on that core, so a flood that needs more than the core has is
/// CPU-bound and overflows the backlog. Without one (plain hosts), a cost is a latency.
public struct StageCosts: Sendable, Equatable {
    /// NIC driver receive (interrupt/NAPI poll, GRO, `netif_receive_skb`): 1500 ns.
    public var nicRx = SimDuration.nanoseconds(1500)
    /// NIC driver transmit (`ndo_start_xmit`, descriptor, doorbell): 1000 ns.
    public var nicTx = SimDuration.nanoseconds(1000)
    /// veth xmit → peer receive (one extra netif_rx hop): 300 ns.
    public var veth = SimDuration.nanoseconds(300)
    /// Bridge port receive → egress port transmit (FDB lookup + forward): 600 ns.
    public var bridge = SimDuration.nanoseconds(600)
    /// Each further copy when the bridge floods: `br_flood` clones and transmits port by
    /// port, so copy k leaves k × this after the first. Estimate: 100 ns (an skb clone plus
    /// a veth xmit call), not a measurement.
    public var bridgeFloodCopy = SimDuration.nanoseconds(100)
    /// IPv4 receive → transmit on a routed hop (route lookup + forward): 800 ns.
    public var ipForward = SimDuration.nanoseconds(800)
    /// Socket send → first transmit (UDP/IP output path, process context). Estimate: 1000 ns,
    /// as nic_tx.
    public var localOutput = SimDuration.nanoseconds(1000)
    /// Socket receive: enqueue on the socket and wake the reader (no application cost): 2000 ns.
    public var localDeliver = SimDuration.nanoseconds(2000)
    /// Each netfilter hook traversed (`nf_hook_slow` with the table's entry point): 100 ns.
    public var netfilterHook = SimDuration.nanoseconds(100)
    /// Each iptables rule examined (`ipt_do_table`'s match loop): 120 ns.
    public var iptablesRule = SimDuration.nanoseconds(120)
    /// Conntrack lookup of an existing entry (hash, compare, refresh timeout): 300 ns.
    public var conntrackLookup = SimDuration.nanoseconds(300)
    /// Conntrack new entry (allocate, NAT setup, confirm), without the rules walked: 1500 ns.
    public var conntrackNew = SimDuration.nanoseconds(1500)
    /// VXLAN encapsulation (FDB lookup, outer headers, outer route): 1500 ns.
    public var vxlanEncap = SimDuration.nanoseconds(1500)
    /// VXLAN decapsulation (UDP socket demux, VNI check, inner netif_rx): 1500 ns.
    public var vxlanDecap = SimDuration.nanoseconds(1500)
    /// Loopback transmit → receive. Estimate: 300 ns, as veth.
    public var loopback = SimDuration.nanoseconds(300)

    public init() {}

    /// Every cost multiplied by `factor` (a profile's CPU scale, Pi 4 = 1.0).
    public func scaled(by factor: Double) -> StageCosts {
        func s(_ d: SimDuration) -> SimDuration { .nanoseconds(Int64((Double(d.nanoseconds) * factor).rounded())) }
        var r = self
        r.nicRx = s(nicRx); r.nicTx = s(nicTx)
        r.veth = s(veth); r.bridge = s(bridge); r.bridgeFloodCopy = s(bridgeFloodCopy); r.ipForward = s(ipForward)
        r.localOutput = s(localOutput); r.localDeliver = s(localDeliver)
        r.netfilterHook = s(netfilterHook); r.iptablesRule = s(iptablesRule)
        r.conntrackLookup = s(conntrackLookup); r.conntrackNew = s(conntrackNew)
        r.vxlanEncap = s(vxlanEncap); r.vxlanDecap = s(vxlanDecap); r.loopback = s(loopback)
        return r
    }
}

public final class Namespace {
    public let id: NamespaceID
    public let name: String
    public let kind: NamespaceKind
    /// The node this namespace lives on (its own name for a node or host).
    public let node: String
    public internal(set) var devices: [DeviceID] = []
    public internal(set) var loopback: DeviceID = .none
    public var routes = RoutingTable()
    public var neighbours = NeighbourTable()
    /// `net.ipv4.ip_forward`.
    public var forwarding = false
    /// iptables rules and conntrack, when something (kube-proxy, flanneld) programmed them.
    public internal(set) var netfilter: NetfilterState?
    public var costs = StageCosts()
    /// The node CPU this namespace's work runs on (`World.setCPU`), or -1: costs are latencies.
    public internal(set) var cpu: Int32 = -1
    /// Every local IPv4 address (all devices), for the "is this for us" test.
    public internal(set) var localAddresses: [IPv4Address] = []
    var udpPorts = FlatHashTable<UInt16, SocketID>()
    var echoSockets = FlatHashTable<UInt16, SocketID>()
    /// IPv4 reassembly queues (`ipq`), by slot; `reassemblyIndex` finds a queue by its key.
    var reassemblies: [Reassembly?] = []
    var reassemblyIndex: [ReassemblyKey: Int32] = [:]
    /// Tells a queue's timer from a later queue's in the same slot.
    var reassemblyGeneration: UInt32 = 0
    /// Memory the queued fragments hold (`fqdir->mem`, in estimated skb truesize bytes).
    public internal(set) var reassemblyMemory = 0
    /// UDP ports a VXLAN device of this namespace listens on → index in `World.vxlans`.
    var vxlanPorts = FlatHashTable<UInt16, Int32>()
    /// Path MTUs learnt from ICMP "fragmentation needed" (the routing cache's next-hop
    /// exceptions, `fib_nh_exception`), by destination: what `ip route get` shows as
    /// `cache expires 599sec mtu 1450`.
    public internal(set) var pathMTUs: [IPv4Address: PathMTUException] = [:]
    /// The ICMP error rate limiter's token bucket per destination (`inet_peer`'s
    /// `rate_tokens`, `rate_last`; World+IPv4.swift `icmpRateAllows`).
    var icmpPeers: [IPv4Address: ICMPRateBucket] = [:]
    /// ICMP errors not sent because their destination's bucket was empty (nstat's
    /// `IcmpOutRateLimitHost`).
    public internal(set) var icmpOutRateLimitHost = 0
    /// IP ID for kernel-generated datagrams (ICMP), started at a random value.
    var ipID: UInt16
    var random: SeededGenerator

    init(id: NamespaceID, name: String, kind: NamespaceKind, node: String, random: SeededGenerator) {
        self.id = id
        self.name = name
        self.kind = kind
        self.node = node
        self.random = random
        self.ipID = UInt16(truncatingIfNeeded: self.random.next())
    }

    @inline(__always) public func isLocal(_ a: IPv4Address) -> Bool {
        for l in localAddresses where l == a { return true }
        return a.isLoopback
    }
}

/// One destination's ICMP error allowance: time credit in nanoseconds (`rate_tokens`, in
/// jiffies in the kernel) as of `last`.
struct ICMPRateBucket {
    var tokens: Int64
    var last: SimTime
}

/// A learnt path MTU towards one destination and when it lapses (`ip_rt_mtu_expires`).
public struct PathMTUException: Sendable, Equatable {
    public var mtu: Int
    public var expires: SimTime
}

/// What identifies the fragments of one datagram (RFC 791: source, destination, protocol, ID).
/// `user` keeps the queues apart as the kernel's `ip_defrag` users do: 0 for local delivery
/// (`IP_DEFRAG_LOCAL_DELIVER`), 1 for conntrack's defrag at PREROUTING (`IP_DEFRAG_CONNTRACK_IN`).
struct ReassemblyKey: Hashable {
    let source: UInt32
    let destination: UInt32
    let identification: UInt16
    let proto: UInt8
    var user: UInt8 = 0
}

/// Where a fragment conntrack's defrag took must go back in once its datagram is complete:
/// `ip_rcv` on `device` (`bridge` < 0), or the bridge's frame handling from port `device`.
struct FragmentResume {
    var device: DeviceID
    var bridge: Int32
}

/// One datagram being reassembled: the fragments so far (kept as packets until complete).
struct Reassembly {
    let key: ReassemblyKey
    var fragments: [(offset: Int, length: Int, packet: PacketHandle)] = []
    /// Payload length, known once the last fragment (MF clear) arrived.
    var totalLength: Int?
    var received = 0
    /// Estimated truesize of the queued fragments (charged to `Namespace.reassemblyMemory`).
    var memory = 0
    var generation: UInt32 = 0
    let device: DeviceID
    /// For conntrack's queues: where each fragment (same order as `fragments`) resumes.
    var resume: [FragmentResume] = []
}
