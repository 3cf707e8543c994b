/// The pending-event set of the simulator (STYLE.md "Engine"): events keyed by
/// `(time, sequence)` — ns-3's event key — so equal times pop first-in first-out, with
/// cancellation by tombstone.
///
/// Structure: a radix heap (Ahuja, Mehlhorn, Orlin & Tarjan 1990) over the 64-bit time,
/// chosen by the hold model (HoldModel.swift; 100k pending, release build, 2-core VM under
/// load): ~23 M events/s, against 4-7 M/s for binary and 4-ary heaps (hole-based sift, with
/// and without branch-free compares) and swift-collections' `Heap`. A heap pop walks
/// ~log n levels of coin-flip compares and cache misses; here an entry only moves down to a
/// lower bucket by a sequential append, at most 64 times and about 5 times in the hold
/// model. Schedule is O(1); pop is amortised O(bits of the time spread).
///
/// - `last` is a lower bound of every pending key (it is the last minimum found). Bucket 0
///   holds keys equal to `last`, as a FIFO; bucket b in 1...64 holds keys whose highest
///   bit differing from `last` is bit b - 1. This holds exactly, for the current `last`.
/// - Pop: take the front of bucket 0; if it is empty, find the lowest non-empty bucket (a
///   bit mask), make its minimum the new `last` and redistribute it into lower buckets.
/// - Schedule: append to the bucket of the key. A key below `last` (a simulator scheduling
///   right after a `next(until:)` that looked ahead) first lowers `last`, merging the
///   buckets at or below the key's into one — cheap, since they hold only the near future.
/// - FIFO for equal times needs no sequence compare: equal keys always share a bucket,
///   and every move (append, in-order redistribution, merge) keeps their relative order.
///
/// **Earliest.** One event is kept out of the buckets when it is strictly earlier than all
/// of them: the datapath mostly schedules the packet's next stage a few hundred simulated
/// nanoseconds ahead, before anything else pending, and such an event then costs a compare
/// on schedule and a load on pop, with no bucket append or redistribution (VXLAN and
/// ClusterIP take 12 events per datagram, most of them of this kind). Invariant: the held
/// event's key is below every bucket key, tombstones included. A new event that is not
/// later than it sends it to the buckets first — so equal keys still pop in scheduling
/// order — and is held in its place only if strictly earlier. The held event has a slot
/// like any other, so `cancel` is unchanged.
///
/// An entry carries its payload, so a pop reads the front of bucket 0 and nothing else
/// (a payload slab read at a random slot per pop was a cache miss that halved throughput).
/// Each event also holds a slot of a small side table (EventStorage.swift) recording its
/// sequence: an `EventID` names its slot, so `cancel` is O(1) — it marks the slot, and
/// the entry becomes a tombstone that pops discard (its payload is released then). Pops
/// write the table but read it only while tombstones exist. A steady state allocates
/// nothing; bucket buffers keep their largest size.
///
/// Everything is `@inlinable` so that `EventQueue<World.Event>` specialises in the module
/// that defines the event enum.

/// Names one scheduled event, for `cancel`. Sequences are unique per queue and increase in
/// scheduling order.
public struct EventID: Hashable, Sendable {
    public let sequence: UInt64
    /// The event's side-table slot; the id is live while that slot still holds `sequence`.
    @usableFromInline let slot: UInt32

    @inlinable init(sequence: UInt64, slot: UInt32) {
        self.sequence = sequence
        self.slot = slot
    }
}

/// Pending events ordered by (time, insertion sequence): equal times pop first-in first-out.
public struct EventQueue<Event> {
    @usableFromInline var storage: EventStorage<Event>
    /// Lower bound of all pending keys; bucket indices are relative to it.
    @usableFromInline var last: UInt64 = 0
    /// Bit b - 1 set when bucket b (1...64) is non-empty.
    @usableFromInline var nonEmpty: UInt64 = 0
    /// Entries in buckets, tombstones included.
    @usableFromInline var entries: Int = 0
    /// Cancelled entries still in buckets.
    @usableFromInline var tombstones: Int = 0
    @usableFromInline var nextSequence: UInt64 = 0

    @inlinable public init(minimumCapacity: Int = 1024) {
        storage = EventStorage(minimumCapacity: minimumCapacity)
    }

    /// Live (not cancelled) events.
    @inlinable public var count: Int { entries - tombstones }

    @inlinable public var isEmpty: Bool { entries == tombstones }

    @discardableResult
    @inlinable public mutating func schedule(_ event: Event, at time: SimTime) -> EventID {
        makeUnique()
        let sequence = nextSequence
        nextSequence &+= 1
        let slot = storage.allocateSlot(sequence: sequence)
        let key = Self.key(time)
        let entry = RadixEntry(key: key, slot: slot, event: event)
        entries &+= 1
        if storage.hasEarliest.pointee {
            let held = storage.earliest.pointee.key
            if key > held {
                insert(entry)
            } else {
                // Not later than the held event: it goes to the buckets first (FIFO for
                // equal keys), and the new event is held only if strictly earlier.
                insert(storage.earliest.move())
                if key < held {
                    storage.earliest.initialize(to: entry)
                } else {
                    storage.hasEarliest.pointee = false
                    insert(entry)
                }
            }
        } else if key < bucketMinimum() {
            storage.earliest.initialize(to: entry)
            storage.hasEarliest.pointee = true
        } else {
            insert(entry)
        }
        return EventID(sequence: sequence, slot: slot)
    }

    /// The smallest pending key (cancelled events included), `UInt64.max` when none is
    /// pending. Reads only: no copy-on-write check.
    @inlinable @inline(__always)
    func minimumKey() -> UInt64 {
        if storage.hasEarliest.pointee { return storage.earliest.pointee.key }
        return bucketMinimum()
    }

    /// Appends `entry` to the bucket of its key (lowering `last` first if it is below).
    @inlinable @inline(__always)
    mutating func insert(_ entry: consuming RadixEntry<Event>) {
        let key = entry.key
        if key < last { lowerBase(to: key) }
        let b = Self.bucket(of: key, relativeTo: last)
        storage.buckets[b].append(entry)
        if b > 0 { nonEmpty |= 1 &<< UInt64(b &- 1) }
    }

    /// The smallest key in the buckets (tombstones included), or `UInt64.max` when they are
    /// empty: bucket 0 holds only `last`, and each other bucket keeps its minimum.
    @inlinable @inline(__always)
    func bucketMinimum() -> UInt64 {
        if storage.buckets.pointee.count > 0 { return last }
        guard nonEmpty != 0 else { return .max }
        return storage.buckets[nonEmpty.trailingZeroBitCount &+ 1].minimum
    }

    /// Tombstones the event: it never pops. Cancelling an event that already popped, was
    /// already cancelled, or is unknown does nothing.
    @inlinable public mutating func cancel(_ id: EventID) {
        guard Int(id.slot) < storage.slab.pointee.slotCount else { return }
        makeUnique()
        let sequence = storage.slab.pointee.sequences + Int(id.slot)
        guard sequence.pointee == id.sequence else { return }
        sequence.pointee = SlabState.vacant
        tombstones &+= 1
    }

    @inlinable public mutating func popNext() -> (time: SimTime, id: EventID, event: Event)? {
        guard let (entry, sequence) = popEntry(notAfter: .distantFuture, readSequence: true) else { return nil }
        return (Self.time(entry.key), EventID(sequence: sequence, slot: entry.slot), entry.event)
    }

    /// Time of the next live event. Mutating: it may reorganise buckets and drop tombstones.
    @inlinable public mutating func peekTime() -> SimTime? {
        makeUnique()
        if storage.hasEarliest.pointee {
            if tombstones == 0 || storage.slab.pointee.sequences[Int(storage.earliest.pointee.slot)] != SlabState.vacant {
                return Self.time(storage.earliest.pointee.key)
            }
            _ = takeEarliest()
            tombstones &-= 1
        }
        while fillFront() {
            let front = storage.buckets.pointee.base.unsafelyUnwrapped + storage.head.pointee
            if tombstones == 0 || storage.slab.pointee.sequences[Int(front.pointee.slot)] != SlabState.vacant {
                return Self.time(front.pointee.key)
            }
            _ = takeFront()
            tombstones &-= 1
        }
        return nil
    }

    /// The next live event if its time is <= `limit` (the scheduler's hot path: one look at
    /// the front, no separate peek). `readSequence` false skips the side-table read.
    @inlinable @inline(__always)
    mutating func popEntry(notAfter limit: SimTime, readSequence: Bool) -> (RadixEntry<Event>, UInt64)? {
        makeUnique()
        let limitKey = Self.key(limit)
        if storage.hasEarliest.pointee {
            // Earlier than everything in the buckets: if it is not due, nothing is.
            let slot = Int(storage.earliest.pointee.slot)
            guard storage.earliest.pointee.key <= limitKey else { return nil }
            if tombstones > 0 && storage.slab.pointee.sequences[slot] == SlabState.vacant {
                _ = takeEarliest()   // cancelled: the buckets hold the next event, if any
                tombstones &-= 1
            } else {
                let sequence = readSequence ? storage.slab.pointee.sequences[slot] : 0
                return (takeEarliest(), sequence)
            }
        }
        while fillFront() {
            let front = storage.buckets.pointee.base.unsafelyUnwrapped + storage.head.pointee
            guard front.pointee.key <= limitKey else { return nil }
            let slot = Int(front.pointee.slot)
            if tombstones > 0 && storage.slab.pointee.sequences[slot] == SlabState.vacant {
                _ = takeFront()   // a cancelled event: its payload is released here
                tombstones &-= 1
                continue
            }
            let sequence = readSequence ? storage.slab.pointee.sequences[slot] : 0
            return (takeFront(), sequence)
        }
        return nil
    }

    /// Moves out the held earliest entry and frees its slot.
    @inlinable @inline(__always)
    mutating func takeEarliest() -> RadixEntry<Event> {
        storage.hasEarliest.pointee = false
        let entry = storage.earliest.move()
        entries &-= 1
        storage.releaseSlot(entry.slot)
        return entry
    }

    // MARK: Radix heap

    /// Times as unsigned keys with the same order (sign bit flipped).
    @inlinable @inline(__always)
    static func key(_ time: SimTime) -> UInt64 {
        UInt64(bitPattern: time.nanoseconds) ^ 0x8000_0000_0000_0000
    }

    @inlinable @inline(__always)
    static func time(_ key: UInt64) -> SimTime {
        SimTime(nanoseconds: Int64(bitPattern: key ^ 0x8000_0000_0000_0000))
    }

    /// 0 when key == last, else 1 + the index of the highest differing bit.
    @inlinable @inline(__always)
    static func bucket(of key: UInt64, relativeTo last: UInt64) -> Int {
        64 &- (key ^ last).leadingZeroBitCount
    }

    @inlinable @inline(__always)
    mutating func makeUnique() {
        if !isKnownUniquelyReferenced(&storage) {
            storage = EventStorage(copying: storage)
        }
    }

    /// Makes bucket 0 non-empty if any entry is pending; false if none is.
    @inlinable @inline(__always)
    mutating func fillFront() -> Bool {
        if storage.buckets.pointee.count > 0 { return true }
        guard nonEmpty != 0 else { return false }
        refill()
        return true
    }

    /// Moves out the front entry of bucket 0 and frees its slot.
    @inlinable @inline(__always)
    mutating func takeFront() -> RadixEntry<Event> {
        let zero = storage.buckets
        let head = storage.head
        let entry = (zero.pointee.base.unsafelyUnwrapped + head.pointee).move()
        head.pointee &+= 1
        if head.pointee == zero.pointee.count {
            zero.pointee.count = 0
            zero.pointee.minimum = .max
            head.pointee = 0
        }
        entries &-= 1
        storage.releaseSlot(entry.slot)
        return entry
    }

    /// Bucket 0 is empty and some other bucket is not: make the minimum of the lowest
    /// non-empty bucket the new `last` and redistribute that bucket below it.
    @inlinable
    mutating func refill() {
        let k = nonEmpty.trailingZeroBitCount &+ 1
        let buckets = storage.buckets
        let source = buckets + k
        let n = source.pointee.count
        let moving = source.pointee.base.unsafelyUnwrapped
        let minimum = source.pointee.minimum
        last = minimum
        var mask = nonEmpty & ~(1 &<< UInt64(k &- 1))
        for i in 0..<n {
            let b = Self.bucket(of: moving[i].key, relativeTo: minimum)   // < k
            buckets[b].append((moving + i).move())
            if b > 0 { mask |= 1 &<< UInt64(b &- 1) }
        }
        source.pointee.count = 0
        source.pointee.minimum = .max
        nonEmpty = mask
    }

    /// A key below `last` arrived: make it the new `last`. Relative to it, every entry in
    /// buckets 0 ..< target (target = the bucket of the old `last`) belongs in bucket
    /// `target`; higher buckets are unchanged.
    @usableFromInline @inline(never)
    mutating func lowerBase(to key: UInt64) {
        let target = Self.bucket(of: last, relativeTo: key)   // >= 1
        let buckets = storage.buckets
        let destination = buckets + target
        destination.pointee.moveAll(from: &buckets.pointee, start: storage.head.pointee)
        storage.head.pointee = 0
        var b = 1
        while b < target {
            destination.pointee.moveAll(from: &buckets[b])
            b &+= 1
        }
        let below: UInt64 = (1 &<< UInt64(target &- 1)) &- 1
        nonEmpty &= ~below
        if destination.pointee.count > 0 { nonEmpty |= 1 &<< UInt64(target &- 1) }
        last = key
    }
}

// The storage is reached only through the owning value, copied on write.
extension EventQueue: @unchecked Sendable where Event: Sendable {}
