import Engine
import Wire

/// A bridge's forwarding database (`bridge fdb`): MAC → port, learned from source
/// addresses and aged out after `ageingTime` (Linux default 300 s, `br->ageing_time`).
/// Local entries (the bridge's and its ports' own MACs) never age and mean "pass up".
public struct ForwardingDatabase: Sendable {
    public struct Entry: Sendable, Equatable {
        public var port: DeviceID
        public var updated: SimTime
        public var isLocal: Bool
    }

    public var ageingTime: SimDuration
    /// By MAC (`MACAddress.rawValue`, 48 bits).
    private var entries = FlatHashTable<UInt64, Entry>()

    public init(ageingTime: SimDuration = .seconds(300)) {
        self.ageingTime = ageingTime
    }

    public mutating func addLocal(_ mac: MACAddress, port: DeviceID) {
        entries[mac.rawValue] = Entry(port: port, updated: .zero, isLocal: true)
    }

    /// `br_fdb_update`: learn or refresh `mac` on `port`. A local entry is never moved.
    public mutating func learn(_ mac: MACAddress, port: DeviceID, now: SimTime) {
        let i = entries.slot(of: mac.rawValue)
        if i < 0 {
            entries.insert(mac.rawValue, Entry(port: port, updated: now, isLocal: false))
            return
        }
        let e = entries.value(at: i)
        if e.isLocal || (e.port == port && e.updated == now) { return }
        entries.setValue(Entry(port: port, updated: now, isLocal: false), at: i)
    }

    /// `br_fdb_find_rcu` without the ageing check (read-only; see `isExpired`).
    public func entry(_ mac: MACAddress) -> Entry? {
        let i = entries.slot(of: mac.rawValue)
        return i < 0 ? nil : entries.value(at: i)
    }

    /// A learned entry older than `ageingTime` is gone (local entries never age).
    @inline(__always) public func isExpired(_ e: Entry, now: SimTime) -> Bool {
        !e.isLocal && now - e.updated > ageingTime
    }

    /// `br_fdb_find_rcu` plus the ageing check: an entry older than `ageingTime` is gone.
    public mutating func lookup(_ mac: MACAddress, now: SimTime) -> Entry? {
        let i = entries.slot(of: mac.rawValue)
        if i < 0 { return nil }
        let e = entries.value(at: i)
        if isExpired(e, now: now) {
            entries.removeValue(forKey: mac.rawValue)
            return nil
        }
        return e
    }
}
