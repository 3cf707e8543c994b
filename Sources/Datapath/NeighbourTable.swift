import Engine
import Wire

/// The IPv4 neighbour (ARP) table of one namespace, with Linux's NUD state machine
/// (net/core/neighbour.c, `ip neigh`): INCOMPLETE while resolving, REACHABLE after a reply,
/// STALE when learned from a request or when reachability aged out, DELAY then PROBE when a
/// stale entry is used, FAILED when resolution gave up. Packets wait on INCOMPLETE entries.
///
/// Timers are not cancelled: each entry carries a generation, and a timer event whose
/// generation no longer matches is ignored.

public enum NeighbourState: String, Sendable {
    case incomplete = "INCOMPLETE"
    case reachable = "REACHABLE"
    case stale = "STALE"
    case delay = "DELAY"
    case probe = "PROBE"
    case failed = "FAILED"
    case permanent = "PERMANENT"
}

/// Linux's per-device neighbour parameters (`/proc/sys/net/ipv4/neigh/<dev>/*` defaults).
public struct NeighbourParameters: Sendable {
    /// `base_reachable_time_ms`: 30 s; each entry's reachable time is uniformly random in
    /// [0.5, 1.5) × this (`neigh_rand_reach_time`).
    public var baseReachableTime = SimDuration.seconds(30)
    /// `retrans_time_ms`: 1 s between solicitations.
    public var retransmitTime = SimDuration.seconds(1)
    /// `delay_first_probe_time`: 5 s in DELAY before unicast probing.
    public var delayFirstProbeTime = SimDuration.seconds(5)
    /// `mcast_solicit`: broadcast requests while INCOMPLETE.
    public var multicastSolicit = 3
    /// `ucast_solicit`: unicast probes in PROBE.
    public var unicastSolicit = 3
    /// `unres_qlen_bytes`: 212992 bytes of packets may wait for resolution, counted in skb
    /// truesize (`queueCost`).
    public var unresolvedQueueBytes = 212_992

    /// The truesize of an IP packet of `ipLength` bytes as a local UDP socket builds it: the
    /// head buffer (the packet, 16 bytes of link-layer reserve, 15 of alignment slack and
    /// 320 of `skb_shared_info`) rounded up to its kmalloc size class, plus 256 for `struct
    /// sk_buff`. Fitted to Linux 6.18 (2026-11-25, a sender in a namespace whose neighbour
    /// did not answer ARP yet): the queue held the newest 92 datagrams of 1000 and 1472
    /// bytes (truesize 2304) and 166 of 200 and 500 bytes (1280). Packets that came in from
    /// a NIC are charged the same: their real truesize depends on the driver.
    public static func queueCost(ipLength: Int) -> Int {
        let head = ipLength + 16 + 15 + 320
        var size = 512
        while size < head { size <<= 1 }
        return size + 256
    }
    public init() {}
}

public struct NeighbourEntry: Sendable {
    public let address: IPv4Address
    public let device: DeviceID
    public internal(set) var mac: MACAddress?
    public internal(set) var state: NeighbourState
    /// Last time reachability was confirmed (an ARP reply).
    public internal(set) var confirmed: SimTime
    /// Last time the entry was used to send.
    public internal(set) var used: SimTime
    var reachableTime: SimDuration
    var probes = 0
    var generation: UInt32 = 0
    var queue: [PacketHandle] = []
    var queueBytes = 0
}

public struct NeighbourTable: Sendable {
    public internal(set) var entries: [NeighbourEntry] = []
    /// (device, address) → index in `entries`.
    private var index = FlatHashTable<UInt64, Int32>()
    public var parameters = NeighbourParameters()

    public init() {}

    @inline(__always) static func key(_ a: IPv4Address, _ d: DeviceID) -> UInt64 {
        UInt64(UInt32(bitPattern: d.rawValue)) << 32 | UInt64(a.rawValue)
    }

    @inline(__always) public func find(_ a: IPv4Address, device: DeviceID) -> Int32? {
        index[NeighbourTable.key(a, device)]
    }

    /// `neigh_output`'s fast path for entry `i`: marks it used at `now` and returns its MAC
    /// when a packet can go right away (REACHABLE within its reachable time, DELAY, PROBE,
    /// PERMANENT); nil when the caller must run the state machine (`neighbourOutput`). One
    /// access to `entries` instead of one per field.
    @inline(__always) mutating func useForOutput(_ i: Int, now: SimTime) -> MACAddress? {
        entries.withUnsafeMutableBufferPointer { b in
            b[i].used = now
            switch b[i].state {
            case .reachable:
                return now - b[i].confirmed >= b[i].reachableTime ? nil : b[i].mac
            case .delay, .probe, .permanent:
                return b[i].mac
            case .stale, .incomplete, .failed:
                return nil
            }
        }
    }

    mutating func insert(_ e: NeighbourEntry) -> Int32 {
        let i = Int32(entries.count)
        entries.append(e)
        index[NeighbourTable.key(e.address, e.device)] = i
        return i
    }
}
