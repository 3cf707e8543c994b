/// The memory behind `EventQueue`: raw, manually grown buffers owned by one final class,
/// so the hot path does one uniqueness check per operation (copy-on-write) and then works
/// on plain pointers, with no bounds, uniqueness or exclusivity checks per element.
///
/// - `buckets`: the radix heap's 65 buckets of entries (see EventQueue.swift); an entry
///   carries its payload, so a pop reads only the front of bucket 0, sequentially;
/// - `slab`: one word per slot, the sequence of the event that holds the slot or `vacant`;
///   it exists so that `cancel` finds an event in O(1) and can tell a pending id from a
///   stale one. Pops only write it, so its random access never stalls the hot path;
/// - free slot numbers, reused most-recent first.
///
/// Buffers only grow (doubling), so a steady state allocates nothing. Mutable bookkeeping
/// sits behind pointers, not in class `var`s: every access to a class's stored `var` pays
/// a dynamic exclusivity check (`swift_beginAccess`), a fifth of the hold model's time.

/// One radix-heap entry: payload, slot, biased time key. The payload comes first so the
/// two small fields can fill its tail padding (a 17-byte enum gives a 32-byte entry, not 40).
@usableFromInline
struct RadixEntry<Event> {
    @usableFromInline var event: Event
    @usableFromInline var slot: UInt32
    @usableFromInline var key: UInt64

    @inlinable init(key: UInt64, slot: UInt32, event: Event) {
        self.key = key
        self.slot = slot
        self.event = event
    }
}

/// A growable run of initialised entries, with the smallest key appended since it was last
/// emptied (so a refill needs no separate pass to find it).
@usableFromInline
struct RadixBucket<Event> {
    @usableFromInline var base: UnsafeMutablePointer<RadixEntry<Event>>?
    @usableFromInline var count: Int
    @usableFromInline var capacity: Int
    @usableFromInline var minimum: UInt64

    @inlinable init() {
        base = nil
        count = 0
        capacity = 0
        minimum = .max
    }

    @inlinable @inline(__always)
    mutating func append(_ entry: consuming RadixEntry<Event>) {
        if count == capacity { grow(atLeast: count &+ 1) }
        minimum = Swift.min(minimum, entry.key)
        (base.unsafelyUnwrapped + count).initialize(to: entry)
        count &+= 1
    }

    /// Moves entries start..<count of `other` (a different bucket) to the end of this one,
    /// in order, and leaves `other` empty.
    @inlinable
    mutating func moveAll(from other: inout RadixBucket<Event>, start: Int = 0) {
        let n = other.count &- start
        if n > 0 {
            if count &+ n > capacity { grow(atLeast: count &+ n) }
            (base.unsafelyUnwrapped + count).moveInitialize(from: other.base.unsafelyUnwrapped + start, count: n)
            count &+= n
            minimum = Swift.min(minimum, other.minimum)
        }
        other.count = 0
        other.minimum = .max
    }

    @usableFromInline @inline(never)
    mutating func grow(atLeast needed: Int) {
        let newCapacity = Swift.max(needed, capacity &* 2, 16)
        let newBase = UnsafeMutablePointer<RadixEntry<Event>>.allocate(capacity: newCapacity)
        if let base {
            newBase.moveInitialize(from: base, count: count)
            base.deallocate()
        }
        base = newBase
        capacity = newCapacity
    }
}

/// Slot bookkeeping, behind a pointer (see the file comment).
@usableFromInline
struct SlabState {
    /// Per slot: the sequence of the pending event that holds it, or `vacant`.
    @usableFromInline var sequences: UnsafeMutablePointer<UInt64>
    @usableFromInline var slotCount: Int
    @usableFromInline var slotCapacity: Int
    @usableFromInline var freeSlots: UnsafeMutablePointer<UInt32>
    @usableFromInline var freeCount: Int

    /// Popped, cancelled or never used. Sequences never reach it.
    @usableFromInline static var vacant: UInt64 { .max }

    @inlinable init(sequences: UnsafeMutablePointer<UInt64>, slotCount: Int, slotCapacity: Int,
                    freeSlots: UnsafeMutablePointer<UInt32>, freeCount: Int) {
        self.sequences = sequences
        self.slotCount = slotCount
        self.slotCapacity = slotCapacity
        self.freeSlots = freeSlots
        self.freeCount = freeCount
    }
}

@usableFromInline
final class EventStorage<Event> {
    /// Buckets 0...64. Bucket 0's live entries start at `EventQueue.head`.
    @usableFromInline let buckets: UnsafeMutablePointer<RadixBucket<Event>>
    @usableFromInline let slab: UnsafeMutablePointer<SlabState>
    /// Where bucket 0's live entries start (entries before it were moved out).
    @usableFromInline let head: UnsafeMutablePointer<Int>
    /// The earliest pending event, kept out of the buckets (EventQueue.swift, "Earliest"):
    /// initialised only while `hasEarliest.pointee` is true.
    @usableFromInline let earliest: UnsafeMutablePointer<RadixEntry<Event>>
    @usableFromInline let hasEarliest: UnsafeMutablePointer<Bool>

    @inlinable static var bucketCount: Int { 65 }

    @usableFromInline
    init(minimumCapacity: Int) {
        let capacity = Swift.max(minimumCapacity, 16)
        buckets = .allocate(capacity: Self.bucketCount)
        buckets.initialize(repeating: RadixBucket(), count: Self.bucketCount)
        slab = .allocate(capacity: 1)
        slab.initialize(to: SlabState(sequences: .allocate(capacity: capacity), slotCount: 0, slotCapacity: capacity,
                                      freeSlots: .allocate(capacity: capacity), freeCount: 0))
        head = .allocate(capacity: 1)
        head.initialize(to: 0)
        earliest = .allocate(capacity: 1)
        hasEarliest = .allocate(capacity: 1)
        hasEarliest.initialize(to: false)
    }

    /// A deep copy, for copy-on-write.
    @usableFromInline
    init(copying other: EventStorage<Event>) {
        buckets = .allocate(capacity: Self.bucketCount)
        buckets.initialize(repeating: RadixBucket(), count: Self.bucketCount)
        let otherHead = other.head.pointee
        for b in 0..<Self.bucketCount {
            let start = b == 0 ? otherHead : 0
            let n = other.buckets[b].count - start
            guard n > 0 else { continue }
            buckets[b].grow(atLeast: n)
            buckets[b].base.unsafelyUnwrapped.initialize(from: other.buckets[b].base.unsafelyUnwrapped + start, count: n)
            buckets[b].count = n
            buckets[b].minimum = other.buckets[b].minimum
        }
        head = .allocate(capacity: 1)
        head.initialize(to: 0)
        earliest = .allocate(capacity: 1)
        hasEarliest = .allocate(capacity: 1)
        hasEarliest.initialize(to: other.hasEarliest.pointee)
        if other.hasEarliest.pointee { earliest.initialize(to: other.earliest.pointee) }
        let source = other.slab.pointee
        let sequences = UnsafeMutablePointer<UInt64>.allocate(capacity: source.slotCapacity)
        sequences.initialize(from: source.sequences, count: source.slotCount)
        let freeSlots = UnsafeMutablePointer<UInt32>.allocate(capacity: source.slotCapacity)
        freeSlots.initialize(from: source.freeSlots, count: source.freeCount)
        slab = .allocate(capacity: 1)
        slab.initialize(to: SlabState(sequences: sequences, slotCount: source.slotCount,
                                      slotCapacity: source.slotCapacity, freeSlots: freeSlots,
                                      freeCount: source.freeCount))
    }

    deinit {
        for b in 0..<Self.bucketCount {
            guard let base = buckets[b].base else { continue }
            let start = b == 0 ? head.pointee : 0
            (base + start).deinitialize(count: buckets[b].count - start)
            base.deallocate()
        }
        buckets.deallocate()
        if hasEarliest.pointee { earliest.deinitialize(count: 1) }
        earliest.deallocate()
        hasEarliest.deallocate()
        slab.pointee.sequences.deallocate()
        slab.pointee.freeSlots.deallocate()
        slab.deallocate()
        head.deallocate()
    }

    /// A slot for a new event: the most recently freed one (warm in cache), else a new one.
    @inlinable @inline(__always)
    func allocateSlot(sequence: UInt64) -> UInt32 {
        if slab.pointee.freeCount > 0 {
            slab.pointee.freeCount &-= 1
            let slot = slab.pointee.freeSlots[slab.pointee.freeCount]
            slab.pointee.sequences[Int(slot)] = sequence
            return slot
        }
        if slab.pointee.slotCount == slab.pointee.slotCapacity { growSlots() }
        let slot = slab.pointee.slotCount
        precondition(slot < Int(UInt32.max), "EventQueue: too many pending events")
        slab.pointee.sequences[slot] = sequence
        slab.pointee.slotCount = slot &+ 1
        return UInt32(truncatingIfNeeded: slot)
    }

    /// Marks a slot vacant and returns it for reuse; its entry has left the buckets.
    @inlinable @inline(__always)
    func releaseSlot(_ slot: UInt32) {
        slab.pointee.sequences[Int(slot)] = SlabState.vacant
        // freeCount < slotCount <= slotCapacity: a slot is freed once per use.
        slab.pointee.freeSlots[slab.pointee.freeCount] = slot
        slab.pointee.freeCount &+= 1
    }

    @usableFromInline @inline(never)
    func growSlots() {
        let old = slab.pointee
        let newCapacity = old.slotCapacity * 2
        let sequences = UnsafeMutablePointer<UInt64>.allocate(capacity: newCapacity)
        sequences.moveInitialize(from: old.sequences, count: old.slotCount)
        old.sequences.deallocate()
        let freeSlots = UnsafeMutablePointer<UInt32>.allocate(capacity: newCapacity)
        freeSlots.moveInitialize(from: old.freeSlots, count: old.freeCount)
        old.freeSlots.deallocate()
        slab.pointee = SlabState(sequences: sequences, slotCount: old.slotCount, slotCapacity: newCapacity,
                                 freeSlots: freeSlots, freeCount: old.freeCount)
    }
}
