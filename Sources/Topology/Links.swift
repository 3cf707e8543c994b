/// The LAN's cabling, containerlab style: `spec.switches` (plain learning switches, no STP)
/// and `spec.links`, each a cable between two `"machine:interface"` endpoints with an
/// optional line rate and propagation delay. Without `switches` and `links` every node and
/// host hangs off one implicit switch, and both arrays are empty.

import Engine

/// One entry of `spec.switches`.
public struct SwitchSpec: Sendable {
    /// A DNS-1123 label, distinct from every node and host name.
    public var name: String
    public var location: SourceLocation

    public init(name: String, location: SourceLocation) {
        self.name = name
        self.location = location
    }
}

/// One end of a cable, written `"pi-1:eth0"` or `"sw1:p1"` (containerlab's endpoint syntax).
public struct LinkEndpointSpec: Sendable, Equatable, CustomStringConvertible {
    /// A node, host or switch name.
    public var machine: String
    /// `eth0` on a node or host (podwire models one NIC per machine); any Linux interface
    /// name (1…15 characters, no '/', ':' or white space) on a switch.
    public var interface: String

    public init(machine: String, interface: String) {
        self.machine = machine
        self.interface = interface
    }

    /// "machine:interface".
    public var description: String { "\(machine):\(interface)" }
}

/// One entry of `spec.links`.
public struct LinkSpec: Sendable {
    /// The two ends, in the order written.
    public var endpoints: (LinkEndpointSpec, LinkEndpointSpec)
    /// `rate` in bits per second (tc units: `100Mbit`, `1Gbit`, `500kbit`); nil keeps the
    /// rate of the node profile's NIC.
    public var rateBitsPerSecond: Int64?
    /// `delay`: one-way propagation delay; nil means none.
    public var delay: SimDuration?
    public var location: SourceLocation

    public init(endpoints: (LinkEndpointSpec, LinkEndpointSpec), rateBitsPerSecond: Int64?, delay: SimDuration?,
                location: SourceLocation) {
        self.endpoints = endpoints
        self.rateBitsPerSecond = rateBitsPerSecond
        self.delay = delay
        self.location = location
    }
}
