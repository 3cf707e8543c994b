/// The capture hop observer: one classic pcap savefile per selected interface, written by
/// libpcap with nanosecond timestamps (magic 0xa1b23c4d), link type EN10MB, and an
/// index.json written last. Capture never lives inside devices (STYLE.md): the datapath
/// emits `.deviceRx`/`.deviceTx` where `tcpdump -p -i DEV` would see a frame, and this
/// observer writes exactly those hops.
///
/// Robustness contract: stale `*.pcap` and index.json are removed at start; every
/// selected interface's file exists (a valid 24-byte pcap) from `init` on; index.json
/// appears only after every file was flushed and synced without error, via an atomic
/// rename, so a run that crashed or failed to write has no index.json.
import Datapath
import Engine

public final class PcapCapture: HopObserver {
    public let options: CaptureOptions
    /// The selected interfaces, sorted by file name (the order of `finish()`'s result).
    public let interfaces: [CaptureInterface]
    /// Frames written so far, over all files.
    public var packetsWritten: Int { table.reduce(0) { $0 + $1.packets } }

    private let directory: String
    private let filter: BPFFilter?
    private let snaplen: Int
    private let epochSeconds: Int64
    /// Parallel to `interfaces`.
    private let files: [PcapDumpFile]
    /// Indexed by `DeviceID.index`: the per-hop lookup is one bounds check and one load.
    private let table: UnsafeMutableBufferPointer<Slot>
    private var outcome: Result<[CapturedFile], CaptureError>?

    /// Writes the files' bytes on a second thread (see `BackgroundWriter`).
    private var writer: BackgroundWriter?

    private struct Slot {
        var dumper: PcapDumperRef?
        var packets: Int
    }

    /// Selects interfaces, compiles the filter, prepares the directory and creates every
    /// file. Nothing in the directory is touched if the filter or the selection is bad.
    public init(interfaces all: [CaptureInterface], options: CaptureOptions) throws(CaptureError) {
        self.options = options
        snaplen = options.effectiveSnaplen
        epochSeconds = options.epochSeconds
        filter = options.filter.isEmpty ? nil : try BPFFilter(expression: options.filter, snaplen: snaplen)

        let selected = options.selected(from: all).sorted { $0.fileName < $1.fileName }
        guard !selected.isEmpty else { throw .noInterfaceMatches(globs: options.interfaceGlobs) }
        let directory = options.directory.isEmpty ? "." : options.directory
        self.directory = directory
        try Self.validate(selected, directory: directory)
        interfaces = selected

        if let code = LibC.makeDirectories(directory) {
            throw .cannotCreateDirectory(path: directory, errno: code)
        }
        try Self.removeStaleFiles(in: directory)

        guard let handle = PcapDeadHandle(snaplen: snaplen) else {
            throw .cannotOpen(path: directory, message: "pcap_open_dead_with_tstamp_precision failed "
                              + "(libpcap \(LibPcap.versionString))")
        }
        var files: [PcapDumpFile] = []
        let bufferSize = LibPcap.dumpBufferSize(fileCount: selected.count)
        let writer = BackgroundWriter(chunkSize: bufferSize, files: selected.count)
        self.writer = writer
        for interface in selected {
            files.append(try PcapDumpFile(path: Self.join(directory, interface.fileName), handle: handle,
                                          bufferSize: bufferSize, writer: writer))
        }
        self.files = files

        let maxIndex = selected.map(\.device.index).max()!
        table = .allocate(capacity: maxIndex + 1)
        table.initialize(repeating: Slot(dumper: nil, packets: 0))
        for (interface, file) in zip(selected, files) {
            table[interface.device.index].dumper = file.ref
        }
    }

    deinit {
        // Without finish() the files are flushed and closed but no index.json is written:
        // the run did not say it was complete.
        for file in files { file.close() }
        writer?.shutdown()
        table.deallocate()
    }

    /// Writes `.deviceRx`/`.deviceTx` hops of selected devices that pass the filter; other
    /// stages and devices are ignored. No allocation, dictionary or string work.
    public func observe(_ hop: Hop, frame: UnsafeRawBufferPointer) {
        guard hop.stage == .deviceRx || hop.stage == .deviceTx else { return }
        let index = hop.device.index
        guard index >= 0, index < table.count, let dumper = table[index].dumper else { return }
        if let filter, !filter.matches(frame) { return }
        guard let bytes = frame.baseAddress else { return writeEmpty(hop) }

        var seconds = hop.time.nanoseconds / 1_000_000_000
        var nanoseconds = hop.time.nanoseconds - seconds * 1_000_000_000
        if nanoseconds < 0 { seconds -= 1; nanoseconds += 1_000_000_000 }
        dumper.dump(seconds: epochSeconds &+ seconds, nanoseconds: nanoseconds,
                    capturedLength: min(frame.count, snaplen), originalLength: frame.count, bytes: bytes)
        // The count lives in the unsafe table: a stored class property would cost a
        // dynamic exclusivity check per hop (~3% of perf samples when it did).
        table[index].packets &+= 1
    }

    /// A zero-length frame (a datapath bug, but never silently lost): a record with len 0.
    @inline(never)
    private func writeEmpty(_ hop: Hop) {
        var zero: UInt8 = 0
        withUnsafeBytes(of: &zero) {
            observe(hop, frame: UnsafeRawBufferPointer(start: $0.baseAddress, count: 0))
        }
    }

    /// Flushes, syncs and closes every file, then writes "<directory>/index.json"
    /// atomically. Returns the files in file-name order. After the first call the capture
    /// ignores hops and further calls return the same outcome. On a write error no
    /// index.json is written and the error names the file.
    public func finish(extra: [String: String] = [:]) throws(CaptureError) -> [CapturedFile] {
        if let outcome { return try outcome.get() }
        var errors = [CaptureError?](repeating: nil, count: files.count)
        // Newest first: glibc unlinks each closed stream from its list of every open one,
        // newest at the head, so closing in opening order walks the whole list every time
        // (16,252 files of a 250-node topology: 1.35 s in `_IO_un_link`).
        for i in files.indices.reversed() {
            do throws(CaptureError) {
                try files[i].flush(sync: true)
            } catch {
                errors[i] = error
            }
            files[i].close()
            table[interfaces[i].device.index].dumper = nil
        }
        let captured = zip(interfaces, files).map { interface, file in
            CapturedFile(path: file.path, interface: interface, packets: table[interface.device.index].packets)
        }
        // The first failing file in file order, as before the order of closing changed.
        if let firstError = errors.lazy.compactMap({ $0 }).first {
            outcome = .failure(firstError)
            throw firstError
        }
        let indexPath = Self.join(directory, CaptureIndex.fileName)
        let text = CaptureIndex.render(files: captured, epochSeconds: epochSeconds, extra: extra)
        if let message = LibC.writeFileAtomically(indexPath, bytes: Array(text.utf8), directory: directory) {
            let error = CaptureError.writeFailed(path: indexPath, message: message)
            outcome = .failure(error)
            throw error
        }
        outcome = .success(captured)
        return captured
    }

    // MARK: - Setup helpers

    static func join(_ directory: String, _ name: String) -> String {
        directory.hasSuffix("/") ? directory + name : directory + "/" + name
    }

    /// File stems must be usable, distinct file names; devices must be real and distinct.
    private static func validate(_ selected: [CaptureInterface], directory: String) throws(CaptureError) {
        var previous: CaptureInterface?
        for interface in selected {
            let path = join(directory, interface.fileName)
            if interface.fileStem.isEmpty || interface.fileStem.contains("/") || interface.fileStem.contains("\0") {
                throw .cannotOpen(path: path, message: "file stem \"\(interface.fileStem)\" of "
                                  + "\(interface.node)/\(interface.namespace)/\(interface.interface) "
                                  + "is not a file name (empty or contains \"/\")")
            }
            if interface.device.index < 0 {
                throw .cannotOpen(path: path, message: "interface \(interface.node)/\(interface.namespace)/"
                                  + "\(interface.interface) has no device handle (\(interface.device))")
            }
            if let previous, previous.fileName == interface.fileName {
                throw .cannotOpen(path: path, message: "two selected interfaces would write this file: "
                                  + "\(previous.node)/\(previous.namespace)/\(previous.interface) and "
                                  + "\(interface.node)/\(interface.namespace)/\(interface.interface); "
                                  + "give them distinct file stems")
            }
            previous = interface
        }
        let devices = selected.map(\.device).sorted()
        for (a, b) in zip(devices, devices.dropFirst()) where a == b {
            throw .cannotOpen(path: directory, message: "device \(a) is listed twice among the "
                              + "selected interfaces; each device has one file")
        }
    }

    /// Removes index.json first (so a crash here never leaves an index describing
    /// half-removed files), then every `*.pcap`. Nothing else is touched.
    private static func removeStaleFiles(in directory: String) throws(CaptureError) {
        let (names, code) = LibC.directoryEntries(directory)
        if let code { throw .cannotOpen(path: directory, message: LibC.errorText(code)) }
        let stale = [CaptureIndex.fileName] + names.filter { $0.hasSuffix(".pcap") }.sorted()
        for name in stale {
            let path = join(directory, name)
            if let code = LibC.removeFile(path) {
                throw .cannotOpen(path: path, message: "cannot remove stale capture file: "
                                  + LibC.errorText(code))
            }
        }
    }
}
