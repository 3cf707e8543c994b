import Engine
import Wire

// Connection tracking: Linux `nf_conntrack` (net/netfilter/nf_conntrack_core.c and the
// UDP/ICMP/generic protocol trackers) for one network namespace.
//
// Contract, as in the kernel: the first packet of a flow allocates an *unconfirmed* entry
// (`create`, = `init_conntrack`), NAT may rewrite its reply tuple (`setReply`), and the
// entry enters the hash table — both directions — when the packet leaves the last hook
// (`confirm`, = `__nf_conntrack_confirm`). Later packets find it by either tuple (`find`)
// and refresh its timeout (`packet`). Time is always passed in; nothing here reads a clock.
//
// Not modelled: TCP state (TCP is timed like the generic tracker), expectations/helpers
// (no RELATED except what callers derive), zones, the gc worker's own schedule (callers run
// `expire(now:)` when they want a sweep).
//
// A clash on confirm (two first packets of one flow, both tracked before either confirmed)
// is resolved as current Linux does (6.18 checked; `nf_ct_resolve_clash`, see `confirm`):
// merged, let in by its reply tuple only for a second, or dropped.
//
// Storage: an open-addressing hash table of `ConntrackSlot`s (power-of-two capacity,
// linear probing, backward-shift deletion, load ≤ 1/2) pointing into an array of entry
// records with a free list. Both grow by doubling and never shrink, so steady-state
// traffic allocates nothing. The hash is a seeded multiply-fold of the 13 tuple bytes —
// deterministic for a given seed, never Swift's per-process `Hasher`.

/// Which tuple of an entry a packet matched.
public enum ConntrackDirection: Int, Sendable {
    /// `IP_CT_DIR_ORIGINAL`: as the first packet went.
    case original = 0
    /// `IP_CT_DIR_REPLY`.
    case reply = 1
}

/// A handle on an entry, valid until the entry is freed (expired, evicted, discarded or
/// failed to confirm). Handles of freed entries are reused.
public struct ConntrackEntryID: Hashable, Sendable {
    public let rawValue: Int32
    @inlinable public init(rawValue: Int32) { self.rawValue = rawValue }
}

/// The `nf_conntrack_*_timeout` sysctls podwire uses
/// (Documentation/networking/nf_conntrack-sysctl.rst).
public struct ConntrackTimeouts: Sendable, Equatable {
    /// `nf_conntrack_udp_timeout`: UDP until it has lived 2 s with replies.
    public var udp: SimDuration
    /// `nf_conntrack_udp_timeout_stream`: UDP seen both ways and older than 2 s.
    public var udpStream: SimDuration
    /// `nf_conntrack_icmp_timeout`.
    public var icmp: SimDuration
    /// `nf_conntrack_generic_timeout` (also used for TCP, whose states are not modelled).
    public var generic: SimDuration

    public init(udp: SimDuration, udpStream: SimDuration, icmp: SimDuration, generic: SimDuration) {
        self.udp = udp
        self.udpStream = udpStream
        self.icmp = icmp
        self.generic = generic
    }

    /// Current kernel defaults: 30 s, 120 s, 30 s, 600 s.
    public static let linux = ConntrackTimeouts(udp: .seconds(30), udpStream: .seconds(120),
                                                icmp: .seconds(30), generic: .seconds(600))
}

/// `enum ip_conntrack_status` (include/uapi/linux/netfilter/nf_conntrack_common.h): the
/// `IPS_*` bits, same bit numbers.
public struct ConntrackStatus: OptionSet, Hashable, Sendable {
    public let rawValue: UInt32
    @inlinable public init(rawValue: UInt32) { self.rawValue = rawValue }

    /// `IPS_EXPECTED`: created by an expectation (never set by podwire).
    public static let expected = ConntrackStatus(rawValue: 1 << 0)
    /// `IPS_SEEN_REPLY`: a packet went the reply way (`conntrack -L` omits `[UNREPLIED]`).
    public static let seenReply = ConntrackStatus(rawValue: 1 << 1)
    /// `IPS_ASSURED`: never evicted by early_drop (`[ASSURED]`).
    public static let assured = ConntrackStatus(rawValue: 1 << 2)
    /// `IPS_CONFIRMED`: in the hash table.
    public static let confirmed = ConntrackStatus(rawValue: 1 << 3)
    /// `IPS_FIXED_TIMEOUT`: packets do not extend the timeout (`__nf_ct_refresh_acct`).
    public static let fixedTimeout = ConntrackStatus(rawValue: 1 << 10)
    /// `IPS_SRC_NAT`: replies are addressed to a rewritten source.
    public static let srcNAT = ConntrackStatus(rawValue: 1 << 4)
    /// `IPS_DST_NAT`: replies come from a rewritten destination.
    public static let dstNAT = ConntrackStatus(rawValue: 1 << 5)
    /// `IPS_NAT_CLASH` (shares bit 12 with the retired `IPS_UNTRACKED`): a clashing NAT
    /// entry let in with a short life (`nf_ct_resolve_clash_harder`); never becomes
    /// ASSURED. Such an entry is in the hash table by its reply tuple only.
    public static let natClash = ConntrackStatus(rawValue: 1 << 12)
}

/// Per-direction accounting (`nf_conn_acct`, printed when `nf_conntrack_acct=1`).
public struct ConntrackCounters: Sendable, Equatable {
    public var packets: UInt64
    public var bytes: UInt64
    public init(packets: UInt64 = 0, bytes: UInt64 = 0) {
        self.packets = packets
        self.bytes = bytes
    }
}

/// A value snapshot of one entry, for callers and printing.
public struct ConntrackEntry: Sendable, Equatable {
    public var original: ConntrackTuple
    public var reply: ConntrackTuple
    public var status: ConntrackStatus
    /// When the entry times out (for an unconfirmed entry: not yet meaningful, `.distantFuture`).
    public var expires: SimTime
    /// `ct->mark` (`CONNMARK`).
    public var mark: UInt32
    /// conntrack's `id=`: a deterministic 32-bit value from the tracker's seed and a creation counter.
    public var id: UInt32
    public var originalCounters: ConntrackCounters
    public var replyCounters: ConntrackCounters

    public init(original: ConntrackTuple, reply: ConntrackTuple, status: ConntrackStatus, expires: SimTime,
                mark: UInt32, id: UInt32, originalCounters: ConntrackCounters = ConntrackCounters(),
                replyCounters: ConntrackCounters = ConntrackCounters()) {
        self.original = original
        self.reply = reply
        self.status = status
        self.expires = expires
        self.mark = mark
        self.id = id
        self.originalCounters = originalCounters
        self.replyCounters = replyCounters
    }
}

/// `struct ip_conntrack_stat`: the per-CPU counters `conntrack -S` prints (podwire has one CPU).
public struct ConntrackStatistics: Sendable, Equatable {
    /// A NAT port probe met a tuple already in use (`nf_conntrack_tuple_taken`).
    public var found: UInt64 = 0
    /// Packets the caller judged invalid (`recordInvalid()`).
    public var invalid: UInt64 = 0
    /// Entries added by `ctnetlink` (`conntrack -I`, `nf_conntrack_hash_check_insert`); a
    /// packet's confirm does not count here (Linux 6.18 showed insert=0 after confirming
    /// flows), so in podwire it stays 0.
    public var insert: UInt64 = 0
    /// Confirms that failed because a tuple was already in the table (the packet is dropped).
    public var insertFailed: UInt64 = 0
    /// Packets dropped by conntrack: new flows refused because the table was full
    /// (`nf_conntrack: table full, dropping packet`) and confirms that failed.
    public var drop: UInt64 = 0
    /// Unassured entries evicted to make room (`early_drop`).
    public var earlyDrop: UInt64 = 0
    public var error: UInt64 = 0
    public var searchRestart: UInt64 = 0
    public var clashResolve: UInt64 = 0
    public var chainTooLong: UInt64 = 0

    public init() {}

    /// Both sets of counters added field by field.
    public func adding(_ o: ConntrackStatistics) -> ConntrackStatistics {
        var s = self
        s.found += o.found
        s.invalid += o.invalid
        s.insert += o.insert
        s.insertFailed += o.insertFailed
        s.drop += o.drop
        s.earlyDrop += o.earlyDrop
        s.error += o.error
        s.searchRestart += o.searchRestart
        s.clashResolve += o.clashResolve
        s.chainTooLong += o.chainTooLong
        return s
    }
}

/// One hash-table slot: the tuple's 32-bit hash (its home slot is `hash & mask`) and
/// `entryIndex << 1 | direction`, or -1 when empty.
struct ConntrackSlot {
    var hash: UInt32
    var ref: Int32

    static let empty = ConntrackSlot(hash: 0, ref: -1)
}

/// The storage of one entry (`struct nf_conn`, the parts podwire models).
struct ConntrackRecord {
    enum Life: UInt8 { case free, unconfirmed, confirmed }

    var original: ConntrackTuple
    var reply: ConntrackTuple
    /// Absolute expiry in ns (`ct->timeout` once confirmed).
    var expires: Int64
    var originalHash: UInt32
    var replyHash: UInt32
    var status: ConntrackStatus
    var life: Life
    /// Next free record while `life == .free`, else -1.
    var nextFree: Int32
    /// While unconfirmed, the relative timeout that confirm turns into `expires` (the
    /// kernel keeps `ct->timeout` relative until `__nf_conntrack_confirm`).
    var pendingTimeout: Int64
    /// `ct->proto.udp.stream_ts`: 2 s after the flow's first packet.
    var streamDeadline: Int64
    var mark: UInt32
    var id: UInt32
    var originalPackets: UInt64
    var originalBytes: UInt64
    var replyPackets: UInt64
    var replyBytes: UInt64

    static let blank = ConntrackRecord(
        original: ConntrackTuple(source: .any, destination: .any, sourcePort: 0, destinationPort: 0, protocolNumber: 0),
        reply: ConntrackTuple(source: .any, destination: .any, sourcePort: 0, destinationPort: 0, protocolNumber: 0),
        expires: 0, originalHash: 0, replyHash: 0, status: [], life: .free, nextFree: -1, pendingTimeout: 0,
        streamDeadline: 0, mark: 0, id: 0, originalPackets: 0, originalBytes: 0, replyPackets: 0, replyBytes: 0)
}

/// The conntrack table of one network namespace.
public final class ConnectionTracker {
    /// `nf_conntrack_max`; 0 means no limit, as in the kernel.
    public var maximum: Int
    public var timeouts: ConntrackTimeouts
    /// `nf_conntrack_acct`: when true, `list` prints `packets=`/`bytes=` (counters are kept either way).
    public var accounting = false
    /// Confirmed entries, including expired ones the gc has not reaped yet and the hidden
    /// `natClash` ones (`nf_conntrack_count` minus the unconfirmed ones).
    public private(set) var count = 0
    /// Allocated but not yet confirmed entries. The kernel counts these in
    /// `nf_conntrack_count`, so they count against `maximum` here too.
    public private(set) var unconfirmedCount = 0
    /// The CPU (the node's core, from 0) that the packet being handled runs on: `conntrack -S`
    /// counts per CPU. Callers set it before the calls that may count (a new flow's `create`
    /// and `confirm`, NAT port probes).
    public var cpu = 0
    /// `conntrack -S`'s counters, per CPU (grown as CPUs count something).
    private var perCPU = [ConntrackStatistics()]
    /// The counters summed over every CPU.
    public var statistics: ConntrackStatistics {
        perCPU.dropFirst().reduce(perCPU[0]) { $0.adding($1) }
    }
    /// One CPU's counters (zero for a CPU that never counted).
    public func statistics(cpu: Int) -> ConntrackStatistics {
        cpu < perCPU.count ? perCPU[cpu] : ConntrackStatistics()
    }
    /// New flows refused because the table was full: the part of `statistics.drop` that is
    /// not a failed confirm (the kernel logs these as "table full, dropping packet").
    public private(set) var tableFullDrops: UInt64 = 0

    // Entry records: `records[0..<recordsUsed]` have been handed out at least once.
    private var records: UnsafeMutablePointer<ConntrackRecord>
    private var recordCapacity: Int
    private var recordsUsed = 0
    private var freeHead: Int32 = -1

    // Hash slots: two per confirmed entry.
    private var slots: UnsafeMutablePointer<ConntrackSlot>
    private var slotMask: Int
    private var slotsOccupied = 0

    private let hashKey0: UInt64
    private let hashKey1: UInt64
    private let hashKey2: UInt64
    private let idKey: UInt64
    /// Entries ever created: the input of `id=`.
    private var serial: UInt64 = 0
    /// The latest `now` any call passed in: the time NAT probes without a `now` judge expiry by.
    private(set) var latestNow: Int64 = 0

    private static let initialRecords = 32
    private static let initialSlots = 128
    /// `NF_CT_EVICTION_RANGE`: how many entries early_drop looks at.
    static let evictionRange = 8
    /// How long an entry let in by its reply tuple lives (`nf_ct_resolve_clash_harder`: HZ).
    static let clashLifetime: Int64 = 1_000_000_000
    /// UDP becomes a stream after 2 s (`stream_ts = 2 * HZ + jiffies`).
    static let udpStreamDelay: Int64 = 2_000_000_000

    public init(maximum: Int, timeouts: ConntrackTimeouts = .linux, seed: UInt64) {
        precondition(maximum >= 0, "nf_conntrack_max cannot be negative")
        self.maximum = maximum
        self.timeouts = timeouts
        var keys = SeededGenerator(seed: seed).stream("nf_conntrack")
        hashKey0 = keys.next()
        hashKey1 = keys.next()
        hashKey2 = keys.next()
        idKey = keys.next()
        recordCapacity = Self.initialRecords
        records = .allocate(capacity: recordCapacity)
        records.initialize(repeating: .blank, count: recordCapacity)
        slotMask = Self.initialSlots - 1
        slots = .allocate(capacity: Self.initialSlots)
        slots.initialize(repeating: .empty, count: Self.initialSlots)
    }

    deinit {
        records.deinitialize(count: recordCapacity)
        records.deallocate()
        slots.deinitialize(count: slotMask + 1)
        slots.deallocate()
    }

    // MARK: - Lookup

    /// `__nf_conntrack_find_get`: the confirmed entry whose original or reply tuple equals
    /// `tuple`, and which direction matched. An entry found past its timeout
    /// (`expires <= now`) is freed there and then (`nf_ct_gc_expired`) and not returned.
    /// Entries the probe only passes by are left to `expire(now:)`.
    public func find(_ tuple: ConntrackTuple, now: SimTime) -> (ConntrackEntryID, ConntrackDirection)? {
        advanceClock(now)
        let slot = lookupSlot(tuple, hash: hash(tuple))
        if slot < 0 { return nil }
        let ref = slots[slot].ref
        let index = Int(ref >> 1)
        if records[index].expires <= now.nanoseconds {
            remove(index)
            return nil
        }
        return (ConntrackEntryID(rawValue: ref >> 1), ref & 1 == 0 ? .original : .reply)
    }

    // MARK: - New flows

    /// `init_conntrack` / `__nf_conntrack_alloc`: a new, unconfirmed entry (not findable
    /// yet) whose reply tuple is `original.inverted`. When the table is full (confirmed +
    /// unconfirmed ≥ `maximum`) `early_drop` first tries to evict one entry; if it cannot,
    /// this returns nil, `statistics.drop` counts it, and the caller drops the packet with
    /// "nf_conntrack: table full, dropping packet".
    public func create(original: ConntrackTuple, now: SimTime) -> ConntrackEntryID? {
        advanceClock(now)
        let originalHash = hash(original)
        if maximum > 0 && count + unconfirmedCount >= maximum && !earlyDrop(hash: originalHash, now: now) {
            count(\.drop)
            tableFullDrops += 1
            return nil
        }
        let index = allocateRecord()
        let reply = original.inverted
        serial &+= 1
        records[index] = ConntrackRecord(
            original: original, reply: reply, expires: Int64.max, originalHash: originalHash, replyHash: hash(reply),
            status: [], life: .unconfirmed, nextFree: -1, pendingTimeout: defaultTimeout(original.protocolNumber),
            streamDeadline: now.nanoseconds &+ Self.udpStreamDelay, mark: 0, id: entryID(serial: serial),
            originalPackets: 0, originalBytes: 0, replyPackets: 0, replyBytes: 0)
        unconfirmedCount += 1
        return ConntrackEntryID(rawValue: Int32(index))
    }

    /// NAT (`nf_nat_setup_info`) changed what replies will look like. Only before confirm.
    /// Sets `srcNAT` when replies go to a different destination (address, port or ICMP id)
    /// than `original.inverted`, `dstNAT` when they come from a different source. Bits are
    /// only ever added, so DNAT in PREROUTING then SNAT in POSTROUTING leaves both.
    public func setReply(_ id: ConntrackEntryID, _ reply: ConntrackTuple) {
        let index = checkedIndex(id, life: .unconfirmed)
        let inverse = records[index].original.inverted
        var status = records[index].status
        if reply.destination != inverse.destination || reply.destinationPort != inverse.destinationPort
            || (reply.protocolNumber == ConntrackTuple.icmpProtocol && reply.sourcePort != inverse.sourcePort) {
            status.insert(.srcNAT)
        }
        if reply.source != inverse.source
            || (reply.hasPorts && reply.sourcePort != inverse.sourcePort) {
            status.insert(.dstNAT)
        }
        records[index].reply = reply
        records[index].replyHash = hash(reply)
        records[index].status = status
    }

    /// What `confirm` did with an unconfirmed entry.
    public enum ConfirmResult: Equatable, Sendable {
        /// In the table.
        case confirmed
        /// Lost a race to an identical entry, which the packet now belongs to.
        case merged(ConntrackEntryID)
        /// Lost a race to an entry with the same original tuple but other NAT: in the table
        /// by its reply tuple only (`natClash`, `fixedTimeout`, 1 s to live), so replies of
        /// its own NAT still find it while the flow's packets find the winner.
        case insertedByReply
        /// Lost a race it cannot merge: freed, and the packet must be dropped.
        case failed
    }

    /// `__nf_conntrack_confirm`: put both tuples in the hash table. The timeout the last
    /// `packet` call chose starts now.
    ///
    /// A live entry may already hold one of the tuples: two first packets of one flow were
    /// both tracked before either confirmed (they waited together for ARP behind a bridged
    /// DNAT, or glibc sent A and AAAA queries at once). `nf_ct_resolve_clash` then decides,
    /// for UDP only (`allow_clash`; Linux 6.18 dropped the ICMP losers of such a race):
    /// - the holder has the same original and reply tuples (the same NAT): the entry is
    ///   freed and the packet goes on as the holder's (`.merged`);
    /// - else, when no entry holds this entry's reply tuple (`nf_ct_resolve_clash_harder`,
    ///   not in older kernels): the entry goes in by its reply tuple only, for a fixed second
    ///   (`.insertedByReply`): the flow's next packets find the holder, but replies that
    ///   come back through this entry's NAT are still translated;
    /// - else the entry is freed and the packet dropped (`.failed`; `insert_failed` and
    ///   `drop` count it).
    /// `clash_resolve` counts the first two. Linux 6.18 in namespaces (2026-11-25): three
    /// datagrams from one socket to a DNAT whose two endpoints answered ARP 1 s apart were
    /// all delivered, the echo through the hidden entry came back from the Service address,
    /// `conntrack -S` said clash_resolve=2 insert_failed=0, `conntrack -L` listed one entry
    /// and `conntrack -C` counted 2, then 1 once the second was up and the entry reaped
    /// (Tests/kernel-twin/conntrack-clash.sh). (Linux also merges when the holder had no NAT
    /// hooks at all, `IPS_NAT_DONE_MASK` clear; podwire does not track those bits, and
    /// without NAT two entries of one flow have equal tuples anyway.)
    public func confirm(_ id: ConntrackEntryID, now: SimTime) -> ConfirmResult {
        let index = checkedIndex(id, life: .unconfirmed)
        advanceClock(now)
        let record = records[index]
        var holder = liveHolder(record.original, hash: record.originalHash, now: now)
        if holder < 0 { holder = liveHolder(record.reply, hash: record.replyHash, now: now) }
        if holder >= 0 { return resolveClash(index, holder: holder, now: now) }
        if (slotsOccupied + 2) * 2 > slotMask + 1 { growSlots() }
        insertSlot(hash: record.originalHash, ref: Int32(index) << 1)
        insertSlot(hash: record.replyHash, ref: Int32(index) << 1 | 1)
        records[index].expires = now.nanoseconds &+ record.pendingTimeout
        records[index].status.insert(.confirmed)
        records[index].life = .confirmed
        unconfirmedCount -= 1
        count += 1
        return .confirmed
    }

    /// `nf_ct_resolve_clash` for unconfirmed entry `index`, whose tuple live entry `holder`
    /// already holds (see `confirm`).
    private func resolveClash(_ index: Int, holder: Int, now: SimTime) -> ConfirmResult {
        let record = records[index]
        let allowClash = record.original.protocolNumber == ConntrackTuple.udpProtocol || record.original.protocolNumber == 136
        if allowClash {
            if records[holder].original == record.original && records[holder].reply == record.reply {
                return merge(index, into: holder)
            }
            // `nf_ct_resolve_clash_harder`: the reply direction must not clash.
            let replyHolder = liveHolder(record.reply, hash: record.replyHash, now: now)
            if replyHolder >= 0 {
                if records[replyHolder].original == record.original && records[replyHolder].reply == record.reply {
                    return merge(index, into: replyHolder)
                }
            } else {
                if (slotsOccupied + 1) * 2 > slotMask + 1 { growSlots() }
                insertSlot(hash: record.replyHash, ref: Int32(index) << 1 | 1)
                records[index].expires = now.nanoseconds &+ Self.clashLifetime
                records[index].status.insert([.confirmed, .fixedTimeout, .natClash])
                records[index].life = .confirmed
                unconfirmedCount -= 1
                count += 1
                count(\.clashResolve)
                return .insertedByReply
            }
        }
        unconfirmedCount -= 1
        freeRecord(index)
        count(\.drop)
        count(\.insertFailed)
        return .failed
    }

    /// `__nf_ct_resolve_clash`'s merge: unconfirmed entry `index` is freed and its packet
    /// belongs to `winner` from now on.
    private func merge(_ index: Int, into winner: Int) -> ConfirmResult {
        unconfirmedCount -= 1
        freeRecord(index)
        count(\.clashResolve)
        return .merged(ConntrackEntryID(rawValue: Int32(winner)))
    }

    /// The packet that created an unconfirmed entry was dropped: free the entry.
    public func discard(_ id: ConntrackEntryID) {
        let index = checkedIndex(id, life: .unconfirmed)
        unconfirmedCount -= 1
        freeRecord(index)
    }

    // MARK: - Packets of known flows

    /// A packet of the flow passed: refresh the timeout and count it
    /// (`nf_conntrack_udp_packet`, `nf_conntrack_icmp_packet`, `generic_packet`).
    ///
    /// UDP, as current kernels do: while no reply has been seen, `udp`; once replies were
    /// seen, `udp` until the flow is more than 2 s old, then `udpStream` and ASSURED (not
    /// for `natClash` entries). The reply that first sets SEEN_REPLY is itself still timed
    /// as unreplied (the kernel sets the bit after the protocol handler). ICMP: `icmp`.
    /// Anything else (TCP included): `generic`. A `fixedTimeout` entry keeps its expiry.
    public func packet(_ id: ConntrackEntryID, direction: ConntrackDirection, length: Int, now: SimTime) {
        let index = checkedIndex(id)
        advanceClock(now)
        let nowNS = now.nanoseconds
        let record = records + index
        let confirmed = record.pointee.life == .confirmed
        var status = record.pointee.status
        if !confirmed { record.pointee.streamDeadline = nowNS &+ Self.udpStreamDelay }
        let timeout: Int64
        switch record.pointee.original.protocolNumber {
        case ConntrackTuple.udpProtocol, 136:  // UDP, UDP-Lite
            if status.contains(.seenReply) && nowNS > record.pointee.streamDeadline {
                timeout = timeouts.udpStream.nanoseconds
                if !status.contains(.natClash) { status.insert(.assured) }
            } else {
                timeout = timeouts.udp.nanoseconds
            }
        case ConntrackTuple.icmpProtocol:
            timeout = timeouts.icmp.nanoseconds
        default:
            timeout = timeouts.generic.nanoseconds
        }
        if status.contains(.fixedTimeout) {
            // `__nf_ct_refresh_acct` only counts.
        } else if confirmed {
            record.pointee.expires = nowNS &+ timeout
        } else {
            record.pointee.pendingTimeout = timeout
        }
        if direction == .original {
            record.pointee.originalPackets &+= 1
            record.pointee.originalBytes &+= UInt64(truncatingIfNeeded: length)
        } else {
            record.pointee.replyPackets &+= 1
            record.pointee.replyBytes &+= UInt64(truncatingIfNeeded: length)
            status.insert(.seenReply)
        }
        record.pointee.status = status
    }

    /// `-j CONNMARK --set-mark`: set `ct->mark`.
    public func setMark(_ id: ConntrackEntryID, _ mark: UInt32) {
        records[checkedIndex(id)].mark = mark
    }

    /// A packet the caller found invalid (bad checksum, truncated header): counts `invalid`.
    public func recordInvalid() {
        count(\.invalid)
    }

    /// The entry's `conntrack -L` id, unique over the table's life: with the index it names
    /// one entry even after the index was freed and reused.
    public func tag(_ id: ConntrackEntryID) -> UInt32 {
        records[checkedIndex(id)].id
    }

    /// Whether `id` still names the live entry that had `tag`.
    public func isLive(_ id: ConntrackEntryID, tag: UInt32) -> Bool {
        let index = Int(id.rawValue)
        return index >= 0 && index < recordsUsed && records[index].life != .free && records[index].id == tag
    }

    /// A snapshot of the entry.
    public func entry(_ id: ConntrackEntryID) -> ConntrackEntry {
        snapshot(checkedIndex(id))
    }

    /// The entry's tuple for `direction`: the per-packet NAT path needs only this, not a
    /// whole `entry(_:)` snapshot.
    public func tuple(_ id: ConntrackEntryID, _ direction: ConntrackDirection) -> ConntrackTuple {
        let index = checkedIndex(id)
        return direction == .original ? records[index].original : records[index].reply
    }

    /// The entry's `IPS_*` bits (e.g. to skip NAT when neither `srcNAT` nor `dstNAT` is set).
    public func status(_ id: ConntrackEntryID) -> ConntrackStatus {
        records[checkedIndex(id)].status
    }

    /// The ctstate a packet in `direction` has, for `-m conntrack --ctstate`
    /// (`resolve_normal_ct` + `conntrack_mt`): a reply-direction packet is ESTABLISHED; an
    /// original-direction one is ESTABLISHED once a reply was seen and NEW before
    /// (unconfirmed entries included). SNAT/DNAT are added from the status bits.
    public func state(_ id: ConntrackEntryID, direction: ConntrackDirection) -> ConntrackStateSet {
        let status = records[checkedIndex(id)].status
        var state: ConntrackStateSet = direction == .reply || status.contains(.seenReply) ? .established : .new
        if status.contains(.srcNAT) { state.insert(.snat) }
        if status.contains(.dstNAT) { state.insert(.dnat) }
        return state
    }

    // MARK: - Garbage collection

    /// The gc worker (`gc_worker`): free every confirmed entry with `expires <= now`.
    /// Returns how many were freed.
    @discardableResult
    public func expire(now: SimTime) -> Int {
        advanceClock(now)
        let nowNS = now.nanoseconds
        var freed = 0
        for index in 0..<recordsUsed where records[index].life == .confirmed && records[index].expires <= nowNS {
            remove(index)
            freed += 1
        }
        return freed
    }

    // MARK: - NAT support

    /// `nf_nat_used_tuple` / `nf_conntrack_tuple_taken`: true when a live confirmed entry
    /// other than `ignoring` already holds `tuple` (as either of its tuples), so a NAT
    /// producing this reply tuple would clash. As in the kernel, an entry whose *original*
    /// tuple equals `ignoring`'s is the same flow and does not count, an expired holder is
    /// reaped instead, and each hit counts `statistics.found`. Expiry is judged at the
    /// latest `now` the tracker was given.
    public func isReplyTupleTaken(_ tuple: ConntrackTuple, ignoring: ConntrackEntryID?) -> Bool {
        isTaken(tuple, ignoring: ignoring.map { Int($0.rawValue) } ?? -1)
    }

    /// `isReplyTupleTaken`, judging expiry at `now`.
    public func isReplyTupleTaken(_ tuple: ConntrackTuple, ignoring: ConntrackEntryID?, now: SimTime) -> Bool {
        advanceClock(now)
        return isReplyTupleTaken(tuple, ignoring: ignoring)
    }

    func isTaken(_ tuple: ConntrackTuple, ignoring: Int) -> Bool {
        let slot = lookupSlot(tuple, hash: hash(tuple))
        if slot < 0 { return false }
        let index = Int(slots[slot].ref >> 1)
        if index == ignoring { return false }
        if records[index].expires <= latestNow {
            remove(index)
            return false
        }
        if ignoring >= 0 && ignoring < recordsUsed && records[ignoring].life != .free
            && records[ignoring].original == records[index].original {
            return false
        }
        count(\.found)
        return true
    }

    // MARK: - Enumeration

    /// Snapshots of every confirmed entry with `expires > now`, in `ConntrackTuple` order of
    /// their original tuples: what `conntrack -L` lists. A `natClash` entry is not listed:
    /// ctnetlink dumps entries by their original-direction hash node, which it has not
    /// (`hlist_nulls_add_fake`).
    public func entries(now: SimTime) -> [ConntrackEntry] {
        var result: [ConntrackEntry] = []
        result.reserveCapacity(count)
        for index in 0..<recordsUsed where records[index].life == .confirmed && records[index].expires > now.nanoseconds
            && !records[index].status.contains(.natClash) {
            result.append(snapshot(index))
        }
        result.sort { $0.original < $1.original }
        return result
    }

    // MARK: - Internals

    /// One more of `field` on the current `cpu`.
    private func count(_ field: WritableKeyPath<ConntrackStatistics, UInt64>) {
        while perCPU.count <= cpu { perCPU.append(ConntrackStatistics()) }
        perCPU[cpu][keyPath: field] += 1
    }

    @inline(__always)
    func advanceClock(_ now: SimTime) {
        if now.nanoseconds > latestNow { latestNow = now.nanoseconds }
    }

    private func snapshot(_ index: Int) -> ConntrackEntry {
        let r = records[index]
        return ConntrackEntry(
            original: r.original, reply: r.reply, status: r.status,
            expires: r.life == .confirmed ? SimTime(nanoseconds: r.expires) : .distantFuture,
            mark: r.mark, id: r.id,
            originalCounters: ConntrackCounters(packets: r.originalPackets, bytes: r.originalBytes),
            replyCounters: ConntrackCounters(packets: r.replyPackets, bytes: r.replyBytes))
    }

    @inline(__always)
    private func checkedIndex(_ id: ConntrackEntryID) -> Int {
        let index = Int(id.rawValue)
        precondition(index >= 0 && index < recordsUsed && records[index].life != .free, "stale conntrack entry id")
        return index
    }

    @inline(__always)
    private func checkedIndex(_ id: ConntrackEntryID, life: ConntrackRecord.Life) -> Int {
        let index = Int(id.rawValue)
        precondition(index >= 0 && index < recordsUsed && records[index].life == life,
                     life == .unconfirmed ? "conntrack entry is not unconfirmed" : "stale conntrack entry id")
        return index
    }

    private func defaultTimeout(_ protocolNumber: UInt8) -> Int64 {
        switch protocolNumber {
        case ConntrackTuple.udpProtocol, 136: timeouts.udp.nanoseconds
        case ConntrackTuple.icmpProtocol: timeouts.icmp.nanoseconds
        default: timeouts.generic.nanoseconds
        }
    }

    /// `hash_conntrack_raw`'s role: a seeded hash of the 13 tuple bytes (addresses, ports,
    /// protocol). Two rounds of 64×64→128-bit multiply-fold.
    @inline(__always)
    func hash(_ t: ConntrackTuple) -> UInt32 {
        let addresses = UInt64(t.source.rawValue) << 32 | UInt64(t.destination.rawValue)
        let rest = UInt64(t.sourcePort) << 24 | UInt64(t.destinationPort) << 8 | UInt64(t.protocolNumber)
        let first = (addresses ^ hashKey0).multipliedFullWidth(by: rest ^ hashKey1)
        let second = (first.high ^ first.low ^ hashKey2).multipliedFullWidth(by: 0x9E37_79B9_7F4A_7C15)
        let h = second.high ^ second.low
        return UInt32(truncatingIfNeeded: h ^ h >> 32)
    }

    /// The conntrack `id=`: SplitMix64's finaliser over the creation counter.
    private func entryID(serial: UInt64) -> UInt32 {
        var z = serial &+ idKey
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return UInt32(truncatingIfNeeded: z ^ (z >> 31))
    }

    /// The slot holding `tuple`, or -1.
    @inline(__always)
    private func lookupSlot(_ tuple: ConntrackTuple, hash h: UInt32) -> Int {
        var i = Int(h) & slotMask
        while true {
            let slot = slots[i]
            if slot.ref < 0 { return -1 }
            if slot.hash == h {
                let record = records + Int(slot.ref >> 1)
                if slot.ref & 1 == 0 ? record.pointee.original == tuple : record.pointee.reply == tuple { return i }
            }
            i = (i &+ 1) & slotMask
        }
    }

    /// The live entry that holds `tuple` (as either of its tuples), or -1; an expired holder
    /// is freed instead.
    private func liveHolder(_ tuple: ConntrackTuple, hash h: UInt32, now: SimTime) -> Int {
        let slot = lookupSlot(tuple, hash: h)
        if slot < 0 { return -1 }
        let index = Int(slots[slot].ref >> 1)
        if records[index].expires <= now.nanoseconds {
            remove(index)
            return -1
        }
        return index
    }

    /// `early_drop`: look at the first `evictionRange` entries in probe order from the new
    /// tuple's home slot and free the one nearest expiry among those that are expired or
    /// not ASSURED. (Linux walks up to 8 hash buckets and kills every unassured entry of the
    /// first bucket that has one; one victim keeps podwire's open-addressing table simple.)
    /// An expired victim is just reaped; a live one counts `earlyDrop`.
    private func earlyDrop(hash h: UInt32, now: SimTime) -> Bool {
        let nowNS = now.nanoseconds
        var i = Int(h) & slotMask
        var seen = 0
        var scanned = 0
        var victim = -1
        var victimExpires = Int64.max
        while seen < Self.evictionRange && scanned <= slotMask {
            let ref = slots[i].ref
            if ref >= 0 {
                seen += 1
                let index = Int(ref >> 1)
                let expires = records[index].expires
                if (expires <= nowNS || !records[index].status.contains(.assured)) && expires < victimExpires {
                    victim = index
                    victimExpires = expires
                }
            }
            scanned += 1
            i = (i &+ 1) & slotMask
        }
        if victim < 0 { return false }
        remove(victim)
        if victimExpires > nowNS { count(\.earlyDrop) }
        return true
    }

    /// Take a confirmed entry out of the table and free it (`nf_ct_delete` → `clean_from_lists`).
    private func remove(_ index: Int) {
        if !records[index].status.contains(.natClash) {
            deleteSlot(hash: records[index].originalHash, ref: Int32(index) << 1)
        }
        deleteSlot(hash: records[index].replyHash, ref: Int32(index) << 1 | 1)
        count -= 1
        freeRecord(index)
    }

    private func allocateRecord() -> Int {
        if freeHead >= 0 {
            let index = Int(freeHead)
            freeHead = records[index].nextFree
            return index
        }
        if recordsUsed == recordCapacity { growRecords() }
        recordsUsed += 1
        return recordsUsed - 1
    }

    private func freeRecord(_ index: Int) {
        records[index].life = .free
        records[index].status = []
        records[index].nextFree = freeHead
        freeHead = Int32(index)
    }

    @inline(never)
    private func growRecords() {
        let newCapacity = recordCapacity * 2
        precondition(newCapacity <= Int(Int32.max >> 1), "conntrack table too large")
        let grown = UnsafeMutablePointer<ConntrackRecord>.allocate(capacity: newCapacity)
        grown.moveInitialize(from: records, count: recordCapacity)
        (grown + recordCapacity).initialize(repeating: .blank, count: newCapacity - recordCapacity)
        records.deallocate()
        records = grown
        recordCapacity = newCapacity
    }

    @inline(never)
    private func growSlots() {
        let oldCount = slotMask + 1
        let old = slots
        let newCount = oldCount * 2
        slots = .allocate(capacity: newCount)
        slots.initialize(repeating: .empty, count: newCount)
        slotMask = newCount - 1
        slotsOccupied = 0
        for i in 0..<oldCount where old[i].ref >= 0 {
            insertSlot(hash: old[i].hash, ref: old[i].ref)
        }
        old.deinitialize(count: oldCount)
        old.deallocate()
    }

    private func insertSlot(hash h: UInt32, ref: Int32) {
        var i = Int(h) & slotMask
        while slots[i].ref >= 0 { i = (i &+ 1) & slotMask }
        slots[i] = ConntrackSlot(hash: h, ref: ref)
        slotsOccupied += 1
    }

    /// Linear-probing deletion without tombstones: shift later members of the cluster back
    /// into the hole unless their home slot lies cyclically after the hole.
    private func deleteSlot(hash h: UInt32, ref: Int32) {
        var hole = Int(h) & slotMask
        while slots[hole].ref != ref {
            precondition(slots[hole].ref >= 0, "conntrack hash slot missing")
            hole = (hole &+ 1) & slotMask
        }
        var j = hole
        while true {
            j = (j &+ 1) & slotMask
            let slot = slots[j]
            if slot.ref < 0 { break }
            let home = Int(slot.hash) & slotMask
            // Leave `slot` where it is when its home lies in (hole, j] cyclically.
            let stays = hole <= j ? (hole < home && home <= j) : (hole < home || home <= j)
            if stays { continue }
            slots[hole] = slot
            hole = j
        }
        slots[hole] = .empty
        slotsOccupied -= 1
    }

    /// Checks the table's invariants (tests): every confirmed entry has exactly its two
    /// slots (a `natClash` one its reply slot only), every slot points at a confirmed entry,
    /// and counts agree.
    func checkInvariants() -> Bool {
        var occupied = 0
        for i in 0...slotMask where slots[i].ref >= 0 {
            occupied += 1
            let index = Int(slots[i].ref >> 1)
            guard records[index].life == .confirmed else { return false }
            if slots[i].ref & 1 == 0 && records[index].status.contains(.natClash) { return false }
            let expectedHash = slots[i].ref & 1 == 0 ? records[index].originalHash : records[index].replyHash
            guard slots[i].hash == expectedHash else { return false }
            let tuple = slots[i].ref & 1 == 0 ? records[index].original : records[index].reply
            guard lookupSlot(tuple, hash: expectedHash) >= 0 else { return false }
        }
        var confirmed = 0
        var clashed = 0
        var unconfirmed = 0
        for index in 0..<recordsUsed {
            switch records[index].life {
            case .confirmed:
                confirmed += 1
                if records[index].status.contains(.natClash) { clashed += 1 }
            case .unconfirmed: unconfirmed += 1
            case .free: break
            }
        }
        return occupied == slotsOccupied && occupied == 2 * confirmed - clashed && confirmed == count
            && unconfirmed == unconfirmedCount
    }
}
