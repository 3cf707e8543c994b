/// Protocol numbers carried in headers: `EtherType` (Ethernet type field) and `IPProtocol`
/// (IPv4 protocol field). Lossless wrappers: unknown values are kept, so they survive a
/// parse/emit round trip. Named values are `@inlinable` computed properties (as in
/// swift-system's `Errno`) so a comparison in another module folds to an integer compare.

/// The 16-bit Ethernet type field (IEEE 802.3 / IANA "ieee-802-numbers").
public struct EtherType: RawRepresentable, Hashable, Sendable, CustomStringConvertible {
    public var rawValue: UInt16

    @inlinable public init(rawValue: UInt16) { self.rawValue = rawValue }

    @inlinable public static var ipv4: EtherType { EtherType(rawValue: 0x0800) }
    @inlinable public static var arp: EtherType { EtherType(rawValue: 0x0806) }
    @inlinable public static var vlan: EtherType { EtherType(rawValue: 0x8100) }
    @inlinable public static var ipv6: EtherType { EtherType(rawValue: 0x86DD) }

    public var description: String {
        switch self {
        case .ipv4: "IPv4"
        case .arp: "ARP"
        case .vlan: "802.1Q"
        case .ipv6: "IPv6"
        default: "0x" + String(rawValue, radix: 16, uppercase: false).leftPadded(to: 4)
        }
    }
}

/// The 8-bit IPv4 protocol field (IANA "protocol-numbers").
public struct IPProtocol: RawRepresentable, Hashable, Sendable, CustomStringConvertible {
    public var rawValue: UInt8

    @inlinable public init(rawValue: UInt8) { self.rawValue = rawValue }

    @inlinable public static var icmp: IPProtocol { IPProtocol(rawValue: 1) }
    @inlinable public static var tcp: IPProtocol { IPProtocol(rawValue: 6) }
    @inlinable public static var udp: IPProtocol { IPProtocol(rawValue: 17) }

    public var description: String {
        switch self {
        case .icmp: "ICMP"
        case .tcp: "TCP"
        case .udp: "UDP"
        default: "proto \(rawValue)"
        }
    }
}

extension String {
    fileprivate func leftPadded(to width: Int) -> String {
        count >= width ? self : String(repeating: "0", count: width - count) + self
    }
}
