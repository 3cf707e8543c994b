/// Why a packet was dropped. Names follow Linux's `SKB_DROP_REASON_*`
/// (include/net/dropreason-core.h) where one exists, so a user can grep the kernel.
/// Every drop in podwire carries one of these; none is silent.
public enum DropReason: UInt8, Sendable, CaseIterable, Comparable, CustomStringConvertible {
    /// No route to the destination (`SKB_DROP_REASON_IP_OUTNOROUTES`).
    case noRoute
    /// TTL reached zero on a routed hop (`SKB_DROP_REASON_IP_INHDR` / ICMP time exceeded).
    case ttlExceeded
    /// Neighbour resolution failed after all retries (`SKB_DROP_REASON_NEIGH_FAILED`).
    case neighbourFailed
    /// The neighbour's pending queue was full (`SKB_DROP_REASON_NEIGH_QUEUEFULL`).
    case neighbourQueueFull
    /// Frame for another host's MAC (`SKB_DROP_REASON_OTHERHOST`).
    case otherHost
    /// IPv4 datagram not addressed to this host and forwarding is off
    /// (`SKB_DROP_REASON_IP_INADDRERRORS`).
    case notForUs
    /// UDP datagram to a port with no socket (`SKB_DROP_REASON_NO_SOCKET`); ICMP port
    /// unreachable is sent.
    case noSocket
    /// Header failed to parse or a checksum was wrong (`SKB_DROP_REASON_IP_CSUM`,
    /// `SKB_DROP_REASON_UDP_CSUM`, `SKB_DROP_REASON_PKT_TOO_SMALL`).
    case malformed
    /// Larger than the device MTU (`SKB_DROP_REASON_PKT_TOO_BIG`).
    case mtuExceeded
    /// A device queue was full (`SKB_DROP_REASON_QDISC_DROP`).
    case queueFull
    /// The device or its peer is down (`SKB_DROP_REASON_DEV_READY`).
    case deviceDown
    /// Bridge would send the frame back out of its ingress port without hairpin mode.
    case bridgeNoHairpin
    /// ARP packet not answerable here (not for one of our addresses), consumed by Linux's
    /// `arp_rcv` without reply.
    case arpNotForUs
    /// The socket's receive buffer was full (`SKB_DROP_REASON_SOCKET_RCVBUFF`).
    case socketReceiveBufferFull
    /// Unsupported EtherType or IP protocol (`SKB_DROP_REASON_UNHANDLED_PROTO`).
    case unhandledProtocol
    /// Sent on a NIC with no link (no carrier).
    case noCarrier
    /// VXLAN: no FDB entry (remote VTEP) for the inner destination MAC
    /// (`SKB_DROP_REASON_VXLAN_NO_REMOTE`).
    case vxlanNoRemote
    /// IPv4 reassembly gave up: not every fragment arrived within `ipfrag_time` (30 s)
    /// (`SKB_DROP_REASON_FRAG_REASM_TIMEOUT`).
    case reassemblyTimeout
    /// VXLAN: header without the I flag, or a VNI no device here serves
    /// (`SKB_DROP_REASON_VXLAN_VNI_NOT_FOUND` / `_INVALID_HDR`).
    case vxlanBadHeader
    /// IPv4 reassembly queues already hold more than `ipfrag_high_thresh` (4 MiB) of
    /// fragments: `inet_frag_find` refuses a new one and `ip_defrag` frees it (IpReasmFails).
    case reassemblyMemoryLimit
    /// A netfilter rule's DROP (or REJECT, which also sends an ICMP error)
    /// (`SKB_DROP_REASON_NETFILTER_DROP`).
    case netfilterDrop
    /// Conntrack could not add a new flow: the table holds `nf_conntrack_max` entries and
    /// early drop found none to evict. dmesg: "nf_conntrack: table full, dropping packet".
    case conntrackTableFull
    /// Conntrack's confirm found the flow's tuple already in the table (the UDP insert race,
    /// `insert_failed` in `conntrack -S`).
    case conntrackInsertFailed
    /// SNAT/MASQUERADE found no free source port for the flow.
    case natNoFreePort
    /// The core's input queue already held `netdev_max_backlog` packets: the node's CPU
    /// cannot keep up (`SKB_DROP_REASON_CPU_BACKLOG`; `softnet_stat`'s dropped column).
    case cpuBacklog
    /// The NIC's receive FIFO was full: the bus behind it (the 3B+'s USB 2.0) cannot carry
    /// what the wire brings. Dropped in hardware, so never an skb and no drop reason; the
    /// interface counts it (`ip -s link`: missed; podwire: rx dropped).
    case nicReceiveFIFOFull

    /// The kernel's name for the reason, as `pwru`/`dropwatch` print it.
    public var kernelName: String {
        switch self {
        case .noRoute: "SKB_DROP_REASON_IP_OUTNOROUTES"
        case .ttlExceeded: "SKB_DROP_REASON_IP_INHDR"
        case .neighbourFailed: "SKB_DROP_REASON_NEIGH_FAILED"
        case .neighbourQueueFull: "SKB_DROP_REASON_NEIGH_QUEUEFULL"
        case .otherHost: "SKB_DROP_REASON_OTHERHOST"
        case .notForUs: "SKB_DROP_REASON_IP_INADDRERRORS"
        case .noSocket: "SKB_DROP_REASON_NO_SOCKET"
        case .malformed: "SKB_DROP_REASON_PKT_TOO_SMALL"
        case .mtuExceeded: "SKB_DROP_REASON_PKT_TOO_BIG"
        case .queueFull: "SKB_DROP_REASON_QDISC_DROP"
        case .deviceDown: "SKB_DROP_REASON_DEV_READY"
        case .bridgeNoHairpin: "SKB_DROP_REASON_BRIDGE_NO_HAIRPIN"
        case .arpNotForUs: "SKB_DROP_REASON_ARP_NOT_FOR_US"
        case .socketReceiveBufferFull: "SKB_DROP_REASON_SOCKET_RCVBUFF"
        case .unhandledProtocol: "SKB_DROP_REASON_UNHANDLED_PROTO"
        case .noCarrier: "SKB_DROP_REASON_DEV_READY"
        case .reassemblyTimeout: "SKB_DROP_REASON_FRAG_REASM_TIMEOUT"
        case .vxlanNoRemote: "SKB_DROP_REASON_VXLAN_NO_REMOTE"
        case .vxlanBadHeader: "SKB_DROP_REASON_VXLAN_VNI_NOT_FOUND"
        case .reassemblyMemoryLimit: "SKB_DROP_REASON_NOT_SPECIFIED"
        case .netfilterDrop, .conntrackTableFull, .conntrackInsertFailed, .natNoFreePort: "SKB_DROP_REASON_NETFILTER_DROP"
        case .cpuBacklog: "SKB_DROP_REASON_CPU_BACKLOG"
        case .nicReceiveFIFOFull: "rx_missed_errors"
        }
    }

    /// Short human text for summaries.
    public var description: String {
        switch self {
        case .noRoute: "no route to host"
        case .ttlExceeded: "TTL exceeded in transit"
        case .neighbourFailed: "neighbour (ARP) resolution failed"
        case .neighbourQueueFull: "neighbour pending queue full"
        case .otherHost: "frame for another host's MAC"
        case .notForUs: "IPv4 datagram not for this host (forwarding off)"
        case .noSocket: "no socket bound to the UDP port"
        case .malformed: "malformed header or bad checksum"
        case .mtuExceeded: "larger than the device MTU"
        case .queueFull: "device transmit queue full"
        case .deviceDown: "device down"
        case .bridgeNoHairpin: "bridge would reflect to ingress port without hairpin"
        case .arpNotForUs: "ARP not for this host (consumed, as arp_process does)"
        case .socketReceiveBufferFull: "socket receive buffer full"
        case .unhandledProtocol: "unhandled EtherType or IP protocol"
        case .noCarrier: "no carrier on the NIC (not connected to a LAN)"
        case .reassemblyTimeout: "IPv4 reassembly timed out (a fragment never came)"
        case .vxlanNoRemote: "VXLAN: no remote VTEP for the inner destination MAC"
        case .vxlanBadHeader: "VXLAN: bad flags or unknown VNI"
        case .reassemblyMemoryLimit: "IPv4 reassembly memory above ipfrag_high_thresh"
        case .netfilterDrop: "dropped or rejected by a netfilter rule"
        case .conntrackTableFull: "nf_conntrack: table full, dropping packet"
        case .conntrackInsertFailed: "conntrack insert failed (the flow's tuple was already taken)"
        case .natNoFreePort: "NAT found no free source port"
        case .cpuBacklog: "CPU backlog full (netdev_max_backlog): the node's core cannot keep up"
        case .nicReceiveFIFOFull: "NIC receive FIFO full: the bus behind the NIC cannot keep up (dropped in hardware)"
        }
    }

    public static func < (a: Self, b: Self) -> Bool { a.rawValue < b.rawValue }
}
