import Engine
import Wire

/// A Linux bridge (net/bridge): its own net device (e.g. cni0), its ports in Linux's port
/// list order, and its forwarding database.
public struct Bridge: Sendable {
    public let id: BridgeID
    /// The bridge's own net device (where the host's IP stack attaches).
    public let device: DeviceID
    /// Ports in `br->port_list` order. `br_add_if` uses `list_add_rcu`, which inserts at the
    /// head, so the newest port comes first — the order in which `br_flood` visits ports.
    public internal(set) var ports: [DeviceID] = []
    public var fdb = ForwardingDatabase()

    init(id: BridgeID, device: DeviceID) {
        self.id = id
        self.device = device
    }
}

/// What the bridge decided for a frame that entered on a port (`br_handle_frame_finish`).
public enum BridgeDecision: Equatable, Sendable {
    /// Known unicast destination: send out of that port.
    case forward(DeviceID)
    /// Broadcast/multicast or unknown unicast: send out of every eligible port (and for
    /// broadcast/multicast also pass up to the bridge device).
    case flood(passUp: Bool)
    /// For the bridge itself (its own MAC or a port's): pass up to the bridge device.
    case passUp
    /// Not forwardable (e.g. back out of the ingress port without hairpin).
    case drop(DropReason)
}
