/// Packet buffers: fixed-size slots with headroom, reused from a free list.
///
/// A packet is a `PacketHandle` (an Int32 slot index). Its bytes live at
/// `slot base + head ..< head + length`; headers are pushed into the headroom in front of the
/// data (Ethernet after resolution now, VXLAN's 50 bytes later) and pulled off on receive, so
/// no hop copies the payload (STYLE.md "one buffer with headroom, pushed/pulled"). Slots are
/// carved from chunks that are never moved or freed while the pool lives, so a steady-state
/// run allocates nothing per packet.

public struct PacketHandle: Hashable, Sendable {
    public let rawValue: Int32
    @inlinable init(_ rawValue: Int32) { self.rawValue = rawValue }
}

public final class PacketPool {
    /// Bytes reserved in front of a fresh packet for headers pushed later.
    public static let headroom = 128
    /// Slots per chunk (a power of two).
    static let chunkShift = 10
    static let chunkSlots = 1 << chunkShift

    /// Bytes per slot: headroom plus the largest frame the world can carry.
    public let slotSize: Int
    private var chunks: [UnsafeMutableRawPointer] = []
    // Per-slot state in flat buffers (not arrays): every hop reads and writes them, and an
    // array's uniqueness check on each write was a measurable share of a hop.
    /// Offset of the packet's first byte in its slot.
    private var head: UnsafeMutablePointer<Int32>
    private var length: UnsafeMutablePointer<Int32>
    /// Netfilter state each packet carries (conntrack entry, mark), by slot.
    private(set) var meta: UnsafeMutablePointer<PacketMeta>
    /// `validChecksums(_:)`, by slot.
    private var checksumLevel: UnsafeMutablePointer<UInt8>
    /// The CPU core the packet's work runs on (NodeCPU.swift, `World.core`), -1 for none
    /// yet, by slot. Every fresh packet starts with -1.
    var core: UnsafeMutablePointer<Int32>
    /// The socket whose send buffer the packet is charged to (`skb->sk` with `sock_wfree`),
    /// as a socket index, or -1; and what it is charged (`skb->truesize`), by slot. A
    /// fresh packet and a clone have no owner (`skb_clone` leaves the destructor behind).
    var owner: UnsafeMutablePointer<Int32>
    var charge: UnsafeMutablePointer<Int32>
    /// Free slots, a stack (`freeCount` of `capacity` used).
    private var freeList: UnsafeMutablePointer<Int32>
    private var freeCount = 0
    /// Packets currently allocated (in flight somewhere in the world).
    public private(set) var live = 0
    /// Slots ever created (the pool's high-water mark).
    public private(set) var capacity = 0

    /// `maxFrame`: the largest frame (Ethernet header included) any device can carry.
    public init(maxFrame: Int) {
        slotSize = (PacketPool.headroom + maxFrame + 63) & ~63
        head = .allocate(capacity: 1)
        length = .allocate(capacity: 1)
        meta = .allocate(capacity: 1)
        checksumLevel = .allocate(capacity: 1)
        core = .allocate(capacity: 1)
        owner = .allocate(capacity: 1)
        charge = .allocate(capacity: 1)
        freeList = .allocate(capacity: 1)
    }

    deinit {
        for c in chunks { c.deallocate() }
        head.deallocate()
        length.deallocate()
        meta.deinitialize(count: capacity)
        meta.deallocate()
        checksumLevel.deallocate()
        core.deallocate()
        owner.deallocate()
        charge.deallocate()
        freeList.deallocate()
    }

    /// A fresh empty packet whose data starts after the headroom.
    public func allocate() -> PacketHandle {
        if freeCount == 0 { grow() }
        freeCount &-= 1
        let h = freeList[freeCount]
        let i = Int(h)
        head[i] = Int32(PacketPool.headroom)
        length[i] = 0
        meta[i] = .none
        checksumLevel[i] = 0
        core[i] = -1
        owner[i] = -1
        live += 1
        return PacketHandle(h)
    }

    public func free(_ p: PacketHandle) {
        live -= 1
        freeList[freeCount] = p.rawValue
        freeCount &+= 1
    }

    /// A copy of `p` (for flooding a frame to several ports).
    public func clone(_ p: PacketHandle) -> PacketHandle {
        let c = allocate()
        let i = Int(p.rawValue), j = Int(c.rawValue)
        head[j] = head[i]
        length[j] = length[i]
        meta[j] = meta[i]
        checksumLevel[j] = checksumLevel[i]
        (slotBase(c) + Int(head[j])).copyMemory(from: slotBase(p) + Int(head[i]), byteCount: Int(length[i]))
        return c
    }

    /// How many UDP checksums, from the outermost IPv4 datagram of the packet inwards, are
    /// known to be right (valid, or 0 = none) because podwire computed them and nothing
    /// since has changed those bytes except by RFC 1624 updates (NAT) or outside the
    /// checksummed range (TTL, link-layer headers). Linux's `CHECKSUM_UNNECESSARY` with
    /// `csum_level` = this − 1: a receiver need not verify them again, and VXLAN computes its
    /// outer checksum from the inner one (`lco_csum`). 0 for every packet built by other
    /// means (ICMP, ARP, fragments, reassembled datagrams): those are summed in full.
    @inline(__always) public func validChecksums(_ p: PacketHandle) -> Int { Int(checksumLevel[Int(p.rawValue)]) }

    @inline(__always) public func setValidChecksums(_ p: PacketHandle, _ n: Int) {
        checksumLevel[Int(p.rawValue)] = UInt8(truncatingIfNeeded: min(n, 255))
    }

    @inline(__always) func slotBase(_ p: PacketHandle) -> UnsafeMutableRawPointer {
        let i = Int(p.rawValue)
        return chunks[i >> PacketPool.chunkShift] + (i & (PacketPool.chunkSlots - 1)) * slotSize
    }

    /// The first byte of the packet's data.
    @inline(__always) public func data(_ p: PacketHandle) -> UnsafeMutableRawPointer {
        slotBase(p) + Int(head[Int(p.rawValue)])
    }

    @inline(__always) public func length(_ p: PacketHandle) -> Int { Int(length[Int(p.rawValue)]) }

    @inline(__always) public func bytes(_ p: PacketHandle) -> UnsafeMutableRawBufferPointer {
        UnsafeMutableRawBufferPointer(start: data(p), count: length(p))
    }

    /// Room for data after the current end (for building a packet in place).
    @inline(__always) public func tailroom(_ p: PacketHandle) -> Int {
        slotSize - Int(head[Int(p.rawValue)]) - Int(length[Int(p.rawValue)])
    }

    @inline(__always) public func headroom(_ p: PacketHandle) -> Int { Int(head[Int(p.rawValue)]) }

    /// Prepends `n` bytes and returns a pointer to them.
    @inline(__always) public func push(_ p: PacketHandle, _ n: Int) -> UnsafeMutableRawPointer {
        let i = Int(p.rawValue)
        precondition(Int(head[i]) >= n, "packet headroom exhausted")
        head[i] -= Int32(n)
        length[i] += Int32(n)
        return slotBase(p) + Int(head[i])
    }

    /// Removes `n` bytes from the front.
    @inline(__always) public func pull(_ p: PacketHandle, _ n: Int) {
        let i = Int(p.rawValue)
        precondition(Int(length[i]) >= n, "pull beyond packet end")
        head[i] += Int32(n)
        length[i] -= Int32(n)
    }

    /// Sets the data length (to append bytes written at `data(p) + oldLength`, or to trim).
    @inline(__always) public func setLength(_ p: PacketHandle, _ n: Int) {
        let i = Int(p.rawValue)
        precondition(n >= 0 && Int(head[i]) + n <= slotSize, "packet length out of slot")
        length[i] = Int32(n)
    }

    @inline(never) private func grow() {
        let chunk = UnsafeMutableRawPointer.allocate(byteCount: PacketPool.chunkSlots * slotSize, alignment: 64)
        // Zeroed, so bytes an application leaves unwritten are the same in every run.
        chunk.initializeMemory(as: UInt8.self, repeating: 0, count: PacketPool.chunkSlots * slotSize)
        let first = Int32(capacity)
        chunks.append(chunk)
        let old = capacity
        capacity += PacketPool.chunkSlots
        head = Self.grown(head, from: old, to: capacity, fill: 0)
        length = Self.grown(length, from: old, to: capacity, fill: 0)
        meta = Self.grown(meta, from: old, to: capacity, fill: .none)
        checksumLevel = Self.grown(checksumLevel, from: old, to: capacity, fill: 0)
        core = Self.grown(core, from: old, to: capacity, fill: -1)
        owner = Self.grown(owner, from: old, to: capacity, fill: -1)
        charge = Self.grown(charge, from: old, to: capacity, fill: 0)
        freeList = Self.grown(freeList, from: old, to: capacity, fill: 0)
        // Hand out low indices first so small runs touch few cache lines.
        for k in stride(from: Int32(PacketPool.chunkSlots) - 1, through: 0, by: -1) {
            freeList[freeCount] = first + k
            freeCount += 1
        }
    }

    private static func grown<T>(_ p: UnsafeMutablePointer<T>, from old: Int, to new: Int, fill: T) -> UnsafeMutablePointer<T> {
        let q = UnsafeMutablePointer<T>.allocate(capacity: new)
        q.moveInitialize(from: p, count: old)
        (q + old).initialize(repeating: fill, count: new - old)
        p.deallocate()
        return q
    }
}
