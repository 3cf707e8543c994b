/// Ethernet II framing (IEEE 802.3, DIX): destination MAC, source MAC, EtherType. No FCS and
/// no padding to 60 bytes, as in Linux captures on veth (REFERENCE.md §3: an ARP frame is
/// 42 bytes). 802.1Q tags are not interpreted: a tagged frame parses with `.vlan` as its type.

/// An Ethernet II header value.
public struct EthernetHeader: Hashable, Sendable {
    @inlinable public static var length: Int { 14 }

    // Field offsets.
    @inlinable public static var destinationOffset: Int { 0 }
    @inlinable public static var sourceOffset: Int { 6 }
    @inlinable public static var etherTypeOffset: Int { 12 }

    public var destination: MACAddress
    public var source: MACAddress
    public var etherType: EtherType

    @inlinable public init(destination: MACAddress, source: MACAddress, etherType: EtherType) {
        self.destination = destination
        self.source = source
        self.etherType = etherType
    }

    /// Reads the first 14 bytes; the payload starts at `EthernetHeader.length`.
    @inlinable @inline(__always)
    public init(parsing bytes: UnsafeRawBufferPointer) throws(WireError) {
        guard bytes.count >= EthernetHeader.length, let p = bytes.baseAddress else {
            throw WireError.truncatedError("Ethernet", needed: EthernetHeader.length, available: bytes.count)
        }
        destination = MACAddress(loading: p + EthernetHeader.destinationOffset)
        source = MACAddress(loading: p + EthernetHeader.sourceOffset)
        etherType = EtherType(rawValue: UInt16(bigEndian: p.loadUnaligned(
            fromByteOffset: EthernetHeader.etherTypeOffset, as: UInt16.self)))
    }

    /// Writes `bytes[0..<14]`. Precondition: `bytes.count >= 14`.
    @inlinable @inline(__always)
    public func emit(into bytes: UnsafeMutableRawBufferPointer) {
        precondition(bytes.count >= EthernetHeader.length, "Ethernet header needs 14 bytes")
        let p = bytes.baseAddress!
        destination.store(to: p + EthernetHeader.destinationOffset)
        source.store(to: p + EthernetHeader.sourceOffset)
        p.storeBytes(of: etherType.rawValue.bigEndian, toByteOffset: EthernetHeader.etherTypeOffset, as: UInt16.self)
    }
}
