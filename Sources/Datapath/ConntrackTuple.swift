import Wire

/// `struct nf_conntrack_tuple` for IPv4: what identifies one direction of a flow.
///
/// Ports carry what the kernel's tuple union carries for each protocol:
/// UDP/TCP the ports; ICMP the echo identifier in `sourcePort` (`src.u.icmp.id`) and
/// `type << 8 | code` in `destinationPort` (`dst.u.icmp.type`/`.code`); any other protocol
/// is tracked by `nf_conntrack_proto_generic` on addresses alone, with both ports 0.
/// No zone: podwire keeps one tracker per network namespace, zone 0.
public struct ConntrackTuple: Hashable, Sendable, Comparable, CustomStringConvertible {
    public var source: IPv4Address
    public var destination: IPv4Address
    /// UDP/TCP source port; ICMP: the echo identifier.
    public var sourcePort: UInt16
    /// UDP/TCP destination port; ICMP: `type << 8 | code`.
    public var destinationPort: UInt16
    /// 17 UDP, 6 TCP, 1 ICMP; anything else is generic (ports 0).
    public var protocolNumber: UInt8

    @inlinable
    public init(source: IPv4Address, destination: IPv4Address, sourcePort: UInt16, destinationPort: UInt16,
                protocolNumber: UInt8) {
        self.source = source
        self.destination = destination
        self.sourcePort = sourcePort
        self.destinationPort = destinationPort
        self.protocolNumber = protocolNumber
    }

    /// A UDP tuple.
    @inlinable
    public static func udp(_ source: IPv4Address, _ sourcePort: UInt16,
                           _ destination: IPv4Address, _ destinationPort: UInt16) -> ConntrackTuple {
        ConntrackTuple(source: source, destination: destination, sourcePort: sourcePort,
                       destinationPort: destinationPort, protocolNumber: ConntrackTuple.udpProtocol)
    }

    /// An ICMP tuple (`icmp_pkt_to_tuple`): the identifier, type and code of the message.
    @inlinable
    public static func icmp(_ source: IPv4Address, _ destination: IPv4Address, type: UInt8, code: UInt8,
                            identifier: UInt16) -> ConntrackTuple {
        ConntrackTuple(source: source, destination: destination, sourcePort: identifier,
                       destinationPort: UInt16(type) << 8 | UInt16(code), protocolNumber: ConntrackTuple.icmpProtocol)
    }

    public static let icmpProtocol: UInt8 = 1
    public static let tcpProtocol: UInt8 = 6
    public static let udpProtocol: UInt8 = 17

    /// ICMP type (valid when `protocolNumber == 1`).
    @inlinable public var icmpType: UInt8 { UInt8(truncatingIfNeeded: destinationPort >> 8) }
    /// ICMP code (valid when `protocolNumber == 1`).
    @inlinable public var icmpCode: UInt8 { UInt8(truncatingIfNeeded: destinationPort) }
    /// ICMP echo identifier (valid when `protocolNumber == 1`).
    @inlinable public var icmpIdentifier: UInt16 { sourcePort }

    /// True for the protocols whose tuple has real ports (TCP, UDP, UDP-Lite, SCTP, DCCP):
    /// those `conntrack -L` prints as `sport=`/`dport=` and NAT can remap.
    @inlinable public var hasPorts: Bool {
        switch protocolNumber {
        case 6, 17, 33, 132, 136: true
        default: false
        }
    }

    /// The tuple a reply would carry (`nf_ct_invert_tuple`): addresses swapped and, for
    /// port protocols, ports swapped. ICMP keeps the identifier and maps the request type to
    /// its reply (`invmap[]` in `nf_conntrack_proto_icmp.c`: echo 8↔0, timestamp 13↔14,
    /// info 15↔16, address mask 17↔18); a type without a counterpart is kept (such packets
    /// never create a flow: `icmp_new` only accepts the four request types).
    @inlinable
    public var inverted: ConntrackTuple {
        if protocolNumber == ConntrackTuple.icmpProtocol {
            return ConntrackTuple(source: destination, destination: source, sourcePort: sourcePort,
                                  destinationPort: UInt16(ConntrackTuple.invertedICMPType(icmpType)) << 8 | UInt16(icmpCode),
                                  protocolNumber: protocolNumber)
        }
        return ConntrackTuple(source: destination, destination: source, sourcePort: destinationPort,
                              destinationPort: sourcePort, protocolNumber: protocolNumber)
    }

    /// `invmap[]`: the ICMP type answering `type`, or `type` itself when it has none.
    @inlinable
    public static func invertedICMPType(_ type: UInt8) -> UInt8 {
        switch type {
        case 8: 0
        case 0: 8
        case 13: 14
        case 14: 13
        case 15: 16
        case 16: 15
        case 17: 18
        case 18: 17
        default: type
        }
    }

    /// `conntrack -L` order used by podwire: protocol, source, destination, then ports.
    @inlinable
    public static func < (a: ConntrackTuple, b: ConntrackTuple) -> Bool {
        if a.protocolNumber != b.protocolNumber { return a.protocolNumber < b.protocolNumber }
        if a.source != b.source { return a.source < b.source }
        if a.destination != b.destination { return a.destination < b.destination }
        if a.sourcePort != b.sourcePort { return a.sourcePort < b.sourcePort }
        return a.destinationPort < b.destinationPort
    }

    /// The tuple as `conntrack -L` prints it: "src=A dst=B sport=P dport=Q".
    public var description: String {
        var s = ""
        appendConntrackText(to: &s)
        s.removeLast()
        return s
    }
}
