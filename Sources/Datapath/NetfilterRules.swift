import Wire

/// The rule model of iptables (legacy and nf_tables backends print the same): tables of
/// chains of rules, each rule an IP part (`-s -d -i -o -p`), an ordered list of `-m` match
/// modules and one target. This is the *data* a generator (kube-proxy, flanneld) builds and
/// `iptables-save` prints; `Netfilter` compiles it and walks it per packet.
///
/// Field order mirrors how `iptables-save` prints a rule, so printing is a straight walk:
/// `-A CHAIN [!] -s X [!] -d Y [!] -i IF [!] -o IF [!] -p P  -m mod opts…  -j TARGET opts`.

/// The five netfilter hooks, in packet-path order.
public enum NetfilterHook: Int, CaseIterable, Sendable, CustomStringConvertible {
    case prerouting, input, forward, output, postrouting

    /// The built-in chain's name: `PREROUTING` …
    public var chainName: String {
        switch self {
        case .prerouting: "PREROUTING"
        case .input: "INPUT"
        case .forward: "FORWARD"
        case .output: "OUTPUT"
        case .postrouting: "POSTROUTING"
        }
    }

    public var description: String { chainName }
}

/// The tables podwire models, in the order `iptables-save` printed them on the reference
/// nodes (`*filter` then `*nat`).
public enum NetfilterTableName: String, CaseIterable, Sendable {
    case filter, nat

    /// The hooks this table has built-in chains for, in `iptables-save` order.
    public var hooks: [NetfilterHook] {
        switch self {
        case .filter: [.input, .forward, .output]
        case .nat: [.prerouting, .input, .output, .postrouting]
        }
    }
}

/// `-m conntrack --ctstate …` (and `-m state --state …`): a set of conntrack states,
/// including the virtual `SNAT`/`DNAT` states.
public struct ConntrackStateSet: OptionSet, Hashable, Sendable {
    public let rawValue: UInt8
    @inlinable public init(rawValue: UInt8) { self.rawValue = rawValue }

    public static let invalid = ConntrackStateSet(rawValue: 1 << 0)
    public static let new = ConntrackStateSet(rawValue: 1 << 1)
    public static let established = ConntrackStateSet(rawValue: 1 << 2)
    public static let related = ConntrackStateSet(rawValue: 1 << 3)
    public static let untracked = ConntrackStateSet(rawValue: 1 << 4)
    public static let snat = ConntrackStateSet(rawValue: 1 << 5)
    public static let dnat = ConntrackStateSet(rawValue: 1 << 6)

    /// Names in the order iptables prints them (`INVALID,NEW,RELATED,ESTABLISHED,UNTRACKED,SNAT,DNAT`).
    public static let printOrder: [(ConntrackStateSet, String)] = [
        (.invalid, "INVALID"), (.new, "NEW"), (.related, "RELATED"), (.established, "ESTABLISHED"),
        (.untracked, "UNTRACKED"), (.snat, "SNAT"), (.dnat, "DNAT"),
    ]
}

/// `[!] -s 10.244.0.0/16`, `[!] -d 10.96.0.20/32`.
public struct AddressMatch: Hashable, Sendable {
    public var network: IPv4Network
    public var negated: Bool
    public init(_ network: IPv4Network, negated: Bool = false) {
        self.network = network
        self.negated = negated
    }
}

/// `[!] -i cni0`, `[!] -o eth0` (a trailing `+` is iptables' wildcard).
public struct InterfaceMatch: Hashable, Sendable {
    public var name: String
    public var negated: Bool
    public init(_ name: String, negated: Bool = false) {
        self.name = name
        self.negated = negated
    }
}

/// `[!] -p udp` (IP protocol number; printed by name for udp/tcp/icmp).
public struct ProtocolMatch: Hashable, Sendable {
    public var number: UInt8
    public var negated: Bool
    public init(_ number: UInt8, negated: Bool = false) {
        self.number = number
        self.negated = negated
    }
}

/// A port or an inclusive port range: `--dport 80`, `--dport 30000:32767`, `[!]`.
public struct PortMatch: Hashable, Sendable {
    public var low: UInt16
    public var high: UInt16
    public var negated: Bool
    public init(_ port: UInt16, negated: Bool = false) {
        self.init(low: port, high: port, negated: negated)
    }
    public init(low: UInt16, high: UInt16, negated: Bool = false) {
        self.low = low
        self.high = high
        self.negated = negated
    }
}

/// `-m addrtype --src-type/--dst-type TYPE`. Only `LOCAL` is modelled (kube-proxy's use).
public enum AddressType: String, Hashable, Sendable {
    case local = "LOCAL"
}

/// `-m recent`: ClientIP session affinity as kube-proxy writes it.
public enum RecentMatch: Hashable, Sendable {
    /// `--name N --mask 255.255.255.255 --rsource --set`: remember the source address now.
    case set(name: String)
    /// `--name N --mask 255.255.255.255 --rsource --rcheck --seconds S --reap`: the source
    /// was `set` within the last `seconds`.
    case check(name: String, seconds: Int, reap: Bool)
}

/// One `-m` match module, in the order it appears in the rule.
public enum NetfilterMatch: Hashable, Sendable {
    /// `-m comment --comment "text"` (always true).
    case comment(String)
    /// `-m udp`/`-m tcp` with `--sport`/`--dport`; `protocol` is the module's (17 or 6).
    case ports(protocol: UInt8, source: PortMatch?, destination: PortMatch?)
    /// `-m mark [!] --mark value/mask`.
    case mark(value: UInt32, mask: UInt32, negated: Bool)
    /// `-m conntrack [!] --ctstate A,B`.
    case conntrackState(ConntrackStateSet, negated: Bool)
    /// `-m statistic --mode random --probability p` (p in 0…1, as the generator wrote it;
    /// the kernel stores `lround(p × 2³¹)` and iptables re-prints that with `%.11f`).
    case statisticRandom(probability: Double)
    /// `-m addrtype [!] --src-type T`.
    case sourceAddressType(AddressType, negated: Bool)
    /// `-m addrtype [!] --dst-type T`.
    case destinationAddressType(AddressType, negated: Bool)
    /// `-m recent …`.
    case recent(RecentMatch)
}

/// `--reject-with`: the ICMP error REJECT sends.
public enum RejectWith: String, Hashable, Sendable {
    case icmpNetUnreachable = "icmp-net-unreachable"
    case icmpHostUnreachable = "icmp-host-unreachable"
    case icmpPortUnreachable = "icmp-port-unreachable"
    case icmpProtoUnreachable = "icmp-proto-unreachable"
    case icmpNetProhibited = "icmp-net-prohibited"
    case icmpHostProhibited = "icmp-host-prohibited"
    case icmpAdminProhibited = "icmp-admin-prohibited"

    /// ICMP destination-unreachable code (type 3) the kernel sends.
    public var icmpCode: UInt8 {
        switch self {
        case .icmpNetUnreachable: 0
        case .icmpHostUnreachable: 1
        case .icmpProtoUnreachable: 2
        case .icmpPortUnreachable: 3
        case .icmpNetProhibited: 9
        case .icmpHostProhibited: 10
        case .icmpAdminProhibited: 13
        }
    }
}

/// `-j TARGET …`.
public enum NetfilterTarget: Hashable, Sendable {
    case accept
    case drop
    /// `-j RETURN`.
    case returnFromChain
    /// `-j CHAIN` (a user chain of the same table).
    case jump(String)
    /// `-j REJECT --reject-with …` (filter table).
    case reject(RejectWith)
    /// `-j DNAT --to-destination A[:P]` (nat PREROUTING/OUTPUT).
    case dnat(IPv4Address, port: UInt16?)
    /// `-j SNAT --to-source A[:P1-P2] [--random-fully]` (nat POSTROUTING/INPUT).
    case snat(IPv4Address, ports: ClosedRange<UInt16>?, randomFully: Bool)
    /// `-j MASQUERADE [--to-ports P1-P2] [--random-fully]`: SNAT to the egress device's address.
    case masquerade(ports: ClosedRange<UInt16>?, randomFully: Bool)
    /// `-j MARK --set-xmark value/mask` (`--or-mark v` = `v/v`, `--xor-mark v` = `v/0`,
    /// `--set-mark v` = `v/0xffffffff`): mark = (mark & ~mask) ^ value.
    case mark(value: UInt32, mask: UInt32)
}

/// One rule. Counters live in `Netfilter`, not here: a ruleset is a value a generator builds.
public struct NetfilterRule: Hashable, Sendable {
    public var source: AddressMatch?
    public var destination: AddressMatch?
    public var inInterface: InterfaceMatch?
    public var outInterface: InterfaceMatch?
    public var `protocol`: ProtocolMatch?
    public var matches: [NetfilterMatch]
    public var target: NetfilterTarget

    public init(source: AddressMatch? = nil, destination: AddressMatch? = nil, inInterface: InterfaceMatch? = nil,
                outInterface: InterfaceMatch? = nil, protocol: ProtocolMatch? = nil, matches: [NetfilterMatch] = [],
                target: NetfilterTarget) {
        self.source = source
        self.destination = destination
        self.inInterface = inInterface
        self.outInterface = outInterface
        self.protocol = `protocol`
        self.matches = matches
        self.target = target
    }
}

/// Built-in chain policy.
public enum NetfilterPolicy: String, Hashable, Sendable {
    case accept = "ACCEPT"
    case drop = "DROP"
}

public struct NetfilterChain: Hashable, Sendable {
    public var name: String
    /// `nil` for a user chain (printed `-`).
    public var policy: NetfilterPolicy?
    public var rules: [NetfilterRule]

    public init(name: String, policy: NetfilterPolicy?, rules: [NetfilterRule] = []) {
        self.name = name
        self.policy = policy
        self.rules = rules
    }
}

/// One table: its built-in chains first (in `NetfilterTableName.hooks` order), then user
/// chains in the order they were created. Chains are found by name in O(1) (kube-proxy
/// writes thousands of `KUBE-SVC-`/`KUBE-SEP-` chains per node).
public struct NetfilterTable: Hashable, Sendable {
    public let name: NetfilterTableName
    public private(set) var chains: [NetfilterChain]
    /// `chains` by name; derived, so left out of equality and hashing.
    private var chainIndexes: [String: Int]

    public init(_ name: NetfilterTableName) {
        self.name = name
        chains = name.hooks.map { NetfilterChain(name: $0.chainName, policy: .accept) }
        chainIndexes = Dictionary(uniqueKeysWithValues: chains.enumerated().map { ($1.name, $0) })
    }

    public static func == (a: NetfilterTable, b: NetfilterTable) -> Bool { a.name == b.name && a.chains == b.chains }

    public func hash(into hasher: inout Hasher) {
        hasher.combine(name)
        hasher.combine(chains)
    }

    public func chainIndex(named name: String) -> Int? { chainIndexes[name] }

    public func chain(named name: String) -> NetfilterChain? { chainIndex(named: name).map { chains[$0] } }

    /// `iptables -N NAME` (does nothing when the chain exists). Returns its index.
    @discardableResult
    public mutating func addChain(_ name: String) -> Int {
        if let i = chainIndexes[name] { return i }
        chains.append(NetfilterChain(name: name, policy: nil))
        chainIndexes[name] = chains.count - 1
        return chains.count - 1
    }

    /// `iptables -A CHAIN rule` (creates a missing user chain).
    public mutating func append(_ rule: NetfilterRule, to chain: String) {
        chains[addChain(chain)].rules.append(rule)
    }

    /// `iptables -I CHAIN position rule` (0-based position).
    public mutating func insert(_ rule: NetfilterRule, into chain: String, at position: Int) {
        chains[addChain(chain)].rules.insert(rule, at: position)
    }

    /// What `iptables-restore --noflush` does with a chain it declares (`:NAME - [0:0]`) and
    /// fills: creates it if missing, else flushes it, then gives it exactly `rules`. The
    /// array is stored as given, so tables built from one generator's output share it.
    public mutating func setRules(_ rules: [NetfilterRule], of chain: String) {
        chains[addChain(chain)].rules = rules
    }

    /// `iptables -P CHAIN POLICY` (built-in chains only).
    public mutating func setPolicy(_ policy: NetfilterPolicy, of hook: NetfilterHook) {
        if let i = chainIndex(named: hook.chainName) { chains[i].policy = policy }
    }
}

/// Every table of one network namespace: what `iptables-restore` loads.
public struct NetfilterRuleset: Hashable, Sendable {
    public var filter = NetfilterTable(.filter) { didSet { compilation = nil } }
    public var nat = NetfilterTable(.nat) { didSet { compilation = nil } }
    /// The checked and compiled form, once `compile(reusing:)` made it (Netfilter+Compile.swift);
    /// derived, so left out of equality and hashing.
    var compilation: NetfilterCompilation?

    public init() {}

    public static func == (a: NetfilterRuleset, b: NetfilterRuleset) -> Bool { a.filter == b.filter && a.nat == b.nat }

    public func hash(into hasher: inout Hasher) {
        hasher.combine(filter)
        hasher.combine(nat)
    }

    public subscript(_ name: NetfilterTableName) -> NetfilterTable {
        get { name == .filter ? filter : nat }
        set { if name == .filter { filter = newValue } else { nat = newValue } }
    }

    /// True when no table has a rule or a non-ACCEPT policy (netfilter can be skipped).
    public var isEmpty: Bool {
        NetfilterTableName.allCases.allSatisfy { t in
            self[t].chains.allSatisfy { $0.rules.isEmpty && ($0.policy ?? .accept) == .accept }
        }
    }
}
