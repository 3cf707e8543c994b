/// A hash table from small unsigned integer keys (MAC addresses, neighbour keys, UDP ports)
/// to values, for the lookups every packet makes: the bridge FDB, the neighbour index, the
/// VXLAN FDB and the socket ports. Swift's `Dictionary` hashes each key with SipHash behind a
/// per-process seed (~20 ns a lookup, most of it the hash); this table multiplies the key by
/// 2^64/φ and takes the top bits (Fibonacci hashing, Knuth TAOCP 6.4), which spreads MACs,
/// addresses and ports well and costs a multiply.
///
/// Storage: one array of slots, open addressing with linear probing, a power-of-two capacity
/// kept at least twice the count, deletion by backward shift (no tombstones), like the
/// conntrack table. Nothing is allocated until the first insertion (a cluster has thousands
/// of namespaces whose tables stay empty); then it grows by doubling and never shrinks, so a
/// steady state allocates nothing. There is no iteration: nothing observable can depend on slot order (STYLE.md),
/// and the layout is the same in every process anyway (no seed).
struct FlatHashTable<Key: FixedWidthInteger & UnsignedInteger, Value> {
    @usableFromInline struct Slot {
        /// `FlatHashTable.emptyKey` when free.
        var key: UInt64
        var value: Value?
    }

    /// Marks a free slot; no key may widen to it (every key narrower than 64 bits is safe).
    static var emptyKey: UInt64 { .max }

    private var slots: ContiguousArray<Slot>
    /// 64 − log2(capacity): the hash is the top bits of the product.
    private var shift: UInt64
    private(set) var count = 0

    /// `minimumCapacity` 0: no storage until the first insertion.
    init(minimumCapacity: Int = 0) {
        slots = []
        shift = 64
        if minimumCapacity > 0 { allocate(minimumCapacity) }
    }

    private mutating func allocate(_ minimumCapacity: Int) {
        var capacity = 8
        while capacity < 2 * minimumCapacity { capacity *= 2 }
        slots = ContiguousArray(repeating: Slot(key: Self.emptyKey, value: nil), count: capacity)
        shift = UInt64(64 - capacity.trailingZeroBitCount)
    }

    var isEmpty: Bool { count == 0 }

    @inline(__always) private var mask: Int { slots.count &- 1 }

    @inline(__always) private func home(_ k: UInt64) -> Int {
        Int(truncatingIfNeeded: (k &* 0x9E37_79B9_7F4A_7C15) >> shift)
    }

    @inline(__always) private static func widen(_ key: Key) -> UInt64 {
        let k = UInt64(truncatingIfNeeded: key)
        precondition(k != emptyKey, "FlatHashTable key collides with the empty marker")
        return k
    }

    /// The slot holding `key`, or -1.
    @inline(__always) func slot(of key: Key) -> Int {
        let k = Self.widen(key)
        if count == 0 { return -1 }
        var i = home(k)
        return slots.withUnsafeBufferPointer { s in
            while true {
                let sk = s[i].key
                if sk == k { return i }
                if sk == Self.emptyKey { return -1 }
                i = (i &+ 1) & (s.count &- 1)
            }
        }
    }

    /// The value in slot `i` (from `slot(of:)`, before any insertion or removal).
    @inline(__always) func value(at i: Int) -> Value { slots[i].value.unsafelyUnwrapped }

    @inline(__always) mutating func setValue(_ v: Value, at i: Int) { slots[i].value = v }

    subscript(key: Key) -> Value? {
        @inline(__always) get {
            let i = slot(of: key)
            return i < 0 ? nil : slots[i].value
        }
        set {
            if let newValue { insert(key, newValue) } else { removeValue(forKey: key) }
        }
    }

    /// Inserts or replaces.
    mutating func insert(_ key: Key, _ value: Value) {
        let i = slot(of: key)
        if i >= 0 {
            slots[i].value = value
            return
        }
        if slots.isEmpty {
            allocate(1)
        } else if 2 * (count + 1) > slots.count {
            grow()
        }
        place(Self.widen(key), value)
        count += 1
    }

    @discardableResult
    mutating func removeValue(forKey key: Key) -> Value? {
        var hole = slot(of: key)
        if hole < 0 { return nil }
        let old = slots[hole].value
        let mask = self.mask
        // Backward shift: move later members of the cluster into the hole unless their home
        // lies cyclically in (hole, j].
        var j = hole
        while true {
            j = (j &+ 1) & mask
            let k = slots[j].key
            if k == Self.emptyKey { break }
            let h = home(k)
            let stays = hole <= j ? (hole < h && h <= j) : (hole < h || h <= j)
            if stays { continue }
            slots[hole] = slots[j]
            hole = j
        }
        slots[hole] = Slot(key: Self.emptyKey, value: nil)
        count -= 1
        return old
    }

    private mutating func place(_ k: UInt64, _ value: Value) {
        var i = home(k)
        while slots[i].key != Self.emptyKey { i = (i &+ 1) & mask }
        slots[i] = Slot(key: k, value: value)
    }

    @inline(never) private mutating func grow() {
        let old = slots
        slots = ContiguousArray(repeating: Slot(key: Self.emptyKey, value: nil), count: old.count * 2)
        shift -= 1
        for s in old where s.key != Self.emptyKey { place(s.key, s.value.unsafelyUnwrapped) }
    }

    /// Every key is where a probe from its home finds it, and `count` agrees (tests).
    func checkInvariants() -> Bool {
        var n = 0
        for (i, s) in slots.enumerated() where s.key != Self.emptyKey {
            n += 1
            guard s.value != nil else { return false }
            // Every slot from the home up to i must be occupied.
            var j = home(s.key)
            while j != i {
                if slots[j].key == Self.emptyKey { return false }
                j = (j &+ 1) & mask
            }
        }
        return n == count
    }
}

extension FlatHashTable: Sendable where Value: Sendable {}
extension FlatHashTable.Slot: Sendable where Value: Sendable {}
