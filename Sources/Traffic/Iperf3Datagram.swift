import Engine

/// The 12-byte header iperf3 puts at the start of every UDP datagram (src/iperf_udp.c,
/// `iperf_udp_send`, 32-bit counters): the send time as seconds and microseconds, then the
/// datagram's sequence number (the first datagram is 1), all big-endian. The rest of the
/// datagram is filler. podwire writes simulated time (nanoseconds since the start of the
/// simulation) truncated to microseconds, as iperf3 writes `gettimeofday`.
public struct Iperf3DatagramHeader: Hashable, Sendable {
    public static let secondsOffset = 0
    public static let microsecondsOffset = 4
    public static let sequenceOffset = 8
    public static let length = sequenceOffset + 4

    public var seconds: UInt32
    public var microseconds: UInt32
    public var sequence: UInt32

    public init(seconds: UInt32, microseconds: UInt32, sequence: UInt32) {
        self.seconds = seconds
        self.microseconds = microseconds
        self.sequence = sequence
    }

    /// The header for a datagram sent at `time` (truncated to the microsecond).
    @inlinable
    public init(sendTime time: SimTime, sequence: UInt32) {
        let us = time.nanoseconds / 1_000
        seconds = UInt32(truncatingIfNeeded: us / 1_000_000)
        microseconds = UInt32(truncatingIfNeeded: us % 1_000_000)
        self.sequence = sequence
    }

    /// The send time the header carries, in simulated time (microsecond resolution).
    @inlinable
    public var sendTime: SimTime {
        SimTime(nanoseconds: Int64(seconds) * 1_000_000_000 + Int64(microseconds) * 1_000)
    }

    /// nil when the datagram is shorter than the header.
    @inlinable
    public init?(parsing b: UnsafeRawBufferPointer) {
        guard b.count >= Self.length, let p = b.baseAddress else { return nil }
        seconds = UInt32(bigEndian: p.loadUnaligned(fromByteOffset: Self.secondsOffset, as: UInt32.self))
        microseconds = UInt32(bigEndian: p.loadUnaligned(fromByteOffset: Self.microsecondsOffset, as: UInt32.self))
        sequence = UInt32(bigEndian: p.loadUnaligned(fromByteOffset: Self.sequenceOffset, as: UInt32.self))
    }

    /// Writes the header into the first `length` bytes of `b`.
    @inlinable
    public func emit(into b: UnsafeMutableRawBufferPointer) {
        precondition(b.count >= Self.length)
        let p = b.baseAddress!
        p.storeBytes(of: seconds.bigEndian, toByteOffset: Self.secondsOffset, as: UInt32.self)
        p.storeBytes(of: microseconds.bigEndian, toByteOffset: Self.microsecondsOffset, as: UInt32.self)
        p.storeBytes(of: sequence.bigEndian, toByteOffset: Self.sequenceOffset, as: UInt32.self)
    }
}
