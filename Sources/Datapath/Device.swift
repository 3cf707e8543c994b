import Engine
import Wire

/// Network devices. A device belongs to one namespace; what it does with a frame depends on
/// its kind (an enum, switched on per packet: no existential, no class hierarchy).

public struct BridgeID: Hashable, Sendable {
    public let rawValue: Int32
    @inlinable init(_ rawValue: Int32) { self.rawValue = rawValue }
}

public enum DeviceKind: Sendable, Equatable {
    /// `lo`: what is sent comes back in on the same device.
    case loopback
    /// One end of a veth pair: what is sent arrives at `peer`.
    case veth(peer: DeviceID)
    /// A Linux bridge's own net device (e.g. cni0): what the host sends on it is forwarded
    /// by the bridge; what the bridge passes up arrives on it.
    case bridge(BridgeID)
    /// A VXLAN tunnel endpoint (flannel.1); its settings are `World.vxlans[index]`.
    case vxlan(Int32)
    /// An Ethernet NIC (a node's eth0). Its cable to a LAN switch arrives with the
    /// multi-node issue; until then it has no carrier and what it sends is dropped.
    case ethernet
}

/// `ip -s link` counters (ecosystem.md §4.3).
public struct DeviceCounters: Sendable, Equatable {
    public var rxPackets: UInt64 = 0
    public var rxBytes: UInt64 = 0
    public var rxDropped: UInt64 = 0
    public var txPackets: UInt64 = 0
    public var txBytes: UInt64 = 0
    public var txDropped: UInt64 = 0
    public init() {}
}

/// A cable's properties on a device's transmit side (a node's eth0 to the LAN switch):
/// frames wait in a FIFO of at most `txqueuelen` frames, take frame bits / `rate` to
/// serialise, then `propagationDelay` to arrive. A full queue drops (`queueFull`).
public struct LinkShape: Sendable, Equatable {
    /// Line rate in bits per second.
    public var rate: Int64
    public var propagationDelay: SimDuration
    /// `txqueuelen` (Linux default 1000 frames).
    public var txqueuelen: Int
    public init(rate: Int64, propagationDelay: SimDuration = .microseconds(1), txqueuelen: Int = 1000) {
        self.rate = rate
        self.propagationDelay = propagationDelay
        self.txqueuelen = txqueuelen
    }

    /// Time on the wire for a frame of `length` bytes: the frame plus Ethernet's 24 bytes of
    /// preamble, FCS and inter-frame gap that a capture never shows (IEEE 802.3).
    @inline(__always) public func serialization(of length: Int) -> SimDuration {
        .nanoseconds(Int64(max(length, 60) + 24) * 8 * 1_000_000_000 / rate)
    }
}

/// The bus between a NIC and its host, receive side (the 3B+'s LAN7515 behind USB 2.0):
/// frames from the wire wait in the NIC's RX FIFO and cross the bus at `rate`; the host
/// receives each when its transfer ends. A frame that finds the FIFO full is dropped by the
/// NIC (`nicReceiveFIFOFull`). The FIFO drains as a fluid: what is still to cross is
/// (bus busy until − now) × rate.
public struct ReceiveBus: Sendable, Equatable {
    /// Bits per second across the bus.
    public var rate: Int64
    /// The NIC's receive FIFO (lan78xx.c: `MAX_RX_FIFO_SIZE`, 12 KiB).
    public var fifoBytes: Int
    public init(rate: Int64, fifoBytes: Int = 12 * 1024) {
        self.rate = rate
        self.fifoBytes = fifoBytes
    }

    /// Bus time of a frame of `length` bytes: the frame with its FCS and lan78xx's 10-byte
    /// receive header (RX_CMD_A/B/C) per frame.
    @inline(__always) public func transfer(of length: Int) -> SimDuration {
        .nanoseconds(Int64(max(length, 60) + 14) * 8 * 1_000_000_000 / rate)
    }

    /// Bytes still in the FIFO at `now` when the bus is busy until `busyUntil`.
    @inline(__always) func backlog(busyUntil: SimTime, now: SimTime) -> Int {
        busyUntil > now ? Int((busyUntil - now).nanoseconds * rate / 8_000_000_000) : 0
    }
}

/// A VXLAN device's settings (`ip link add flannel.1 type vxlan id 1 local … dev eth0
/// dstport 8472 nolearning`) and its forwarding database of permanent entries
/// (`bridge fdb append <VTEP MAC> dev flannel.1 dst <node IP>`).
public struct VXLANDevice: Sendable {
    public let device: DeviceID
    public let vni: UInt32
    public let port: UInt16
    /// The local underlay address (outer source).
    public let local: IPv4Address
    /// Whether the outer UDP checksum is computed (`udpcsum`; kernel-ref observed it on).
    public var udpChecksum: Bool
    /// Keys the flow hash behind the outer source port (Linux keys it per boot).
    let hashKey: UInt64
    /// By inner destination MAC (`MACAddress.rawValue`): the remote VTEP.
    var fdb = FlatHashTable<UInt64, IPv4Address>()
}

public struct Device: Sendable {
    public let id: DeviceID
    public let namespace: NamespaceID
    public let name: String
    public let mac: MACAddress
    /// Layer-3 MTU (the largest IPv4 datagram the device carries).
    public var mtu: Int
    public var kind: DeviceKind {
        didSet { uncountedHeader = Self.uncountedHeader(kind) }
    }
    public var isUp = true
    /// IPv4 addresses in the order they were added; the first is the primary.
    public var addresses: [IPv4Interface] = []
    /// The bridge this device is a port of (an enslaved device has no IP stack of its own).
    public var master: BridgeID?
    /// Bridge port hairpin mode (`bridge link set dev X hairpin on`).
    public var hairpin = false
    public var counters = DeviceCounters()
    /// Bytes of each frame's Ethernet header that `counters` leave out: `lo` and a VXLAN
    /// device count the IP packet (`loopback_xmit` and `vxlan_rcv` count after
    /// `eth_type_trans`, `iptunnel_xmit` from the inner network header), 0 elsewhere. Linux
    /// 6.18 in namespaces: one 56-byte ping on lo counted 168 bytes for 2 packets each way;
    /// three UDP datagrams of 10, 100 and 1000 bytes through flannel.1 counted 1194 (their IP
    /// lengths) each way. (A bridge device counts what it passes up the same way, and what
    /// it sends whole: `bridgePassUp`.)
    private(set) var uncountedHeader: Int
    /// Set on a device with a shaped cable (veth standing for a NIC and its cable).
    public var link: LinkShape?
    /// Set on a NIC behind a capped bus (the 3B+'s USB 2.0), for what it receives.
    public var receiveBus: ReceiveBus?
    var receiveBusFreeAt = SimTime.zero
    /// When the frame now on the wire finishes, and the start times of the frames queued
    /// behind it (for txqueuelen).
    var wireFreeAt = SimTime.zero
    var queuedStarts: [SimTime] = []
    var queueHead = 0

    init(id: DeviceID, namespace: NamespaceID, name: String, mac: MACAddress, mtu: Int, kind: DeviceKind) {
        self.id = id
        self.namespace = namespace
        self.name = name
        self.mac = mac
        self.mtu = mtu
        self.kind = kind
        uncountedHeader = Self.uncountedHeader(kind)
    }

    static func uncountedHeader(_ kind: DeviceKind) -> Int {
        switch kind {
        case .loopback, .vxlan: EthernetHeader.length
        case .veth, .bridge, .ethernet: 0
        }
    }
}
