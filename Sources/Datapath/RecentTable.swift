/// One xt_recent list (`struct recent_table` in net/netfilter/xt_recent.c, read as
/// `/proc/net/xt_recent/NAME`): at most `ip_list_tot` source addresses, each with the time it
/// was last `--set`, kept in least-recently-updated order (the kernel's `lru_list`).
///
/// Modelled as the kernel does it: a full list evicts its least recently updated entry
/// (`recent_entry_init`); `--set` of a known address moves it to the newest end
/// (`recent_entry_update`); `--reap` removes the *oldest* entry of the list when its last
/// stamp is outside the window (`recent_entry_reap`), at most one per check. Only the last
/// stamp is kept: podwire models neither `--hitcount` nor `--rttl`, for which the kernel keeps
/// up to `ip_pkt_list_tot` stamps. Fixed storage, so the per-packet path does not allocate.
final class RecentTable {
    /// xt_recent's `ip_list_tot` module parameter default.
    static let capacity = 100

    let name: String
    private var slots: [UInt32: Int32]
    private var address: [UInt32]
    private var lastSeen: [Int64]
    /// The doubly linked LRU list over slots (-1: none).
    private var older: [Int32]
    private var newer: [Int32]
    private var oldest: Int32 = -1
    private var newest: Int32 = -1
    private var free: [Int32]

    init(name: String) {
        self.name = name
        slots = Dictionary(minimumCapacity: Self.capacity)
        address = Array(repeating: 0, count: Self.capacity)
        lastSeen = Array(repeating: 0, count: Self.capacity)
        older = Array(repeating: -1, count: Self.capacity)
        newer = Array(repeating: -1, count: Self.capacity)
        free = Array((0..<Int32(Self.capacity)).reversed())
    }

    /// `--set`: stamp `source` now, adding it (evicting the oldest entry when full).
    func set(_ source: UInt32, now: Int64) {
        if let slot = slots[source] {
            lastSeen[Int(slot)] = now
            unlink(slot)
            append(slot)
            return
        }
        if free.isEmpty { remove(oldest) }
        let slot = free.removeLast()
        address[Int(slot)] = source
        lastSeen[Int(slot)] = now
        slots[source] = slot
        append(slot)
    }

    /// `--rcheck [--seconds S [--reap]]`: `source` is listed and, with a window, was set at or
    /// after `now − window` (the kernel skips stamps for which `time_after(now − S, stamp)`).
    func check(_ source: UInt32, now: Int64, window: Int64, reap: Bool) -> Bool {
        guard let slot = slots[source] else { return false }
        guard window > 0 else { return true }
        let cutoff = now - window
        let hit = lastSeen[Int(slot)] >= cutoff
        if reap, oldest >= 0, lastSeen[Int(oldest)] < cutoff { remove(oldest) }
        return hit
    }

    /// (address, last set) from the least to the most recently updated.
    var entries: [(address: UInt32, lastSeen: Int64)] {
        var result: [(address: UInt32, lastSeen: Int64)] = []
        var slot = oldest
        while slot >= 0 {
            result.append((address[Int(slot)], lastSeen[Int(slot)]))
            slot = newer[Int(slot)]
        }
        return result
    }

    /// Replaces this list's contents with `other`'s, keeping its order.
    func copy(from other: RecentTable) {
        while oldest >= 0 { remove(oldest) }
        for entry in other.entries { set(entry.address, now: entry.lastSeen) }
    }

    private func remove(_ slot: Int32) {
        unlink(slot)
        slots[address[Int(slot)]] = nil
        free.append(slot)
    }

    private func unlink(_ slot: Int32) {
        let o = older[Int(slot)], n = newer[Int(slot)]
        if o >= 0 { newer[Int(o)] = n } else { oldest = n }
        if n >= 0 { older[Int(n)] = o } else { newest = o }
        older[Int(slot)] = -1
        newer[Int(slot)] = -1
    }

    private func append(_ slot: Int32) {
        older[Int(slot)] = newest
        newer[Int(slot)] = -1
        if newest >= 0 { newer[Int(newest)] = slot } else { oldest = slot }
        newest = slot
    }
}
