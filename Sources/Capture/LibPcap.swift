/// Every C call of the Capture module, wrapped in small Swift types (STYLE.md: "every C
/// call in one file"): libpcap's dead handle, dumper, BPF compiler and offline reader, and
/// the few libc calls around them (stdio buffers, directories, fnmatch, atomic rename).
/// Nothing outside this file imports CPcap or the C library.
import CPcap
#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

// MARK: - libpcap constants

enum LibPcap {
    /// LINKTYPE_ETHERNET / DLT_EN10MB: every simulated device is Ethernet-framed.
    static let linkTypeEthernet: Int32 = 1
    /// The largest snapshot length libpcap's savefile reader accepts for EN10MB
    /// (`MAXIMUM_SNAPLEN`), and tcpdump's default.
    static let maximumSnaplen = 262_144
    /// The classic pcap magic for nanosecond timestamps, as the writer's byte order stores it.
    static let nanosecondMagic: UInt32 = 0xa1b2_3c4d
    /// pcap_dump writes through stdio, so each file gets a large buffer of our own
    /// (`setvbuf`). Measured here with 1400-byte frames over 8 files: glibc's default
    /// (st_blksize, 4 KiB) costs ~1000 ns of kernel time per hop, 64–256 KiB ~500–650 ns,
    /// 1 MiB slightly worse again (8 such buffers no longer fit the 1 MiB L2). So 256 KiB
    /// per file, at most 64 MiB over all files, and at least 64 KiB each.
    static func dumpBufferSize(fileCount: Int) -> Int {
        max(64 << 10, min(256 << 10, (64 << 20) / max(fileCount, 1)))
    }

    static var versionString: String { String(cString: pcap_lib_version()) }
}

// MARK: - Dead handle (the context every writer and compiler needs)

/// `pcap_open_dead_with_tstamp_precision(DLT_EN10MB, snaplen, NANO)`: no device, just the
/// link type, snapshot length and timestamp precision a savefile header and BPF need.
final class PcapDeadHandle {
    let raw: OpaquePointer

    init?(snaplen: Int, nanosecond: Bool = true) {
        let precision = UInt32(nanosecond ? PCAP_TSTAMP_PRECISION_NANO : PCAP_TSTAMP_PRECISION_MICRO)
        guard let p = pcap_open_dead_with_tstamp_precision(LibPcap.linkTypeEthernet, Int32(snaplen), precision)
        else { return nil }
        raw = p
    }

    deinit { pcap_close(raw) }

    var snaplen: Int { Int(pcap_snapshot(raw)) }
    var lastError: String { String(cString: pcap_geterr(raw)) }
}

// MARK: - Writer

/// A non-owning reference to an open `pcap_dumper_t`, small enough for a per-device table
/// on the per-hop path. Valid while the `PcapDumpFile` that made it is open.
struct PcapDumperRef {
    let raw: OpaquePointer

    /// `pcap_dump` one record. With a NANO handle libpcap stores `ts.tv_usec` as the
    /// nanosecond field as is, so `nanoseconds` goes there unscaled.
    @inline(__always)
    func dump(seconds: Int64, nanoseconds: Int64, capturedLength: Int, originalLength: Int,
              bytes: UnsafeRawPointer) {
        var header = pcap_pkthdr()
        header.ts.tv_sec = .init(truncatingIfNeeded: seconds)
        header.ts.tv_usec = .init(truncatingIfNeeded: nanoseconds)
        header.caplen = UInt32(truncatingIfNeeded: capturedLength)
        header.len = UInt32(truncatingIfNeeded: originalLength)
        pcap_dump(UnsafeMutablePointer<UInt8>(raw), &header, bytes.assumingMemoryBound(to: UInt8.self))
    }
}

/// One classic pcap savefile being written: `fopen` + `setvbuf` (a large buffer of our
/// own) + `pcap_dump_fopen`, which writes the 24-byte file header at once.
final class PcapDumpFile {
    let path: String
    private var dumper: OpaquePointer?
    private var buffer: UnsafeMutableRawPointer?

    /// Creates (truncates) `path` and writes the file header, flushed so that the file is
    /// a valid, empty capture from this moment on.
    init(path: String, handle: PcapDeadHandle, bufferSize: Int) throws(CaptureError) {
        self.path = path
        guard let file = fopen(path, "wb") else {
            throw .cannotOpen(path: path, message: LibC.errorText(errno))
        }
        if bufferSize > 0 {
            let buffer = UnsafeMutableRawPointer.allocate(byteCount: bufferSize, alignment: 64)
            if setvbuf(file, buffer.assumingMemoryBound(to: CChar.self), _IOFBF, bufferSize) == 0 {
                self.buffer = buffer
            } else {
                buffer.deallocate()
            }
        }
        guard let dumper = pcap_dump_fopen(handle.raw, file) else {
            let message = handle.lastError
            fclose(file)
            buffer?.deallocate()
            buffer = nil
            throw .cannotOpen(path: path, message: message)
        }
        self.dumper = dumper
        if pcap_dump_flush(dumper) != 0 {
            let message = LibC.errorText(errno)
            close()
            throw .writeFailed(path: path, message: message)
        }
    }

    deinit { close() }

    var ref: PcapDumperRef? { dumper.map(PcapDumperRef.init(raw:)) }
    var isOpen: Bool { dumper != nil }

    /// Flushes stdio, then asks the kernel to put the data on stable storage, reporting
    /// the first error the stream has seen (stdio errors are sticky, so a failed write in
    /// the middle of the run surfaces here).
    func flush(sync: Bool) throws(CaptureError) {
        guard let dumper else { return }
        let file = pcap_dump_file(dumper)
        if pcap_dump_flush(dumper) != 0 {
            throw .writeFailed(path: path, message: LibC.errorText(errno))
        }
        if ferror(file) != 0 {
            throw .writeFailed(path: path, message: "a write failed earlier in the run (stdio error indicator set)")
        }
        if sync, fsync(fileno(file)) != 0 {
            let code = errno
            // EINVAL: a special file (pipe, /dev/null, tmpfs on some kernels) cannot sync.
            if code != EINVAL && code != EROFS {
                throw .writeFailed(path: path, message: "fsync: " + LibC.errorText(code))
            }
        }
    }

    /// `pcap_dump_close` (which fcloses), then frees the stdio buffer. Idempotent.
    func close() {
        if let dumper { pcap_dump_close(dumper) }
        dumper = nil
        buffer?.deallocate()
        buffer = nil
    }
}

// MARK: - BPF

/// A `bpf_program` compiled by `pcap_compile`, freed by `pcap_freecode`.
final class CompiledBPF {
    private var program = bpf_program()
    let snaplen: Int

    /// Returns libpcap's own error text on failure.
    init(expression: String, snaplen: Int) throws(CaptureError) {
        guard let handle = PcapDeadHandle(snaplen: snaplen) else {
            throw .badFilter(expression: expression, message: "pcap_open_dead failed")
        }
        self.snaplen = handle.snaplen
        if pcap_compile(handle.raw, &program, expression, 1, PCAP_NETMASK_UNKNOWN) != 0 {
            throw .badFilter(expression: expression, message: handle.lastError)
        }
    }

    deinit { pcap_freecode(&program) }

    /// `pcap_offline_filter` over the first `capturedLength` bytes of a frame that was
    /// `originalLength` bytes on the wire.
    @inline(__always)
    func matches(_ bytes: UnsafeRawPointer, capturedLength: Int, originalLength: Int) -> Bool {
        var header = pcap_pkthdr()
        header.caplen = UInt32(truncatingIfNeeded: capturedLength)
        header.len = UInt32(truncatingIfNeeded: originalLength)
        return pcap_offline_filter(&program, &header, bytes.assumingMemoryBound(to: UInt8.self)) != 0
    }
}

// MARK: - Reader

/// `pcap_open_offline_with_tstamp_precision(path, NANO)` + `pcap_next_ex`.
final class PcapOfflineReader {
    private let raw: OpaquePointer
    let path: String

    init(path: String) throws(CaptureError) {
        self.path = path
        var errbuf = [CChar](repeating: 0, count: Int(PCAP_ERRBUF_SIZE) + 1)
        let opened = errbuf.withUnsafeMutableBufferPointer {
            pcap_open_offline_with_tstamp_precision(path, UInt32(PCAP_TSTAMP_PRECISION_NANO), $0.baseAddress)
        }
        guard let opened else {
            throw .cannotOpen(path: path, message: LibC.string(errbuf))
        }
        raw = opened
    }

    deinit { pcap_close(raw) }

    var linkType: Int32 { pcap_datalink(raw) }

    /// Calls `body` for every record (timestamps scaled to nanoseconds by libpcap).
    func forEach(_ body: (_ seconds: Int64, _ nanoseconds: Int64, _ bytes: UnsafeRawBufferPointer,
                          _ originalLength: Int) -> Void) throws(CaptureError) {
        var header: UnsafeMutablePointer<pcap_pkthdr>?
        var data: UnsafePointer<UInt8>?
        while true {
            let status = pcap_next_ex(raw, &header, &data)
            if status == 1, let h = header?.pointee {
                let bytes = UnsafeRawBufferPointer(start: data, count: Int(h.caplen))
                body(Int64(h.ts.tv_sec), Int64(h.ts.tv_usec), bytes, Int(h.len))
            } else if status == PCAP_ERROR_BREAK {   // -2: end of file
                return
            } else {
                throw .cannotOpen(path: path, message: "reading failed: " + String(cString: pcap_geterr(raw)))
            }
        }
    }

    /// The first four bytes of the file. libpcap scales timestamps to the precision asked
    /// for and has no call that reports the file's own, so the magic is read directly.
    static func magic(path: String) -> UInt32? {
        guard let file = fopen(path, "rb") else { return nil }
        defer { fclose(file) }
        var magic: UInt32 = 0
        return fread(&magic, 4, 1, file) == 1 ? magic : nil
    }
}

// MARK: - libc: strings, globs, directories, whole files

enum LibC {
    static func errorText(_ code: Int32) -> String { String(cString: strerror(code)) }

    static func string(_ buffer: [CChar]) -> String {
        buffer.withUnsafeBufferPointer { String(cString: $0.baseAddress!) }
    }

    /// `fnmatch(3)` with `FNM_PATHNAME`: `*`, `?` and `[...]` never match a `/`.
    static func globMatches(_ pattern: String, _ name: String) -> Bool {
        fnmatch(pattern, name, FNM_PATHNAME) == 0
    }

    /// `mkdir -p`. Returns nil or the errno of the failing component.
    static func makeDirectories(_ path: String) -> Int32? {
        var prefix = path.hasPrefix("/") ? "/" : ""
        for component in path.split(separator: "/", omittingEmptySubsequences: true) {
            prefix += component
            if mkdir(prefix, 0o755) != 0 {
                let code = errno
                if code != EEXIST { return code }
                guard let dir = opendir(prefix) else { return errno }
                closedir(dir)
            }
            prefix += "/"
        }
        return nil
    }

    /// Names in a directory (not "." or ".."), in no particular order.
    static func directoryEntries(_ path: String) -> (names: [String], errno: Int32?) {
        guard let dir = opendir(path) else { return ([], errno) }
        defer { closedir(dir) }
        var names: [String] = []
        while let entry = readdir(dir) {
            let name = withUnsafePointer(to: &entry.pointee.d_name) {
                String(cString: UnsafeRawPointer($0).assumingMemoryBound(to: CChar.self))
            }
            if name != "." && name != ".." { names.append(name) }
        }
        return (names, nil)
    }

    /// `unlink(2)`; a missing file is not an error.
    static func removeFile(_ path: String) -> Int32? {
        if unlink(path) == 0 || errno == ENOENT { return nil }
        return errno
    }

    /// Writes `bytes` to `path` so that readers see either the old file or the whole new
    /// one: write `path.tmp`, fsync, `rename(2)` over `path`, fsync the directory.
    static func writeFileAtomically(_ path: String, bytes: [UInt8], directory: String) -> String? {
        let temporary = path + ".tmp"
        guard let file = fopen(temporary, "wb") else { return "\(temporary): " + errorText(errno) }
        let written = bytes.withUnsafeBytes { fwrite($0.baseAddress, 1, $0.count, file) }
        var failure: String?
        if written != bytes.count || fflush(file) != 0 {
            failure = "\(temporary): " + errorText(errno)
        } else if fsync(fileno(file)) != 0, errno != EINVAL, errno != EROFS {
            failure = "\(temporary): fsync: " + errorText(errno)
        }
        if fclose(file) != 0, failure == nil { failure = "\(temporary): " + errorText(errno) }
        if let failure {
            unlink(temporary)
            return failure
        }
        if rename(temporary, path) != 0 {
            let message = "rename \(temporary): " + errorText(errno)
            unlink(temporary)
            return message
        }
        let fd = open(directory, O_RDONLY)
        if fd >= 0 {
            _ = fsync(fd)
            _ = close(fd)
        }
        return nil
    }
}
