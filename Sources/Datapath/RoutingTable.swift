import Wire

/// An IPv4 route, as `ip route` shows it.
public struct Route: Sendable, Equatable, CustomStringConvertible {
    public var destination: IPv4Network {
        didSet { match = Route.match(destination) }
    }
    /// Next hop; nil for a directly connected (scope link) route.
    public var gateway: IPv4Address?
    public var device: DeviceID
    /// Preferred source address (`src`), if set.
    public var source: IPv4Address?
    /// `onlink`: the gateway is reachable on `device` even if no prefix there covers it.
    public var onlink: Bool
    /// Installed by the kernel for an address's prefix (`proto kernel scope link`).
    public var isConnected: Bool
    public var metric: Int
    /// `destination` as `mask << 32 | network`: what a lookup compares.
    private(set) var match: UInt64

    @inline(__always) static func match(_ n: IPv4Network) -> UInt64 { UInt64(n.mask) << 32 | UInt64(n.network.rawValue) }

    public init(destination: IPv4Network, gateway: IPv4Address? = nil, device: DeviceID,
                source: IPv4Address? = nil, onlink: Bool = false, isConnected: Bool = false, metric: Int = 0) {
        self.destination = destination
        self.match = Route.match(destination)
        self.gateway = gateway
        self.device = device
        self.source = source
        self.onlink = onlink
        self.isConnected = isConnected
        self.metric = metric
    }

    public var description: String {
        var s = destination.prefixLength == 0 ? "default" : destination.description
        if let g = gateway { s += " via \(g)" }
        s += " dev#\(device.rawValue)"
        if isConnected { s += " proto kernel scope link" }
        if let src = source { s += " src \(src)" }
        if onlink { s += " onlink" }
        return s
    }
}

/// The main routing table of a namespace: longest-prefix match, then lowest metric.
/// Routes are kept sorted (longest prefix first, then metric, then insertion order), so the
/// route for an address is the first one that contains it.
///
/// A small table (a pod's, a node's on a few-node cluster) is scanned in that order. A big
/// one — a node of a 250-node host-gw or VXLAN cluster holds a route per other node, and the
/// scan was the largest part of forwarding in the 250-node benchmark — is looked up by
/// prefix: for each prefix length present, longest first, one hash probe of the address's
/// network finds the best route of that prefix (`bestByPrefix`). Both give the same route.
public struct RoutingTable: Sendable {
    public private(set) var routes: [Route] = []
    /// Above this many routes, lookups use `bestByPrefix`.
    static let scanLimit = 16
    /// (mask, network) word → index in `best` of the route a lookup takes for that prefix:
    /// the lowest metric, the earliest added among equals.
    private var bestByPrefix = FlatHashTable<UInt64, Int32>()
    private var best: [Route] = []
    /// The masks of the prefix lengths present, longest first.
    private var masks: [UInt32] = []

    public init() {}

    public mutating func add(_ route: Route) {
        let i = routes.firstIndex(where: {
            $0.destination.prefixLength < route.destination.prefixLength
                || ($0.destination.prefixLength == route.destination.prefixLength && $0.metric > route.metric)
        }) ?? routes.count
        routes.insert(route, at: i)
        // Small tables (every pod's) never build the index: no allocations for them.
        if routes.count == RoutingTable.scanLimit + 1 {
            reindex()
        } else if routes.count > RoutingTable.scanLimit {
            index(route)
        }
    }

    public mutating func remove(where predicate: (Route) -> Bool) {
        routes.removeAll(where: predicate)
        reindex()
    }

    /// Builds the index from `routes` in the order they were added. `routes` is sorted, and
    /// among routes of one prefix and metric the sort keeps the order they were added, so the
    /// first of each prefix with the lowest metric is indexed, as `index` would.
    private mutating func reindex() {
        bestByPrefix = FlatHashTable()
        best = []
        masks = []
        if routes.count > RoutingTable.scanLimit {
            for r in routes { index(r) }
        }
    }

    private mutating func index(_ route: Route) {
        if let j = bestByPrefix[route.match] {
            if route.metric < best[Int(j)].metric { best[Int(j)] = route }
        } else {
            bestByPrefix[route.match] = Int32(best.count)
            best.append(route)
        }
        let mask = route.destination.mask
        if !masks.contains(mask) {
            masks.append(mask)
            masks.sort(by: >)
        }
    }

    public func lookup(_ destination: IPv4Address) -> Route? {
        if routes.count <= RoutingTable.scanLimit {
            return routes.withUnsafeBufferPointer { r in
                for i in 0..<r.count where destination.rawValue & UInt32(truncatingIfNeeded: r[i].match >> 32)
                    == UInt32(truncatingIfNeeded: r[i].match) {
                    return r[i]
                }
                return nil
            }
        }
        for mask in masks {
            if let j = bestByPrefix[UInt64(mask) << 32 | UInt64(destination.rawValue & mask)] { return best[Int(j)] }
        }
        return nil
    }
}
