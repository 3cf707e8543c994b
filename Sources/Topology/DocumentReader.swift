/// Typed reads over Yams' node tree with positions. Codable would lose line and column and
/// cannot see unknown keys, so the readers of `TopologyDocument` and `KubernetesManifest`
/// walk `Yams.Node`s through this class, which checks each value's shape and records a
/// `TopologyError` (file:line:column, path, expected/got, hint) instead of stopping.
///
/// Scalars are typed the way Kubernetes' YAML reader types them: a plain (unquoted,
/// untagged) scalar may be null, a boolean or a number; a quoted one is always a string.

import OrderedCollections
import Engine
import Yams

/// The allowed keys of one mapping level.
struct FieldSchema {
    /// What the mapping is, for messages: "the Topology spec", "a Kubernetes container".
    var what: String
    /// Keys podwire reads.
    var modelled: [String]
    /// Valid keys podwire accepts and drops (Kubernetes fields it does not model).
    var ignored: [String] = []
    /// `kubectl explain` path for Kubernetes levels, e.g. "pod.spec.containers".
    var explain: String?
}

/// A mapping whose keys were checked against a `FieldSchema`; null values count as absent,
/// as in Kubernetes.
struct Fields {
    let path: String
    let location: SourceLocation
    /// Known keys in file order, with their key and value nodes.
    let entries: OrderedDictionary<String, (key: Node, value: Node)>
    /// Known keys that an unknown key was reported as a likely misspelling of; a missing
    /// one is then not reported again.
    let misspelt: [String]

    /// The value of `key` unless absent or null.
    subscript(key: String) -> Node? {
        guard let entry = entries[key], !DocumentReader.isNull(entry.value) else { return nil }
        return entry.value
    }

    /// `path.key`.
    func path(_ key: String) -> String { DocumentReader.join(path, key) }
}

final class DocumentReader {
    let file: String
    private(set) var errors: [TopologyError] = []

    init(file: String) { self.file = file }

    // MARK: Reporting

    func location(of node: Node) -> SourceLocation {
        let mark = node.mark
        return SourceLocation(file: file, line: mark?.line ?? 1, column: mark?.column ?? 1)
    }

    func report(at location: SourceLocation, _ path: String, _ message: String, hint: String?) {
        errors.append(TopologyError(file: file, line: location.line, column: location.column,
                                    path: path, message: message, hint: hint))
    }

    func report(_ node: Node, _ path: String, _ message: String, hint: String?) {
        report(at: location(of: node), path, message, hint: hint)
    }

    /// "expected X; got Y" at `node`.
    func mismatch(_ node: Node, _ path: String, expected: String, hint: String?) {
        report(node, path, "expected \(expected); got \(Self.describe(node))", hint: hint)
    }

    func append(_ error: TopologyError) { errors.append(error) }

    // MARK: Structure

    /// Checks `node` is a mapping whose keys are strings from `schema`; unknown keys are
    /// reported with a did-you-mean. Returns nil (after reporting) when not a mapping.
    func fields(_ node: Node, _ path: String, _ schema: FieldSchema, expected: String? = nil) -> Fields? {
        guard case .mapping(let mapping) = node else {
            mismatch(node, path, expected: expected ?? "a mapping (\(schema.what))",
                     hint: "write it as `key: value` lines indented under `\(Self.lastComponent(path))`, or as {key: value, …}")
            return nil
        }
        var entries = OrderedDictionary<String, (key: Node, value: Node)>()
        var misspelt: [String] = []
        let candidates = schema.modelled + schema.ignored
        for (key, value) in mapping {
            guard let name = Self.plainText(key) ?? Self.quotedText(key) else {
                mismatch(key, path, expected: "a field name", hint: "field names are plain words such as `\(schema.modelled.first ?? "name")`")
                continue
            }
            if candidates.contains(name) {
                if entries[name] == nil { entries[name] = (key, value) }
                continue
            }
            let fieldPath = Self.join(path, name)
            if name == "<<" {
                report(key, fieldPath, "YAML merge keys (`<<: *anchor`) are not supported",
                       hint: "write the fields out in full (an alias as a whole value, `key: *anchor`, does work)")
                continue
            }
            let closest = Suggestions.closest(to: name, in: candidates)
            if let closest { misspelt.append(closest) }
            var hint = closest.map { "did you mean `\($0)`?" }
            let message: String
            if let explain = schema.explain {
                message = "unknown field `\(name)` in \(schema.what): it is not a Kubernetes field name"
                hint = (hint.map { $0 + " " } ?? "") + "Check field names with `kubectl explain \(explain)`, or remove the field."
            } else {
                message = "unknown field `\(name)` in \(schema.what); expected one of "
                    + schema.modelled.map { "`\($0)`" }.joined(separator: ", ")
                hint = hint ?? "remove the field, or check its spelling"
            }
            report(key, fieldPath, message, hint: hint)
        }
        return Fields(path: path, location: location(of: node), entries: entries, misspelt: misspelt)
    }

    /// The value of a required field, reporting a missing (or null) one at its mapping.
    func required(_ fields: Fields, _ key: String, expected: String, hint: String) -> Node? {
        if let value = fields[key] { return value }
        if fields.misspelt.contains(key) { return nil }
        if let entry = fields.entries[key] {
            report(entry.value, fields.path(key), "expected \(expected); got nothing", hint: hint)
        } else {
            report(at: fields.location, fields.path.isEmpty ? key : fields.path,
                   "missing required field `\(key)` (\(expected))", hint: hint)
        }
        return nil
    }

    func sequence(_ node: Node, _ path: String, expected: String, hint: String) -> [Node]? {
        guard case .sequence(let sequence) = node else {
            mismatch(node, path, expected: expected, hint: hint)
            return nil
        }
        return Array(sequence)
    }

    // MARK: Scalars

    /// Any non-null scalar, as written (Kubernetes would reject a number where a string is
    /// expected; podwire takes its text, which is what the user meant).
    func string(_ node: Node, _ path: String, expected: String = "a string") -> String? {
        guard case .scalar(let s) = node, !Self.isNull(node) else {
            mismatch(node, path, expected: expected, hint: "write a single value on the same line, e.g. `\(Self.lastComponent(path)): value`")
            return nil
        }
        return s.string
    }

    /// A decimal integer in `range`. A quoted number is refused like Kubernetes refuses it.
    func integer(_ node: Node, _ path: String, in range: ClosedRange<Int>, expected: String) -> Int? {
        let full = "\(expected) between \(range.lowerBound) and \(range.upperBound)"
        guard let text = Self.plainText(node), Self.isDecimalInteger(text) else {
            if let q = Self.quotedText(node), Self.isDecimalInteger(q) {
                report(node, path, "expected \(full); got the string \(Self.describe(node))",
                       hint: "remove the quotes: `\(Self.lastComponent(path)): \(q)`")
            } else {
                mismatch(node, path, expected: full, hint: "write a whole number from \(range.lowerBound) to \(range.upperBound)")
            }
            return nil
        }
        guard let value = Int(text.hasPrefix("+") ? String(text.dropFirst()) : text), range.contains(value) else {
            report(node, path, "expected \(full); got \(text)",
                   hint: "pick a value from \(range.lowerBound) to \(range.upperBound)")
            return nil
        }
        return value
    }

    /// A decimal number (integer or fraction, no exponent) in (`above`, `atMost`]. A quoted
    /// number is refused like `integer` refuses one.
    func number(_ node: Node, _ path: String, above low: Double, atMost high: Double, expected: String, example: String) -> Double? {
        func isDecimal(_ t: String) -> Bool {
            var d = Substring(t)
            if d.first == "-" || d.first == "+" { d = d.dropFirst() }
            return !d.isEmpty && d != "." && d.allSatisfy { ($0.isASCII && $0.isNumber) || $0 == "." } && d.filter { $0 == "." }.count <= 1
        }
        let full = "\(expected), above \(Self.plainNumber(low)) and at most \(Self.plainNumber(high))"
        guard let text = Self.plainText(node), isDecimal(text), let value = Double(text) else {
            if let q = Self.quotedText(node), isDecimal(q) {
                report(node, path, "expected \(full); got the string \(Self.describe(node))",
                       hint: "remove the quotes: `\(Self.lastComponent(path)): \(q)`")
            } else {
                mismatch(node, path, expected: full, hint: "write a decimal number, e.g. `\(example)`")
            }
            return nil
        }
        guard value > low, value <= high else {
            report(node, path, "expected \(full); got \(text)\(value < 0 ? ", which is negative" : "")",
                   hint: "write a value above \(Self.plainNumber(low)), e.g. `\(example)`")
            return nil
        }
        return value
    }

    /// 0, 1000, 0.5: a bound as a user would write it.
    static func plainNumber(_ v: Double) -> String {
        v == v.rounded() && abs(v) < 1e15 ? String(Int64(v)) : String(v)
    }

    func unsigned64(_ node: Node, _ path: String, expected: String) -> UInt64? {
        guard let text = Self.plainText(node), Self.isDecimalInteger(text), !text.hasPrefix("-"),
              let value = UInt64(text.hasPrefix("+") ? String(text.dropFirst()) : text) else {
            mismatch(node, path, expected: "\(expected) (a whole number from 0 to \(UInt64.max))",
                     hint: "write a whole number, e.g. `\(Self.lastComponent(path)): 1`")
            return nil
        }
        return value
    }

    func bool(_ node: Node, _ path: String, hint: String) -> Bool? {
        switch Self.plainText(node) {
        case "true", "True", "TRUE": return true
        case "false", "False", "FALSE": return false
        default:
            mismatch(node, path, expected: "true or false", hint: hint)
            return nil
        }
    }

    /// A Go duration ("2s", "200ms", "1m30s") of at least `minimum`.
    func duration(_ node: Node, _ path: String, minimum: SimDurationBound) -> SimDuration? {
        let key = Self.lastComponent(path)
        let example = "\(key): 2s"
        guard case .scalar(let s) = node, !Self.isNull(node) else {
            mismatch(node, path, expected: "a duration such as 2s, 200ms or 1m30s", hint: "write `\(example)`")
            return nil
        }
        switch DurationSyntax.parse(s.string) {
        case .success(let d):
            switch minimum {
            case .zero where d.nanoseconds < 0:
                report(node, path, "expected a duration of 0s or more; got \(s.string)", hint: "durations here count from the start of the simulation, so they cannot be negative")
                return nil
            case .positive where d.nanoseconds <= 0:
                report(node, path, "expected a duration longer than 0s; got \(s.string)", hint: "write a positive duration, e.g. `\(example)`")
                return nil
            case .atLeast(let floor, let name) where d < floor:
                report(node, path, "expected a duration of at least \(floor) (\(name)); got \(s.string)", hint: "write `\(key): \(floor)` or more")
                return nil
            default:
                return d
            }
        case .failure(.missingUnit):
            report(node, path, "expected a duration with a unit, such as 2s or 200ms; got the bare number \(s.string)",
                   hint: "add a unit, e.g. \(s.string)s (units: ns, us, ms, s, m, h)")
        case .failure(.unknownUnit(let unit)):
            let suggestion = Self.unitSpellings.first { $0.0.contains(unit.lowercased()) }.map { "did you mean `\($0.1)`? " } ?? ""
            report(node, path, "expected a duration such as 2s, 200ms or 1m30s; got \(Self.describe(node)), whose unit `\(unit)` is unknown",
                   hint: suggestion + "Units are ns, us, ms, s, m and h (Go duration syntax).")
        case .failure(.overflow):
            report(node, path, "expected a duration shorter than about 292 years; got \(s.string)", hint: "write a shorter duration")
        case .failure(.malformed):
            report(node, path, "expected a duration such as 2s, 200ms or 1m30s; got \(Self.describe(node))",
                   hint: "write a number followed by a unit (ns, us, ms, s, m, h), e.g. `\(example)`")
        }
        return nil
    }

    /// A map of strings (labels, nodeSelector) in file order. Each key is checked with
    /// `validKey`/`validValue` when given.
    func stringMap(_ node: Node, _ path: String, what: String,
                   validKey: ((String) -> Bool)? = nil, validValue: ((String) -> Bool)? = nil) -> [(key: String, value: String)]? {
        guard case .mapping(let mapping) = node else {
            mismatch(node, path, expected: "a mapping of \(what), like {app: web}", hint: "write one `key: value` per line, indented under `\(Self.lastComponent(path)):`")
            return nil
        }
        var result: [(key: String, value: String)] = []
        for (keyNode, valueNode) in mapping {
            guard let key = Self.plainText(keyNode) ?? Self.quotedText(keyNode) else {
                mismatch(keyNode, path, expected: "a \(what) key", hint: "keys are words such as `app`")
                continue
            }
            let entryPath = Self.join(path, key)
            let value: String
            if Self.isNull(valueNode) {
                value = ""
            } else if case .scalar(let s) = valueNode {
                value = s.string
            } else {
                mismatch(valueNode, entryPath, expected: "a single \(what) value", hint: "write `\(key): value` on one line")
                continue
            }
            if let validKey, !validKey(key) {
                report(keyNode, entryPath, "expected a \(what) key of up to 63 letters, digits, '-', '_' or '.', optionally prefixed by a DNS name and '/'; got \(String(reflecting: key))",
                       hint: "use a key like `app` or `example.com/tier`")
                continue
            }
            if let validValue, !validValue(value) {
                report(valueNode, entryPath, "expected a \(what) value of up to 63 letters, digits, '-', '_' or '.', starting and ending with a letter or digit; got \(String(reflecting: value))",
                       hint: "use a value like `web` or `v1.2`")
                continue
            }
            result.append((key, value))
        }
        return result
    }

    // MARK: Helpers

    /// Unit spellings people write for Go's units; Go has no day unit, so days map to 24h.
    private static let unitSpellings: [([String], String)] = [
        (["sec", "secs", "second", "seconds"], "s"), (["min", "mins", "minute", "minutes"], "m"),
        (["hr", "hrs", "hour", "hours"], "h"), (["msec", "msecs", "millis", "millisecond", "milliseconds"], "ms"),
        (["usec", "usecs", "micros", "microsecond", "microseconds"], "us"), (["nsec", "nsecs", "nanos", "nanosecond", "nanoseconds"], "ns"),
        (["d", "day", "days"], "24h"),
    ]

    static func join(_ path: String, _ key: String) -> String { path.isEmpty ? key : path + "." + key }

    static func lastComponent(_ path: String) -> String {
        var last = path.split(separator: ".").last.map(String.init) ?? path
        if let bracket = last.firstIndex(of: "[") { last = String(last[..<bracket]) }
        return last
    }

    /// The text of a plain, untagged scalar (the ones YAML types by their look).
    static func plainText(_ node: Node) -> String? {
        guard case .scalar(let s) = node, s.style == .plain || s.style == .any, s.tag.rawValue.isEmpty else { return nil }
        return s.string
    }

    /// The text of a quoted, block or explicitly tagged scalar: always a string.
    static func quotedText(_ node: Node) -> String? {
        guard case .scalar(let s) = node, plainText(node) == nil else { return nil }
        return s.string
    }

    static func isNull(_ node: Node) -> Bool {
        if case .scalar(let s) = node, s.tag.rawValue == "tag:yaml.org,2002:null" { return true }
        guard let text = plainText(node) else { return false }
        return text.isEmpty || text == "~" || text == "null" || text == "Null" || text == "NULL"
    }

    static func isDecimalInteger(_ text: String) -> Bool {
        var digits = Substring(text)
        if digits.first == "-" || digits.first == "+" { digits = digits.dropFirst() }
        return !digits.isEmpty && digits.allSatisfy { $0.isASCII && $0.isNumber }
    }

    /// How a value reads in "got …": quoted scalar text, "nothing", "a mapping", "a list".
    static func describe(_ node: Node) -> String {
        switch node {
        case .scalar(let s):
            if isNull(node) { return "nothing (null)" }
            let text = s.string.count > 60 ? String(s.string.prefix(57)) + "..." : s.string
            return String(reflecting: text)
        case .mapping: return "a mapping"
        case .sequence: return "a list"
        case .alias: return "an alias"
        }
    }
}

/// The lower bound a duration field accepts.
enum SimDurationBound {
    case zero
    case positive
    case atLeast(SimDuration, String)
}
