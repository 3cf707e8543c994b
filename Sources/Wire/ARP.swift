/// ARP for IPv4 over Ethernet (RFC 826): the 28-byte packet after the Ethernet header.
/// Other hardware or protocol types are rejected as `.unsupported`.

/// The ARP opcode. Unknown values survive a round trip.
public struct ARPOperation: RawRepresentable, Hashable, Sendable {
    public var rawValue: UInt16
    @inlinable public init(rawValue: UInt16) { self.rawValue = rawValue }

    @inlinable public static var request: ARPOperation { ARPOperation(rawValue: 1) }
    @inlinable public static var reply: ARPOperation { ARPOperation(rawValue: 2) }
}

/// An Ethernet/IPv4 ARP packet value.
public struct ARPPacket: Hashable, Sendable {
    @inlinable public static var length: Int { 28 }

    /// ARP hardware type for Ethernet (RFC 826 `ar$hrd`).
    @inlinable public static var hardwareTypeEthernet: UInt16 { 1 }

    // Field offsets (RFC 826 ar$hrd, ar$pro, ar$hln, ar$pln, ar$op, ar$sha, ar$spa, ar$tha, ar$tpa).
    @inlinable public static var hardwareTypeOffset: Int { 0 }
    @inlinable public static var protocolTypeOffset: Int { 2 }
    @inlinable public static var hardwareLengthOffset: Int { 4 }
    @inlinable public static var protocolLengthOffset: Int { 5 }
    @inlinable public static var operationOffset: Int { 6 }
    @inlinable public static var senderHardwareAddressOffset: Int { 8 }
    @inlinable public static var senderProtocolAddressOffset: Int { 14 }
    @inlinable public static var targetHardwareAddressOffset: Int { 18 }
    @inlinable public static var targetProtocolAddressOffset: Int { 24 }

    public var operation: ARPOperation
    public var senderHardwareAddress: MACAddress
    public var senderProtocolAddress: IPv4Address
    public var targetHardwareAddress: MACAddress
    public var targetProtocolAddress: IPv4Address

    @inlinable public init(operation: ARPOperation,
                           senderHardwareAddress: MACAddress, senderProtocolAddress: IPv4Address,
                           targetHardwareAddress: MACAddress, targetProtocolAddress: IPv4Address) {
        self.operation = operation
        self.senderHardwareAddress = senderHardwareAddress
        self.senderProtocolAddress = senderProtocolAddress
        self.targetHardwareAddress = targetHardwareAddress
        self.targetProtocolAddress = targetProtocolAddress
    }

    /// Parses `bytes[0..<28]` (bytes after it, such as Ethernet padding, are ignored).
    /// Throws `.unsupported` unless htype 1, ptype 0x0800, hlen 6 and plen 4.
    @inlinable public init(parsing bytes: UnsafeRawBufferPointer) throws(WireError) {
        guard bytes.count >= ARPPacket.length, let p = bytes.baseAddress else {
            throw WireError.truncatedError("ARP", needed: ARPPacket.length, available: bytes.count)
        }
        let htype = UInt16(bigEndian: p.loadUnaligned(fromByteOffset: ARPPacket.hardwareTypeOffset, as: UInt16.self))
        let ptype = UInt16(bigEndian: p.loadUnaligned(fromByteOffset: ARPPacket.protocolTypeOffset, as: UInt16.self))
        let hlen = p.load(fromByteOffset: ARPPacket.hardwareLengthOffset, as: UInt8.self)
        let plen = p.load(fromByteOffset: ARPPacket.protocolLengthOffset, as: UInt8.self)
        guard htype == ARPPacket.hardwareTypeEthernet else { throw WireError.unsupportedError("ARP", "htype", Int(htype)) }
        guard ptype == EtherType.ipv4.rawValue else { throw WireError.unsupportedError("ARP", "ptype", Int(ptype)) }
        guard hlen == 6 else { throw WireError.unsupportedError("ARP", "hlen", Int(hlen)) }
        guard plen == 4 else { throw WireError.unsupportedError("ARP", "plen", Int(plen)) }
        operation = ARPOperation(rawValue: UInt16(bigEndian: p.loadUnaligned(
            fromByteOffset: ARPPacket.operationOffset, as: UInt16.self)))
        senderHardwareAddress = MACAddress(loading: p + ARPPacket.senderHardwareAddressOffset)
        senderProtocolAddress = IPv4Address(loading: p + ARPPacket.senderProtocolAddressOffset)
        targetHardwareAddress = MACAddress(loading: p + ARPPacket.targetHardwareAddressOffset)
        targetProtocolAddress = IPv4Address(loading: p + ARPPacket.targetProtocolAddressOffset)
    }

    /// Writes `bytes[0..<28]`. Precondition: `bytes.count >= 28`.
    @inlinable public func emit(into bytes: UnsafeMutableRawBufferPointer) {
        precondition(bytes.count >= ARPPacket.length, "ARP packet needs 28 bytes")
        let p = bytes.baseAddress!
        p.storeBytes(of: ARPPacket.hardwareTypeEthernet.bigEndian, toByteOffset: ARPPacket.hardwareTypeOffset, as: UInt16.self)
        p.storeBytes(of: EtherType.ipv4.rawValue.bigEndian, toByteOffset: ARPPacket.protocolTypeOffset, as: UInt16.self)
        p.storeBytes(of: UInt8(6), toByteOffset: ARPPacket.hardwareLengthOffset, as: UInt8.self)
        p.storeBytes(of: UInt8(4), toByteOffset: ARPPacket.protocolLengthOffset, as: UInt8.self)
        p.storeBytes(of: operation.rawValue.bigEndian, toByteOffset: ARPPacket.operationOffset, as: UInt16.self)
        senderHardwareAddress.store(to: p + ARPPacket.senderHardwareAddressOffset)
        senderProtocolAddress.store(to: p + ARPPacket.senderProtocolAddressOffset)
        targetHardwareAddress.store(to: p + ARPPacket.targetHardwareAddressOffset)
        targetProtocolAddress.store(to: p + ARPPacket.targetProtocolAddressOffset)
    }
}
