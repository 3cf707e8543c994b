import Wire

/// One rule's arguments after `-A CHAIN`, parsed as iptables' `do_parse` does with the match
/// and target extensions podwire models: `[!] -s/-d/-i/-o/-p`, `-m MODULE options…` (options
/// belong to the module named last; `-p udp --dport 80` loads `-m udp` implicitly, as
/// iptables does), `-j TARGET options…`.
struct RuleArgumentParser {
    let table: NetfilterTable
    private var rule = NetfilterRule(target: .accept)
    private var matches: [NetfilterMatch] = []
    private var module: PendingExtension?
    private var target: PendingExtension?
    /// Whether `-j` came after the last `-m` (options go to the last one named).
    private var targetIsLast = false

    init(table: NetfilterTable) { self.table = table }

    static let modelledModules = "podwire models comment, udp, tcp, mark, conntrack, statistic, addrtype, recent"
    static let modelledTargets = "ACCEPT, DROP, RETURN, REJECT, DNAT, SNAT, MASQUERADE, MARK"

    mutating func parse(_ arguments: ArraySlice<String>) throws(NetfilterError) -> NetfilterRule {
        var i = arguments.startIndex
        var negate = false
        func next(_ option: String) throws(NetfilterError) -> String {
            guard i < arguments.endIndex else { throw NetfilterError("option \(option) needs a value") }
            defer { i += 1 }
            return arguments[i]
        }
        while i < arguments.endIndex {
            let token = arguments[i]
            i += 1
            if token == "!" {
                if negate { throw NetfilterError("'!' twice in a row") }
                negate = true
                continue
            }
            switch token {
            case "-s", "--source", "--src":
                if rule.source != nil { throw NetfilterError("multiple -s flags not allowed") }
                rule.source = AddressMatch(try Self.network(try next(token)), negated: negate)
            case "-d", "--destination", "--dst":
                if rule.destination != nil { throw NetfilterError("multiple -d flags not allowed") }
                rule.destination = AddressMatch(try Self.network(try next(token)), negated: negate)
            case "-i", "--in-interface":
                if rule.inInterface != nil { throw NetfilterError("multiple -i flags not allowed") }
                rule.inInterface = InterfaceMatch(try next(token), negated: negate)
            case "-o", "--out-interface":
                if rule.outInterface != nil { throw NetfilterError("multiple -o flags not allowed") }
                rule.outInterface = InterfaceMatch(try next(token), negated: negate)
            case "-p", "--protocol":
                if rule.protocol != nil { throw NetfilterError("multiple -p flags not allowed") }
                rule.protocol = ProtocolMatch(try Self.protocolNumber(try next(token)), negated: negate)
            case "-m", "--match":
                if negate {
                    throw NetfilterError("'!' cannot precede -m; negate the module's option instead "
                                         + "(-m mark ! --mark 0x4000/0x4000)")
                }
                try finishModule()
                let name = try next(token)
                guard let specs = ExtensionOptions.matches[name] else {
                    throw NetfilterError("unsupported match module '\(name)' (\(Self.modelledModules))")
                }
                module = PendingExtension(kind: "-m", name: name, specs: specs)
                targetIsLast = false
            case "-j", "--jump":
                if negate { throw NetfilterError("'!' cannot precede -j") }
                if target != nil { throw NetfilterError("multiple -j flags not allowed") }
                let name = try next(token)
                target = PendingExtension(kind: "-j", name: name, specs: ExtensionOptions.targets[name] ?? [:])
                targetIsLast = true
            case "-g", "--goto":
                throw NetfilterError("-g (goto) is not modelled by podwire; use -j CHAIN")
            case "-f", "--fragment":
                throw NetfilterError("-f (fragments) is not modelled by podwire")
            case "-c", "--set-counters":
                _ = try next(token)
                _ = try next(token)
            default:
                guard token.hasPrefix("--") else {
                    throw NetfilterError("unexpected argument '\(token)' (options start with - or --)")
                }
                try option(token, negated: negate, arguments, &i)
            }
            negate = false
        }
        if negate { throw NetfilterError("'!' at the end of the rule negates nothing") }
        try finishModule()
        guard let target else {
            throw NetfilterError("rule has no target: podwire's rule model needs -j (ACCEPT, a chain, …)")
        }
        rule.matches = matches
        rule.target = try finish(target)
        return rule
    }

    /// A `--option` of the module or target named last (else the other one), or of an
    /// implicit `-m udp`/`-m tcp` after `-p udp`/`-p tcp`.
    private mutating func option(_ token: String, negated: Bool, _ arguments: ArraySlice<String>,
                                 _ i: inout ArraySlice<String>.Index) throws(NetfilterError) {
        if targetIsLast, target?.specs[token] != nil {
            try target!.take(token, negated: negated, arguments, &i)
        } else if module?.specs[token] != nil {
            try module!.take(token, negated: negated, arguments, &i)
        } else if target?.specs[token] != nil {
            try target!.take(token, negated: negated, arguments, &i)
        } else if let p = rule.protocol, !p.negated, p.number == 17 || p.number == 6,
                  let specs = ExtensionOptions.matches[p.number == 17 ? "udp" : "tcp"], specs[token] != nil {
            try finishModule()
            module = PendingExtension(kind: "-m", name: p.number == 17 ? "udp" : "tcp", specs: specs)
            targetIsLast = false
            try module!.take(token, negated: negated, arguments, &i)
        } else {
            let owner = targetIsLast ? target : (module ?? target)
            throw NetfilterError("unknown option '\(token)'" + (owner.map { " for \($0.kind) \($0.name)" } ?? ""))
        }
    }

    private mutating func finishModule() throws(NetfilterError) {
        guard let pending = module else { return }
        module = nil
        matches += try finish(match: pending)
    }

    // MARK: - Matches

    private func finish(match m: PendingExtension) throws(NetfilterError) -> [NetfilterMatch] {
        switch m.name {
        case "comment":
            guard let text = m["--comment"] else { throw NetfilterError("comment match: --comment TEXT is required") }
            return [.comment(text.value)]
        case "udp", "tcp":
            let source = try m["--sport"].map { o throws(NetfilterError) in try Self.portMatch(o.value, negated: o.negated) }
            let destination = try m["--dport"].map { o throws(NetfilterError) in try Self.portMatch(o.value, negated: o.negated) }
            return [.ports(protocol: m.name == "udp" ? 17 : 6, source: source, destination: destination)]
        case "mark":
            guard let o = m["--mark"] else { throw NetfilterError("mark match: --mark VALUE[/MASK] is required") }
            let (value, mask) = try Self.valueAndMask(o.value)
            return [.mark(value: value, mask: mask, negated: o.negated)]
        case "conntrack":
            guard let o = m["--ctstate"] else {
                throw NetfilterError("conntrack match: --ctstate STATES is required (the only option podwire models)")
            }
            return [.conntrackState(try Self.states(o.value), negated: o.negated)]
        case "statistic":
            guard m["--mode"]?.value == "random" else {
                throw NetfilterError("statistic match: podwire models --mode random only")
            }
            guard let o = m["--probability"] else { throw NetfilterError("statistic match: --probability P is required") }
            guard let p = Double(o.value), p >= 0, p <= 1 else {
                throw NetfilterError("statistic match: --probability must be between 0 and 1, not '\(o.value)'")
            }
            return [.statisticRandom(probability: p)]
        case "addrtype":
            var result: [NetfilterMatch] = []
            if let o = m["--src-type"] { result.append(.sourceAddressType(try Self.addressType(o.value), negated: o.negated)) }
            if let o = m["--dst-type"] { result.append(.destinationAddressType(try Self.addressType(o.value), negated: o.negated)) }
            if result.isEmpty { throw NetfilterError("addrtype match: give --src-type or --dst-type") }
            return result
        default:  // "recent"
            return [try Self.recent(m)]
        }
    }

    private static func recent(_ m: PendingExtension) throws(NetfilterError) -> NetfilterMatch {
        let name = m["--name"]?.value ?? "DEFAULT"
        if let mask = m["--mask"], mask.value != "255.255.255.255" {
            throw NetfilterError("recent match: podwire models --mask 255.255.255.255 only")
        }
        let isSet = m["--set"] != nil, isCheck = m["--rcheck"] != nil
        guard isSet != isCheck else { throw NetfilterError("recent match: give exactly one of --set and --rcheck") }
        if isSet {
            if m["--seconds"] != nil || m["--reap"] != nil {
                throw NetfilterError("recent match: --seconds and --reap go with --rcheck, not --set")
            }
            return .recent(.set(name: name))
        }
        var seconds = 0
        if let o = m["--seconds"] {
            guard let s = UInt32(o.value), s > 0 else {
                throw NetfilterError("recent match: --seconds takes a positive number, not '\(o.value)'")
            }
            seconds = Int(s)
        }
        let reap = m["--reap"] != nil
        if reap && seconds == 0 { throw NetfilterError("recent match: --reap requires --seconds") }
        return .recent(.check(name: name, seconds: seconds, reap: reap))
    }

    // MARK: - Targets

    private func finish(_ t: PendingExtension) throws(NetfilterError) -> NetfilterTarget {
        switch t.name {
        case "ACCEPT": return .accept
        case "DROP": return .drop
        case "RETURN": return .returnFromChain
        case "REJECT":
            guard let o = t["--reject-with"] else { return .reject(.icmpPortUnreachable) }
            return .reject(try Self.rejectWith(o.value))
        case "DNAT":
            guard let o = t["--to-destination"] else { throw NetfilterError("DNAT target: --to-destination is required") }
            let (address, ports) = try Self.natRange(o.value, target: "DNAT", option: "--to-destination")
            guard ports == nil || ports!.count == 1 else {
                throw NetfilterError("DNAT target: podwire models one port in --to-destination, not a range")
            }
            return .dnat(address, port: ports?.lowerBound)
        case "SNAT":
            guard let o = t["--to-source"] else { throw NetfilterError("SNAT target: --to-source is required") }
            let (address, ports) = try Self.natRange(o.value, target: "SNAT", option: "--to-source")
            return .snat(address, ports: ports, randomFully: t["--random-fully"] != nil)
        case "MASQUERADE":
            let ports = try t["--to-ports"].map { o throws(NetfilterError) in
                try Self.portRange(Substring(o.value), separator: "-", what: "MASQUERADE target: --to-ports")
            }
            return .masquerade(ports: ports, randomFully: t["--random-fully"] != nil)
        case "MARK":
            return try Self.markTarget(t)
        default:
            let name = t.name
            if NetfilterHook.allCases.contains(where: { $0.chainName == name }) {
                throw NetfilterError("cannot jump to built-in chain '\(name)'")
            }
            guard table.chainIndex(named: name) != nil else {
                throw NetfilterError("unknown target or chain '\(name)' (declare a chain with ':\(name) - [0:0]' "
                                     + "before rules jump to it; targets modelled: \(Self.modelledTargets))")
            }
            return .jump(name)
        }
    }

    /// libxt_MARK revision 2: every form is stored as xor value / clear mask.
    private static func markTarget(_ t: PendingExtension) throws(NetfilterError) -> NetfilterTarget {
        guard t.options.count == 1, let o = t.options.first else {
            throw NetfilterError("MARK target: give exactly one of --set-xmark, --set-mark, --and-mark, --or-mark, --xor-mark")
        }
        switch o.name {
        case "--set-xmark":
            let (value, mask) = try valueAndMask(o.value)
            return .mark(value: value, mask: mask)
        case "--set-mark":
            let (value, mask) = try valueAndMask(o.value)
            return .mark(value: value, mask: value | mask)
        case "--and-mark":
            return .mark(value: 0, mask: ~(try number32(o.value)))
        case "--or-mark":
            let bits = try number32(o.value)
            return .mark(value: bits, mask: bits)
        default:  // --xor-mark
            return .mark(value: try number32(o.value), mask: 0)
        }
    }

    // MARK: - Values

    /// `10.244.0.0/16`, `10.244.0.3` (/32), `10.0.0.0/255.0.0.0`; host bits are cleared, as
    /// iptables does. Host names are not resolved.
    static func network(_ text: String) throws(NetfilterError) -> IPv4Network {
        let parts = text.split(separator: "/", omittingEmptySubsequences: false)
        guard parts.count <= 2, let address = IPv4Address(parts[0]) else {
            throw NetfilterError("invalid address '\(text)' (podwire takes dotted quads like 10.244.0.0/16, no host names)")
        }
        guard parts.count == 2 else { return IPv4Network(address: address, prefixLength: 32) }
        if let length = Int(parts[1]), (0...32).contains(length), parts[1].allSatisfy(\.isASCII) {
            return IPv4Network(address: address, prefixLength: length)
        }
        if let mask = IPv4Address(parts[1]) {
            let length = mask.rawValue.leadingZeroBitCount == 0 ? (~mask.rawValue).leadingZeroBitCount : 0
            if IPv4Network.mask(length) == mask.rawValue { return IPv4Network(address: address, prefixLength: length) }
        }
        throw NetfilterError("invalid mask in '\(text)' (a prefix length 0-32 or a contiguous dotted mask)")
    }

    static func protocolNumber(_ text: String) throws(NetfilterError) -> UInt8 {
        let lower = text.lowercased()
        if lower == "all" { return 0 }
        if let entry = IptablesSavePrinter.protocolNames.first(where: { $0.1 == lower }) { return entry.0 }
        if let number = UInt8(text) { return number }
        throw NetfilterError("unknown protocol '\(text)' (a number 0-255, or tcp, udp, icmp, sctp, …)")
    }

    static func port(_ text: Substring) throws(NetfilterError) -> UInt16 {
        guard let port = UInt16(text), text.allSatisfy(\.isASCII) else {
            throw NetfilterError("invalid port '\(text)' (podwire takes port numbers 0-65535, not service names)")
        }
        return port
    }

    /// `80`, `30000:32767`, `:1023` (from 0), `1024:` (to 65535).
    static func portMatch(_ text: String, negated: Bool) throws(NetfilterError) -> PortMatch {
        let parts = text.split(separator: ":", omittingEmptySubsequences: false)
        guard parts.count <= 2 else { throw NetfilterError("invalid port range '\(text)' (LOW:HIGH)") }
        if parts.count == 1 { return PortMatch(try port(parts[0]), negated: negated) }
        let low = parts[0].isEmpty ? 0 : try port(parts[0])
        let high = parts[1].isEmpty ? UInt16.max : try port(parts[1])
        guard low <= high else { throw NetfilterError("invalid port range '\(text)' (min > max)") }
        return PortMatch(low: low, high: high, negated: negated)
    }

    /// `P` or `P1-P2` (NAT targets).
    static func portRange(_ text: Substring, separator: Character, what: String) throws(NetfilterError) -> ClosedRange<UInt16> {
        let parts = text.split(separator: separator, omittingEmptySubsequences: false)
        guard parts.count <= 2 else { throw NetfilterError("\(what): invalid port range '\(text)'") }
        let low = try port(parts[0])
        let high = parts.count == 2 ? try port(parts[1]) : low
        guard low <= high else { throw NetfilterError("\(what): invalid port range '\(text)' (min > max)") }
        return low...high
    }

    /// `--to-destination`/`--to-source`: `ADDRESS[:PORT[-PORT]]`; address ranges are not modelled.
    static func natRange(_ text: String, target: String, option: String) throws(NetfilterError)
        -> (IPv4Address, ClosedRange<UInt16>?) {
        let parts = text.split(separator: ":", maxSplits: 1, omittingEmptySubsequences: false)
        if parts[0].contains("-") {
            throw NetfilterError("\(target) target: address ranges in \(option) are not modelled (one address)")
        }
        guard let address = IPv4Address(parts[0]) else {
            throw NetfilterError("\(target) target: invalid address in \(option) '\(text)'")
        }
        guard parts.count == 2 else { return (address, nil) }
        return (address, try portRange(parts[1], separator: "-", what: "\(target) target: \(option)"))
    }

    /// `strtoul(text, 0)`: 0x… hexadecimal, 0… octal, else decimal.
    static func number32(_ text: some StringProtocol) throws(NetfilterError) -> UInt32 {
        let lower = text.lowercased()
        let value: UInt32?
        if lower.hasPrefix("0x") {
            value = UInt32(lower.dropFirst(2), radix: 16)
        } else if lower.count > 1, lower.hasPrefix("0") {
            value = UInt32(lower.dropFirst(), radix: 8)
        } else {
            value = UInt32(lower)
        }
        guard let value, !lower.contains("+"), !lower.contains("-") else {
            throw NetfilterError("invalid number '\(text)' (0x4000, 16384 or 040000)")
        }
        return value
    }

    /// `VALUE[/MASK]`, the mask defaulting to 0xffffffff.
    static func valueAndMask(_ text: String) throws(NetfilterError) -> (UInt32, UInt32) {
        let parts = text.split(separator: "/", omittingEmptySubsequences: false)
        guard parts.count <= 2 else { throw NetfilterError("invalid mark '\(text)' (VALUE[/MASK])") }
        return (try number32(parts[0]), parts.count == 2 ? try number32(parts[1]) : 0xFFFF_FFFF)
    }

    /// `NEW,RELATED,ESTABLISHED` (any case, as libxt_conntrack reads them).
    static func states(_ text: String) throws(NetfilterError) -> ConntrackStateSet {
        var states: ConntrackStateSet = []
        for name in text.split(separator: ",", omittingEmptySubsequences: false) {
            guard let state = ConntrackStateSet.printOrder.first(where: { $0.1 == name.uppercased() }) else {
                throw NetfilterError("conntrack match: bad state '\(name)' (INVALID, NEW, RELATED, ESTABLISHED, "
                                     + "UNTRACKED, SNAT, DNAT)")
            }
            states.insert(state.0)
        }
        return states
    }

    static func addressType(_ text: String) throws(NetfilterError) -> AddressType {
        guard let type = AddressType(rawValue: text.uppercased()) else {
            throw NetfilterError("addrtype match: podwire models type LOCAL only, not '\(text)'")
        }
        return type
    }

    /// libipt_REJECT's names and their short aliases.
    static func rejectWith(_ text: String) throws(NetfilterError) -> RejectWith {
        let aliases: [String: RejectWith] = [
            "net-unreach": .icmpNetUnreachable, "host-unreach": .icmpHostUnreachable,
            "port-unreach": .icmpPortUnreachable, "proto-unreach": .icmpProtoUnreachable,
            "net-prohib": .icmpNetProhibited, "host-prohib": .icmpHostProhibited, "admin-prohib": .icmpAdminProhibited,
        ]
        if let with = RejectWith(rawValue: text) ?? aliases[text] { return with }
        throw NetfilterError("REJECT target: --reject-with '\(text)' is not modelled (icmp-port-unreachable, "
                             + "icmp-net-unreachable, icmp-host-unreachable, icmp-proto-unreachable, "
                             + "icmp-net-prohibited, icmp-host-prohibited, icmp-admin-prohibited)")
    }
}

/// A `-m` module or `-j` target and the options given to it so far.
struct PendingExtension {
    struct Option {
        var name: String
        var negated: Bool
        var value: String
    }

    let kind: String
    let name: String
    let specs: [String: ExtensionOptions.Spec]
    var options: [Option] = []

    init(kind: String, name: String, specs: [String: ExtensionOptions.Spec]) {
        self.kind = kind
        self.name = name
        self.specs = specs
    }

    /// The option by its canonical name (`--sport` also finds `--source-port`).
    subscript(_ canonical: String) -> Option? { options.first { $0.name == canonical } }

    mutating func take(_ token: String, negated: Bool, _ arguments: ArraySlice<String>,
                       _ i: inout ArraySlice<String>.Index) throws(NetfilterError) {
        let spec = specs[token]!
        let owner = "\(kind) \(name)"
        guard spec.modelled else { throw NetfilterError("\(owner): option \(token) is not modelled by podwire") }
        if negated && !spec.negatable { throw NetfilterError("\(owner): option \(token) cannot be negated with '!'") }
        if self[spec.canonical] != nil { throw NetfilterError("\(owner): multiple \(spec.canonical) options are not allowed") }
        var value = ""
        if spec.takesValue {
            guard i < arguments.endIndex else { throw NetfilterError("\(owner): option \(token) needs a value") }
            value = arguments[i]
            i += 1
        }
        options.append(Option(name: spec.canonical, negated: negated, value: value))
    }
}

/// The options of each extension iptables has, so that a real but unmodelled option gets
/// "not modelled" rather than "unknown".
enum ExtensionOptions {
    struct Spec {
        var canonical: String
        var takesValue: Bool
        var negatable: Bool
        var modelled: Bool
    }

    private static func specs(_ list: [(names: [String], value: Bool, negatable: Bool, modelled: Bool)]) -> [String: Spec] {
        var result: [String: Spec] = [:]
        for entry in list {
            for name in entry.names {
                result[name] = Spec(canonical: entry.names[0], takesValue: entry.value, negatable: entry.negatable,
                                    modelled: entry.modelled)
            }
        }
        return result
    }

    private static let portOptions: [(names: [String], value: Bool, negatable: Bool, modelled: Bool)] = [
        (["--sport", "--source-port"], true, true, true),
        (["--dport", "--destination-port"], true, true, true),
    ]

    static let matches: [String: [String: Spec]] = [
        "comment": specs([(["--comment"], true, false, true)]),
        "udp": specs(portOptions),
        "tcp": specs(portOptions + [(["--tcp-flags"], true, true, false), (["--syn"], false, true, false),
                                    (["--tcp-option"], true, true, false)]),
        "mark": specs([(["--mark"], true, true, true)]),
        "conntrack": specs([(["--ctstate"], true, true, true)] + [
            "--ctproto", "--ctorigsrc", "--ctorigdst", "--ctreplsrc", "--ctrepldst", "--ctorigsrcport",
            "--ctorigdstport", "--ctreplsrcport", "--ctrepldstport", "--ctstatus", "--ctexpire", "--ctdir",
        ].map { ([$0], true, true, false) }),
        "statistic": specs([(["--mode"], true, false, true), (["--probability"], true, false, true),
                            (["--every"], true, false, false), (["--packet"], true, false, false)]),
        "addrtype": specs([(["--src-type"], true, true, true), (["--dst-type"], true, true, true),
                           (["--limit-iface-in"], false, false, false), (["--limit-iface-out"], false, false, false)]),
        "recent": specs([(["--set"], false, false, true), (["--rcheck"], false, false, true),
                         (["--update"], false, false, false), (["--remove"], false, false, false),
                         (["--seconds"], true, false, true), (["--reap"], false, false, true),
                         (["--hitcount"], true, false, false), (["--rttl"], false, false, false),
                         (["--name"], true, false, true), (["--mask"], true, false, true),
                         (["--rsource"], false, false, true), (["--rdest"], false, false, false)]),
    ]

    static let targets: [String: [String: Spec]] = [
        "REJECT": specs([(["--reject-with"], true, false, true)]),
        "DNAT": specs([(["--to-destination"], true, false, true), (["--random"], false, false, false),
                       (["--persistent"], false, false, false)]),
        "SNAT": specs([(["--to-source"], true, false, true), (["--random-fully"], false, false, true),
                       (["--random"], false, false, false), (["--persistent"], false, false, false)]),
        "MASQUERADE": specs([(["--to-ports"], true, false, true), (["--random-fully"], false, false, true),
                             (["--random"], false, false, false)]),
        "MARK": specs([(["--set-xmark"], true, false, true), (["--set-mark"], true, false, true),
                       (["--and-mark"], true, false, true), (["--or-mark"], true, false, true),
                       (["--xor-mark"], true, false, true)]),
    ]
}
