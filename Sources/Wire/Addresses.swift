/// Link- and network-layer addresses. Plain values over integers so they hash, compare and
/// copy for free on the per-packet path.

/// A 48-bit Ethernet MAC address, stored in the low 48 bits of a `UInt64` with the first
/// byte on the wire as the most significant (so ordering equals byte-wise ordering).
public struct MACAddress: Hashable, Comparable, Sendable, CustomStringConvertible {
    public var rawValue: UInt64

    @inlinable public init(rawValue: UInt64) { self.rawValue = rawValue & 0xFFFF_FFFF_FFFF }

    @inlinable public init(_ b0: UInt8, _ b1: UInt8, _ b2: UInt8, _ b3: UInt8, _ b4: UInt8, _ b5: UInt8) {
        rawValue = UInt64(b0) << 40 | UInt64(b1) << 32 | UInt64(b2) << 24
            | UInt64(b3) << 16 | UInt64(b4) << 8 | UInt64(b5)
    }

    /// Parses "02:44:00:00:00:01" (also accepts '-' separators, one kind per string): six
    /// groups of exactly two hex digits. Rejects signs ("+2"), empty groups and trailing
    /// separators, which `UInt8(_:radix:)` and `split` alone would let through.
    public init?(_ string: String) {
        let u = Array(string.utf8)
        guard u.count == 17, u[2] == UInt8(ascii: ":") || u[2] == UInt8(ascii: "-") else { return nil }
        let separator = u[2]
        var v: UInt64 = 0
        for group in 0..<6 {
            let i = group * 3
            if group > 0, u[i - 1] != separator { return nil }
            guard let hi = MACAddress.hexValue(u[i]), let lo = MACAddress.hexValue(u[i + 1]) else { return nil }
            v = v << 8 | UInt64(hi << 4 | lo)
        }
        rawValue = v
    }

    private static func hexValue(_ c: UInt8) -> UInt8? {
        switch c {
        case UInt8(ascii: "0")...UInt8(ascii: "9"): c - UInt8(ascii: "0")
        case UInt8(ascii: "a")...UInt8(ascii: "f"): c - UInt8(ascii: "a") + 10
        case UInt8(ascii: "A")...UInt8(ascii: "F"): c - UInt8(ascii: "A") + 10
        default: nil
        }
    }

    // Computed and inlinable rather than `static let`, so another module compares against a
    // constant instead of calling a global addressor on the per-packet path.
    @inlinable public static var broadcast: MACAddress { MACAddress(rawValue: 0xFFFF_FFFF_FFFF) }
    @inlinable public static var zero: MACAddress { MACAddress(rawValue: 0) }

    @inlinable public var isBroadcast: Bool { rawValue == 0xFFFF_FFFF_FFFF }
    /// Group bit (I/G) of the first byte: broadcast and multicast.
    @inlinable public var isMulticast: Bool { rawValue & 0x0100_0000_0000 != 0 }
    /// U/L bit of the first byte.
    @inlinable public var isLocallyAdministered: Bool { rawValue & 0x0200_0000_0000 != 0 }

    /// Reads 6 bytes in wire order.
    @inlinable public init(loading p: UnsafeRawPointer) {
        let hi = UInt64(UInt16(bigEndian: p.loadUnaligned(as: UInt16.self)))
        let lo = UInt64(UInt32(bigEndian: p.loadUnaligned(fromByteOffset: 2, as: UInt32.self)))
        rawValue = hi << 32 | lo
    }

    /// Writes 6 bytes in wire order.
    @inlinable public func store(to p: UnsafeMutableRawPointer) {
        p.storeBytes(of: UInt16(truncatingIfNeeded: rawValue >> 32).bigEndian, as: UInt16.self)
        p.storeBytes(of: UInt32(truncatingIfNeeded: rawValue).bigEndian, toByteOffset: 2, as: UInt32.self)
    }

    @inlinable public static func < (a: Self, b: Self) -> Bool { a.rawValue < b.rawValue }

    public var description: String {
        (0..<6).map { i -> String in
            let b = UInt8(truncatingIfNeeded: rawValue >> UInt64(40 - 8 * i))
            return b < 16 ? "0" + String(b, radix: 16) : String(b, radix: 16)
        }.joined(separator: ":")
    }
}

/// An IPv4 address as a host-order integer: 10.0.0.1 == 0x0A00_0001.
public struct IPv4Address: Hashable, Comparable, Sendable, CustomStringConvertible {
    public var rawValue: UInt32

    @inlinable public init(rawValue: UInt32) { self.rawValue = rawValue }
    @inlinable public init(_ a: UInt8, _ b: UInt8, _ c: UInt8, _ d: UInt8) {
        rawValue = UInt32(a) << 24 | UInt32(b) << 16 | UInt32(c) << 8 | UInt32(d)
    }

    /// Parses dotted-quad "10.244.0.2"; rejects leading zeros ("010.1.1.1") as ambiguous.
    public init?(_ string: some StringProtocol) {
        let parts = string.split(separator: ".", omittingEmptySubsequences: false)
        guard parts.count == 4 else { return nil }
        var v: UInt32 = 0
        for p in parts {
            guard !p.isEmpty, p.count <= 3, p.allSatisfy({ $0.isASCII && $0.isNumber }),
                  !(p.count > 1 && p.first == "0"), let n = UInt8(p) else { return nil }
            v = v << 8 | UInt32(n)
        }
        rawValue = v
    }

    @inlinable public static var any: IPv4Address { IPv4Address(rawValue: 0) }
    @inlinable public static var broadcast: IPv4Address { IPv4Address(rawValue: 0xFFFF_FFFF) }
    @inlinable public static var loopback: IPv4Address { IPv4Address(127, 0, 0, 1) }

    @inlinable public var isUnspecified: Bool { rawValue == 0 }
    @inlinable public var isBroadcast: Bool { rawValue == 0xFFFF_FFFF }
    @inlinable public var isLoopback: Bool { rawValue >> 24 == 127 }
    @inlinable public var isMulticast: Bool { rawValue >> 28 == 0xE }

    /// Reads 4 bytes in network order.
    @inlinable public init(loading p: UnsafeRawPointer) {
        rawValue = UInt32(bigEndian: p.loadUnaligned(as: UInt32.self))
    }

    /// Writes 4 bytes in network order.
    @inlinable public func store(to p: UnsafeMutableRawPointer) {
        p.storeBytes(of: rawValue.bigEndian, as: UInt32.self)
    }

    @inlinable public static func < (a: Self, b: Self) -> Bool { a.rawValue < b.rawValue }

    public var description: String {
        "\(rawValue >> 24).\(rawValue >> 16 & 0xFF).\(rawValue >> 8 & 0xFF).\(rawValue & 0xFF)"
    }
}

/// An IPv4 prefix (CIDR block) with the host bits cleared: "10.244.0.0/16".
public struct IPv4Network: Hashable, Comparable, Sendable, CustomStringConvertible {
    public let network: IPv4Address
    public let prefixLength: Int

    /// Clears host bits of `address`.
    @inlinable public init(address: IPv4Address, prefixLength: Int) {
        precondition((0...32).contains(prefixLength), "prefix length \(prefixLength) out of 0...32")
        self.prefixLength = prefixLength
        self.network = IPv4Address(rawValue: address.rawValue & IPv4Network.mask(prefixLength))
    }

    /// Parses "10.244.0.0/16". Returns nil if malformed or if host bits are set
    /// ("10.244.0.1/16" is an interface address, see `IPv4Interface`).
    public init?(_ string: some StringProtocol) {
        guard let iface = IPv4Interface(string) else { return nil }
        guard iface.address == iface.network.network else { return nil }
        self = iface.network
    }

    @inlinable public static func mask(_ prefixLength: Int) -> UInt32 {
        prefixLength == 0 ? 0 : UInt32.max << UInt32(32 - prefixLength)
    }

    @inlinable public var mask: UInt32 { IPv4Network.mask(prefixLength) }
    @inlinable public var broadcast: IPv4Address { IPv4Address(rawValue: network.rawValue | ~mask) }
    /// Number of addresses in the block, including network and broadcast.
    @inlinable public var size: UInt64 { UInt64(1) << UInt64(32 - prefixLength) }

    @inlinable public func contains(_ a: IPv4Address) -> Bool { a.rawValue & mask == network.rawValue }
    @inlinable public func contains(_ other: IPv4Network) -> Bool {
        other.prefixLength >= prefixLength && contains(other.network)
    }
    @inlinable public func overlaps(_ other: IPv4Network) -> Bool { contains(other) || other.contains(self) }

    /// The address `offset` places after the network address (offset 1 → ".1").
    @inlinable public func address(at offset: UInt32) -> IPv4Address {
        IPv4Address(rawValue: network.rawValue &+ offset)
    }

    /// The `index`-th sub-block of length `prefixLength` (10.244.0.0/16, index 3, /24 →
    /// 10.244.3.0/24), or nil when it does not fit.
    public func subnet(index: Int, prefixLength newLength: Int) -> IPv4Network? {
        guard newLength >= prefixLength, newLength <= 32, index >= 0,
              UInt64(index) < (UInt64(1) << UInt64(newLength - prefixLength)) else { return nil }
        let step = UInt64(1) << UInt64(32 - newLength)
        return IPv4Network(address: IPv4Address(rawValue: UInt32(UInt64(network.rawValue) + UInt64(index) * step)),
                           prefixLength: newLength)
    }

    @inlinable public static func < (a: Self, b: Self) -> Bool {
        (a.network, a.prefixLength) < (b.network, b.prefixLength)
    }

    public var description: String { "\(network)/\(prefixLength)" }
}

/// An address on an interface together with its prefix, host bits kept:
/// "192.168.50.11/24".
public struct IPv4Interface: Hashable, Sendable, CustomStringConvertible {
    public let address: IPv4Address
    public let prefixLength: Int

    @inlinable public init(address: IPv4Address, prefixLength: Int) {
        precondition((0...32).contains(prefixLength), "prefix length \(prefixLength) out of 0...32")
        self.address = address
        self.prefixLength = prefixLength
    }

    /// Parses "192.168.50.11/24"; the prefix is required.
    public init?(_ string: some StringProtocol) {
        let parts = string.split(separator: "/", omittingEmptySubsequences: false)
        guard parts.count == 2, let a = IPv4Address(parts[0]),
              parts[1].count <= 2, parts[1].allSatisfy({ $0.isASCII && $0.isNumber }),
              let p = Int(parts[1]), (0...32).contains(p) else { return nil }
        self.init(address: a, prefixLength: p)
    }

    @inlinable public var network: IPv4Network { IPv4Network(address: address, prefixLength: prefixLength) }

    public var description: String { "\(address)/\(prefixLength)" }
}
