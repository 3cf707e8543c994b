/// The ways a capture can fail, each with a message that says what to do about it.

public enum CaptureError: Error, CustomStringConvertible, Equatable {
    /// libpcap rejected the filter; `message` is libpcap's own compile error text.
    case badFilter(expression: String, message: String)
    /// The capture directory (or one of its parents) could not be created.
    case cannotCreateDirectory(path: String, errno: Int32)
    /// A file could not be created, opened, removed or read; `message` says why.
    case cannotOpen(path: String, message: String)
    /// Writing a file failed (disk full, I/O error…). The run has no index.json.
    case writeFailed(path: String, message: String)
    /// No interface is selected by the given patterns.
    case noInterfaceMatches(globs: [String])

    public var description: String {
        switch self {
        case let .badFilter(expression, message):
            return "invalid capture filter \"\(expression)\": \(message). The filter uses tcpdump's "
                + "syntax (man 7 pcap-filter), e.g. \"udp port 8080\" or \"icmp or arp\"; "
                + "check it with: tcpdump -d '\(expression)'"
        case let .cannotCreateDirectory(path, code):
            return "cannot create capture directory \"\(path)\": \(LibC.errorText(code)) (errno \(code)); "
                + "check that its parent exists and is writable, or choose another directory"
        case let .cannotOpen(path, message):
            return "cannot open \"\(path)\": \(message)"
        case let .writeFailed(path, message):
            return "writing \"\(path)\" failed: \(message); the capture is incomplete and has no "
                + "index.json (check free space and permissions, then run again)"
        case let .noInterfaceMatches(globs):
            let list = globs.isEmpty ? "(no patterns)" : globs.map { "\"\($0)\"" }.joined(separator: ", ")
            return "no interface matches \(list); a pattern (with * ? [..], never crossing \"/\") "
                + "matches an interface name (\"eth0\"), namespace/interface (\"client/eth0\"), "
                + "node/namespace/interface (\"pi-1/client/eth0\") or a file name without .pcap "
                + "(\"pi-1-client-eth0\"); use \"*\" for every interface"
        }
    }
}
