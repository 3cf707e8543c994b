/// Reads `spec.profiles` and a node's `profile` (a name, or an inline mapping of overrides)
/// into drafts: each field type-checked, with its place kept for the checks that span
/// fields and profiles (`TopologyValidation+Profiles.swift`).

import Engine
import Yams

/// A profile after field-level checks.
struct ProfileDraft {
    var location: SourceLocation
    var path: String
    /// `name` (nil for an inline profile, or when invalid).
    var name: Located<String>?
    var base: Located<String>?
    /// The valid fields (name and base filled in during validation).
    var spec: ProfileSpec
    /// Where each given field was written, by key, for cross-field errors.
    var fieldLocations: [String: SourceLocation] = [:]
    /// The keys written, including invalid ones (a field written wrong is not also "missing").
    var writtenKeys: [String] = []
    /// false when some field was invalid (already reported).
    var fieldsValid = true
}

/// A node's `profile` as written.
enum NodeProfileDraft {
    /// `profile: raspberry-pi-4b` or the name of one of `spec.profiles`.
    case named(Located<String>)
    /// `profile: {base: raspberry-pi-4b, cpuScale: 0.9}`.
    case inline(ProfileDraft)
}

extension TopologyDocument {
    static let profileFields = ["base", "board", "cores", "clockMHz", "memoryMB", "totalRAMMiB", "cpuScale", "lineRate",
                                "busCap", "softirqCore", "netdevMaxBacklog", "txqueuelen", "is64Bit", "costs"]
    static let profileSchema = FieldSchema(what: "a profile", modelled: ["name"] + profileFields)
    /// `name` is reported on its own (an inline profile cannot have one), not as unknown.
    static let inlineProfileSchema = FieldSchema(what: "an inline profile", modelled: profileFields, ignored: ["name"])
    static let costsSchema = FieldSchema(what: "a profile's costs (the stages of StageCosts)",
                                         modelled: StageCostName.allCases.map(\.rawValue))

    static let profileExample = "`- {name: my-pi4, base: raspberry-pi-4b, cpuScale: 0.83}`"

    // MARK: spec.profiles

    static func readProfiles(_ node: Node, _ path: String, _ r: DocumentReader) -> [ProfileDraft] {
        guard let items = r.sequence(node, path, expected: "a list of profiles",
                                     hint: "start each profile with `- `, e.g. \(profileExample)") else { return [] }
        var profiles: [ProfileDraft] = []
        for (i, item) in items.enumerated() {
            let p = "\(path)[\(i)]"
            var draft = ProfileDraft(location: r.location(of: item), path: p,
                                     spec: ProfileSpec(name: "", location: r.location(of: item)))
            guard let f = r.fields(item, p, profileSchema, expected: "a profile (a mapping with a name and its fields, like \(profileExample.dropFirst(3).dropLast()))") else {
                draft.fieldsValid = false
                profiles.append(draft)
                continue
            }
            draft.location = f.location
            if let n = r.required(f, "name", expected: "the profile's name, which nodes give as their `profile`",
                                  hint: "add `name: my-pi4` (lowercase letters, digits and '-')"),
               let name = r.string(n, f.path("name")) {
                if NameSyntax.isDNS1123Label(name) {
                    draft.name = Located(value: name, location: r.location(of: n))
                } else {
                    r.report(n, f.path("name"), "expected a DNS-1123 label (1-63 lowercase letters, digits or '-', starting and ending with a letter or digit); got \(DocumentReader.describe(n))",
                             hint: "use a name such as `my-pi4`")
                }
            }
            readProfileFields(f, into: &draft, r)
            profiles.append(draft)
        }
        return profiles
    }

    // MARK: spec.nodes[].profile

    /// `profile: NAME` or `profile: {base: …, field: value …}`.
    static func readNodeProfile(_ node: Node, _ path: String, _ r: DocumentReader) -> NodeProfileDraft? {
        if case .mapping(let mapping) = node {
            var draft = ProfileDraft(location: r.location(of: node), path: path, spec: ProfileSpec(name: "", location: r.location(of: node)))
            if let entry = mapping.first(where: { DocumentReader.plainText($0.key) == "name" || DocumentReader.quotedText($0.key) == "name" }) {
                r.report(entry.key, DocumentReader.join(path, "name"), "an inline profile has no name: it belongs to this node alone",
                         hint: "to name a profile and share it, define it under `spec.profiles` and write `profile: NAME` here; to start from a board, write `base: raspberry-pi-4b`")
                draft.fieldsValid = false
            }
            guard let f = r.fields(node, path, inlineProfileSchema) else { return nil }
            readProfileFields(f, into: &draft, r)
            return .inline(draft)
        }
        let expected = "a profile: a built-in name (\(NodeSpec.knownProfiles.joined(separator: ", "))), the name of one of spec.profiles, or a mapping such as {base: raspberry-pi-4b, cpuScale: 0.9}"
        guard case .scalar = node else {
            r.mismatch(node, path, expected: expected,
                       hint: "write `profile: raspberry-pi-4b`, or `profile: {base: raspberry-pi-4b, cpuScale: 0.9}` to change some fields")
            return nil
        }
        guard let name = r.string(node, path, expected: expected) else { return nil }
        return .named(Located(value: name, location: r.location(of: node)))
    }

    // MARK: Fields

    /// Every field of a profile mapping except `name`.
    static func readProfileFields(_ f: Fields, into draft: inout ProfileDraft, _ r: DocumentReader) {
        draft.writtenKeys = f.entries.keys.filter { f[$0] != nil } + f.misspelt
        func note(_ key: String, _ n: Node) { draft.fieldLocations[key] = r.location(of: n) }
        func integer(_ key: String, _ range: ClosedRange<Int>, _ expected: String) -> Int? {
            guard let n = f[key] else { return nil }
            note(key, n)
            let v = r.integer(n, f.path(key), in: range, expected: expected)
            if v == nil { draft.fieldsValid = false }
            return v
        }
        if let n = f["base"] {
            if let text = r.string(n, f.path("base"), expected: "the name of a built-in profile or of a profile defined above") {
                draft.base = Located(value: text, location: r.location(of: n))
            } else {
                draft.fieldsValid = false
            }
        }
        if let n = f["board"] {
            if let text = r.string(n, f.path("board"), expected: "a description of the board") { draft.spec.board = text } else { draft.fieldsValid = false }
        }
        draft.spec.cores = integer("cores", 1...1024, "a number of CPU cores")
        draft.spec.clockMHz = integer("clockMHz", 1...100_000, "a CPU clock in MHz")
        draft.spec.memoryMB = integer("memoryMB", 1...16_777_216, "a nominal memory size in MB (1024 per GB)")
        draft.spec.totalRAMMiB = integer("totalRAMMiB", 1...16_777_216, "the memory the kernel manages, in MiB (MemTotal)")
        if let n = f["cpuScale"] {
            note("cpuScale", n)
            draft.spec.cpuScale = r.number(n, f.path("cpuScale"), above: 0, atMost: 1000,
                                           expected: "a CPU cost multiplier relative to the Pi 4 at 1.5 GHz (1.0; a faster board is below 1)",
                                           example: "cpuScale: 0.83")
            if draft.spec.cpuScale == nil { draft.fieldsValid = false }
        }
        if let n = f["lineRate"] {
            note("lineRate", n)
            draft.spec.lineRate = rate(n, f.path("lineRate"), r)
            if draft.spec.lineRate == nil { draft.fieldsValid = false }
        }
        if let n = f["busCap"] {
            note("busCap", n)
            if DocumentReader.plainText(n) == "none" {
                draft.spec.busCap = ProfileSpec.BusCap.none
            } else if let bits = rate(n, f.path("busCap"), r, alternative: "or `none`") {
                draft.spec.busCap = .bitsPerSecond(bits)
            } else {
                draft.fieldsValid = false
            }
        }
        draft.spec.softirqCore = integer("softirqCore", 0...1023, "the core that runs NET_RX softirq work, counted from 0")
        draft.spec.netdevMaxBacklog = integer("netdevMaxBacklog", 1...1_000_000, "net.core.netdev_max_backlog, in packets")
        draft.spec.txqueuelen = integer("txqueuelen", 1...1_000_000, "eth0's txqueuelen, in packets")
        if let n = f["is64Bit"] {
            draft.spec.is64Bit = r.bool(n, f.path("is64Bit"), hint: "write `is64Bit: true` for a 64-bit OS image, `false` for a 32-bit one")
            if draft.spec.is64Bit == nil { draft.fieldsValid = false }
        }
        if let n = f["costs"] {
            note("costs", n)
            guard let c = r.fields(n, f.path("costs"), costsSchema,
                                   expected: "a mapping of stage costs, like {nicRx: 1500ns, vxlanEncap: 2us}") else {
                draft.fieldsValid = false
                return
            }
            if c.entries.count < countKeys(n) { draft.fieldsValid = false }
            for (key, entry) in c.entries {
                guard let stage = StageCostName(rawValue: key) else { continue }
                guard !DocumentReader.isNull(entry.value) else {
                    r.report(entry.value, c.path(key), "expected a cost such as 1500ns or 2us; got nothing",
                             hint: "write e.g. `\(key): 1500ns`, or remove the stage to keep the base's cost")
                    draft.fieldsValid = false
                    continue
                }
                if let d = r.duration(entry.value, c.path(key), minimum: .zero) {
                    draft.spec.costs.append(StageCostSetting(stage: stage, cost: d))
                } else {
                    draft.fieldsValid = false
                }
            }
        }
    }

    /// Keys of a mapping node (0 for anything else).
    private static func countKeys(_ node: Node) -> Int {
        guard case .mapping(let m) = node else { return 0 }
        return m.count
    }
}
