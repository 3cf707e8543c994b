/// Diagnostics for topology files. Every error names where (file:line:column), which field
/// (a path such as `spec.nodes[0].address`), what was expected and found (`message`) and how
/// to fix it (`hint`). Reading collects all errors it can and throws them together.

/// One problem in a topology file.
public struct TopologyError: Error, Equatable, CustomStringConvertible {
    public var file: String
    /// 1-based; 0 when the problem is about the whole file (e.g. it cannot be read).
    public var line: Int
    /// 1-based, counted in Unicode scalars like libyaml; 0 with `line` 0.
    public var column: Int
    /// Field path inside the document, e.g. `spec.nodes[0].address`; "" for YAML syntax
    /// errors and whole-file problems.
    public var path: String
    /// What was expected and what was found.
    public var message: String
    /// How to fix it.
    public var hint: String?

    public init(file: String, line: Int, column: Int, path: String, message: String, hint: String? = nil) {
        self.file = file
        self.line = line
        self.column = column
        self.path = path
        self.message = message
        self.hint = hint
    }

    /// `file:line:column: path: message`, then `  hint: …` on its own line when there is one.
    public var description: String {
        var text = file
        if line > 0 { text += ":\(line):\(column)" }
        text += ": "
        if !path.isEmpty { text += path + ": " }
        text += message
        if let hint { text += "\n  hint: " + hint }
        return text
    }
}

/// All the problems found in one topology file, ordered by position in the file.
public struct TopologyErrors: Error, CustomStringConvertible {
    public var errors: [TopologyError]

    public init(_ errors: [TopologyError]) { self.errors = errors }
    public init(errors: [TopologyError]) { self.errors = errors }

    /// One block per error (its line and, when present, its hint line).
    public var description: String {
        errors.map(\.description).joined(separator: "\n")
    }
}
