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
    private var entries: [UInt64: Entry] = [:]

    public init(ageingTime: SimDuration = .seconds(300)) {
        self.ageingTime = ageingTime
    }

    public mutating func addLocal(_ mac: MACAddress, port: DeviceID) {
        entries[mac.rawValue] = Entry(port: port, updated: .zero, isLocal: true)
    }

    /// `br_fdb_update`: learn or refresh `mac` on `port`. A local entry is never moved.
    public mutating func learn(_ mac: MACAddress, port: DeviceID, now: SimTime) {
        if let e = entries[mac.rawValue], e.isLocal { return }
        entries[mac.rawValue] = Entry(port: port, updated: now, isLocal: false)
    }

    /// `br_fdb_find_rcu` plus the ageing check: an entry older than `ageingTime` is gone.
    public mutating func lookup(_ mac: MACAddress, now: SimTime) -> Entry? {
        guard let e = entries[mac.rawValue] else { return nil }
        if !e.isLocal && now - e.updated > ageingTime {
            entries[mac.rawValue] = nil
            return nil
        }
        return e
    }
}
