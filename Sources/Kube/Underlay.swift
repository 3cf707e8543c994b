import Engine
import Wire

/// The cabling under the cluster: switches (learning bridges, each in a namespace of its
/// own) and links, in containerlab's vocabulary — a link joins two `machine:interface`
/// endpoints, where a machine is a node, a host or a switch.
///
/// `Underlay.automatic` is what a topology without `switches`/`links` gets: one switch
/// `lan` (bridge `br-lan`, as kernel-ref builds it) with a port `lan-<machine>` for every
/// node and host.
public struct Underlay: Sendable {
    public var switches: [String]
    public var links: [UnderlayLink]

    public init(switches: [String], links: [UnderlayLink]) {
        self.switches = switches
        self.links = links
    }

    /// One switch `lan`, every machine's eth0 on port `lan-<machine>`.
    public static func automatic(machines: [String]) -> Underlay {
        Underlay(switches: ["lan"], links: machines.map {
            UnderlayLink(LinkEnd(machine: $0, interface: "eth0"), LinkEnd(machine: "lan", interface: "lan-\($0)"))
        })
    }

    /// The link that ends at `machine`'s eth0, and its other end.
    func link(of machine: String) -> (link: UnderlayLink, peer: LinkEnd)? {
        for l in links {
            if l.a.machine == machine && l.a.interface == "eth0" { return (l, l.b) }
            if l.b.machine == machine && l.b.interface == "eth0" { return (l, l.a) }
        }
        return nil
    }
}

/// `"pi-1:eth0"`.
public struct LinkEnd: Sendable, Equatable, CustomStringConvertible {
    public var machine: String
    public var interface: String
    public init(machine: String, interface: String) {
        self.machine = machine
        self.interface = interface
    }
    public var description: String { "\(machine):\(interface)" }
}

/// A cable. Its rate is the negotiated one: the link's `rate` if given, capped by each
/// machine NIC's line rate; its delay the link's `delay`, else the cluster's `lanDelay`.
public struct UnderlayLink: Sendable {
    public var a: LinkEnd
    public var b: LinkEnd
    /// Bits per second; nil: the NICs' own rate (1 Gbit/s between two switches).
    public var rate: Int64?
    public var delay: SimDuration?

    public init(_ a: LinkEnd, _ b: LinkEnd, rate: Int64? = nil, delay: SimDuration? = nil) {
        self.a = a
        self.b = b
        self.rate = rate
        self.delay = delay
    }
}
