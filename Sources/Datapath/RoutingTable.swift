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
/// Routes are kept sorted (longest prefix first, then metric, then insertion order), so a
/// lookup is the first route that contains the address. Tables here hold a handful of routes
/// (connected, default, one per remote node later); a trie replaces the scan when a
/// benchmark says so.
public struct RoutingTable: Sendable {
    public private(set) var routes: [Route] = []

    public init() {}

    public mutating func add(_ route: Route) {
        let i = routes.firstIndex(where: {
            $0.destination.prefixLength < route.destination.prefixLength
                || ($0.destination.prefixLength == route.destination.prefixLength && $0.metric > route.metric)
        }) ?? routes.count
        routes.insert(route, at: i)
    }

    public mutating func remove(where predicate: (Route) -> Bool) {
        routes.removeAll(where: predicate)
    }

    /// The index in `routes` of the route for `destination`, or -1.
    /// Compares each route's precomputed (mask, network) word, not copies of the routes.
    @inline(__always)
    func lookupIndex(_ destination: IPv4Address) -> Int {
        routes.withUnsafeBufferPointer { r in
            for i in 0..<r.count where destination.rawValue & UInt32(truncatingIfNeeded: r[i].match >> 32)
                == UInt32(truncatingIfNeeded: r[i].match) {
                return i
            }
            return -1
        }
    }

    public func lookup(_ destination: IPv4Address) -> Route? {
        let i = lookupIndex(destination)
        return i < 0 ? nil : routes[i]
    }
}
