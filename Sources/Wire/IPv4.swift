/// IPv4 headers (RFC 791): parse with options skipped, emit without options, the header
/// checksum (RFC 1071) and the forwarding-path TTL decrement with an incremental checksum
/// update (RFC 1624, as Linux `ip_decrease_ttl()`). Options are carried over on parse only
/// as a header length; their contents are not modelled. The reserved flag bit is dropped.

/// An IPv4 header value.
public struct IPv4Header: Hashable, Sendable {
    @inlinable public static var minimumLength: Int { 20 }

    // Field offsets (RFC 791 §3.1).
    @inlinable public static var versionIHLOffset: Int { 0 }
    @inlinable public static var tosOffset: Int { 1 }
    @inlinable public static var totalLengthOffset: Int { 2 }
    @inlinable public static var identificationOffset: Int { 4 }
    @inlinable public static var flagsFragmentOffset: Int { 6 }
    @inlinable public static var ttlOffset: Int { 8 }
    @inlinable public static var protocolOffset: Int { 9 }
    @inlinable public static var checksumOffset: Int { 10 }
    @inlinable public static var sourceOffset: Int { 12 }
    @inlinable public static var destinationOffset: Int { 16 }

    // Bits of the 16-bit flags/fragment-offset word.
    @inlinable public static var dontFragmentBit: UInt16 { 0x4000 }
    @inlinable public static var moreFragmentsBit: UInt16 { 0x2000 }
    @inlinable public static var fragmentOffsetMask: UInt16 { 0x1FFF }

    public var tos: UInt8
    public var totalLength: UInt16
    public var identification: UInt16
    public var dontFragment: Bool
    public var moreFragments: Bool
    /// Fragment offset in bytes (the 13-bit field × 8); a multiple of 8.
    public var fragmentOffset: UInt16
    public var ttl: UInt8
    public var `protocol`: IPProtocol
    /// The checksum as parsed; `emit(into:)` ignores it and writes a freshly computed one.
    public var checksum: UInt16
    public var source: IPv4Address
    public var destination: IPv4Address
    /// Header length in bytes: IHL × 4 when parsed (options allowed), 20 when built.
    public var headerLength: Int

    /// A header without options; `checksum` is 0 until emitted.
    @inlinable public init(tos: UInt8 = 0, totalLength: UInt16, identification: UInt16 = 0,
                           dontFragment: Bool = false, moreFragments: Bool = false,
                           fragmentOffset: UInt16 = 0, ttl: UInt8 = 64, protocol ipProtocol: IPProtocol,
                           source: IPv4Address, destination: IPv4Address) {
        self.tos = tos
        self.totalLength = totalLength
        self.identification = identification
        self.dontFragment = dontFragment
        self.moreFragments = moreFragments
        self.fragmentOffset = fragmentOffset
        self.ttl = ttl
        self.protocol = ipProtocol
        self.checksum = 0
        self.source = source
        self.destination = destination
        self.headerLength = IPv4Header.minimumLength
    }

    /// Parses the header at the start of `bytes`, which should hold the whole packet.
    ///
    /// Validates the version (4), the IHL (>= 5 and within `bytes`, else `.badHeaderLength`)
    /// and the total length (>= header length, else `.badTotalLength`; <= `bytes.count`,
    /// else `.truncated`). Bytes after `totalLength` (Ethernet padding) are allowed. Does not
    /// verify the checksum: see `isChecksumValid(header:)`.
    @inlinable @inline(__always)
    public init(parsing bytes: UnsafeRawBufferPointer) throws(WireError) {
        try self.init(parsing: bytes, wholePacket: true)
    }

    /// Parses the header quoted inside an ICMP error (RFC 792, RFC 1812 §4.3.2.3): as
    /// `init(parsing:)`, except that the packet may be cut short after the header, since the
    /// error carries only its first bytes (Linux quotes up to 576 bytes in all; case f3's
    /// frag-needed quotes 548 of a 1500-byte packet).
    @inlinable public init(parsingQuoted bytes: UnsafeRawBufferPointer) throws(WireError) {
        try self.init(parsing: bytes, wholePacket: false)
    }

    @inlinable @inline(__always)
    init(parsing bytes: UnsafeRawBufferPointer, wholePacket: Bool) throws(WireError) {
        guard bytes.count >= IPv4Header.minimumLength, let p = bytes.baseAddress else {
            throw WireError.truncatedError("IPv4", needed: IPv4Header.minimumLength, available: bytes.count)
        }
        let vihl = p.load(fromByteOffset: IPv4Header.versionIHLOffset, as: UInt8.self)
        guard vihl >> 4 == 4 else { throw WireError.badVersion(vihl >> 4) }
        let hlen = Int(vihl & 0x0F) &* 4
        guard hlen >= IPv4Header.minimumLength, hlen <= bytes.count else {
            throw WireError.badHeaderLength(hlen)
        }
        let total = UInt16(bigEndian: p.loadUnaligned(fromByteOffset: IPv4Header.totalLengthOffset, as: UInt16.self))
        guard Int(total) >= hlen else { throw WireError.badTotalLength(Int(total)) }
        guard Int(total) <= bytes.count || !wholePacket else {
            throw WireError.truncatedError("IPv4", needed: Int(total), available: bytes.count)
        }
        let flags = UInt16(bigEndian: p.loadUnaligned(fromByteOffset: IPv4Header.flagsFragmentOffset, as: UInt16.self))
        tos = p.load(fromByteOffset: IPv4Header.tosOffset, as: UInt8.self)
        totalLength = total
        identification = UInt16(bigEndian: p.loadUnaligned(fromByteOffset: IPv4Header.identificationOffset, as: UInt16.self))
        dontFragment = flags & IPv4Header.dontFragmentBit != 0
        moreFragments = flags & IPv4Header.moreFragmentsBit != 0
        fragmentOffset = (flags & IPv4Header.fragmentOffsetMask) &<< 3
        ttl = p.load(fromByteOffset: IPv4Header.ttlOffset, as: UInt8.self)
        self.protocol = IPProtocol(rawValue: p.load(fromByteOffset: IPv4Header.protocolOffset, as: UInt8.self))
        checksum = UInt16(bigEndian: p.loadUnaligned(fromByteOffset: IPv4Header.checksumOffset, as: UInt16.self))
        source = IPv4Address(loading: p + IPv4Header.sourceOffset)
        destination = IPv4Address(loading: p + IPv4Header.destinationOffset)
        headerLength = hlen
    }

    /// Writes a 20-byte header without options (IHL 5) into `bytes[0..<20]`, computes the
    /// header checksum into it and returns it. `headerLength` and `checksum` are not read:
    /// a parsed header with options re-emits without them, and the caller owns `totalLength`.
    /// Preconditions: `bytes.count >= 20`, `fragmentOffset` a multiple of 8.
    @inlinable @inline(__always) @discardableResult
    public func emit(into bytes: UnsafeMutableRawBufferPointer) -> UInt16 {
        precondition(bytes.count >= IPv4Header.minimumLength, "IPv4 header needs 20 bytes")
        precondition(fragmentOffset & 7 == 0, "IPv4 fragment offset must be a multiple of 8")
        let p = bytes.baseAddress!
        var flags = fragmentOffset &>> 3
        if dontFragment { flags |= IPv4Header.dontFragmentBit }
        if moreFragments { flags |= IPv4Header.moreFragmentsBit }
        p.storeBytes(of: UInt8(0x45), toByteOffset: IPv4Header.versionIHLOffset, as: UInt8.self)
        p.storeBytes(of: tos, toByteOffset: IPv4Header.tosOffset, as: UInt8.self)
        p.storeBytes(of: totalLength.bigEndian, toByteOffset: IPv4Header.totalLengthOffset, as: UInt16.self)
        p.storeBytes(of: identification.bigEndian, toByteOffset: IPv4Header.identificationOffset, as: UInt16.self)
        p.storeBytes(of: flags.bigEndian, toByteOffset: IPv4Header.flagsFragmentOffset, as: UInt16.self)
        p.storeBytes(of: ttl, toByteOffset: IPv4Header.ttlOffset, as: UInt8.self)
        p.storeBytes(of: self.protocol.rawValue, toByteOffset: IPv4Header.protocolOffset, as: UInt8.self)
        p.storeBytes(of: UInt16(0), toByteOffset: IPv4Header.checksumOffset, as: UInt16.self)
        source.store(to: p + IPv4Header.sourceOffset)
        destination.store(to: p + IPv4Header.destinationOffset)
        // The sum of the header's 16-bit words, from the field values: reading back the
        // bytes just stored would stall on store-to-load forwarding.
        var words = UInt32(0x4500) | UInt32(tos)
        words &+= UInt32(totalLength) &+ UInt32(identification) &+ UInt32(flags)
        words &+= UInt32(ttl) << 8 | UInt32(self.protocol.rawValue)
        words &+= source.rawValue >> 16 &+ source.rawValue & 0xFFFF
        words &+= destination.rawValue >> 16 &+ destination.rawValue & 0xFFFF
        let sum = ~InternetChecksum.fold32(words)
        p.storeBytes(of: sum.bigEndian, toByteOffset: IPv4Header.checksumOffset, as: UInt16.self)
        return sum
    }

    /// True if `header` starts with an IPv4 header (IHL >= 5, within the buffer) whose
    /// checksum verifies over its IHL × 4 bytes, options included.
    @inlinable @inline(__always)
    public static func isChecksumValid(header bytes: UnsafeRawBufferPointer) -> Bool {
        guard bytes.count >= minimumLength, let p = bytes.baseAddress else { return false }
        let hlen = Int(p.load(as: UInt8.self) & 0x0F) &* 4
        guard hlen >= minimumLength, hlen <= bytes.count else { return false }
        if hlen == minimumLength { return InternetChecksum.fold(InternetChecksum.sum20(p)) == 0xFFFF }
        var c = InternetChecksum()
        c.add(UnsafeRawBufferPointer(start: p, count: hlen))
        return c.finalize() == 0
    }

    /// Bytes after the header, per `totalLength`.
    @inlinable public var payloadLength: Int { Int(totalLength) &- headerLength }

    /// True for any fragment of a fragmented datagram (first, middle or last).
    @inlinable public var isFragment: Bool { moreFragments || fragmentOffset != 0 }

    /// Decrements the TTL of the raw IPv4 header at `header` in place and updates its
    /// checksum incrementally, as Linux `ip_decrease_ttl()`: the word holding TTL drops by
    /// 0x0100, so the checksum rises by 0x0100 with end-around carry. The forwarding path
    /// checks `ttl > 1` first; a TTL of 0 wraps to 255 with a correct (RFC 1624) checksum.
    @inlinable @inline(__always)
    public static func decrementTTL(header: UnsafeMutableRawPointer) {
        let ttl = header.load(fromByteOffset: ttlOffset, as: UInt8.self)
        let old = UInt16(bigEndian: header.loadUnaligned(fromByteOffset: checksumOffset, as: UInt16.self))
        let new: UInt16
        if ttl != 0 {
            let c = UInt32(old) &+ 0x0100
            new = UInt16(truncatingIfNeeded: c &+ (c >= 0xFFFF ? 1 : 0))
        } else {
            let proto = UInt16(header.load(fromByteOffset: protocolOffset, as: UInt8.self))
            new = InternetChecksum.update(checksum: old, old: proto, new: 0xFF00 | proto)
        }
        header.storeBytes(of: ttl &- 1, toByteOffset: ttlOffset, as: UInt8.self)
        header.storeBytes(of: new.bigEndian, toByteOffset: checksumOffset, as: UInt16.self)
    }
}
