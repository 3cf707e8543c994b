/// ICMPv4 (RFC 792): the 8-byte header common to every message and the checksum over the
/// whole message. The rest-of-header word carries the echo identifier and sequence, or the
/// next-hop MTU of "fragmentation needed" (RFC 1191); bodies (echo data, the quoted IP
/// header of an error) are the caller's bytes after the header.

/// The ICMPv4 type. Unknown values survive a round trip.
public struct ICMPv4Type: RawRepresentable, Hashable, Sendable {
    public var rawValue: UInt8
    @inlinable public init(rawValue: UInt8) { self.rawValue = rawValue }

    @inlinable public static var echoReply: ICMPv4Type { ICMPv4Type(rawValue: 0) }
    @inlinable public static var destinationUnreachable: ICMPv4Type { ICMPv4Type(rawValue: 3) }
    @inlinable public static var echoRequest: ICMPv4Type { ICMPv4Type(rawValue: 8) }
    @inlinable public static var timeExceeded: ICMPv4Type { ICMPv4Type(rawValue: 11) }
}

/// Codes of `ICMPv4Type.destinationUnreachable` (RFC 792, RFC 1191).
public enum ICMPv4UnreachableCode {
    @inlinable public static var network: UInt8 { 0 }
    @inlinable public static var host: UInt8 { 1 }
    @inlinable public static var `protocol`: UInt8 { 2 }
    @inlinable public static var port: UInt8 { 3 }
    @inlinable public static var fragmentationNeeded: UInt8 { 4 }
}

/// An ICMPv4 header value.
public struct ICMPv4Header: Hashable, Sendable {
    @inlinable public static var length: Int { 8 }

    // Field offsets.
    @inlinable public static var typeOffset: Int { 0 }
    @inlinable public static var codeOffset: Int { 1 }
    @inlinable public static var checksumOffset: Int { 2 }
    @inlinable public static var restOfHeaderOffset: Int { 4 }

    public var type: ICMPv4Type
    public var code: UInt8
    /// As parsed; `emit(intoMessage:)` ignores it and writes a freshly computed one.
    public var checksum: UInt16
    /// Bytes 4..<8: identifier << 16 | sequence for echo, the next-hop MTU in the low 16 bits
    /// for fragmentation needed (RFC 1191), 0 for other errors.
    public var restOfHeader: UInt32

    @inlinable public init(type: ICMPv4Type, code: UInt8, restOfHeader: UInt32 = 0) {
        self.type = type
        self.code = code
        self.checksum = 0
        self.restOfHeader = restOfHeader
    }

    /// Echo identifier (high 16 bits of `restOfHeader`).
    @inlinable public var identifier: UInt16 {
        get { UInt16(truncatingIfNeeded: restOfHeader >> 16) }
        set { restOfHeader = UInt32(newValue) << 16 | restOfHeader & 0xFFFF }
    }

    /// Echo sequence number (low 16 bits of `restOfHeader`).
    @inlinable public var sequence: UInt16 {
        get { UInt16(truncatingIfNeeded: restOfHeader) }
        set { restOfHeader = restOfHeader & 0xFFFF_0000 | UInt32(newValue) }
    }

    /// Next-hop MTU of "fragmentation needed" (low 16 bits of `restOfHeader`, RFC 1191).
    @inlinable public var nextHopMTU: UInt16 {
        get { UInt16(truncatingIfNeeded: restOfHeader) }
        set { restOfHeader = restOfHeader & 0xFFFF_0000 | UInt32(newValue) }
    }

    /// Parses the first 8 bytes. Does not verify the checksum: see `isChecksumValid(message:)`.
    @inlinable public init(parsing bytes: UnsafeRawBufferPointer) throws(WireError) {
        guard bytes.count >= ICMPv4Header.length, let p = bytes.baseAddress else {
            throw WireError.truncatedError("ICMPv4", needed: ICMPv4Header.length, available: bytes.count)
        }
        type = ICMPv4Type(rawValue: p.load(fromByteOffset: ICMPv4Header.typeOffset, as: UInt8.self))
        code = p.load(fromByteOffset: ICMPv4Header.codeOffset, as: UInt8.self)
        checksum = UInt16(bigEndian: p.loadUnaligned(fromByteOffset: ICMPv4Header.checksumOffset, as: UInt16.self))
        restOfHeader = UInt32(bigEndian: p.loadUnaligned(fromByteOffset: ICMPv4Header.restOfHeaderOffset, as: UInt32.self))
    }

    /// Writes the header into `message[0..<8]`, then computes the checksum over the whole
    /// `message` (header + the body the caller already placed after it) into it.
    /// Precondition: `message.count >= 8`.
    @inlinable public func emit(intoMessage message: UnsafeMutableRawBufferPointer) {
        precondition(message.count >= ICMPv4Header.length, "ICMPv4 header needs 8 bytes")
        let p = message.baseAddress!
        p.storeBytes(of: type.rawValue, toByteOffset: ICMPv4Header.typeOffset, as: UInt8.self)
        p.storeBytes(of: code, toByteOffset: ICMPv4Header.codeOffset, as: UInt8.self)
        p.storeBytes(of: UInt16(0), toByteOffset: ICMPv4Header.checksumOffset, as: UInt16.self)
        p.storeBytes(of: restOfHeader.bigEndian, toByteOffset: ICMPv4Header.restOfHeaderOffset, as: UInt32.self)
        var c = InternetChecksum()
        c.add(UnsafeRawBufferPointer(message))
        p.storeBytes(of: c.finalize().bigEndian, toByteOffset: ICMPv4Header.checksumOffset, as: UInt16.self)
    }

    /// True if `message` (header + body) is at least 8 bytes and its checksum verifies.
    @inlinable public static func isChecksumValid(message: UnsafeRawBufferPointer) -> Bool {
        guard message.count >= length else { return false }
        var c = InternetChecksum()
        c.add(message)
        return c.finalize() == 0
    }
}
