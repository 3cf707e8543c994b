/// Small integer handles. The `World` owns every namespace and device; everything else
/// refers to them by index, never by reference (STYLE.md: "objects refer to each other by
/// small integer handles").

/// A network namespace: a node's root namespace, a pod's, or the LAN's.
public struct NamespaceID: Hashable, Comparable, Sendable, CustomStringConvertible {
    public let rawValue: Int32
    @inlinable public init(_ rawValue: Int32) { self.rawValue = rawValue }
    @inlinable public var index: Int { Int(rawValue) }
    @inlinable public static func < (a: Self, b: Self) -> Bool { a.rawValue < b.rawValue }
    public var description: String { "ns#\(rawValue)" }
}

/// A network device (veth end, bridge, loopback …), unique across the whole world.
public struct DeviceID: Hashable, Comparable, Sendable, CustomStringConvertible {
    public let rawValue: Int32
    @inlinable public init(_ rawValue: Int32) { self.rawValue = rawValue }
    @inlinable public var index: Int { Int(rawValue) }
    /// "No device": for hop stages that happen in a namespace rather than at a device.
    public static let none = DeviceID(-1)
    @inlinable public static func < (a: Self, b: Self) -> Bool { a.rawValue < b.rawValue }
    public var description: String { "dev#\(rawValue)" }
}
