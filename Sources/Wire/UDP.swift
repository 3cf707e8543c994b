/// UDP headers (RFC 768) and the UDP checksum over the IPv4 pseudo-header.
///
/// A stored checksum of 0 means "none" (RFC 768); a computed 0 is sent as 0xFFFF. When NAT
/// updates a UDP checksum with `InternetChecksum.update`, it must skip a zero checksum and
/// map a 0x0000 result to 0xFFFF, as Linux does (`CSUM_MANGLED_0`).

/// A UDP header value.
public struct UDPHeader: Hashable, Sendable {
    @inlinable public static var length: Int { 8 }

    // Field offsets.
    @inlinable public static var sourcePortOffset: Int { 0 }
    @inlinable public static var destinationPortOffset: Int { 2 }
    @inlinable public static var lengthOffset: Int { 4 }
    @inlinable public static var checksumOffset: Int { 6 }

    public var sourcePort: UInt16
    public var destinationPort: UInt16
    /// Header plus payload, in bytes.
    public var length: UInt16
    public var checksum: UInt16

    @inlinable public init(sourcePort: UInt16, destinationPort: UInt16, length: UInt16, checksum: UInt16 = 0) {
        self.sourcePort = sourcePort
        self.destinationPort = destinationPort
        self.length = length
        self.checksum = checksum
    }

    /// Parses the header at the start of `bytes`, which should hold the datagram (the IPv4
    /// payload). Throws `.badLength` unless 8 <= length <= `bytes.count`.
    @inlinable @inline(__always)
    public init(parsing bytes: UnsafeRawBufferPointer) throws(WireError) {
        guard bytes.count >= UDPHeader.length, let p = bytes.baseAddress else {
            throw WireError.truncatedError("UDP", needed: UDPHeader.length, available: bytes.count)
        }
        let len = UInt16(bigEndian: p.loadUnaligned(fromByteOffset: UDPHeader.lengthOffset, as: UInt16.self))
        guard Int(len) >= UDPHeader.length, Int(len) <= bytes.count else {
            throw WireError.badLength(layer: "UDP", Int(len))
        }
        sourcePort = UInt16(bigEndian: p.loadUnaligned(fromByteOffset: UDPHeader.sourcePortOffset, as: UInt16.self))
        destinationPort = UInt16(bigEndian: p.loadUnaligned(fromByteOffset: UDPHeader.destinationPortOffset, as: UInt16.self))
        length = len
        checksum = UInt16(bigEndian: p.loadUnaligned(fromByteOffset: UDPHeader.checksumOffset, as: UInt16.self))
    }

    /// Parses the UDP header quoted inside an ICMP error, after `IPv4Header(parsingQuoted:)`:
    /// only the 8 header bytes must be present; the length field is not checked against
    /// the (cut-short) bytes.
    @inlinable public init(parsingQuoted bytes: UnsafeRawBufferPointer) throws(WireError) {
        guard bytes.count >= UDPHeader.length, let p = bytes.baseAddress else {
            throw WireError.truncatedError("UDP", needed: UDPHeader.length, available: bytes.count)
        }
        sourcePort = UInt16(bigEndian: p.loadUnaligned(fromByteOffset: UDPHeader.sourcePortOffset, as: UInt16.self))
        destinationPort = UInt16(bigEndian: p.loadUnaligned(fromByteOffset: UDPHeader.destinationPortOffset, as: UInt16.self))
        length = UInt16(bigEndian: p.loadUnaligned(fromByteOffset: UDPHeader.lengthOffset, as: UInt16.self))
        checksum = UInt16(bigEndian: p.loadUnaligned(fromByteOffset: UDPHeader.checksumOffset, as: UInt16.self))
    }

    /// Writes `bytes[0..<8]` with the fields as they are (`checksum` included; compute it
    /// afterwards with `UDPHeader.checksum(source:destination:datagram:)`).
    /// Precondition: `bytes.count >= 8`.
    @inlinable @inline(__always)
    public func emit(into bytes: UnsafeMutableRawBufferPointer) {
        precondition(bytes.count >= UDPHeader.length, "UDP header needs 8 bytes")
        let p = bytes.baseAddress!
        p.storeBytes(of: sourcePort.bigEndian, toByteOffset: UDPHeader.sourcePortOffset, as: UInt16.self)
        p.storeBytes(of: destinationPort.bigEndian, toByteOffset: UDPHeader.destinationPortOffset, as: UInt16.self)
        p.storeBytes(of: length.bigEndian, toByteOffset: UDPHeader.lengthOffset, as: UInt16.self)
        p.storeBytes(of: checksum.bigEndian, toByteOffset: UDPHeader.checksumOffset, as: UInt16.self)
    }

    /// The RFC 768 checksum of `datagram` (UDP header + payload, exactly `length` bytes)
    /// under the IPv4 pseudo-header. The checksum field is taken as zero whatever it holds.
    /// A computed 0 is returned as 0xFFFF. Precondition: `datagram.count >= 8`.
    @inlinable public static func checksum(source: IPv4Address, destination: IPv4Address,
                                           datagram: UnsafeRawBufferPointer) -> UInt16 {
        precondition(datagram.count >= length, "UDP datagram shorter than its header")
        var c = pseudoHeaderSum(source: source, destination: destination, length: datagram.count)
        c.add(UnsafeRawBufferPointer(rebasing: datagram[..<checksumOffset]))
        c.add(UnsafeRawBufferPointer(rebasing: datagram[(checksumOffset &+ 2)...]))
        let sum = c.finalize()
        return sum == 0 ? 0xFFFF : sum
    }

    /// The RFC 768 checksum of `datagram` when its bytes from `offset` on are a UDP datagram
    /// from `innerSource` to `innerDestination` whose own checksum is non-zero and verifies
    /// (VXLAN's inner packet): those bytes are not read, since they sum to minus their
    /// pseudo-header (Linux's local checksum offload, `lco_csum`,
    /// Documentation/networking/checksum-offloads.rst). Equal to
    /// `checksum(source:destination:datagram:)` of the same bytes — one's-complement sums of
    /// data that is not all zero fold to one value — for a fraction of the work.
    /// Preconditions: `offset` is even and `8 <= offset <= datagram.count`.
    @inlinable public static func checksum(source: IPv4Address, destination: IPv4Address, datagram: UnsafeRawBufferPointer,
                                           validInnerDatagramAt offset: Int, innerSource: IPv4Address,
                                           innerDestination: IPv4Address) -> UInt16 {
        precondition(offset & 1 == 0 && offset >= length && offset <= datagram.count, "inner datagram offset out of range")
        var c = pseudoHeaderSum(source: source, destination: destination, length: datagram.count)
        c.add(UnsafeRawBufferPointer(rebasing: datagram[..<checksumOffset]))
        c.add(UnsafeRawBufferPointer(rebasing: datagram[(checksumOffset &+ 2)..<offset]))
        c.add(negationOf: pseudoHeaderSum(source: innerSource, destination: innerDestination,
                                          length: datagram.count &- offset))
        let sum = c.finalize()
        return sum == 0 ? 0xFFFF : sum
    }

    /// True if the stored checksum is 0 (none) or verifies; false if `datagram` is shorter
    /// than a UDP header.
    @inlinable public static func isChecksumValid(source: IPv4Address, destination: IPv4Address,
                                                  datagram: UnsafeRawBufferPointer) -> Bool {
        guard datagram.count >= length, let p = datagram.baseAddress else { return false }
        if p.loadUnaligned(fromByteOffset: checksumOffset, as: UInt16.self) == 0 { return true }
        var c = pseudoHeaderSum(source: source, destination: destination, length: datagram.count)
        c.add(datagram)
        return c.finalize() == 0
    }

    /// The RFC 768 pseudo-header: source, destination, zero + protocol 17, UDP length.
    @inlinable static func pseudoHeaderSum(source: IPv4Address, destination: IPv4Address,
                                           length: Int) -> InternetChecksum {
        var c = InternetChecksum()
        c.add(source)
        c.add(destination)
        c.add(UInt16(IPProtocol.udp.rawValue))
        c.add(UInt16(truncatingIfNeeded: length))
        return c
    }
}
