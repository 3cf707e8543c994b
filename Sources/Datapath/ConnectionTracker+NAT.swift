import Engine
import Wire

extension ConnectionTracker {
    /// `NF_NAT_MAX_ATTEMPTS`: how many ports one round of `nf_nat_l4proto_unique_tuple` tries.
    static let natMaxAttempts = 128

    /// Source-port (or ICMP id) choice for SNAT/MASQUERADE: `get_unique_tuple`'s step 3
    /// and `nf_nat_l4proto_unique_tuple`, expressed on the *reply* tuple the NAT would
    /// produce. For port protocols the translated source port is `reply.destinationPort`;
    /// for ICMP the identifier is `reply.sourcePort`. Returns a reply tuple no other live
    /// entry holds (see `isReplyTupleTaken`), or nil when none was found (the caller drops).
    ///
    /// As Linux does:
    /// - Without `--random-fully`, a port already inside `portRange` (or any port when there
    ///   is no range) is kept when it is free.
    /// - Otherwise the port is drawn from `portRange`, or by default from the band of the
    ///   original port: 1–511 below 512, 600–1023 below 1024, else 1024–65535 (ICMP ids:
    ///   0–65535). The first candidate is `min + off % size` with `off` a 16-bit draw from
    ///   `random` (current kernels draw randomly with or without `--random-fully`), then
    ///   `off + 1`, … for up to 128 attempts; if all are taken the window halves and a new
    ///   offset is drawn, until the window is below 16 or covered the whole range.
    /// - Protocols without ports are never remapped.
    ///
    /// Linux keeps the last candidate when every attempt failed (and when a one-port range
    /// is taken) and the packet then dies at confirm with `insert_failed`; podwire reports
    /// that outcome here as nil instead.
    public func uniqueReplyTuple(_ reply: ConntrackTuple, portRange: ClosedRange<UInt16>?, randomFully: Bool,
                                 random: inout SeededGenerator, ignoring: ConntrackEntryID?) -> ConntrackTuple? {
        let ignored = ignoring.map { Int($0.rawValue) } ?? -1
        var tuple = reply
        let isICMP = reply.protocolNumber == ConntrackTuple.icmpProtocol
        guard isICMP || reply.hasPorts else {
            return isTaken(tuple, ignoring: ignored) ? nil : tuple
        }
        let key = isICMP ? reply.sourcePort : reply.destinationPort

        // get_unique_tuple: "only bother mapping if it's not already in range and unique".
        if !randomFully {
            if let portRange {
                if portRange.contains(key) && !isTaken(tuple, ignoring: ignored) { return tuple }
            } else if !isTaken(tuple, ignoring: ignored) {
                return tuple
            }
        }

        // nf_nat_l4proto_unique_tuple.
        let minimum: Int
        let size: Int
        if let portRange {
            minimum = Int(portRange.lowerBound)
            size = Int(portRange.upperBound) - minimum + 1
        } else if isICMP {
            minimum = 0
            size = 65536
        } else if key < 512 {
            minimum = 1
            size = 511
        } else if key < 1024 {
            minimum = 600
            size = 1023 - 600 + 1
        } else {
            minimum = 1024
            size = 65535 - 1024 + 1
        }
        var offset = UInt16(truncatingIfNeeded: random.next())
        var attempts = Swift.min(size, Self.natMaxAttempts)
        while true {
            for _ in 0..<attempts {
                let candidate = UInt16(minimum + Int(offset) % size)
                if isICMP { tuple.sourcePort = candidate } else { tuple.destinationPort = candidate }
                if !isTaken(tuple, ignoring: ignored) { return tuple }
                offset &+= 1
            }
            if attempts >= size || attempts < 16 { return nil }
            attempts /= 2
            offset = UInt16(truncatingIfNeeded: random.next())
        }
    }

    /// `uniqueReplyTuple`, judging expiry at `now`.
    public func uniqueReplyTuple(_ reply: ConntrackTuple, portRange: ClosedRange<UInt16>?, randomFully: Bool,
                                 random: inout SeededGenerator, ignoring: ConntrackEntryID?,
                                 now: SimTime) -> ConntrackTuple? {
        advanceClock(now)
        return uniqueReplyTuple(reply, portRange: portRange, randomFully: randomFully, random: &random,
                                ignoring: ignoring)
    }
}
