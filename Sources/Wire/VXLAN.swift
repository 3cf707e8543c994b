/// VXLAN (RFC 7348 §5): an 8-byte header after UDP. Flags byte 0x08 (the I bit: the VNI is
/// valid), 24 reserved bits, a 24-bit VNI, 8 reserved bits. flannel uses VNI 1 on Linux's
/// UDP port 8472.
public struct VXLANHeader: Hashable, Sendable {
    public static let length = 8
    /// The I flag: "VNI is valid".
    public static let validVNIFlag: UInt8 = 0x08
    /// Linux's default VXLAN port (IANA's is 4789; Linux keeps 8472 for early adopters).
    public static let linuxPort: UInt16 = 8472
    /// Outer Ethernet + IPv4 + UDP + VXLAN around an inner Ethernet frame.
    public static let overhead = 14 + 20 + 8 + 8

    public var flags: UInt8
    public var vni: UInt32

    @inlinable public init(vni: UInt32, flags: UInt8 = VXLANHeader.validVNIFlag) {
        self.flags = flags
        self.vni = vni & 0xFF_FFFF
    }

    @inlinable @inline(__always)
    public init(parsing bytes: UnsafeRawBufferPointer) throws(WireError) {
        guard bytes.count >= Self.length else {
            throw .truncated(layer: "VXLAN", needed: Self.length, available: bytes.count)
        }
        flags = bytes[0]
        vni = UInt32(bytes[4]) << 16 | UInt32(bytes[5]) << 8 | UInt32(bytes[6])
    }

    /// Writes the 8 bytes (reserved fields zero).
    @inlinable @inline(__always)
    public func emit(into bytes: UnsafeMutableRawBufferPointer) {
        precondition(bytes.count >= Self.length)
        bytes[0] = flags
        bytes[1] = 0; bytes[2] = 0; bytes[3] = 0
        bytes[4] = UInt8(truncatingIfNeeded: vni >> 16)
        bytes[5] = UInt8(truncatingIfNeeded: vni >> 8)
        bytes[6] = UInt8(truncatingIfNeeded: vni)
        bytes[7] = 0
    }

    /// `udp_flow_src_port`: map a flow hash into [low, high] the way Linux does
    /// (`hash ^= hash << 16`, then `((u64)hash * (high + 1 - low)) >> 32) + low`).
    @inlinable public static func sourcePort(flowHash: UInt32, low: UInt16 = 32768, high: UInt16 = 60999) -> UInt16 {
        var h = flowHash
        h ^= h << 16
        let span = UInt64(high) + 1 - UInt64(low)
        return UInt16((UInt64(h) * span) >> 32) + low
    }
}
